//! How a VM dirties its memory: the input of every pre-copy model.
//!
//! A model answers two questions. How much does the VM write between two instants (`writes`)?
//! And how many distinct bytes do that many writes touch, starting from a clean dirty bitmap
//! (`distinct`)? Pre-copy only re-sends distinct pages, so the second answer decides how rounds
//! shrink or fail to.

use crate::engine::SimTime;
use crate::units::{Bandwidth, Volume};

/// The shape of the write stream.
#[derive(Debug, Clone, PartialEq)]
pub enum DirtyPattern {
    /// Clark et al. (NSDI 2005 §4): distinct pages are dirtied at `rate` until the writable working
    /// set `wws` is all dirty. Writes are counted as distinct pages.
    Wws { rate: Bandwidth, wws: Volume },
    /// Writes land on uniformly random pages of `span` bytes, so `w` bytes of writes touch
    /// `span · (1 − e^(−w/span))` distinct bytes (the coupon-collector expectation).
    Uniform { rate: Bandwidth, span: Volume },
    /// A share `hot_share` of the writes goes uniformly to a hot set of `hot` bytes, the rest
    /// uniformly to the other `span − hot` bytes.
    HotCold {
        rate: Bandwidth,
        hot: Volume,
        hot_share: f64,
        span: Volume,
    },
    /// A measured per-second series of distinct-page rates, saturating at `wws`; the last value
    /// holds after the series ends.
    Trace {
        per_second: Vec<Bandwidth>,
        wws: Volume,
    },
}

/// A VM's dirtying behaviour and what modulates it.
#[derive(Debug, Clone, PartialEq)]
pub struct DirtyModel {
    pub pattern: DirtyPattern,
    /// Fraction of memory that is zero pages (QEMU sends a header and one byte for each:
    /// `RAM_SAVE_FLAG_ZERO` in migration/ram.c).
    pub zero_fraction: f64,
    /// SimGrid's coupling (`dirty_page_tracking.cpp`): the rate is given for a VM whose vCPUs
    /// run flat out, and scales with the CPU the VM actually gets.
    pub cpu_coupled: bool,
    /// Share of its vCPU time the writer needs to keep its rate. A CPU throttle that leaves the
    /// vCPU `1 − p` of its time cuts the rate only below that: `rate · min(1, (1 − p)/share)`.
    /// 1.0 is a CPU-bound writer (every throttle step bites); a writer that mostly sleeps
    /// between bursts has a small share and shrugs off all but the deepest throttles.
    pub writer_cpu_share: f64,
}

impl DirtyModel {
    pub fn idle() -> DirtyModel {
        DirtyModel {
            pattern: DirtyPattern::Wws {
                rate: Bandwidth::ZERO,
                wws: Volume::ZERO,
            },
            zero_fraction: 0.0,
            cpu_coupled: false,
            writer_cpu_share: 1.0,
        }
    }

    /// Clark's unique-page rate with a writable-working-set cap.
    pub fn wws(rate: Bandwidth, wws: Volume) -> DirtyModel {
        DirtyModel {
            pattern: DirtyPattern::Wws { rate, wws },
            ..DirtyModel::idle()
        }
    }

    /// Bytes of `ram` that are not zero pages and must really be sent.
    pub fn nonzero(&self, ram: Volume) -> Volume {
        ram * (1.0 - self.zero_fraction.clamp(0.0, 1.0))
    }

    /// Nominal write rate at time `t` (before CPU coupling and throttling).
    pub fn rate_at(&self, t: SimTime) -> Bandwidth {
        match &self.pattern {
            DirtyPattern::Wws { rate, .. }
            | DirtyPattern::Uniform { rate, .. }
            | DirtyPattern::HotCold { rate, .. } => *rate,
            DirtyPattern::Trace { per_second, .. } => {
                let i = t.as_nanos() / 1_000_000_000;
                per_second
                    .get(i as usize)
                    .or(per_second.last())
                    .copied()
                    .unwrap_or(Bandwidth::ZERO)
            }
        }
    }

