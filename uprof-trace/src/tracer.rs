//! A loaded, attached set of uprof programs: the handle user space records through.
use anyhow::{Context as _, Result};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
};
use uprof_common::{EpollOwner, InFlight, Tier};

use crate::{
    attach, btf,
    loop_hists::LoopHists,
    offsets::Offsets,
    preflight,
    probes::{self, SyscallHooks},
    status::ProbeStatus,
    tier::{self, Tried},
    tracefs,
};

/// The compiled programs (built by build.rs from `uprof-ebpf`).
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/uprof"));

/// How to set the programs up.
#[derive(Clone, Debug)]
pub struct TracerOptions {
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub buffer_bytes: u32,
    /// The tier to use; `None` picks the best one the kernel allows.
    pub tier: Option<Tier>,
    /// Follow wake-ups of blocked waiters (callback and socket tiers).
    pub wakeups: bool,
    /// How to hook the syscalls; `None` prefers fentry and falls back to tracepoints.
    pub syscall_hooks: Option<SyscallHooks>,
    /// Count waits and busy times in the kernel's loop histograms ([`Tracer::take_loop_hists`])
    /// and stream only the waits that returned events.
    pub aggregate_waits: bool,
}

impl Default for TracerOptions {
    fn default() -> Self {
        Self {
            buffer_bytes: 16 << 20,
            tier: None,
            wakeups: true,
            syscall_hooks: None,
            aggregate_waits: false,
        }
    }
}

pub struct Tracer {
    ebpf: Ebpf,
    probes: Vec<ProbeStatus>,
    kernel_release: String,
    tier: Tier,
    tier_reason: String,
    syscall_hooks: SyscallHooks,
    syscall_hooks_reason: String,
    wakeups: bool,
}

impl Tracer {
    /// How often the reader must drain the ring buffer even when not woken: programs only wake
    /// it when the buffer fills up.
    pub const DRAIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

    /// Checks privileges and kernel, loads the programs and attaches them. Nothing is traced
    /// until [`Tracer::trace`] names a process.
    pub fn load(options: &TracerOptions) -> Result<Tracer> {
        let _btf = btf::Loading::start();
        let kernel_release = preflight::kernel_release();
        preflight::check_privileges()?;
        preflight::check_kernel(&kernel_release)?;
        let tracefs = tracefs::ensure_mounted()?;
        let offsets = Offsets::read(&tracefs)?;
        // Fails harmlessly (EPERM) where memory is charged to the cgroup (5.11+).
        raise_memlock_limit();
        let (hook_globals, fentry_blocked) = syscall_hook_globals(options.syscall_hooks);
        let chosen = tier::choose(options.tier, |tier| {
            load_tier(options, &offsets, tier, &hook_globals)
        })?;
        let ((mut ebpf, wakeups), mut probes) = (chosen.loaded, chosen.probes);
        let attached = probes::attach_all(
            &mut ebpf,
            &tracefs,
            &offsets,
            options.syscall_hooks,
            fentry_blocked,
        )?;
        probes.extend(attached.probes);
        Ok(Tracer {
            ebpf,
            probes,
            kernel_release,
            tier: chosen.tier,
            tier_reason: chosen.reason,
            syscall_hooks: attached.hooks,
            syscall_hooks_reason: attached.hooks_reason,
            wakeups,
        })
    }

    /// The tier in use.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Why this tier was chosen (or what made the better one fail).
    pub fn tier_reason(&self) -> &str {
        &self.tier_reason
    }

    /// How the syscalls are hooked.
    pub fn syscall_hooks(&self) -> SyscallHooks {
        self.syscall_hooks
    }

    /// Why these syscall hooks: forced, or why fentry was not used.
    pub fn syscall_hooks_reason(&self) -> &str {
        &self.syscall_hooks_reason
    }

    /// Whether wake-ups of blocked waiters are followed (their first probe attached).
    pub fn wakeups(&self) -> bool {
        self.wakeups
    }

