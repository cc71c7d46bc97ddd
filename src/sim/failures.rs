//! Host failures and HA restart: a host fails at a given time, the migrations touching it
//! fail, and its VMs go down and restart on other hosts after a boot delay, the way vSphere HA
//! or OpenStack's evacuate restart the VMs of a dead host. The time each VM was down counts as
//! downtime.

use std::io;

use super::Simulation;
use crate::engine::SimTime;
use crate::migration::{Outcome, Phase};
use crate::model::host::HostId;
use crate::model::power::{PowerState, PowerTarget};
use crate::model::vm::{VmId, VmState};
use crate::sim::Recorder;
use crate::units::Bytes;

/// One host failure to happen, from `[[host_failure]]` or drawn from `[reliability]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub host: HostId,
    pub at: SimTime,
    pub repair: Option<SimTime>,
    pub restart_delay: SimTime,
}

/// Draws each host's failures up to `horizon`: exponential times between failures with mean
/// `mtbf` (a constant failure rate, the usual reliability model of servers in their useful
/// life), each followed by `repair`, from the seed's stream for that host so that adding a
/// host leaves the others' failures unchanged.
pub fn draw_failures(
    seed: u64,
    hosts: usize,
    horizon: SimTime,
    mtbf: SimTime,
    repair: Option<SimTime>,
    restart_delay: SimTime,
) -> Vec<Failure> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Exp};
    let exp = Exp::new(1.0 / mtbf.as_secs_f64().max(1e-9)).expect("positive rate");
    let mut out = Vec::new();
    for h in 0..hosts {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_FAILURES + h as u64);
        let mut t = 0.0;
        loop {
            t += exp.sample(&mut rng);
            let at = SimTime::from_secs_f64_ceil(t);
            if at >= horizon {
                break;
            }
            out.push(Failure {
                host: HostId(h as u32),
                at,
                repair,
                restart_delay,
            });
            match repair {
                Some(r) => t += r.as_secs_f64(),
                None => break,
            }
        }
    }
    out
}

/// First of the per-host random streams of failures (the workload and policies use 1 and 2).
const STREAM_FAILURES: u64 = 1 << 32;

/// HA bookkeeping for a run.
#[derive(Debug, Default)]
pub struct Ha {
    /// Each host's failure state: failed hosts draw no power and take no VMs.
    pub failed: Vec<bool>,
    /// VMs waiting to be restarted, with when they went down (None if they were not running).
    pub queue: Vec<(VmId, Option<SimTime>)>,
    pub failures: u32,
    pub restarts: u32,
    pub downtime_s: f64,
}

impl Simulation {
    /// Host `h` fails now.
    pub(super) fn host_fail(
        &mut self,
        t: SimTime,
        h: HostId,
        delay: SimTime,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        if self.ha.failed[h.idx()] {
            return Ok(());
        }
        self.ha.failed[h.idx()] = true;
        self.ha.failures += 1;
        if rec.wants_events() {
            rec.event(t, "host_failed", &self.hosts.name[h.idx()], "")?;
        }
        // Migrations to or from the host fail. A post-copy migration whose source dies loses
        // the pages still there: its VM goes down with the host (Hines & Gopalan, VEE 2009).
        let mut lost_postcopy = Vec::new();
        let hit: Vec<usize> = (0..self.migs.active.len())
            .filter(|&s| {
                self.migs.active[s]
                    .as_ref()
                    .is_some_and(|a| a.src == h || a.dst == h)
            })
            .collect();
        for slot in hit {
            let a = self.migs.get(slot);
            if a.src == h && a.on_destination && a.seg_phase == Phase::Postcopy {
                lost_postcopy.push(a.vm);
            }
            let reason = format!("host {} failed", self.hosts.name[h.idx()]);
            self.abort(t, slot, Outcome::Failed, reason);
        }
        // Waiting requests that involve the host are dropped as failed.
        self.fail_waiting_on(t, h);
        let mut down: Vec<VmId> = self.host_vms[h.idx()].clone();
        down.extend(lost_postcopy);
        for v in down {
            let was_running = self.vms.state[v.idx()].runs();
            if self.vms.state[v.idx()] != VmState::Inactive || self.not_yet_started(v, t) {
                self.stop_vm_traffic(t, v);
                self.set_vm_state(t, v, VmState::Inactive);
                let h2 = self.vms.host[v.idx()];
                self.refresh_host(t, h2);
                self.ha.queue.push((v, was_running.then_some(t)));
            }
        }
        // The host is dark: no power, no pending transition.
        self.hosts.accrue(h, t);
        self.hosts.state[h.idx()] = PowerState::Off;
        self.hosts.target[h.idx()] = PowerState::Off;
        self.hosts.transition_gen[h.idx()] += 1;
        self.refresh_host(t, h);
        self.queue.schedule(t + delay, super::Event::HaRestart);
        Ok(())
    }

    /// Requests still waiting for a slot that involve `h` fail, each with its own record.
    fn fail_waiting_on(&mut self, t: SimTime, h: HostId) {
        let waiting = std::mem::take(&mut self.migs.waiting);
        for r in waiting {
            if r.to == h || self.vms.host[r.vm.idx()] == h {
                let mut rec = self.new_record(&r, t);
                rec.reason = format!("host {} failed", self.hosts.name[h.idx()]);
                self.migs.records.push(rec);
            } else {
                self.migs.waiting.push(r);
            }
        }
    }

    fn not_yet_started(&self, v: VmId, t: SimTime) -> bool {
        self.vms.start[v.idx()] > t
    }

