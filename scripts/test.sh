#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run`), as root: set-up, formatting and lints, every
# crate's tests (uprof's integration tests load eBPF programs and trace real processes), a minute
# of fuzzing of the record reader and reports, and uprof's integration tests again inside stock
# Debian kernels 5.10, 6.1 and 6.12 under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
cargo test
cargo xtask fuzz --seconds 60
# The real servers (redis, nginx, node) and perf are not in the VMs' initramfs: those tests run
# on the host above.
cargo xtask vm-test --skip real_server
