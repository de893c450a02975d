//! `cargo xtask vm`: boot stock Debian kernels under qemu and run a payload inside each.
//!
//! The kernels come from Debian's archive ([`kernels`]), the root file system is a busybox
//! initramfs carrying the payload ([`initramfs`]), each VM runs under TCG ([`qemu`]), and the
//! payload reports over the serial console with the line protocol of [`protocol`]. Other
//! commands reuse [`run_matrix`] with their own payload.

pub mod initramfs;
pub mod kernels;
pub mod protocol;
pub mod qemu;
pub mod report;
pub(crate) mod tool;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use initramfs::Payload;
pub use kernels::{Kernel, Series};
pub use report::{KernelReport, Verdict};

/// The payload used when none is given: checks that the VM offers BTF, tracefs with syscall
/// tracepoints, kprobe events, bpffs, debugfs and the `ep_poll_callback` symbol.
pub const SELF_CHECK_SCRIPT: &str = include_str!("selfcheck.sh");

/// How [`run_matrix`] runs its VMs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A VM running longer than this is killed and fails.
    pub timeout: Duration,
    /// Re-resolve each release's current kernel (needs the network) instead of using the cached one.
    pub refresh_kernels: bool,
    /// Where the initramfs and the console logs (`<series>.log`) go.
    pub out_dir: PathBuf,
    /// More qemu options, after the usual ones (e.g. `-icount shift=2`).
    pub qemu_args: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            refresh_kernels: false,
            out_dir: default_out_dir(),
            qemu_args: Vec::new(),
        }
    }
}

/// `vm` in the workspace's target directory.
pub fn default_out_dir() -> PathBuf {
    target_dir().join("vm")
}

/// The workspace's target directory: `$CARGO_TARGET_DIR` when set, else `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Boots per kernel when it crashes before userspace (see `run_matrix`).
const BOOT_ATTEMPTS: u32 = 2;

/// Boots every kernel of `series` in turn with `payload` and returns one report per kernel, in
/// the same order. Kernels are downloaded first if they are not cached; an error means the
/// matrix could not run at all (a failing kernel is a report, not an error).
pub fn run_matrix(
    series: &[Series],
    payload: &Payload,
    options: &RunOptions,
) -> Result<Vec<KernelReport>> {
    let kernels = series
        .iter()
        .map(|&s| {
            kernels::ensure(s, options.refresh_kernels).with_context(|| format!("kernel {s}"))
        })
        .collect::<Result<Vec<_>>>()?;
    fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("cannot create {}", options.out_dir.display()))?;
    let initrd =
        initramfs::build(payload, &options.out_dir).context("cannot build the initramfs")?;
    kernels
        .into_iter()
        .map(|kernel| {
            let log = options.out_dir.join(format!("{}.log", kernel.series));
            let mut attempt = 1;
            loop {
                eprintln!("vm: booting {} ({})", kernel.series, kernel.release);
                let console = qemu::boot(&kernel.vmlinuz, &initrd, options, &log)
                    .with_context(|| format!("cannot boot {}", kernel.release))?;
                let report = KernelReport::new(kernel.clone(), &console, log.clone());
                // Software emulation occasionally crashes a kernel while it boots (seen: an
                // int3 oops in 6.12's early code patching under TCG). That says nothing of
                // the payload, so a VM that never reached /init is booted once more.
                if report.boot.is_none() && attempt < BOOT_ATTEMPTS {
                    eprintln!("vm: {}: never reached /init; booting again", kernel.series);
                    attempt += 1;
                    continue;
                }
                eprintln!("vm: {}: {}", report.kernel.series, report.verdict());
                return Ok(report);
            }
        })
        .collect()
}

/// The options of every command that runs the kernel matrix (`vm`, `vm-test`).
#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    /// Kernels to boot, comma-separated series or Debian codenames.
    #[arg(long, value_delimiter = ',', default_value = "5.10,6.1,6.12")]
    pub kernels: Vec<Series>,
    /// Seconds after which a VM is killed and counts as failed (default: 300; vm-test: enough
    /// for every test to run into its own timeout).
    #[arg(long)]
    pub timeout: Option<u64>,
}

impl MatrixArgs {
    /// The VM timeout asked for, else `default` seconds.
    pub fn timeout_or(&self, default: u64) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(default))
    }
}

/// Command-line arguments of `cargo xtask vm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    matrix: MatrixArgs,
    /// Shell script run inside each VM (default: a self-check of the VM environment).
    #[arg(long)]
    payload_script: Option<PathBuf>,
    /// Host files copied into /payload with their shared libraries (repeatable).
    #[arg(long = "bin", value_name = "PATH", num_args = 1..)]
    bins: Vec<PathBuf>,
    /// Look up each release's current kernel again instead of using the cached one.
    #[arg(long)]
    refresh_kernels: bool,
}

/// Runs `cargo xtask vm`: prints the result table, and fails if any kernel failed.
pub fn main(args: Args) -> Result<()> {
    let script = match &args.payload_script {
        Some(path) => {
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => SELF_CHECK_SCRIPT.to_owned(),
    };
    let payload = Payload {
        files: args.bins,
        at_host_paths: Vec::new(),
        script,
    };
    let options = RunOptions {
        timeout: args.matrix.timeout_or(300),
        refresh_kernels: args.refresh_kernels,
        ..RunOptions::default()
    };
    let reports = run_matrix(&args.matrix.kernels, &payload, &options)?;
    conclude(&reports)
}

/// Prints the result table of `reports` to stdout, and fails if any kernel failed (for the
/// commands' exit status).
pub fn conclude(reports: &[KernelReport]) -> Result<()> {
    print!("{}", report::render(reports));
    let failed = reports.iter().filter(|r| !r.ok()).count();
    if failed > 0 {
        bail!("{failed} of {} kernels failed", reports.len());
    }
    Ok(())
}
