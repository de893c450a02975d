//! `cargo xtask <command>`: developer tasks of the uprof workspace. Each command lives in its
//! own module of the `xtask` library; this file only parses the command line and dispatches.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for the uprof workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure uprof against its speed targets: overhead, bystander, callback, pipeline, report,
    /// export, rss, agent; and tickloop against mio and tokio (loops).
    Bench(xtask::bench::Args),
    /// Build uprof and tickloop's programs (release) for an architecture: `--target aarch64`.
    Build(xtask::build::Args),
    /// Fuzz the record reader, the analysis and both report renderers (libFuzzer, nightly).
    Fuzz(xtask::fuzz::Args),
    /// Record several event loops under the same load and compare them with `uprof compare`.
    Loops(xtask::loops::Args),
    /// Regenerate the Rust code of uprof's Perfetto trace schema (needs protoc).
    PerfettoProto(xtask::perfetto_proto::Args),
    /// Record a busy redis-server for an hour: RSS flat, nothing lost, counts equal perf's.
    Soak(xtask::soak::Args),
    /// Boot stock Debian kernels under qemu (TCG) and run a payload inside each.
    Vm(xtask::vm::Args),
    /// Run uprof's integration tests inside each stock kernel of `vm`.
    VmTest(xtask::vm_test::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => xtask::bench::main(args),
        Command::Build(args) => xtask::build::main(args),
        Command::Fuzz(args) => xtask::fuzz::main(args),
        Command::Loops(args) => xtask::loops::main(args),
        Command::PerfettoProto(args) => xtask::perfetto_proto::main(args),
        Command::Soak(args) => xtask::soak::main(args),
        Command::Vm(args) => xtask::vm::main(args),
        Command::VmTest(args) => xtask::vm_test::main(args),
    }
}
