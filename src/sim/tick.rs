//! The policy tick: histories, the read-only [`ClusterView`], maintenance windows, and the
//! decisions a policy returns, carried out through the same admission as scripted ones.

use super::{Recorder, Request, Simulation};
use crate::engine::SimTime;
use crate::model::host::HostId;
use crate::model::power::PowerTarget;
use crate::policy::{self, ClusterView, Decision};
use std::io;

impl Simulation {
    pub(super) fn apply(
        &mut self,
        t: SimTime,
        d: Decision,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        match d {
            Decision::SetPower { host, target } => self.request_power(t, host, target, rec),
            Decision::Migrate { vm, to } => {
                if rec.wants_events() {
                    rec.event(
                        t,
                        "migrate",
                        &self.vms.name[vm.idx()],
                        &format!(
                            "to {} (policy {})",
                            self.hosts.name[to.idx()],
                            self.policy.name()
                        ),
                    )?;
                }
                self.request_migration(t, Request { vm, to, at: t });
                Ok(())
            }
        }
    }

    /// Which VMs are being migrated or wait to be.
    pub(super) fn migrating_flags(&self) -> Vec<bool> {
        let mut m = vec![false; self.vms.len()];
        for v in self.migs.migrating_vms() {
            m[v.idx()] = true;
        }
        for r in self.migs.waiting_vms() {
            m[r.idx()] = true;
        }
        m
    }

    pub(super) fn view<'a>(
        &'a self,
        t: SimTime,
        migrating: &'a [bool],
        unavailable: &'a [bool],
    ) -> ClusterView<'a> {
        ClusterView {
            now: t,
            hosts: &self.hosts,
            vms: &self.vms,
            host_vms: &self.host_vms,
            migrating,
            reserved: &self.migs.reserved,
            vm_history: &self.vm_history,
            host_history: &self.host_history,
            unavailable,
        }
    }

    /// Counts hosts still busy when their window opens, and switches hosts back on when it
    /// closes.
    pub(super) fn maintenance_tick(
        &mut self,
        t: SimTime,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        for w in 0..self.maintenance.len() {
            let win = &self.maintenance[w];
            if !self.maintenance_checked[w] && t >= win.at {
                self.maintenance_checked[w] = true;
                let busy = win
                    .hosts
                    .iter()
                    .filter(|&&h| !self.host_vms[h].is_empty())
                    .count();
                self.maintenance_missed += busy as u32;
            }
            if !self.maintenance_restored[w] && t >= win.end {
                self.maintenance_restored[w] = true;
                let back: Vec<usize> = win.hosts.clone();
                for h in back {
                    self.request_power(t, HostId(h as u32), PowerTarget::On, rec)?;
                }
            }
        }
        Ok(())
    }

    /// Appends this tick's VM demands and host utilisations to the policy's history.
    pub(super) fn record_history(&mut self) {
        for i in 0..self.vms.len() {
            let d = if self.vms.state[i].runs() {
                self.vms.util[i] * self.vms.vcpus[i] as f64 * self.vms.vcpu_mips[i]
            } else {
                0.0
            };
            let h = &mut self.vm_history[i];
            h.push_back(d);
            if h.len() > policy::HISTORY {
                h.pop_front();
            }
        }
        for h in 0..self.hosts.len() {
            let d: f64 = self.host_vms[h]
                .iter()
                .map(|v| self.vm_history[v.idx()].back().copied().unwrap_or(0.0))
                .sum();
            let hist = &mut self.host_history[h];
            hist.push_back(d / self.hosts.cpu_capacity[h]);
            if hist.len() > policy::HISTORY {
                hist.pop_front();
            }
        }
    }
}