    /// The host is repaired and boots.
    pub(super) fn host_repair(
        &mut self,
        t: SimTime,
        h: HostId,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        if !self.ha.failed[h.idx()] {
            return Ok(());
        }
        self.ha.failed[h.idx()] = false;
        if rec.wants_events() {
            rec.event(t, "host_repaired", &self.hosts.name[h.idx()], "")?;
        }
        self.request_power(t, h, PowerTarget::On, rec)
    }

    /// Restarts the VMs of failed hosts where there is memory for them; the rest wait for a
    /// host to wake and try again after `delay`.
    pub(super) fn ha_restart(
        &mut self,
        t: SimTime,
        delay: SimTime,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        let queue = std::mem::take(&mut self.ha.queue);
        let mut waiting = Vec::new();
        for (v, down_since) in queue {
            let from = self.vms.host[v.idx()];
            // Already moved, or the host came back: nothing to move.
            let Some(to) = self.restart_target(v) else {
                waiting.push((v, down_since));
                continue;
            };
            if to != from {
                self.rehome(t, v, from, to);
            }
            let stopped = self.vms.stop[v.idx()].is_some_and(|s| s <= t);
            if !stopped && !self.not_yet_started(v, t) {
                if self.hosts.state[to.idx()] == PowerState::On {
                    self.activate(t, v);
                } else {
                    self.set_vm_state(t, v, VmState::Suspended);
                }
                self.refresh_host(t, to);
                if let Some(d) = down_since {
                    self.ha.downtime_s += (t - d).as_secs_f64();
                    self.ha.restarts += 1;
                }
                if rec.wants_events() {
                    rec.event(
                        t,
                        "ha_restart",
                        &self.vms.name[v.idx()],
                        &self.hosts.name[to.idx()],
                    )?;
                }
            }
        }
        if !waiting.is_empty() {
            // Wake one host that can take VMs, unless one is already on its way.
            let n = self.hosts.len();
            let booting =
                (0..n).any(|h| !self.ha.failed[h] && self.hosts.state[h] == PowerState::Booting);
            if !booting
                && let Some(h) = (0..n).find(|&h| {
                    !self.ha.failed[h]
                        && matches!(self.hosts.state[h], PowerState::Sleep | PowerState::Off)
                })
            {
                self.request_power(t, HostId(h as u32), PowerTarget::On, rec)?;
            }
            self.ha.queue = waiting;
            self.queue.schedule(t + delay, super::Event::HaRestart);
        }
        Ok(())
    }

    /// The host a VM restarts on: its own if that is healthy (it never left, or was
    /// repaired), else the on, healthy host with memory for it and the lowest CPU load.
    fn restart_target(&self, v: VmId) -> Option<HostId> {
        let own = self.vms.host[v.idx()];
        if !self.ha.failed[own.idx()] {
            return Some(own);
        }
        let ram = self.vms.ram[v.idx()].0;
        (0..self.hosts.len())
            .filter(|&h| !self.ha.failed[h] && self.hosts.state[h] == PowerState::On)
            .filter(|&h| {
                self.hosts.ram_used[h].0 + self.migs.reserved[h] + ram
                    <= self.hosts.ram(HostId(h as u32)).0
            })
            .min_by(|&a, &b| {
                let u = |h: usize| self.hosts.cpu_alloc[h] / self.hosts.cpu_capacity[h].max(1.0);
                u(a).total_cmp(&u(b)).then(a.cmp(&b))
            })
            .map(|h| HostId(h as u32))
    }

    /// Moves a stopped VM's books from `from` to `to` (a restart, not a migration).
    fn rehome(&mut self, t: SimTime, v: VmId, from: HostId, to: HostId) {
        self.move_books(t, v, from, to);
        self.refresh_host(t, from);
    }

    /// Moves a VM's placement, count and memory from `from` to `to`: what a completed
    /// migration and an HA restart both do.
    pub(super) fn move_books(&mut self, t: SimTime, v: VmId, from: HostId, to: HostId) {
        let ram = self.vms.ram[v.idx()];
        self.accrue_vm(v, t);
        self.host_vms[from.idx()].retain(|&x| x != v);
        self.host_vms[to.idx()].push(v);
        self.hosts.vm_count[from.idx()] -= 1;
        self.hosts.vm_count[to.idx()] += 1;
        self.hosts.ram_used[from.idx()] = Bytes(self.hosts.ram_used[from.idx()].0 - ram.0);
        self.hosts.ram_used[to.idx()] = Bytes(self.hosts.ram_used[to.idx()].0 + ram.0);
        self.vms.host[v.idx()] = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_failures_are_seeded_per_host_and_average_the_mtbf() {
        let day = SimTime::from_secs(86_400);
        let mtbf = SimTime::from_secs(3_600);
        let a = draw_failures(7, 200, day, mtbf, Some(SimTime::ZERO), SimTime::ZERO);
        assert_eq!(
            a,
            draw_failures(7, 200, day, mtbf, Some(SimTime::ZERO), SimTime::ZERO)
        );
        // Host 0's failures do not depend on how many hosts there are.
        let first: Vec<_> = a.iter().filter(|f| f.host == HostId(0)).cloned().collect();
        let alone = draw_failures(7, 1, day, mtbf, Some(SimTime::ZERO), SimTime::ZERO);
        assert_eq!(first, alone);
        // 200 hosts × 24 expected failures each: the count is within 5 % of 4800.
        let n = a.len() as f64;
        assert!((n / 4800.0 - 1.0).abs() < 0.05, "{n} failures");
        // Without repair a host fails at most once.
        let once = draw_failures(7, 200, day, mtbf, None, SimTime::ZERO);
        let mut hosts: Vec<u32> = once.iter().map(|f| f.host.0).collect();
        hosts.dedup();
        assert_eq!(hosts.len(), once.len());
        assert!(once.iter().all(|f| f.at < day));
    }
}
