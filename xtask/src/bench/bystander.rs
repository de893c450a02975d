//! The bystander benchmark: what uprof costs a process it does not trace. A redis-server that
//! nobody traces answers redis-benchmark's PINGs while a busy epoll loop (the `epoll-load`
//! generator, paced) runs beside it the whole time. In each round the redis-server runs five
//! times: with no uprof running; while `uprof record -p <generator>` traces the generator with
//! uprof's own choices, with `--no-wakeups`, and with `--tier syscall`; and with no uprof
//! again. uprof's programs then run on every epoll, poll, close and dup syscall, on the task
//! tracepoints and (with wake-ups) on every context switch of the machine; in an untraced
//! process they only look it up and return. Syscall tracepoints (where the kernel refuses
//! fentry) also send every other syscall of every process through the kernel's slow path. The
//! second untraced run measures the noise: how far two runs of the same thing differ within a
//! round.

use anyhow::{Context, Result};

use super::load;
use super::overhead::{self, Field, Rounds, Variant};
use super::procs::{KillOnDrop, describe};
use super::redis::Redis;
use super::stats::{list, median};
use super::uprof;
use super::{Bench, Target};

/// epoll_wait calls per second of the traced generator: enough to keep uprof's programs and its
/// consumer busy, little enough to leave the redis processes their CPU.
const BUSY_RATE: u64 = 20_000;
/// The generator runs until the benchmark kills it; this only bounds a forgotten one.
const BUSY_SECONDS: f64 = 24.0 * 3600.0;

/// The process uprof traces during the bystander runs, running until dropped.
pub struct Busy {
    load: load::Args,
    child: KillOnDrop,
}

impl Busy {
    /// Starts the generator (`cargo xtask bench epoll-load`, through this xtask binary), paced
    /// to `rate` calls per second.
    pub fn start(rate: u64) -> Result<Busy> {
        let load = load::Args {
            threads: 1,
            rate,
            seconds: BUSY_SECONDS,
        };
        let child = KillOnDrop::spawn(&mut load.command()?)?;
        Ok(Busy { load, child })
    }

    /// `uprof record` with `options` tracing the generator.
    pub fn traced_by(&self, options: uprof::Options) -> Variant {
        Variant::Uprof {
            options,
            elsewhere: Some(self.child.pid()),
        }
    }

    /// Prints the generator's command line.
    pub fn print(&self) -> Result<()> {
        println!(
            "   busy: {} (pid {}), runs throughout; only the `elsewhere` runs trace it",
            describe(&self.load.command()?),
            self.child.pid()
        );
        Ok(())
    }

    /// Fails if the generator stopped before the end.
    pub fn check_running(&mut self) -> Result<()> {
        self.child
            .check_running()
            .context("the epoll-load generator stopped")
    }
}

/// Runs the bystander benchmark on this machine (uprof picks its tier), prints its table and
/// returns its target.
pub fn run(bench: &Bench) -> Result<Vec<Target>> {
    let redis = Redis::start(bench.scratch_dir())?;
    let mut busy = Busy::start(BUSY_RATE)?;
    overhead::heading(
        bench,
        &redis,
        "bystander (untraced server, uprof tracing another process)",
    );
    busy.print()?;
    let elsewhere = busy.traced_by(uprof::Options::default());
    let variants = [
        Variant::Untraced,
        elsewhere,
        busy.traced_by(uprof::Options::NO_WAKEUPS),
        busy.traced_by(uprof::Options::SYSCALL_TIER),
        Variant::UntracedAgain,
    ];
    let rounds = overhead::interleave(bench, &redis, &variants, "bystander")?;
    busy.check_running()?;
    rounds.print_table();
    for variant in &variants[1..variants.len() - 1] {
        let name = variant.name();
        Verdict::of(&rounds, *variant, |r| r.server_us)
            .print(&format!("{name}: redis-server CPU per request"));
        Verdict::of(&rounds, *variant, |r| r.client_us)
            .print(&format!("{name}: redis-benchmark CPU per request"));
    }
    println!();
    let verdict = Verdict::of(&rounds, elsewhere, |r| r.server_us);
    Ok(vec![verdict.target("bystander: untraced redis CPU/req")])
}

