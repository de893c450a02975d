# Default payload of `cargo xtask vm`: checks that the VM offers what uprof's tests rely on.
check() {
    name=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "UPROF-TEST $name PASS"
    else
        echo "UPROF-TEST $name FAIL '$*' failed"
    fi
}
echo "kernel release: $(uname -r)"
check btf test -s /sys/kernel/btf/vmlinux
check tracefs grep -q '^tracefs /sys/kernel/tracing ' /proc/mounts
check syscall-tracepoints test -d /sys/kernel/tracing/events/syscalls/sys_enter_epoll_wait
check kprobe-events test -e /sys/kernel/tracing/kprobe_events
check bpffs grep -q '^bpf /sys/fs/bpf ' /proc/mounts
check debugfs grep -q '^debugfs /sys/kernel/debug ' /proc/mounts
check kallsyms-ep_poll_callback grep -qw ep_poll_callback /proc/kallsyms
echo UPROF-DONE