    /// What attached (and what did not, with the reason).
    pub fn probes(&self) -> &[ProbeStatus] {
        &self.probes
    }

    pub fn kernel_release(&self) -> &str {
        &self.kernel_release
    }

    /// Starts tracing process `pid` (and, from now on, the processes it creates).
    pub fn trace(&mut self, pid: u32) -> Result<()> {
        // The slot first: a program that finds the pid in TRACED must find its slot marked.
        let mut slots: Array<_, u8> = Array::try_from(self.map_mut("TRACED_SLOTS")?)?;
        let slot = pid % slots.len();
        slots
            .set(slot, &1, 0)
            .with_context(|| format!("cannot trace pid {pid}"))?;
        let mut traced: HashMap<_, u32, u8> = HashMap::try_from(self.map_mut("TRACED")?)?;
        traced
            .insert(&pid, &1, 0)
            .with_context(|| format!("cannot trace pid {pid}"))
    }

    /// Reports `sk_data_ready` of the socket with inode number `ino` (socket tier): one that a
    /// traced process registered in an epoll instance before tracing began.
    pub fn watch_socket(&mut self, ino: u64) -> Result<()> {
        // aya's HashMap handle also serves LRU hash maps.
        let mut sockets: HashMap<_, u64, u8> = HashMap::try_from(self.map_mut("SOCKETS")?)?;
        sockets
            .insert(&ino, &1, 0)
            .with_context(|| format!("cannot watch socket {ino}"))
    }

    /// Stops tracing `pid` (a process that has exited). Its slot in `TRACED_SLOTS` stays
    /// marked: another traced id may share it.
    pub fn untrace(&mut self, pid: u32) -> Result<()> {
        let mut traced: HashMap<_, u32, u8> = HashMap::try_from(self.map_mut("TRACED")?)?;
        traced.remove(&pid).or_else(|e| match e {
            aya::maps::MapError::KeyNotFound => Ok(()),
            e => Err(e),
        })?;
        // Its epoll instances go too: their memory may be reused by untraced processes.
        let mut epolls: HashMap<_, u64, EpollOwner> = HashMap::try_from(self.map_mut("EPOLLS")?)?;
        let gone: Vec<u64> = epolls
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, owner)| owner.pid == pid)
            .map(|(ep, _)| ep)
            .collect();
        for ep in gone {
            let _ = epolls.remove(&ep);
        }
        Ok(())
    }

    /// Whether `pid` is traced now (given to [`Tracer::trace`], or a child the kernel side
    /// added when a traced process forked it).
    pub fn is_traced(&self, pid: u32) -> Result<bool> {
        let traced: HashMap<_, u32, u8> = HashMap::try_from(self.map("TRACED")?)?;
        Ok(traced.get(&pid, 0).is_ok())
    }

    /// Records the kernel could not put in the ring buffer so far.
    pub fn lost(&self) -> Result<u64> {
        let drops: PerCpuArray<_, u64> = PerCpuArray::try_from(self.map("DROPS")?)?;
        Ok(saturating_total(drops.get(&0, 0)?.iter().copied()))
    }

    /// Syscalls traced threads are inside now, by thread id.
    pub fn in_flight(&self) -> Result<Vec<(u32, InFlight)>> {
        let map: HashMap<_, u32, InFlight> = HashMap::try_from(self.map("INFLIGHT")?)?;
        Ok(map.iter().filter_map(Result::ok).collect())
    }

    /// Takes the in-kernel loop histograms (once).
    pub fn take_loop_hists(&mut self) -> Result<LoopHists> {
        LoopHists::take(&mut self.ebpf)
    }

    /// Takes the ring buffer records arrive in (once).
    pub fn take_ring(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .context("ring buffer already taken")?;
        Ok(RingBuf::try_from(map)?)
    }

    fn map(&self, name: &str) -> Result<&aya::maps::Map> {
        self.ebpf
            .map(name)
            .with_context(|| format!("map {name} missing from uprof's eBPF object"))
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("map {name} missing from uprof's eBPF object"))
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        attach::unload_all(&mut self.ebpf);
    }
}

