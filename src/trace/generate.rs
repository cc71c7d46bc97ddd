//! Synthetic utilisation traces, so that scenarios and tests need no external data.
//!
//! Each VM draws from its own ChaCha8 stream (`seed`, stream = VM index), so VM 7's series is
//! the same whether the trace has 10 VMs or 10 000.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Pareto, Uniform};

use super::{Trace, VmTrace};
use crate::engine::SimTime;

/// Shapes of load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Office hours: a per-VM level, a daily cosine peaking in the afternoon, Gaussian noise.
    Diurnal,
    /// A low base with on/off bursts of exponential length.
    Bursty,
    /// Independent Pareto-distributed samples: mostly idle, occasionally very busy.
    HeavyTailed,
    /// Each VM one of the above: 60 % diurnal, 25 % bursty, 15 % heavy-tailed.
    Mixed,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "diurnal" => Some(Kind::Diurnal),
            "bursty" => Some(Kind::Bursty),
            "heavy-tailed" => Some(Kind::HeavyTailed),
            "mixed" => Some(Kind::Mixed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    pub vms: usize,
    pub seed: u64,
    pub interval: SimTime,
    pub duration: SimTime,
    /// A load peak: every VM's demand times `factor` from `at` for `length`, capped at 100 %
    /// (where thousands of migrations run at once under a consolidation policy).
    pub peak: Option<Peak>,
}

/// A window of raised demand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    pub at: SimTime,
    pub length: SimTime,
    pub factor: f64,
}

impl Peak {
    /// The demand at `t` of a VM whose demand without the peak is `u`.
    pub fn apply(&self, t: SimTime, u: f64) -> f64 {
        if t >= self.at && t < self.at + self.length {
            (u * self.factor).clamp(0.0, 1.0)
        } else {
            u
        }
    }
}

fn diurnal(rng: &mut ChaCha8Rng, n: usize, dt: f64) -> Vec<f64> {
    // Per-VM mean level: log-normal with a median of 8 % (PlanetLab's days have medians of
    // 4–6 % and means of 9–12 %: Beloglazov & Buyya, CCPE 2012, Table II).
    let level = LogNormal::new((0.08f64).ln(), 0.8)
        .expect("valid")
        .sample(rng)
        .min(0.8);
    let amp = Uniform::new(0.2, 0.7).expect("valid").sample(rng) * level;
    let peak = Normal::new(14.0 * 3600.0, 2.0 * 3600.0)
        .expect("valid")
        .sample(rng);
    let noise = Normal::new(0.0, 0.25 * level + 0.005).expect("valid");
    (0..n)
        .map(|k| {
            let t = k as f64 * dt;
            let u = level
                + amp * (2.0 * std::f64::consts::PI * (t - peak) / 86_400.0).cos()
                + noise.sample(rng);
            u.clamp(0.0, 1.0)
        })
        .collect()
}

fn bursty(rng: &mut ChaCha8Rng, n: usize, dt: f64) -> Vec<f64> {
    let base = Uniform::new(0.01, 0.08).expect("valid").sample(rng);
    let on = Exp::new(1.0 / 1800.0).expect("valid"); // bursts last 30 min on average
    let off = Exp::new(1.0 / 14_400.0).expect("valid"); // every 4 h on average
    let level = Uniform::new(0.4, 0.95).expect("valid");
    let mut out = Vec::with_capacity(n);
    let mut busy = false;
    let mut left = off.sample(rng);
    let mut burst = 0.0;
    for _ in 0..n {
        while left <= 0.0 {
            busy = !busy;
            if busy {
                burst = level.sample(rng);
                left += on.sample(rng);
            } else {
                left += off.sample(rng);
            }
        }
        left -= dt;
        out.push(if busy { burst } else { base });
    }
    out
}

fn heavy(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let p: Pareto<f64> = Pareto::new(0.02, 1.4).expect("valid");
    (0..n).map(|_| (p.sample(rng) - 0.02).min(1.0)).collect()
}

