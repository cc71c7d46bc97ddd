//! The power-state machine of each host: requests, transitions and their settling.

use super::{Event, PowerChange, Recorder, Simulation};
use crate::engine::SimTime;
use crate::model::host::HostId;
use crate::model::power::{PowerState, PowerTarget, transition};
use crate::model::vm::{VmId, VmState};
use crate::units::format_duration;
use std::io;

impl Simulation {
    /// Starts a power transition if it applies to the host's state.
    pub fn request_power(
        &mut self,
        t: SimTime,
        h: HostId,
        target: PowerTarget,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        if self.ha.failed[h.idx()] {
            // A failed host stays dark until it is repaired.
            return Ok(());
        }
        let from = self.hosts.state[h.idx()];
        let states = self.hosts.host_type(h).states.clone();
        let Some((via, dur, to)) = transition(from, target, &states) else {
            return Ok(());
        };
        self.hosts.accrue(h, t);
        if from == PowerState::On && via != PowerState::On {
            // Leaving "on" is a shutdown for the SLA's host-shutdown count (Beloglazov & Buyya
            // count active → inactive transitions).
            self.hosts.shutdowns[h.idx()] += 1;
        }
        self.power_log.push(PowerChange {
            time_s: t.as_secs_f64(),
            host: h,
            from,
            via,
            to,
            duration_s: dur.as_secs_f64(),
        });
        self.hosts.state[h.idx()] = via;
        self.hosts.target[h.idx()] = to;
        self.hosts.transition_gen[h.idx()] += 1;
        let generation = self.hosts.transition_gen[h.idx()];
        self.refresh_host(t, h);
        if rec.wants_events() {
            rec.event(
                t,
                "power",
                &self.hosts.name[h.idx()],
                &format!(
                    "{} -> {} ({})",
                    from.as_str(),
                    via.as_str(),
                    format_duration(dur)
                ),
            )?;
        }
        self.queue.schedule(
            t + dur,
            Event::PowerSettled {
                host: h,
                generation,
            },
        );
        Ok(())
    }

    pub(super) fn power_settled(
        &mut self,
        t: SimTime,
        h: HostId,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        let to = self.hosts.target[h.idx()];
        self.hosts.accrue(h, t);
        self.hosts.state[h.idx()] = to;
        if rec.wants_events() {
            rec.event(
                t,
                "power",
                &self.hosts.name[h.idx()],
                &format!("now {}", to.as_str()),
            )?;
        }
        if to == PowerState::On {
            // VMs that were waiting for this host start now.
            let waiting: Vec<VmId> = self.host_vms[h.idx()]
                .iter()
                .copied()
                .filter(|v| self.vms.state[v.idx()] == VmState::Suspended)
                .collect();
            for v in waiting {
                self.activate(t, v);
                if rec.wants_events() {
                    rec.event(t, "vm_start", &self.vms.name[v.idx()], "after host boot")?;
                }
            }
        }
        self.refresh_host(t, h);
        Ok(())
    }
}
