# Default payload of `cargo xtask vm`: checks that the VM offers what uprof's tests rely on.
check() {
    name=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "UPROF-TEST $name PASS"
    else
        echo "UPROF-TEST $name FAIL command failed: $*"
    fi
}
# mounted DIR TYPE: a file system of TYPE is mounted on DIR (the source field varies by kernel).
mounted() {
    awk -v dir="$1" -v type="$2" '$2 == dir && $3 == type { found = 1 } END { exit !found }' /proc/mounts
}
echo "kernel release: $(uname -r)"
check btf test -s /sys/kernel/btf/vmlinux
check tracefs mounted /sys/kernel/tracing tracefs
check syscall-tracepoints test -d /sys/kernel/tracing/events/syscalls/sys_enter_epoll_wait
check kprobe-events test -e /sys/kernel/tracing/kprobe_events
check bpffs mounted /sys/fs/bpf bpf
check debugfs mounted /sys/kernel/debug debugfs
check kallsyms-ep_poll_callback grep -qw ep_poll_callback /proc/kallsyms
echo UPROF-DONE
