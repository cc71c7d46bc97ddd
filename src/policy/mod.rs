//! Consolidation policies: they look at the cluster and return decisions.
//!
//! A policy never changes the model itself. It returns [`Decision`]s and the simulation carries
//! them out with real durations (a host takes its boot time to come up), so that a policy cannot
//! teleport VMs or switch hosts on instantly by accident.

use crate::engine::SimTime;
use crate::model::host::{HostId, Hosts};
use crate::model::power::PowerTarget;
use crate::model::vm::Vms;
use crate::scenario::PolicySpec;

/// What a policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    SetPower { host: HostId, target: PowerTarget },
}

/// A read-only view of the cluster at the time of a policy tick.
pub struct ClusterView<'a> {
    pub now: SimTime,
    pub hosts: &'a Hosts,
    pub vms: &'a Vms,
}

pub trait Policy {
    /// The registry name, as written in scenario files and reports.
    fn name(&self) -> &'static str;
    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision>;
}

/// Static placement: VMs stay where they were first placed and hosts stay as they are. The
/// baseline against which every other policy's savings and costs are measured.
pub struct NonePolicy;

impl Policy for NonePolicy {
    fn name(&self) -> &'static str {
        "none"
    }
    fn decide(&mut self, _view: &ClusterView<'_>) -> Vec<Decision> {
        Vec::new()
    }
}

/// The names [`build`] knows.
pub const NAMES: &[&str] = &["none"];

/// The registry: a policy by its scenario name (checked by scenario validation).
pub fn build(spec: &PolicySpec) -> Box<dyn Policy> {
    debug_assert!(NAMES.contains(&spec.name.as_str()), "validated policy name");
    Box::new(NonePolicy)
}
