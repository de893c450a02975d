//! Maps and load-time constants shared by all programs.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use uprof_common::{EpollOwner, HistKey, InFlight, Log2Hist};

/// Records for user space. The loader sets the real size (`uprof record --buffer-size`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 24, 0);

/// Records that did not fit in `EVENTS`, per CPU (user space sums and reports them).
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Traced processes (thread-group ids). User space inserts the targets; `sched_process_fork`
/// adds their children, so that a whole process tree is followed from inside the kernel.
#[map]
pub static TRACED: HashMap<u32, u8> = HashMap::with_max_entries(16384, 0);

/// Slots of ids (`id % TRACED_SLOT_COUNT`) that some id in `TRACED` falls into: non-zero once
/// one does, never cleared during a session (plain stores, no race to lose). Every program
/// looks here before any hash map, so that the hits of most untraced processes end after an
/// array lookup the verifier inlines (see `emit::maybe_traced`).
#[map]
pub static TRACED_SLOTS: Array<u8> = Array::with_max_entries(TRACED_SLOT_COUNT, 0);

/// A power of two.
pub const TRACED_SLOT_COUNT: u32 = 1 << 16;

/// The syscall each traced thread is inside, keyed by thread id.
#[map]
pub static INFLIGHT: HashMap<u32, InFlight> = HashMap::with_max_entries(65536, 0);

/// Traced epoll instances (callback tier): the kernel address of a `struct eventpoll` -> the
/// process and fd it is known by. Filled at the exit of traced `epoll_ctl` and wait calls,
/// emptied at `close` (and by user space when a process exits), so that `ep_poll_callback`
/// only reports instances of traced processes.
#[map]
pub static EPOLLS: HashMap<u64, EpollOwner> = HashMap::with_max_entries(16384, 0);

/// Slots of `struct eventpoll` addresses (`callback::epoll_slot`) that a traced instance falls
/// into: non-zero once one does, never cleared during a session. `ep_poll_callback` runs for
/// every epoll instance of the machine: this inlined array lookup ends it for most untraced ones
/// before the hash lookup in `EPOLLS`.
#[map]
pub static EPOLL_SLOTS: Array<u8> = Array::with_max_entries(EPOLL_SLOT_COUNT, 0);

/// A power of two.
pub const EPOLL_SLOT_COUNT: u32 = 1 << 16;

/// The generation of traced epoll fds: bumped whenever one may stop naming the instance a thread
/// remembered for it (a `close` of a known instance, a `dup2`/`dup3` onto any fd, an instance
/// taken over by another owner). A thread's `InFlight::known_generation` older than this makes
/// its next wait resolve its epoll fd again.
#[map]
pub static EPOLL_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Sockets registered in traced epoll instances (socket tier), by inode number: only their
/// `sk_data_ready` events are reported. Filled when a traced thread adds a socket to an epoll
/// instance, and by user space for sockets registered before tracing began. Least recently
/// used entries make room: a closed socket's entry is never needed again.
#[map]
pub static SOCKETS: LruHashMap<u64, u8> = LruHashMap::with_max_entries(65536, 0);

/// In-kernel aggregation (`offsets::AGGREGATE_WAITS`): each traced thread's wait durations by
/// syscall and outcome, and its busy times, as log2 histograms. Only the thread's own wait
/// exits update its entries (one CPU at a time: plain adds suffice). User space reads them
/// every second and removes a process's entries once it exited. When the map is full, a new
/// entry is not made and the duration counted in `LOOP_HIST_DROPS` instead.
#[map]
pub static LOOP_HISTS: HashMap<HistKey, Log2Hist> = HashMap::with_max_entries(16384, 0);

/// Durations `LOOP_HISTS` had no room for, per CPU.
#[map]
pub static LOOP_HIST_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Values the loader sets at load time. Tracepoint field offsets are read from tracefs `format`
/// files: they differ between kernels (e.g. `sched_process_fork` switched to `__data_loc` comm
/// strings). No offset has a default worth using: a program whose offsets the loader could not
/// read is not attached.
pub mod offsets {
    /// Wake the reader when this many bytes wait in `EVENTS`.
    #[unsafe(no_mangle)]
    pub static WAKEUP_BYTES: u32 = 1 << 20;
    /// The arguments of a `sys_enter_*` record, the return value of a `sys_exit_*` one.
    #[unsafe(no_mangle)]
    pub static SYSCALL_ARGS: u32 = 0;
    #[unsafe(no_mangle)]
    pub static SYSCALL_RET: u32 = 0;
    /// `sched_process_fork`'s `child_pid`.
    #[unsafe(no_mangle)]
    pub static FORK_CHILD_PID: u32 = 0;
    /// `task_rename`'s `pid` and `newcomm`.
    #[unsafe(no_mangle)]
    pub static RENAME_PID: u32 = 0;
    #[unsafe(no_mangle)]
    pub static RENAME_NEWCOMM: u32 = 0;