/// Generates a trace.
pub fn generate(s: &Spec) -> Trace {
    let dt = s.interval.as_secs_f64().max(1.0);
    let n = (s.duration.as_secs_f64() / dt).round().max(1.0) as usize;
    let vms = (0..s.vms)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
            rng.set_stream(i as u64);
            let kind = match s.kind {
                Kind::Mixed => {
                    let x: f64 = Uniform::new(0.0, 1.0).expect("valid").sample(&mut rng);
                    if x < 0.6 {
                        Kind::Diurnal
                    } else if x < 0.85 {
                        Kind::Bursty
                    } else {
                        Kind::HeavyTailed
                    }
                }
                k => k,
            };
            let cpu = match kind {
                Kind::Diurnal | Kind::Mixed => diurnal(&mut rng, n, dt),
                Kind::Bursty => bursty(&mut rng, n, dt),
                Kind::HeavyTailed => heavy(&mut rng, n),
            };
            let times: Vec<SimTime> = (0..n)
                .map(|k| SimTime::from_secs_f64(k as f64 * dt))
                .collect();
            let cpu = cpu
                .iter()
                .zip(&times)
                .map(|(&c, &t)| s.peak.map_or(c, |p| p.apply(t, c)) as f32)
                .collect();
            VmTrace {
                name: format!("vm-{i:05}"),
                times,
                cpu,
                memory: None,
                dirty_rate: None,
                lifetime: None,
            }
        })
        .collect();
    Trace { vms }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: Kind, vms: usize, seed: u64) -> Spec {
        Spec {
            kind,
            vms,
            seed,
            interval: SimTime::from_secs(300),
            duration: SimTime::from_secs(86_400),
            peak: None,
        }
    }

    #[test]
    fn a_peak_raises_demand_in_its_window_only_and_never_past_one() {
        let base = generate(&spec(Kind::Mixed, 20, 3));
        let mut s = spec(Kind::Mixed, 20, 3);
        let p = Peak {
            at: SimTime::from_secs(12 * 3600),
            length: SimTime::from_secs(2 * 3600),
            factor: 1.5,
        };
        s.peak = Some(p);
        let peaked = generate(&s);
        for (a, b) in base.vms.iter().zip(&peaked.vms) {
            for ((&t, &x), &y) in a.times.iter().zip(&a.cpu).zip(&b.cpu) {
                let inside = t >= p.at && t < p.at + p.length;
                let want = if inside { (x * 1.5).min(1.0) } else { x };
                assert!((y - want).abs() < 1e-6, "{t:?}: {x} -> {y}");
            }
        }
    }

    #[test]
    fn same_seed_same_trace_and_vm_streams_are_independent_of_count() {
        let a = generate(&spec(Kind::Mixed, 10, 7));
        let b = generate(&spec(Kind::Mixed, 3, 7));
        assert_eq!(a.vms[2], b.vms[2]);
        assert_ne!(generate(&spec(Kind::Mixed, 3, 8)).vms[2], b.vms[2]);
        assert_eq!(a.vms[0].cpu.len(), 288);
    }

    #[test]
    fn every_kind_stays_within_zero_and_one() {
        for k in [Kind::Diurnal, Kind::Bursty, Kind::HeavyTailed, Kind::Mixed] {
            let t = generate(&spec(k, 50, 1));
            assert!(
                t.vms
                    .iter()
                    .flat_map(|v| &v.cpu)
                    .all(|&c| (0.0..=1.0).contains(&c))
            );
        }
    }

    #[test]
    fn a_mixed_day_looks_like_planetlab() {
        // PlanetLab days: mean 9–12 %, median 4–6 % (Beloglazov & Buyya, Table II).
        let t = generate(&spec(Kind::Mixed, 400, 3));
        let s = super::super::stats::of_vms(&t.vms, false);
        assert!((5.0..20.0).contains(&s.mean), "{s:?}");
        assert!(s.median < s.mean, "skewed like the real traces: {s:?}");
    }
}
