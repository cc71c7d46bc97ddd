//! What each event means: the dispatch from an [`Event`] to the subsystem that handles it.

use super::{Event, Recorder, Simulation, TrafficSample};
use crate::engine::SimTime;
use crate::model::vm::VmState;
use crate::policy::{self, ClusterView, Decision};
use crate::units::Bandwidth;
use std::io;

impl Simulation {
    pub(super) fn handle(
        &mut self,
        t: SimTime,
        ev: Event,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        match ev {
            Event::WorkloadStep => {
                self.workload_step(t);
                let next = t + self.scenario.workload.step.time();
                self.queue.schedule(next, Event::WorkloadStep);
            }
            Event::Sample => {
                self.accrue_all(t);
                self.sample(t, rec)?;
                let next = t + self.scenario.outputs.sample_interval.time();
                self.queue.schedule(next, Event::Sample);
            }
            Event::PolicyTick => {
                if self.policy.uses_history() {
                    self.record_history();
                }
                let mut unavailable =
                    policy::maintenance::unavailable(&self.maintenance, self.hosts.len(), t);
                for (u, &f) in unavailable.iter_mut().zip(&self.ha.failed) {
                    *u |= f;
                }
                self.maintenance_tick(t, rec)?;
                if unavailable.iter().any(|&u| u) {
                    let migrating = self.migrating_flags();
                    let view = self.view(t, &migrating, &unavailable);
                    let decisions = policy::maintenance::drain(&view, &unavailable);
                    for d in decisions {
                        self.apply(t, d, rec)?;
                    }
                }
                let migrating = self.migrating_flags();
                let decisions = {
                    // Built field by field: the policy is borrowed mutably beside the view.
                    let view = ClusterView {
                        now: t,
                        hosts: &self.hosts,
                        vms: &self.vms,
                        host_vms: &self.host_vms,
                        migrating: &migrating,
                        reserved: &self.migs.reserved,
                        vm_history: &self.vm_history,
                        host_history: &self.host_history,
                        unavailable: &unavailable,
                    };
                    self.policy.decide(&view)
                };
                for d in decisions {
                    let host = match d {
                        Decision::SetPower { host, .. } => host,
                        Decision::Migrate { to, .. } => to,
                    };
                    if unavailable[host.idx()] {
                        // Maintenance overrides the policy.
                        if rec.wants_events() {
                            rec.event(
                                t,
                                "refused",
                                &self.hosts.name[host.idx()],
                                "in maintenance",
                            )?;
                        }
                        continue;
                    }
                    self.apply(t, d, rec)?;
                }
                let next = t + self.scenario.policy.interval.time();
                self.queue.schedule(next, Event::PolicyTick);
            }
            Event::VmStart(v) => self.vm_start(t, v, rec)?,
            Event::VmStop(v) => {
                if self.vms.state[v.idx()] != VmState::Inactive {
                    if let Some(slot) = self.migs.slot_of(v) {
                        self.abort(
                            t,
                            slot,
                            crate::migration::Outcome::Failed,
                            "the VM stopped".into(),
                        );
                    }
                    let h = self.vms.host[v.idx()];
                    self.stop_vm_traffic(t, v);
                    self.set_vm_state(t, v, VmState::Inactive);
                    self.refresh_host(t, h);
                    if rec.wants_events() {
                        rec.event(t, "vm_stop", &self.vms.name[v.idx()], "")?;
                    }
                }
            }
            Event::PowerSettled { host, generation } => {
                if self.hosts.transition_gen[host.idx()] == generation {
                    self.power_settled(t, host, rec)?;
                }
            }
            Event::HostFail(i) => {
                let (host, delay) = (self.failures[i].host, self.failures[i].restart_delay);
                self.host_fail(t, host, delay, rec)?;
            }
            Event::HostRepair(i) => self.host_repair(t, self.failures[i].host, rec)?,
            Event::HaRestart => {
                // Retry at the shortest restart delay of the scenario.
                let delay = self
                    .failures
                    .iter()
                    .map(|f| f.restart_delay)
                    .min()
                    .expect("restarts follow failures");
                self.ha_restart(t, delay, rec)?;
            }
            Event::LinkFault { fault, up } => {
                let name = self.scenario.faults[fault].link.clone();
                let l = self.net.link_by_name(&name).expect("checked at build");
                if rec.wants_events() {
                    rec.event(t, "link", &name, if up { "repaired" } else { "failed" })?;
                }
                if up {
                    let cap = self.link_capacity[l.0 as usize];
                    self.net.set_link_capacity(t, l, cap);
                } else {
                    self.net.set_link_capacity(t, l, Bandwidth::ZERO);
                    self.fail_migrations_on(t, l, &name);
                }
            }
            Event::MigrationRequest(i) => {
                let r = self.requests[i].clone();
                if rec.wants_events() {
                    rec.event(
                        t,
                        "migrate",
                        &self.vms.name[r.vm.idx()],
                        &format!("to {}", self.hosts.name[r.to.idx()]),
                    )?;
                }
                self.request_migration(t, r);
            }
            Event::MigrationCheck { slot, generation } => self.migration_check(t, slot, generation),
            Event::MigrationTimeout { slot, record } => self.migration_timeout(t, slot, record),
            Event::MigrationSetUp { slot, record } => self.migration_set_up(t, slot, record),
            Event::MigrationResume { slot, generation } => {
                self.migration_resume(t, slot, generation)
            }
            Event::MigrationActivate { slot, generation } => {
                self.migration_activate(t, slot, generation)
            }
            Event::NetworkWake { generation } => {
                if self.pending_wake == Some((t, generation)) {
                    self.pending_wake = None;
                }
                if generation == self.net.generation() {
                    for f in self.net.drained(t) {
                        self.migration_flow_drained(t, f);
                    }
                }
            }
            Event::TrafficSample => {
                self.net.settle();
                for (i, f) in self.vm_flow.iter().enumerate() {
                    let rate = f
                        .and_then(|f| self.net.flow(f))
                        .map(|fl| fl.rate.as_bytes_per_sec() * 8.0 / 1e6)
                        .unwrap_or(0.0);
                    if self.vms.groups[self.vms.group[i] as usize]
                        .traffic
                        .is_some()
                    {
                        self.traffic_samples.push(TrafficSample {
                            time_s: t.as_secs_f64(),
                            vm: self.vms.name[i].clone(),
                            mbit_s: rate,
                        });
                    }
                }
                if let Some(d) = self.scenario.outputs.traffic_interval {
                    self.queue.schedule(t + d.time(), Event::TrafficSample);
                }
            }
            Event::End => {}
        }
        Ok(())
    }

    /// After every event: bring flow rates up to date, let migration CPU costs follow the new
    /// rates, and schedule the next flow completion.
    pub(super) fn after_event(&mut self, t: SimTime) {
        for _ in 0..4 {
            if !self.net.is_dirty() {
                break;
            }
            self.net.settle();
            self.update_migration_cpu(t);
        }
        self.net.settle();
        if let Some(at) = self.net.next_completion() {
            let wake = (at.max(t), self.net.generation());
            if self.pending_wake != Some(wake) {
                self.pending_wake = Some(wake);
                self.queue
                    .schedule(wake.0, Event::NetworkWake { generation: wake.1 });
            }
        }
    }
}
