//! Load balancing: spread the load evenly over the hosts that are on, the opposite of
//! consolidation (what oVirt's `Evenly_Distributed` and OpenStack Watcher's
//! `workload_balance` aim at).
//!
//! At each tick, if the most and least loaded hosts differ by more than a margin, the VM of the
//! busiest host whose move best evens the pair out goes to the least loaded one. One migration
//! per tick keeps the churn down.

use super::{ClusterView, Decision, Entry, Policy};
use crate::model::host::HostId;
use crate::model::power::PowerState;

/// Utilisation gap between the busiest and idlest host that triggers a move. oVirt's
/// `Evenly_Distributed` policy balances above 80 % (HighUtilization); Watcher's
/// `workload_balance` uses a threshold of 25 % by default. The margin is a parameter.
pub const DEFAULT_MARGIN: f64 = 0.2;

pub struct Spread {
    margin: f64,
}

pub const ENTRY: Entry = Entry {
    name: "spread",
    about: "load balancing: a VM moves when hosts differ by threshold (0.2)",
    defaults: &["spread"],
    variants: &[],
    matches: |n| n == "spread",
    build: |c| {
        Ok(Box::new(Spread::new(
            c.params.fraction("threshold", DEFAULT_MARGIN)?,
        )))
    },
};

impl Spread {
    pub fn new(margin: f64) -> Spread {
        Spread { margin }
    }
}

impl Policy for Spread {
    fn name(&self) -> &str {
        "spread"
    }

    fn uses_history(&self) -> bool {
        false
    }

    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision> {
        let hosts = view.hosts;
        let on: Vec<usize> = (0..hosts.len())
            .filter(|&h| hosts.state[h] == PowerState::On && view.available(h))
            .collect();
        if on.len() < 2 {
            return Vec::new();
        }
        let load = |h: usize| view.host_requested(h);
        let hi = *on
            .iter()
            .max_by(|&&a, &&b| load(a).total_cmp(&load(b)).then(b.cmp(&a)))
            .expect("two hosts");
        let lo = *on
            .iter()
            .min_by(|&&a, &&b| load(a).total_cmp(&load(b)).then(a.cmp(&b)))
            .expect("two hosts");
        let gap = load(hi) - load(lo);
        if gap <= self.margin {
            return Vec::new();
        }
        let free_ram = hosts.ram(HostId(lo as u32)).0
            - (hosts.ram_used[lo].0 + view.reserved[lo]).min(hosts.ram(HostId(lo as u32)).0);
        let (cap_hi, cap_lo) = (hosts.cpu_capacity[hi], hosts.cpu_capacity[lo]);
        let best = view.host_vms[hi]
            .iter()
            .copied()
            .filter(|&v| view.movable(v) && view.vms.ram[v.idx()].0 <= free_ram)
            .map(|v| {
                let d = view.vm_requested(v);
                let after = ((load(hi) - d / cap_hi) - (load(lo) + d / cap_lo)).abs();
                (after, v)
            })
            .filter(|(after, _)| *after < gap)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.0.cmp(&b.1.0)));
        match best {
            Some((_, v)) => vec![Decision::Migrate {
                vm: v,
                to: HostId(lo as u32),
            }],
            None => Vec::new(),
        }
    }
}
