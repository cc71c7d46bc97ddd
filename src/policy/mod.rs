//! Consolidation policies: they look at the cluster and return decisions.
//!
//! A policy never changes the model itself. It returns [`Decision`]s and the simulation carries
//! them out with real durations (a migration takes its pre-copy rounds, a host its boot time),
//! so that a policy cannot teleport VMs or switch hosts on instantly by accident.
//!
//! Policies compose from small parts where the literature does: Beloglazov & Buyya's overload
//! detector × VM selector × placer ([`beloglazov`]). Whole policies that do not fit that shape
//! are one file each ([`ulm`], [`spread`], [`offhours`]). Adding a policy is one file, which
//! declares an [`Entry`] that parses and checks its own parameters, and its name in the
//! `policies!` line below.

pub mod maintenance;
pub mod registry;

/// Declares each policy's module and lists its `ENTRY` in [`REGISTRY`], in order: adding a
/// policy is its file and its name here.
macro_rules! policies {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every built-in policy, in the order help and `compare` list them.
        pub const REGISTRY: &[&Entry] = &[&NONE, $(&$module::ENTRY),*];
    };
}

policies!(beloglazov, ulm, spread, offhours);

use std::collections::VecDeque;

use crate::engine::SimTime;
use crate::model::host::{HostId, Hosts};
use crate::model::power::PowerTarget;
use crate::model::vm::{VmId, Vms};

pub use registry::{Config, Entry, ParamError, Params, build, defaults, examples, known};

/// What a policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    SetPower {
        host: HostId,
        target: PowerTarget,
    },
    /// Live-migrate `vm` to `to`, with the scenario's migration settings.
    Migrate {
        vm: VmId,
        to: HostId,
    },
}

/// A read-only view of the cluster at the time of a policy tick.
pub struct ClusterView<'a> {
    pub now: SimTime,
    pub hosts: &'a Hosts,
    pub vms: &'a Vms,
    pub host_vms: &'a [Vec<VmId>],
    /// Whether each VM is being migrated now (it cannot be moved again).
    pub migrating: &'a [bool],
    /// RAM reserved on each host for VMs arriving.
    pub reserved: &'a [u64],
    /// Each VM's requested MIPS at past ticks, oldest first (at most 30); empty for a policy
    /// whose `uses_history` is false.
    pub vm_history: &'a [VecDeque<f64>],
    /// Each host's requested utilisation at past ticks, oldest first (at most 30); empty
    /// likewise.
    pub host_history: &'a [VecDeque<f64>],
    /// Hosts out of service for maintenance: no policy may place VMs on them or change their
    /// power state (the simulation refuses such decisions).
    pub unavailable: &'a [bool],
}

impl ClusterView<'_> {
    /// MIPS the VM asks for now, whatever it gets.
    pub fn vm_requested(&self, v: VmId) -> f64 {
        let i = v.idx();
        if self.vms.state[i].runs() {
            self.vms.util[i] * self.vms.vcpus[i] as f64 * self.vms.vcpu_mips[i]
        } else {
            0.0
        }
    }

    /// Whether a policy may move `v` now: it runs (a VM not yet started or already stopped
    /// has nothing to migrate) and is not already on the move.
    pub fn movable(&self, v: VmId) -> bool {
        self.vms.state[v.idx()].runs() && !self.migrating[v.idx()]
    }

    /// Whether a policy may place VMs on, or switch, host `h`.
    pub fn available(&self, h: usize) -> bool {
        !self.unavailable[h]
    }

    /// Requested utilisation of host `h` now.
    pub fn host_requested(&self, h: usize) -> f64 {
        let d: f64 = self.host_vms[h].iter().map(|&v| self.vm_requested(v)).sum();
        d / self.hosts.cpu_capacity[h]
    }
}

/// Ticks of history kept for the detectors (CloudSim `PowerVm.HISTORY_LENGTH`).
pub const HISTORY: usize = 30;

pub trait Policy {
    /// The registry name, as written in scenario files and reports.
    fn name(&self) -> &str;
    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision>;
    /// Whether the policy reads `vm_history`/`host_history`. The simulation records them only
    /// for policies that do: for a million VMs they cost memory and time at every tick.
    fn uses_history(&self) -> bool {
        true
    }
}

/// Static placement: VMs stay where they were first placed and hosts stay as they are. The
/// baseline against which every other policy's savings and costs are measured.
pub struct NonePolicy;

impl Policy for NonePolicy {
    fn name(&self) -> &str {
        "none"
    }
    fn uses_history(&self) -> bool {
        false
    }
    fn decide(&mut self, _view: &ClusterView<'_>) -> Vec<Decision> {
        Vec::new()
    }
}

/// `none`: the static baseline.
pub const NONE: Entry = Entry {
    name: "none",
    about: "static placement: the baseline every saving is measured against",
    defaults: &["none"],
    variants: &[],
    matches: |n| n == "none",
    build: |_| Ok(Box::new(NonePolicy)),
};
