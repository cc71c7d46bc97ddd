//! Off-hours power-down: keep the cluster spread out while people work, pack it and switch the
//! spare hosts off outside office hours, and wake them when the office day (and its load)
//! returns.
//!
//! It composes two policies rather than inventing a third. Outside office hours it is
//! Beloglazov & Buyya's THR-MMT with PABFD placement (CCPE 2012): hosts above the threshold
//! shed VMs, the least loaded hosts are emptied and sleep, and a sleeping host wakes if an
//! overloaded host's VM fits nowhere. At the start of office hours every sleeping or switched-off
//! host is woken, and during them `spread` moves load onto the hosts that came back.

use super::beloglazov::{Beloglazov, Detector, Selector};
use super::spread::Spread;
use super::{ClusterView, Decision, Entry, Policy};
use crate::model::host::HostId;
use crate::model::power::{PowerState, PowerTarget};
use crate::units::Duration;

/// Packing threshold outside office hours: THR's 0.8, the static threshold of Beloglazov &
/// Buyya's THR-MMT-0.8 run (CCPE 2012, Table V).
pub const DEFAULT_THRESHOLD: f64 = 0.8;
/// Office hours, seconds into the day. 08:00–18:00 is an assumption (a typical working day),
/// set per scenario with `office_start` and `office_end`.
pub const DEFAULT_OFFICE: (u64, u64) = (8 * 3600, 18 * 3600);
const DAY: u64 = 86_400;

pub struct OffHours {
    start: u64,
    end: u64,
    pack: Beloglazov,
    spread: Spread,
}

pub const ENTRY: Entry = Entry {
    name: "offhours",
    about: "THR-MMT at threshold (0.8) outside office_start-office_end (8h-18h)",
    defaults: &["offhours"],
    variants: &[],
    matches: |n| n == "offhours",
    build: |c| {
        let threshold = c.params.fraction("threshold", DEFAULT_THRESHOLD)?;
        let mut time_of_day = |key: &'static str, dflt: u64| -> Result<u64, super::ParamError> {
            Ok(c.params
                .get::<Duration>(key)?
                .map_or(dflt, |d| d.time().as_nanos() / 1_000_000_000 % DAY))
        };
        let start = time_of_day("office_start", DEFAULT_OFFICE.0)?;
        let end = time_of_day("office_end", DEFAULT_OFFICE.1)?;
        Ok(Box::new(OffHours::new(threshold, start, end, c.seed)))
    },
};

impl OffHours {
    /// Packs at `threshold` outside office hours, `start`..`end` seconds into the day.
    pub fn new(threshold: f64, start: u64, end: u64, seed: u64) -> OffHours {
        OffHours {
            start,
            end,
            pack: Beloglazov::new("thr-mmt", Detector::Thr(threshold), Selector::Mmt, seed),
            // The spread phase uses its own default margin: `threshold` is the packing one.
            spread: Spread::new(super::spread::DEFAULT_MARGIN),
        }
    }

    /// Whether `secs` of the day fall in office hours; a window may wrap past midnight.
    pub fn in_office(&self, secs: u64) -> bool {
        let s = secs % DAY;
        if self.start <= self.end {
            (self.start..self.end).contains(&s)
        } else {
            s >= self.start || s < self.end
        }
    }
}

impl Policy for OffHours {
    fn name(&self) -> &str {
        "offhours"
    }

    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision> {
        let now = view.now.as_nanos() / 1_000_000_000;
        if !self.in_office(now) {
            return self.pack.decide(view);
        }
        let hosts = view.hosts;
        let mut out: Vec<Decision> = (0..hosts.len())
            .filter(|&h| {
                view.available(h) && matches!(hosts.state[h], PowerState::Sleep | PowerState::Off)
            })
            .map(|h| Decision::SetPower {
                host: HostId(h as u32),
                target: PowerTarget::On,
            })
            .collect();
        out.extend(self.spread.decide(view));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_may_wrap_past_midnight() {
        let p = OffHours::new(DEFAULT_THRESHOLD, DEFAULT_OFFICE.0, DEFAULT_OFFICE.1, 1);
        assert!(p.in_office(8 * 3600) && p.in_office(DAY + 12 * 3600));
        assert!(!p.in_office(18 * 3600) && !p.in_office(3 * 3600));
        let p = OffHours::new(DEFAULT_THRESHOLD, 22 * 3600, 6 * 3600, 1);
        assert!(p.in_office(23 * 3600) && p.in_office(2 * 3600));
        assert!(!p.in_office(12 * 3600));
    }
}
