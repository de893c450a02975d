//! Probe tiers: which kernel hooks give uprof its figures. The callback tier hooks
//! `ep_poll_callback` (fentry, else kprobe) for the moment an fd becomes ready; the socket tier
//! hooks `sock:sk_data_ready` (a BTF tracepoint) for the moment a socket receives data; both add
//! `sched_waking`/`sched_switch` for wake-ups of blocked waiters; the syscall tier uses the
//! syscall hooks only. See `docs/probe-tiers.md`.
//!
//! [`choose`] decides which tier is used, for `uprof record` and for `uprof doctor`'s
//! prediction alike.
use anyhow::{Result, anyhow};
use aya::Ebpf;
use uprof_common::{
    ProbeKind, Tier,
    probes::{
        CALLBACK_FENTRY, CALLBACK_FUNCTION, CALLBACK_KPROBE, SOCKET_TRACEPOINT, WAKE_TRACEPOINTS,
    },
};

use crate::{
    attach, btf,
    status::{ProbeStatus, one_line},
};

/// One way to hook a tier's readiness event: a program of the object on a kernel target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hook {
    pub(crate) kind: ProbeKind,
    pub(crate) program: &'static str,
    pub(crate) target: &'static str,
}

impl Hook {
    /// Loads and attaches the program.
    pub(crate) fn attach(&self, ebpf: &mut Ebpf) -> Result<()> {
        match self.kind {
            ProbeKind::Fentry => attach::fentry(ebpf, self.program, self.target),
            ProbeKind::Kprobe => attach::kprobe(ebpf, self.program, self.target),
            ProbeKind::TpBtf => attach::tp_btf(ebpf, self.program, self.target),
            kind => Err(anyhow!("no tier hooks its readiness by {}", kind.name())),
        }
    }

    pub(crate) fn status(&self, result: &Result<()>) -> ProbeStatus {
        ProbeStatus::hook(self.kind, self.target, result)
    }
}

/// The hooks that can give `tier` its readiness events, in the order they are tried; the tier
/// needs one. None for the syscall tier.
pub(crate) fn hooks(tier: Tier) -> &'static [Hook] {
    const CALLBACK: [Hook; 2] = [
        Hook {
            kind: ProbeKind::Fentry,
            program: CALLBACK_FENTRY,
            target: CALLBACK_FUNCTION,
        },
        Hook {
            kind: ProbeKind::Kprobe,
            program: CALLBACK_KPROBE,
            target: CALLBACK_FUNCTION,
        },
    ];
    const SOCKET: [Hook; 1] = [Hook {
        kind: ProbeKind::TpBtf,
        program: SOCKET_TRACEPOINT,
        target: SOCKET_TRACEPOINT,
    }];
    match tier {
        Tier::Callback => &CALLBACK,
        Tier::Socket => &SOCKET,
        Tier::Syscall => &[],
    }
}

/// The load-time globals `tier`'s programs need: its switch and the kernel struct offsets
/// (from the running kernel's BTF).
pub(crate) fn globals(tier: Tier) -> Result<Vec<(&'static str, u32)>> {
    let (switch, members): (&str, &[&[btf::Member]]) = match tier {
        Tier::Callback => ("CALLBACK_TIER", &[btf::FD_TABLE, btf::CALLBACK, btf::SCHED]),
        Tier::Socket => ("SOCKET_TIER", &[btf::FD_TABLE, btf::SOCKET, btf::SCHED]),
        Tier::Syscall => return Ok(Vec::new()),
    };
    let mut globals = btf::offsets(members)?;
    globals.push(btf::task_btf_global()?);
    globals.push((switch, 1));
    Ok(globals)
}

/// What trying a tier gave: the probes tried, and on failure why the tier cannot be used.
pub(crate) type Tried<T> = Result<(T, Vec<ProbeStatus>), (Vec<ProbeStatus>, anyhow::Error)>;

/// The tier chosen, what trying it gave, every probe tried on the way, and why this tier.
pub(crate) struct Chosen<T> {
    pub(crate) tier: Tier,
    pub(crate) loaded: T,
    pub(crate) probes: Vec<ProbeStatus>,
    pub(crate) reason: String,
}

/// Chooses the tier: `forced`, or else the first of [`Tier::ALL`] that `try_tier` can use.
/// The reason names why each better tier could not be used, then what attached (or that the
/// tier was forced). A forced tier that cannot be used is an error with its reason.
pub(crate) fn choose<T>(
    forced: Option<Tier>,
    mut try_tier: impl FnMut(Tier) -> Tried<T>,
) -> Result<Chosen<T>> {
    let candidates = match forced {
        Some(tier) => vec![tier],
        None => Tier::ALL.to_vec(),
    };
    let mut probes = Vec::new();
    let mut reasons = Vec::new();
    for tier in candidates {
        match try_tier(tier) {
            Ok((loaded, tried)) => {
                match (forced, tried.iter().find(|p| p.attached)) {
                    (Some(_), _) => reasons.push(format!("forced with --tier {}", tier.name())),
                    (None, Some(p)) => reasons.push(format!("{} attached", p.name)),
                    (None, None) => {}
                }
                probes.extend(tried);
                return Ok(Chosen {
                    tier,
                    loaded,
                    probes,
                    reason: reasons.join("; "),
                });
            }
            Err((_, e)) if forced.is_some() => {
                let name = tier.name();
                return Err(e.context(format!("the {name} tier (--tier {name}) cannot load")));
            }
            Err((tried, e)) => {
                probes.extend(tried);
                reasons.push(format!(
                    "{} tier unavailable: {}",
                    tier.name(),
                    one_line(&e)
                ));
            }
        }
    }
    Err(anyhow!("no probe tier could load: {}", reasons.join("; ")))
}

