#!/usr/bin/env bash
# One-time (idempotent) set-up of everything uprof needs on a Debian 12 machine, run as root:
# Debian packages, the pinned Rust toolchains, bpf-linker built against the eBPF nightly's LLVM,
# cargo-fuzz, the tests' Python packages (a venv) and tracefs. Each step checks first and
# returns quickly when its work is already done.
set -euo pipefail

cd "$(dirname "$0")/.."
HOST_TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
EBPF_NIGHTLY=$(sed -n 's/^const EBPF_NIGHTLY: &str = "\(.*\)";/\1/p' uprof-trace/build.rs)
LLVM_DIR=${UPROF_LLVM_DIR:-/usr/local/lib/uprof-llvm}
# The Python venv holding the independent readers tests check uprof's exports with.
VENV=${UPROF_VENV:-/usr/local/lib/uprof-venv}

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# Debian packages: qemu + busybox + cpio for the stock-kernel VM tests, redis, nginx and node as
# real targets, linux-perf, strace and bpftrace as independent oracles and benchmark competitors, python3-venv
# for the tests' Python packages, protobuf-compiler for `cargo xtask perfetto-proto`, tmux to drive
# `uprof top` in its tests, man-db and groff-base to render `uprof man`'s pages, chromium (headless)
# to load the HTML report in a real browser in its tests, prometheus to scrape `uprof agent` in its
# tests; for arm64 cross builds (`cargo xtask build --target aarch64`) the target's linker and
# libc, and qemu's user-mode emulation to run its unit tests here.
PACKAGES=(qemu-system-x86 busybox-static cpio redis-server redis-tools nginx-light nodejs linux-perf strace
          rsync build-essential pkg-config python3-venv protobuf-compiler tmux man-db groff-base chromium
          prometheus bpftrace gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The packaged servers must not keep running in the background and skew measurements.
for svc in redis-server nginx prometheus prometheus-node-exporter; do
    systemctl is-active --quiet "$svc" 2>/dev/null && systemctl stop "$svc" || true
done

# Rust toolchains.
rustup toolchain list | grep -q "^$HOST_TOOLCHAIN" ||
    { say "installing Rust $HOST_TOOLCHAIN"; rustup toolchain install "$HOST_TOOLCHAIN" --profile minimal -c clippy,rustfmt; }
rustup toolchain list | grep -q "^$EBPF_NIGHTLY" ||
    { say "installing Rust $EBPF_NIGHTLY"; rustup toolchain install "$EBPF_NIGHTLY" --profile minimal; }
rustup target list --toolchain "$HOST_TOOLCHAIN" --installed | grep -qx aarch64-unknown-linux-gnu ||
    { say "adding target aarch64-unknown-linux-gnu to $HOST_TOOLCHAIN"; rustup target add aarch64-unknown-linux-gnu --toolchain "$HOST_TOOLCHAIN"; }
rustup component list --toolchain "$EBPF_NIGHTLY" --installed | grep -q '^rust-src' ||
    rustup component add rust-src --toolchain "$EBPF_NIGHTLY"
# Miri (on the same nightly) checks tickloop's unsafe code; its sysroot is built once and cached.
rustup component list --toolchain "$EBPF_NIGHTLY" --installed | grep -q '^miri' ||
    { say "installing Miri for $EBPF_NIGHTLY"; rustup component add miri --toolchain "$EBPF_NIGHTLY"; }
cargo +"$EBPF_NIGHTLY" miri setup >/dev/null

# bpf-linker must use the same LLVM as the nightly that compiles the eBPF crate: link it against
# that nightly's own libLLVM (no system LLVM needed).
if ! command -v bpf-linker >/dev/null || ! ldd "$(command -v bpf-linker)" | grep -q "$LLVM_DIR"; then
    sysroot=$(rustc +"$EBPF_NIGHTLY" --print sysroot)
    libllvm=$(basename "$(ls "$sysroot"/lib/libLLVM.so.* | head -n 1)")
    llvm_major=$(echo "$libllvm" | sed -n 's/^libLLVM\.so\.\([0-9]*\).*/\1/p')
    mkdir -p "$LLVM_DIR/lib"
    ln -sf "$sysroot/lib/$libllvm" "$LLVM_DIR/lib/libLLVM.so"
    ln -sf "$sysroot/lib/$libllvm" "$LLVM_DIR/lib/"
    say "building bpf-linker against $libllvm"
    LLVM_PREFIX=$LLVM_DIR cargo +"$HOST_TOOLCHAIN" install --locked bpf-linker@0.13.0 \
        --no-default-features --features "llvm-$llvm_major" --force
fi

# cargo-fuzz runs the libFuzzer target of fuzz/ with the eBPF nightly (`cargo xtask fuzz`).
CARGO_FUZZ_VERSION=0.13.2
cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION" ||
    { say "installing cargo-fuzz $CARGO_FUZZ_VERSION"; cargo +"$HOST_TOOLCHAIN" install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --force; }

# The tests' Python packages (independent readers of uprof's exports: Perfetto's official
# trace schema, an HdrHistogram log reader), pinned, in a venv (Debian's Python is externally
# managed).
if ! cmp -s scripts/python-requirements.txt "$VENV/requirements.txt"; then
    say "installing the tests' Python packages into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/python-requirements.txt
    cp scripts/python-requirements.txt "$VENV/requirements.txt"
fi

# tracefs: the syscall tracepoints live there and it is not mounted at boot on every machine.
if ! mountpoint -q /sys/kernel/tracing; then
    say "mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing
fi

say "ready (host $HOST_TOOLCHAIN, eBPF $EBPF_NIGHTLY, $(bpf-linker --version))"