/// Whether uprof's effect on a figure stands out from the noise of the same rounds: whether
/// the median ratio with uprof running is further from 1 than two untraced runs of a round
/// typically differ.
pub struct Verdict {
    /// Per round: the figure with uprof running / the round's first untraced run.
    effect: Vec<f64>,
    /// Per round: the second untraced run / the first.
    noise: Vec<f64>,
}

impl Verdict {
    /// The verdict on `field` for `variant`, in rounds that also ran both untraced variants.
    pub fn of(rounds: &Rounds, variant: Variant, field: Field) -> Verdict {
        Verdict {
            effect: rounds.ratios(variant, Variant::Untraced, field),
            noise: rounds.ratios(Variant::UntracedAgain, Variant::Untraced, field),
        }
    }

    /// uprof's effect: the median of the per-round ratios.
    pub fn ratio(&self) -> f64 {
        median(&self.effect)
    }

    /// How far from 1 the untraced-again / untraced ratios are, per round.
    fn noise_distances(&self) -> Vec<f64> {
        self.noise.iter().map(|n| (n - 1.0).abs()).collect()
    }

    /// The noise: how far two untraced runs of one round typically differ, the median over
    /// rounds of the distance from 1 of their ratio.
    pub fn noise(&self) -> f64 {
        median(&self.noise_distances())
    }

    /// Within noise: uprof's effect is no further from 1 than two untraced runs of a round
    /// typically are from each other.
    pub fn within_noise(&self) -> bool {
        (self.ratio() - 1.0).abs() <= self.noise()
    }

    /// Prints the per-round ratios, the effect, the noise and the verdict on `what`.
    pub fn print(&self, what: &str) {
        println!("   {what}:");
        println!(
            "     uprof running / untraced, per round:       {}  median x{:.3}",
            list(&self.effect),
            self.ratio()
        );
        println!(
            "     untraced again / untraced, per round:      {}  median x{:.3}",
            list(&self.noise),
            median(&self.noise),
        );
        println!(
            "     noise: two untraced runs differ by a median {:.1} % (at most {:.1} %)",
            100.0 * self.noise(),
            100.0 * self.noise_distances().into_iter().fold(0.0, f64::max)
        );
        println!(
            "     => {:+.1} % {}",
            100.0 * (self.ratio() - 1.0),
            if self.within_noise() {
                "within the noise"
            } else {
                "ABOVE the noise"
            }
        );
    }

    /// The target: not measurable above the noise.
    pub fn target(&self, what: &str) -> Target {
        Target {
            what: what.to_owned(),
            goal: "within noise",
            measured: format!("x{:.3} (noise {:.1} %)", self.ratio(), 100.0 * self.noise()),
            met: self.within_noise(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(effect: &[f64], noise: &[f64]) -> Verdict {
        Verdict {
            effect: effect.to_vec(),
            noise: noise.to_vec(),
        }
    }

    #[test]
    fn an_effect_within_the_typical_untraced_difference_is_noise() {
        let v = verdict(&[1.02, 0.97, 1.03], &[0.96, 1.03, 1.01]);
        assert_eq!(v.ratio(), 1.02);
        assert!((v.noise() - 0.03).abs() < 1e-9);
        assert!(v.within_noise());
    }

    #[test]
    fn one_wild_untraced_round_does_not_hide_a_steady_effect() {
        // The host run of 2026-11-26: uprof's runs cost more in every round.
        let v = verdict(
            &[1.089, 1.192, 1.132, 1.311, 1.089],
            &[0.934, 1.063, 0.969, 1.241, 0.962],
        );
        assert!(!v.within_noise(), "x{} vs noise {}", v.ratio(), v.noise());
        let target = v.target("bystander");
        assert_eq!(target.measured, "x1.132 (noise 6.3 %)");
        assert!(!target.met);
    }
}