/// The readiness hook of `tier` that attached, from the results of trying its hooks in order:
/// the first that attached, or every reason.
pub(crate) fn readiness<'a>(
    results: impl IntoIterator<Item = (&'a Hook, &'a Result<()>)>,
) -> Result<(), anyhow::Error> {
    let mut reasons = Vec::new();
    for (hook, result) in results {
        match result {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!(
                "{} on {}: {}",
                hook.kind.name(),
                hook.target,
                one_line(e)
            )),
        }
    }
    match reasons.is_empty() {
        true => Ok(()),
        false => Err(anyhow!("{}", reasons.join("; "))),
    }
}

/// Attaches `tier`'s readiness hook (the first of [`hooks`] that attaches) and, with
/// `wakeups`, the wake-up probes. On success, whether wake-ups are followed (the first wake-up
/// probe attached) and what was tried; on failure, what was tried and every reason.
pub(crate) fn attach(tier: Tier, ebpf: &mut Ebpf, wakeups: bool) -> Tried<bool> {
    let mut results = Vec::new();
    for hook in hooks(tier) {
        let result = hook.attach(ebpf);
        let attached = result.is_ok();
        results.push((hook, result));
        if attached {
            break;
        }
    }
    let mut tried: Vec<ProbeStatus> = results.iter().map(|(h, r)| h.status(r)).collect();
    if let Err(e) = readiness(results.iter().map(|(h, r)| (*h, r))) {
        return Err((tried, e));
    }
    let mut followed = false;
    if tier != Tier::Syscall && wakeups {
        // Wake-ups are a bonus: without them the tier still has its readiness figures.
        for (i, tracepoint) in WAKE_TRACEPOINTS.into_iter().enumerate() {
            let result = attach::tp_btf(ebpf, tracepoint, tracepoint);
            followed |= i == 0 && result.is_ok();
            tried.push(ProbeStatus::hook(ProbeKind::TpBtf, tracepoint, &result));
        }
    }
    Ok((followed, tried))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, attached: bool) -> ProbeStatus {
        ProbeStatus {
            name: name.to_owned(),
            kind: ProbeKind::Fentry,
            attached,
            note: None,
        }
    }

    /// The better tiers fail, the syscall tier loads: every reason, then the choice.
    #[test]
    fn the_best_tier_that_loads_is_chosen_with_the_reasons() {
        let chosen = choose(None, |tier| match tier {
            Tier::Callback => Err((vec![status("fentry:x", false)], anyhow!("refused"))),
            Tier::Socket => Ok((2, vec![status("tp_btf:y", true)])),
            Tier::Syscall => Ok((3, Vec::new())),
        })
        .unwrap();
        assert_eq!((chosen.tier, chosen.loaded), (Tier::Socket, 2));
        assert_eq!(
            chosen.reason,
            "callback tier unavailable: refused; tp_btf:y attached"
        );
        assert_eq!(chosen.probes.len(), 2);
    }

    #[test]
    fn a_forced_tier_is_used_or_is_the_error() {
        let chosen = choose(Some(Tier::Syscall), |_| Ok(((), Vec::new()))).unwrap();
        assert_eq!(
            (chosen.tier, chosen.reason.as_str()),
            (Tier::Syscall, "forced with --tier syscall")
        );
        let error = choose::<()>(Some(Tier::Socket), |_| Err((Vec::new(), anyhow!("no BTF"))))
            .err()
            .expect("the forced tier fails");
        assert_eq!(
            format!("{error:#}"),
            "the socket tier (--tier socket) cannot load: no BTF"
        );
    }

    #[test]
    fn readiness_needs_one_hook_and_names_every_refusal() {
        let [fentry, kprobe] = [hooks(Tier::Callback)[0], hooks(Tier::Callback)[1]];
        let (ok, refused) = (Ok(()), Err(anyhow!("EPERM")));
        assert!(readiness([(&fentry, &refused), (&kprobe, &ok)]).is_ok());
        let both = readiness([(&fentry, &refused), (&kprobe, &refused)]).unwrap_err();
        assert_eq!(
            both.to_string(),
            "fentry on ep_poll_callback: EPERM; kprobe on ep_poll_callback: EPERM"
        );
        assert!(
            readiness(std::iter::empty()).is_ok(),
            "the syscall tier needs none"
        );
    }
}
