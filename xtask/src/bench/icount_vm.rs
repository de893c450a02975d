//! Running a benchmark inside a stock Debian kernel under qemu with `-icount`: the host boots
//! the VM with this same xtask binary and the benchmark's files in the initramfs, the VM runs
//! `xtask bench <name> --guest`, and the host relays what it printed.
//!
//! qemu runs with `-icount shift=0`: the guest's clock advances one nanosecond per instruction
//! executed, so a guest µs of CPU time is a thousand instructions, whatever the host was doing
//! meanwhile. The figures are instruction counts of an emulated CPU: the ratios compare the
//! work done, not the time real hardware would take (caches, branch prediction and the cost of
//! the machine's own exits do not show).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::vm::{self, Payload, RunOptions, Series};

/// Prefix of the console lines that carry the guest's standard output.
const OUTPUT_PREFIX: &str = "UPROF-BENCH ";
/// qemu's `-icount shift=N`: the guest's clock advances 2^N ns per instruction executed, so
/// that the CPU time the guest charges a process counts the instructions it ran, whatever else
/// the host was doing meanwhile (without it, a host busy with other work makes guest
/// processes look slower at random).
const ICOUNT_SHIFT: u32 = 0;

/// Options of the benchmarks that run inside a VM.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The stock kernel to boot (series or Debian codename; see `cargo xtask vm`).
    #[arg(long, default_value = "6.1")]
    pub kernel: Series,
    /// Run the measurements here: what the VM runs.
    #[arg(long, hide = true)]
    pub guest: bool,
}

/// A benchmark to run inside the VM.
pub struct GuestBench {
    /// Its subcommand: the VM runs `xtask bench <name> --guest`.
    pub name: &'static str,
    /// Host files copied to `/payload`, beside the xtask binary.
    pub files: Vec<PathBuf>,
    /// More options of the guest's command line, each with a leading space.
    pub guest_options: String,
    /// A VM running longer than this is killed and the benchmark fails.
    pub timeout: Duration,
}

impl GuestBench {
    /// Boots `args.kernel`, runs the benchmark inside, prints what it printed, and fails if it
    /// failed inside.
    pub fn run(&self, args: &Args, quick: bool) -> Result<()> {
        let name = self.name;
        let mut files = vec![std::env::current_exe().context("cannot find the xtask binary")?];
        files.extend(self.files.iter().cloned());
        let payload = Payload {
            files,
            at_host_paths: Vec::new(),
            script: self.script(quick),
        };
        let options = RunOptions {
            timeout: self.timeout,
            out_dir: vm::target_dir().join(format!("bench-{name}")),
            qemu_args: vec!["-icount".into(), format!("shift={ICOUNT_SHIFT}")],
            ..RunOptions::default()
        };
        println!(
            "== {name}: inside Debian's {} kernel under qemu (TCG, 1 vCPU, -icount shift={ICOUNT_SHIFT}: \
             a guest µs is 1000 instructions)",
            args.kernel
        );
        println!(
            "   console log (follow it with tail -f): {}",
            options
                .out_dir
                .join(format!("{}.log", args.kernel))
                .display()
        );
        let report = vm::run_matrix(&[args.kernel], &payload, &options)?
            .pop()
            .context("the VM matrix returned no report")?;
        let log = fs::read_to_string(&report.log)
            .with_context(|| format!("cannot read {}", report.log.display()))?;
        println!(
            "   VM: {} s of wall time; every line below comes from inside it (`xtask bench {name} --guest`)\n",
            report.total.as_secs()
        );
        for line in guest_output(&log) {
            println!("{line}");
        }
        if !report.ok() {
            bail!(
                "the benchmark failed inside the VM ({}); the console's last lines:\n{}",
                report.verdict(),
                report.tail.join("\n")
            );
        }
        Ok(())
    }

    /// The script the VM runs: the benchmark, its output relayed with [`OUTPUT_PREFIX`] (its
    /// progress lines go to the console as they come), and the protocol's result lines.
    fn script(&self, quick: bool) -> String {
        let (name, options) = (self.name, &self.guest_options);
        let quick = if quick { " --quick" } else { "" };
        format!(
            "cd /tmp\n\
             echo \"guest uptime at start: $(cut -d ' ' -f 1 /proc/uptime) s\"\n\
             xtask bench {name} --guest{quick}{options} >/tmp/bench.out\n\
             status=$?\n\
             sed 's/^/{OUTPUT_PREFIX}/' /tmp/bench.out\n\
             echo \"guest uptime at end: $(cut -d ' ' -f 1 /proc/uptime) s\"\n\
             if [ $status -eq 0 ]; then echo 'UPROF-TEST bench-{name} PASS'\n\
             else echo \"UPROF-TEST bench-{name} FAIL exit status $status\"; fi\n\
             echo UPROF-DONE\n"
        )
    }
}

/// The guest's standard output, from the VM's console log.
fn guest_output(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .filter_map(|line| line.strip_prefix(OUTPUT_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_output_is_the_prefixed_lines_without_their_prefix() {
        let log = "[    1.2] kernel says\nUPROF-BENCH == callback\nbench: round 1/3\n\
                   UPROF-BENCH    untraced  1000\nUPROF-DONE\n";
        assert_eq!(
            guest_output(log).collect::<Vec<_>>(),
            ["== callback", "   untraced  1000"]
        );
    }

    fn bench(name: &'static str, guest_options: &str) -> GuestBench {
        GuestBench {
            name,
            files: Vec::new(),
            guest_options: guest_options.to_owned(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn script_runs_the_guest_and_reports_with_the_protocol() {
        let script = bench("callback", " --uprof '/payload/uprof'").script(true);
        assert!(script.contains("xtask bench callback --guest --quick --uprof '/payload/uprof'"));
        assert!(script.contains("echo 'UPROF-TEST bench-callback PASS'"));
        assert!(script.ends_with("echo UPROF-DONE\n"));
        let other = bench("loops", "").script(false);
        assert!(
            other.contains("xtask bench loops --guest >/tmp/bench.out"),
            "{other}"
        );
        assert!(other.contains("FAIL exit status $status"), "{other}");
    }
}
