#!/usr/bin/env bash
# uprof's main job on its built-in demo: record a small event loop (uprof-demo: a pipe, a TCP
# socket pair, an eventfd and a timerfd on one epoll loop, plus a worker thread with its own
# loop) from its first instruction and print the per-thread and per-fd report.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p uprof-cli -p uprof-testprogs
exec target/release/uprof record -- target/release/uprof-demo --duration-ms 2000 "$@"
