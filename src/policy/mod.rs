//! Consolidation policies: they look at the cluster and return decisions.
//!
//! A policy never changes the model itself. It returns [`Decision`]s and the simulation carries
//! them out with real durations (a migration takes its pre-copy rounds, a host its boot time),
//! so that a policy cannot teleport VMs or switch hosts on instantly by accident.
//!
//! Policies compose from small parts where the literature does: Beloglazov & Buyya's overload
//! detector × VM selector × placer ([`beloglazov`]). Whole policies that do not fit that shape
//! are one file each ([`ulm`], [`spread`], [`offhours`]). Adding a policy is one file and one line in
//! [`build`].

pub mod beloglazov;
pub mod maintenance;
pub mod offhours;
pub mod spread;
pub mod ulm;

use std::collections::VecDeque;

use crate::engine::SimTime;
use crate::model::host::{HostId, Hosts};
use crate::model::power::PowerTarget;
use crate::model::vm::{VmId, Vms};
use crate::scenario::PolicySpec;

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

/// Whole policies by name; Beloglazov combinations are `DETECTOR-SELECTOR-PARAMETER`
/// (`thr-mmt-0.8`, `lr-mc-1.2`, …) with detector thr|iqr|mad|lr|lrr and selector mmt|mc|mu|rs.
pub const NAMES: &[&str] = &["none", "ulm", "spread", "offhours"];

fn parse_beloglazov(name: &str) -> Option<(beloglazov::Detector, beloglazov::Selector)> {
    use beloglazov::{Detector, Selector};
    let mut it = name.split('-');
    let (d, s, p) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let p: f64 = p.parse().ok().filter(|p: &f64| p.is_finite() && *p > 0.0)?;
    let det = Detector::parse(d, p)?;
    let sel = match s {
        "mmt" => Selector::Mmt,
        "mc" => Selector::Mc,
        "mu" => Selector::Mu,
        "rs" => Selector::Rs,
        _ => return None,
    };
    Some((det, sel))
}

/// Whether `name` is a policy [`build`] knows.
pub fn known(name: &str) -> bool {
    NAMES.contains(&name) || parse_beloglazov(name).is_some()
}

/// The registry: a policy by its scenario name (checked by scenario validation).
pub fn build(spec: &PolicySpec, seed: u64) -> Box<dyn Policy> {
    match spec.name.as_str() {
        "ulm" => Box::new(ulm::Ulm::new(spec)),
        "spread" => Box::new(spread::Spread::new(spec)),
        "offhours" => Box::new(offhours::OffHours::new(spec, seed)),
        "none" => Box::new(NonePolicy),
        name => {
            let (d, s) = parse_beloglazov(name).expect("validated policy name");
            Box::new(beloglazov::Beloglazov::new(name, d, s, seed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert!(known("none") && known("ulm") && known("spread"));
        assert!(known("thr-mmt-0.8") && known("lrr-rs-1.2") && known("mad-mc-2.5"));
        assert!(!known("thr-xx-0.8") && !known("thr-mmt") && !known("thr-mmt--1"));
    }
}
