//! Physical hosts, laid out as parallel arrays indexed by [`HostId`].
//!
//! A fleet of 100 000 hosts is a handful of `Vec`s; a pass over every host's utilisation reads
//! one contiguous array.

use crate::engine::SimTime;
use crate::model::power::{PowerModel, PowerState, PowerStates};
use crate::units::{Bandwidth, Bytes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

impl HostId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// What hosts of one kind share: hardware and power behaviour.
#[derive(Debug, Clone)]
pub struct HostType {
    pub name: String,
    pub cores: u32,
    /// Capacity of one core, in MIPS (CloudSim's unit; 1 MIPS ≈ 1 MHz of one core).
    pub core_mips: f64,
    pub ram: Bytes,
    pub nic: Bandwidth,
    pub power: PowerModel,
    pub states: PowerStates,
    /// What one migration thread on this host scans for zero pages and sends per second;
    /// `None` takes the defaults of `crate::migration::sender`.
    pub migration_scan: Option<Bandwidth>,
    pub migration_send: Option<Bandwidth>,
    /// The pause after the last page of a migration from this type, when calibrated
    /// (otherwise the scenario's `migration.resume_time`).
    pub migration_resume: Option<SimTime>,
    /// And per GiB of the migrating guest's memory, when calibrated.
    pub migration_resume_per_gib: SimTime,
    /// Time from the start of a migration from this type to its first page.
    pub migration_setup: SimTime,
}

impl HostType {
    pub fn cpu_capacity(&self) -> f64 {
        self.cores as f64 * self.core_mips
    }
}

/// All hosts.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    pub types: Vec<HostType>,
    pub name: Vec<String>,
    pub host_type: Vec<u32>,
    pub state: Vec<PowerState>,
    /// The state a transition is heading to, while booting or shutting down.
    pub target: Vec<PowerState>,
    /// Counts transitions so that a stale "transition done" event can be recognised.
    pub transition_gen: Vec<u32>,
    /// Total CPU capacity in MIPS.
    pub cpu_capacity: Vec<f64>,
    /// Σ of the CPU its VMs ask for, MIPS.
    pub cpu_demand: Vec<f64>,
    /// Σ of the CPU its VMs get, MIPS (≤ capacity).
    pub cpu_alloc: Vec<f64>,
    pub ram_used: Vec<Bytes>,
    pub vm_count: Vec<u32>,
    /// Watts drawn since `last_update`.
    pub power_w: Vec<f64>,
    pub energy_j: Vec<f64>,
    pub last_update: Vec<SimTime>,
    /// Time spent with demand above capacity (the SLA's "time at 100 %").
    pub overload_s: Vec<f64>,
    pub active_s: Vec<f64>,
    /// Active→inactive transitions.
    pub shutdowns: Vec<u32>,
}

impl Hosts {
    pub fn len(&self) -> usize {
        self.name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }

    pub fn push(&mut self, name: String, type_id: u32, state: PowerState) -> HostId {
        let t = &self.types[type_id as usize];
        let cap = t.cpu_capacity();
        let power = t.states.watts(state, &t.power, 0.0);
        let id = HostId(self.name.len() as u32);
        self.name.push(name);
        self.host_type.push(type_id);
        self.state.push(state);
        self.target.push(state);
        self.transition_gen.push(0);
        self.cpu_capacity.push(cap);
        self.cpu_demand.push(0.0);
        self.cpu_alloc.push(0.0);
        self.ram_used.push(Bytes(0));
        self.vm_count.push(0);
        self.power_w.push(power);
        self.energy_j.push(0.0);
        self.last_update.push(SimTime::ZERO);
        self.overload_s.push(0.0);
        self.active_s.push(0.0);
        self.shutdowns.push(0);
        id
    }

    pub fn host_type(&self, h: HostId) -> &HostType {
        &self.types[self.host_type[h.idx()] as usize]
    }

    pub fn ram(&self, h: HostId) -> Bytes {
        self.host_type(h).ram
    }

    pub fn utilisation(&self, h: HostId) -> f64 {
        let cap = self.cpu_capacity[h.idx()];
        if cap > 0.0 {
            self.cpu_alloc[h.idx()] / cap
        } else {
            0.0
        }
    }

    /// Closes the accounting interval of host `h` at `now`: energy, overload and active time
    /// accrue at the values that held since the last update.
    pub fn accrue(&mut self, h: HostId, now: SimTime) {
        let i = h.idx();
        let dt = (now - self.last_update[i]).as_secs_f64();
        if dt > 0.0 {
            self.energy_j[i] += self.power_w[i] * dt;
            if self.state[i].is_active() {
                self.active_s[i] += dt;
            }
            if self.cpu_demand[i] > self.cpu_capacity[i] * (1.0 + 1e-12) {
                self.overload_s[i] += dt;
            }
        }
        self.last_update[i] = now;
    }

    /// Recomputes the watts of host `h` from its state and utilisation.
    pub fn refresh_power(&mut self, h: HostId) {
        let u = self.utilisation(h);
        let t = self.host_type(h);
        let w = t.states.watts(self.state[h.idx()], &t.power, u);
        self.power_w[h.idx()] = w;
    }
}