/// Loads the object with `tier`'s globals set and attaches the tier's own probes: the object,
/// and whether wake-ups are followed.
fn load_tier(
    options: &TracerOptions,
    offsets: &Offsets,
    tier: Tier,
    hook_globals: &[(&'static str, u32)],
) -> Tried<(Ebpf, bool)> {
    let mut globals = tier::globals(tier).map_err(|e| (Vec::new(), e))?;
    globals.extend_from_slice(hook_globals);
    let mut ebpf = load_object(options, offsets, &globals).map_err(|e| (Vec::new(), e))?;
    let (wakeups, tried) = tier::attach(tier, &mut ebpf, options.wakeups)?;
    Ok(((ebpf, wakeups), tried))
}

/// The load-time globals syscall hooks by fentry need (where `struct pt_regs` keeps the
/// arguments, from BTF), or why fentry cannot be used. Nothing when tracepoints are forced.
pub(crate) fn syscall_hook_globals(
    hooks: Option<SyscallHooks>,
) -> (Vec<(&'static str, u32)>, Option<String>) {
    if hooks == Some(SyscallHooks::Tracepoint) {
        return (Vec::new(), None);
    }
    match btf::offsets(&[btf::SYSCALL_REGS]) {
        Ok(globals) => (globals, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    }
}

/// Loads uprof's maps and the object (no program is loaded yet), with load-time `globals`
/// (a tier's switch and struct offsets) set.
pub(crate) fn load_object(
    options: &TracerOptions,
    offsets: &Offsets,
    globals: &[(&'static str, u32)],
) -> Result<Ebpf> {
    // Programs wake the reader once a quarter of the buffer is waiting; the reader drains it
    // on a timer too (see `Tracer::DRAIN_INTERVAL`).
    let wakeup_bytes = options.buffer_bytes / 4;
    let btf = btf::aya_kernel().ok();
    let mut loader = EbpfLoader::new();
    loader
        .map_max_entries("EVENTS", options.buffer_bytes)
        .override_global("WAKEUP_BYTES", &wakeup_bytes, true);
    if options.aggregate_waits {
        loader.override_global("AGGREGATE_WAITS", &1u32, true);
    } else {
        // A hash map's entries are allocated at load: 5.5 MiB of kernel memory nothing uses.
        loader.map_max_entries("LOOP_HISTS", 1);
    }
    let offset_globals = offsets.globals();
    for (global, value) in offset_globals.iter().chain(globals) {
        loader.override_global(global, value, true);
    }
    if let Some(btf) = &btf {
        loader.btf(btf);
    }
    loader
        .load(PROGRAMS)
        .context("the kernel refused uprof's eBPF maps or programs")
}

/// The sum of per-CPU counters, saturated (they come from the kernel).
fn saturating_total(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use uprof_common::probes;

    use super::*;

    #[test]
    fn drop_counts_add_up_without_overflowing() {
        assert_eq!(saturating_total([1, 2, 3].into_iter()), 6);
        assert_eq!(saturating_total([u64::MAX, 2].into_iter()), u64::MAX);
    }

    /// The object holds exactly the programs `uprof_common::probes` names: a program renamed or
    /// added on one side only fails here, not at load time on some kernel.
    #[test]
    fn the_object_holds_exactly_the_named_programs() {
        let object = aya_obj::Object::parse(PROGRAMS).expect("the compiled object parses");
        let in_object: BTreeSet<&str> = object.programs.keys().map(String::as_str).collect();
        let named: BTreeSet<&str> = probes::all_program_names().collect();
        let unnamed: Vec<_> = in_object.difference(&named).collect();
        let missing: Vec<_> = named.difference(&in_object).collect();
        assert!(
            unnamed.is_empty() && missing.is_empty(),
            "programs without a name in uprof_common::probes: {unnamed:?}; \
             names without a program: {missing:?}"
        );
        assert_eq!(
            named.len(),
            probes::all_program_names().count(),
            "a name is given twice"
        );
    }
}
