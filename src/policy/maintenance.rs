//! Maintenance evacuation: drain named hosts before a window, keep them empty and off during
//! it, and bring them back after. It runs at every policy tick before the policy, whatever the
//! policy is, the way an operator's maintenance mode overrides the scheduler (oVirt and
//! OpenStack both refuse placements on hosts in maintenance).

use super::{ClusterView, Decision};
use crate::engine::SimTime;
use crate::model::host::HostId;
use crate::model::power::{PowerState, PowerTarget};

/// A window with its hosts resolved.
#[derive(Debug, Clone)]
pub struct Window {
    pub hosts: Vec<usize>,
    /// Draining starts (`at − lead`).
    pub drain: SimTime,
    /// The window opens: the hosts should be empty by now.
    pub at: SimTime,
    /// The window closes and the hosts come back.
    pub end: SimTime,
}

impl Window {
    /// Whether the window's hosts are out of service at `t` (draining or in the window).
    pub fn holds(&self, t: SimTime) -> bool {
        self.drain <= t && t < self.end
    }
}

/// The hosts out of service at `t`.
pub fn unavailable(windows: &[Window], n_hosts: usize, t: SimTime) -> Vec<bool> {
    let mut out = vec![false; n_hosts];
    for w in windows.iter().filter(|w| w.holds(t)) {
        for &h in &w.hosts {
            out[h] = true;
        }
    }
    out
}

/// Moves every movable VM off the unavailable hosts, and switches those that are empty off.
///
/// A VM goes to the available host with the lowest utilisation after the move that has the
/// memory and CPU for it; if only memory fits, to the least loaded host with the memory, as a
/// maintenance window does not wait for spare CPU. If no host has the memory, one sleeping or
/// switched-off host is woken (unless one is already booting) and the VM tries again at the
/// next tick.
pub fn drain(view: &ClusterView<'_>, unavailable: &[bool]) -> Vec<Decision> {
    let hosts = view.hosts;
    let n = hosts.len();
    let mut demand: Vec<f64> = (0..n)
        .map(|h| view.host_requested(h) * hosts.cpu_capacity[h])
        .collect();
    let mut ram: Vec<u64> = (0..n)
        .map(|h| hosts.ram_used[h].0 + view.reserved[h])
        .collect();
    let target_ok = |h: usize| !unavailable[h] && hosts.state[h] == PowerState::On;
    let mut out = Vec::new();
    let mut stuck = false;
    for src in (0..n).filter(|&h| unavailable[h]) {
        for &v in &view.host_vms[src] {
            if !view.movable(v) {
                continue;
            }
            let need = view.vm_requested(v);
            let vram = view.vms.ram[v.idx()].0;
            let room = |t: usize, ram: &[u64]| ram[t] + vram <= hosts.ram(HostId(t as u32)).0;
            let util_after = |t: usize, demand: &[f64]| (demand[t] + need) / hosts.cpu_capacity[t];
            let pick = |cpu_too: bool, demand: &[f64], ram: &[u64]| {
                (0..n)
                    .filter(|&t| target_ok(t) && room(t, ram))
                    .filter(|&t| !cpu_too || demand[t] + need <= hosts.cpu_capacity[t])
                    .min_by(|&a, &b| {
                        util_after(a, demand)
                            .total_cmp(&util_after(b, demand))
                            .then(a.cmp(&b))
                    })
            };
            match pick(true, &demand, &ram).or_else(|| pick(false, &demand, &ram)) {
                Some(t) => {
                    demand[t] += need;
                    ram[t] += vram;
                    out.push(Decision::Migrate {
                        vm: v,
                        to: HostId(t as u32),
                    });
                }
                None => stuck = true,
            }
        }
        let empty = view.host_vms[src].is_empty() && view.reserved[src] == 0;
        if empty && matches!(hosts.state[src], PowerState::On | PowerState::Sleep) {
            out.push(Decision::SetPower {
                host: HostId(src as u32),
                target: PowerTarget::Off,
            });
        }
    }
    let booting = (0..n).any(|h| !unavailable[h] && hosts.state[h] == PowerState::Booting);
    if stuck
        && !booting
        && let Some(h) = (0..n).find(|&h| {
            !unavailable[h] && matches!(hosts.state[h], PowerState::Sleep | PowerState::Off)
        })
    {
        out.push(Decision::SetPower {
            host: HostId(h as u32),
            target: PowerTarget::On,
        });
    }
    out
}