    /// Writes between `from` and `to` at nominal rate, scaled by `factor` (CPU share and throttle
    /// effect, held constant over the interval).
    pub fn writes(&self, from: SimTime, to: SimTime, factor: f64) -> Volume {
        if to <= from {
            return Volume::ZERO;
        }
        let w = match &self.pattern {
            DirtyPattern::Trace { per_second, .. } => {
                // Integrate the step function second by second.
                let (a, b) = (from.as_secs_f64(), to.as_secs_f64());
                let mut t = a;
                let mut acc = 0.0;
                while t < b {
                    let i = t.floor();
                    let next = (i + 1.0).min(b);
                    let r = per_second
                        .get(i as usize)
                        .or(per_second.last())
                        .copied()
                        .unwrap_or(Bandwidth::ZERO)
                        .as_bytes_per_sec();
                    acc += r * (next - t);
                    t = next;
                }
                acc
            }
            _ => self.rate_at(from).as_bytes_per_sec() * (to - from).as_secs_f64(),
        };
        Volume::bytes(w * factor.max(0.0))
    }

    /// Distinct bytes touched by `writes` bytes of writes, from a clean bitmap.
    pub fn distinct(&self, writes: Volume) -> Volume {
        let writes = writes.as_bytes();
        if writes <= 0.0 {
            return Volume::ZERO;
        }
        Volume::bytes(match &self.pattern {
            DirtyPattern::Wws { wws, .. } | DirtyPattern::Trace { wws, .. } => {
                writes.min(wws.as_bytes())
            }
            DirtyPattern::Uniform { span, .. } => {
                let span = span.as_bytes();
                if span <= 0.0 {
                    0.0
                } else {
                    span * (1.0 - (-writes / span).exp())
                }
            }
            DirtyPattern::HotCold {
                hot,
                hot_share,
                span,
                ..
            } => {
                let (hot, span) = (hot.as_bytes(), span.as_bytes());
                let cold = (span - hot).max(0.0);
                let h = if hot > 0.0 {
                    hot * (1.0 - (-writes * hot_share / hot).exp())
                } else {
                    0.0
                };
                let c = if cold > 0.0 {
                    cold * (1.0 - (-writes * (1.0 - hot_share) / cold).exp())
                } else {
                    0.0
                };
                h + c
            }
        })
    }

    /// Of a set of pages, what fraction `w` more bytes of writes touch again. The set is the
    /// pages touched by `set_writes` bytes of writes, or all of `memory` if `None` (a first pass
    /// over everything). Xen's pre-copy skips pages touched again before it reaches them.
    pub fn redirtied(&self, set_writes: Option<Volume>, w: Volume, memory: Volume) -> f64 {
        if w.as_bytes() <= 0.0 {
            return 0.0;
        }
        let Some(prev) = set_writes else {
            return (self.distinct(w) / memory.max(Volume::bytes(1.0))).min(1.0);
        };
        let (prev, w) = (prev.as_bytes(), w.as_bytes());
        match &self.pattern {
            DirtyPattern::Wws { wws, .. } | DirtyPattern::Trace { wws, .. } => {
                let wws = wws.as_bytes();
                if wws <= 0.0 { 0.0 } else { (w / wws).min(1.0) }
            }
            DirtyPattern::Uniform { span, .. } => {
                let span = span.as_bytes();
                if span <= 0.0 {
                    0.0
                } else {
                    1.0 - (-w / span).exp()
                }
            }
            DirtyPattern::HotCold {
                hot,
                hot_share,
                span,
                ..
            } => {
                let (hot, span) = (hot.as_bytes(), span.as_bytes());
                let cold = (span - hot).max(0.0);
                let part = |size: f64, share: f64, writes: f64| {
                    if size > 0.0 {
                        size * (1.0 - (-writes * share / size).exp())
                    } else {
                        0.0
                    }
                };
                let h_set = part(hot, *hot_share, prev);
                let c_set = part(cold, 1.0 - hot_share, prev);
                let frac = |size: f64, share: f64| {
                    if size > 0.0 {
                        1.0 - (-w * share / size).exp()
                    } else {
                        0.0
                    }
                };
                let total = h_set + c_set;
                if total <= 0.0 {
                    0.0
                } else {
                    (h_set * frac(hot, *hot_share) + c_set * frac(cold, 1.0 - hot_share)) / total
                }
            }
        }
    }

    /// The memory that dirty pages come from: the most that can be dirty at once.
    pub fn region(&self) -> Volume {
        match &self.pattern {
            DirtyPattern::Wws { wws, .. } | DirtyPattern::Trace { wws, .. } => *wws,
            DirtyPattern::Uniform { span, .. } | DirtyPattern::HotCold { span, .. } => *span,
        }
    }