    /// Non-zero when the callback tier is loaded: syscall exits then learn which
    /// `struct eventpoll` each traced epoll fd refers to.
    #[unsafe(no_mangle)]
    pub static CALLBACK_TIER: u32 = 0;

    /// Non-zero for in-kernel aggregation: wait exits count the wait (and the busy time
    /// before it) in `LOOP_HISTS`, and stream a wait's record only when it returned events,
    /// which user space needs for the fd kinds.
    #[unsafe(no_mangle)]
    pub static AGGREGATE_WAITS: u32 = 0;

    /// Non-zero when the socket tier is loaded: `epoll_ctl` exits learn which fds are sockets.
    #[unsafe(no_mangle)]
    pub static SOCKET_TIER: u32 = 0;

    /// Non-zero when the kernel has `bpf_get_current_task_btf` (5.11+; the loader asks its
    /// BTF): the fd-table walk then loads through BTF-typed pointers instead of calling
    /// `bpf_probe_read_kernel` for each.
    #[unsafe(no_mangle)]
    pub static TASK_BTF: u32 = 0;

    // Kernel struct member offsets (bytes), read from the running kernel's BTF by the loader.
    /// `eppoll_entry.wait` (the wait-queue entry `ep_poll_callback` receives).
    #[unsafe(no_mangle)]
    pub static EPPOLL_WAIT: u32 = 0;
    /// `eppoll_entry.base` (its `struct epitem *`).
    #[unsafe(no_mangle)]
    pub static EPPOLL_BASE: u32 = 0;
    /// `epitem.ffd.fd`.
    #[unsafe(no_mangle)]
    pub static EPITEM_FD: u32 = 0;
    /// `epitem.ep`.
    #[unsafe(no_mangle)]
    pub static EPITEM_EP: u32 = 0;
    /// `epitem.event.events`.
    #[unsafe(no_mangle)]
    pub static EPITEM_EVENTS: u32 = 0;
    /// `epitem.event.data`.
    #[unsafe(no_mangle)]
    pub static EPITEM_DATA: u32 = 0;
    /// `epitem.ffd.file`.
    #[unsafe(no_mangle)]
    pub static EPITEM_FILE: u32 = 0;
    /// `task_struct.pid` (the thread id).
    #[unsafe(no_mangle)]
    pub static TASK_PID: u32 = 0;
    /// `task_struct.tgid` (the process id).
    #[unsafe(no_mangle)]
    pub static TASK_TGID: u32 = 0;
    /// `task_struct.__state` (`state` before 5.14).
    #[unsafe(no_mangle)]
    pub static TASK_STATE: u32 = 0;
    /// `file.f_inode`.
    #[unsafe(no_mangle)]
    pub static FILE_INODE: u32 = 0;
    /// `inode.i_mode`.
    #[unsafe(no_mangle)]
    pub static INODE_MODE: u32 = 0;
    /// `inode.i_ino`.
    #[unsafe(no_mangle)]
    pub static INODE_INO: u32 = 0;
    /// `sock.sk_socket`.
    #[unsafe(no_mangle)]
    pub static SOCK_SOCKET: u32 = 0;
    /// From a `struct socket` to its inode's `i_ino` (both live in one `struct socket_alloc`).
    #[unsafe(no_mangle)]
    pub static SOCKET_INO: u32 = 0;
    /// `task_struct.files`.
    #[unsafe(no_mangle)]
    pub static TASK_FILES: u32 = 0;
    /// `files_struct.fdt`.
    #[unsafe(no_mangle)]
    pub static FILES_FDT: u32 = 0;
    /// `fdtable.max_fds`.
    #[unsafe(no_mangle)]
    pub static FDTABLE_MAX_FDS: u32 = 0;
    /// `fdtable.fd`.
    #[unsafe(no_mangle)]
    pub static FDTABLE_FD: u32 = 0;
    /// `file.private_data`.
    #[unsafe(no_mangle)]
    pub static FILE_PRIVATE_DATA: u32 = 0;

    /// Where `struct pt_regs` keeps a syscall's six arguments (fentry on syscall functions).
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG0: u32 = 0;
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG1: u32 = 0;
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG2: u32 = 0;
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG3: u32 = 0;
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG4: u32 = 0;
    #[unsafe(no_mangle)]
    pub static PT_REGS_ARG5: u32 = 0;

    /// Reads a value the loader may have rewritten (a plain read would be folded at
    /// compile time).
    #[inline(always)]
    pub fn get(v: &'static u32) -> usize {
        unsafe { core::ptr::read_volatile(v) as usize }
    }
}
