#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run`), as root: set-up, formatting and lints, every
# crate's tests (uprof's integration tests load eBPF programs and trace real processes),
# tickloop's tests again under Miri, a minute of fuzzing of the record reader and reports, and
# uprof's integration tests again inside stock Debian kernels 5.10, 6.1 and 6.12 under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs one step and says how long it took: CI has 45 minutes for all of them.
step() {
    local start=$SECONDS
    "$@"
    echo "test.sh: $* took $((SECONDS - start)) s" >&2
}

step scripts/setup.sh
step cargo fmt --all --check
step cargo clippy --all-targets -- -D warnings
step cargo xtask perfetto-proto --check
step cargo test
# Under Miri (about a minute): the tests that need what Miri does not emulate (TCP sockets,
# select, /proc) are ignored with their reason; doc examples are left out (TCP, signalfd).
EBPF_NIGHTLY=$(sed -n 's/^const EBPF_NIGHTLY: &str = "\(.*\)";/\1/p' uprof-trace/build.rs)
step cargo +"$EBPF_NIGHTLY" miri test -p tickloop --lib --tests
step cargo xtask fuzz --seconds 60
# The aarch64 build's architecture facts (epoll_event layout against libc's) under qemu's
# user-mode emulation: a few seconds (docs/arm64.md).
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu" \
    step cargo test --target aarch64-unknown-linux-gnu -p uprof-common
# The real servers (redis, nginx, node), perf, Python (the hdrlog's and the Perfetto trace's
# readers), Prometheus (`uprof agent`'s reader), bash, man, tmux and chromium are not in the VMs'
# initramfs: those tests run on the host above. So do the findings' tests: their rules judge time
# (ticks, intervals), and the VMs emulate the CPU (TCG) ten times slower or more: long ticks the
# real loop does not have. Of `uprof agent`'s tests the VMs run the two that compare in-kernel
# aggregation with the stream's counts (their fentry programs load only there).
step cargo xtask vm-test --skip real_server --skip pypi_hdrhistogram --skip perfetto:: --skip terminal:: --skip html:: --skip findings:: \
  --skip agent::prometheus_ --skip agent::record_metrics --skip agent::processes_that --skip agent::a_cgroups --skip agent::a_port