    /// Whether the VM writes at all.
    pub fn is_idle(&self) -> bool {
        !self.region().is_positive()
            || match &self.pattern {
                DirtyPattern::Trace { per_second, .. } => {
                    per_second.iter().all(|r| !r.is_positive())
                }
                p => {
                    let r = match p {
                        DirtyPattern::Wws { rate, .. }
                        | DirtyPattern::Uniform { rate, .. }
                        | DirtyPattern::HotCold { rate, .. } => *rate,
                        DirtyPattern::Trace { .. } => unreachable!(),
                    };
                    !r.is_positive()
                }
            }
    }

    /// The rate factor a CPU throttle of `pct` (0–1) leaves the writer.
    pub fn throttle_factor(&self, pct: f64) -> f64 {
        let share = self.writer_cpu_share.clamp(1e-6, 1.0);
        ((1.0 - pct.clamp(0.0, 1.0)) / share).min(1.0)
    }

    /// `factor` held down so that the writes at time `t` stay within `cap`, a dirty-page rate
    /// limit on the whole guest (QEMU's dirty-limit capability).
    pub fn capped(&self, t: SimTime, factor: f64, cap: Option<Bandwidth>) -> f64 {
        let rate = self.rate_at(t).as_bytes_per_sec();
        match cap {
            Some(c) if rate > 0.0 => factor.min(c.as_bytes_per_sec() / rate),
            _ => factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mib(n: f64) -> Volume {
        Volume::mib(n)
    }

    #[test]
    fn wws_model_saturates() {
        let m = DirtyModel::wws(Bandwidth::mib_per_sec(10.0), mib(64.0));
        let w = m.writes(SimTime::ZERO, SimTime::from_secs(2), 1.0);
        assert_eq!(w, mib(20.0));
        assert_eq!(m.distinct(w), mib(20.0));
        assert_eq!(m.distinct(mib(100.0)), mib(64.0));
    }

    #[test]
    fn uniform_writes_follow_the_coupon_collector() {
        let n = 1000.0 * 4096.0;
        let m = DirtyModel {
            pattern: DirtyPattern::Uniform {
                rate: Bandwidth::bytes_per_sec(n),
                span: Volume::bytes(n),
            },
            ..DirtyModel::idle()
        };
        // Writing as many pages as there are touches 1 − 1/e of them.
        let d = m.distinct(Volume::bytes(n));
        assert!((d.as_bytes() / n - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        assert!(m.distinct(Volume::bytes(20.0 * n)) < Volume::bytes(n));
    }

    #[test]
    fn hot_cold_mixture_fills_the_hot_set_first() {
        let m = DirtyModel {
            pattern: DirtyPattern::HotCold {
                rate: Bandwidth::bytes_per_sec(1.0),
                hot: mib(10.0),
                hot_share: 0.9,
                span: mib(1000.0),
            },
            ..DirtyModel::idle()
        };
        let d = m.distinct(mib(50.0));
        // 45 MiB of writes on 10 MiB hot: nearly all of it; 5 MiB on 990 MiB cold: about 5 MiB.
        let want = 10.0 * (1.0 - (-4.5f64).exp()) + 4.99;
        assert!((d.as_mib() - want).abs() < 0.02, "{d}");
    }

    #[test]
    fn trace_integrates_per_second_steps() {
        let m = DirtyModel {
            pattern: DirtyPattern::Trace {
                per_second: vec![Bandwidth::mib_per_sec(1.0), Bandwidth::mib_per_sec(3.0)],
                wws: mib(100.0),
            },
            ..DirtyModel::idle()
        };
        let w = m.writes(SimTime::from_millis(500), SimTime::from_millis(2500), 1.0);
        // 0.5 s at 1 MiB/s, then 1.5 s at 3 MiB/s (the last value holds).
        assert!((w.as_mib() - 5.0).abs() < 1e-9, "{w}");
    }

    #[test]
    fn throttle_bites_only_below_the_writers_cpu_share() {
        let mut m = DirtyModel::wws(Bandwidth::bytes_per_sec(1.0), Volume::bytes(1.0));
        m.writer_cpu_share = 1.0;
        assert!((m.throttle_factor(0.2) - 0.8).abs() < 1e-12);
        m.writer_cpu_share = 0.1;
        assert_eq!(m.throttle_factor(0.8), 1.0);
        assert!((m.throttle_factor(0.99) - 0.1).abs() < 1e-9);
    }
}
