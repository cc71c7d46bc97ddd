//! The scheduler of Ubuntu's "Uncomplicated Live Migration" specification (2008): look for
//! overworked nodes ("sustained > 75 % cpu usage"), and see if the most resource-hungry VM on
//! such a node fits anywhere else; if not, try the second most hungry, and so on. When a new
//! location is found, start the migration.

use super::{ClusterView, Decision, Entry, Policy};
use crate::model::host::HostId;
use crate::model::power::PowerState;

/// "sustained > 75% cpu usage" (ULM specification, Design).
pub const DEFAULT_THRESHOLD: f64 = 0.75;
/// How many consecutive ticks count as "sustained"; the spec gives no number, so three
/// (15 minutes at the default 5-minute interval) is an assumption, set per scenario.
pub const DEFAULT_SAMPLES: u32 = 3;

pub struct Ulm {
    threshold: f64,
    samples: usize,
}

pub const ENTRY: Entry = Entry {
    name: "ulm",
    about: "Ubuntu's ULM: a host above threshold (0.75) for samples ticks (3)",
    defaults: &["ulm"],
    variants: &[],
    matches: |n| n == "ulm",
    build: |c| {
        Ok(Box::new(Ulm::new(
            c.params.fraction("threshold", DEFAULT_THRESHOLD)?,
            c.params.count("samples", DEFAULT_SAMPLES, 1)?,
        )))
    },
};

impl Ulm {
    pub fn new(threshold: f64, samples: u32) -> Ulm {
        Ulm {
            threshold,
            samples: samples.max(1) as usize,
        }
    }
}

impl Policy for Ulm {
    fn name(&self) -> &str {
        "ulm"
    }

    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision> {
        let hosts = view.hosts;
        let n = hosts.len();
        // Tentative loads, so that two moves in one tick do not pick the same full host.
        let mut load: Vec<f64> = (0..n).map(|h| view.host_requested(h)).collect();
        let mut ram: Vec<u64> = (0..n)
            .map(|h| hosts.ram_used[h].0 + view.reserved[h])
            .collect();
        let mut out = Vec::new();
        for h in 0..n {
            if hosts.state[h] != PowerState::On {
                continue;
            }
            let hist = &view.host_history[h];
            let sustained = hist.len() >= self.samples
                && hist
                    .iter()
                    .rev()
                    .take(self.samples)
                    .all(|&u| u > self.threshold);
            if !sustained || load[h] <= self.threshold {
                continue;
            }
            let mut vms: Vec<_> = view.host_vms[h]
                .iter()
                .copied()
                .filter(|&v| view.movable(v))
                .collect();
            vms.sort_by(|a, b| {
                view.vm_requested(*b)
                    .total_cmp(&view.vm_requested(*a))
                    .then(a.0.cmp(&b.0))
            });
            'vms: for v in vms {
                let need = view.vm_requested(v);
                let vram = view.vms.ram[v.idx()].0;
                // The least-loaded other host that stays under the threshold with it.
                let mut best: Option<usize> = None;
                for t in 0..n {
                    if t == h || hosts.state[t] != PowerState::On || !view.available(t) {
                        continue;
                    }
                    let cap = hosts.cpu_capacity[t];
                    let after = load[t] + need / cap;
                    if after > self.threshold || ram[t] + vram > hosts.ram(HostId(t as u32)).0 {
                        continue;
                    }
                    if best.is_none_or(|b| load[t] < load[b]) {
                        best = Some(t);
                    }
                }
                if let Some(t) = best {
                    load[t] += need / hosts.cpu_capacity[t];
                    load[h] -= need / hosts.cpu_capacity[h];
                    ram[t] += vram;
                    out.push(Decision::Migrate {
                        vm: v,
                        to: HostId(t as u32),
                    });
                    break 'vms;
                }
            }
        }
        out
    }
}
