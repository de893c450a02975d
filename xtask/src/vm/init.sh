#!/bin/sh
# /init of uprof's test VMs: mount what eBPF tooling expects, run the payload, power off.
# Output goes to the serial console, which the host reads (see protocol.rs).
export PATH=/payload:/bin
mount -t devtmpfs devtmpfs /dev
# Without /dev/console in the archive the kernel starts /init with no stdio: attach it now.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
# Pseudo-terminals, for the tests that run uprof on a terminal of its own.
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t sysfs sysfs /sys
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
# No tmpfs on /tmp: the initramfs root is already writable memory, and payload files placed
# at their host paths may live under /tmp (a checkout in /tmp), which a mount would hide.
# Programs under test talk to themselves over 127.0.0.1, as on any machine.
ip link set lo up
# The empty line ends whatever escape sequences the firmware left on the console's last line.
echo
echo UPROF-INIT
cd /payload
sh /payload/run.sh
echo "uprof-init: payload exited with status $?"
poweroff -f
