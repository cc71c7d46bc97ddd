//! Virtual machines, as parallel arrays indexed by [`VmId`], and their workload models.

use crate::engine::SimTime;
pub use crate::model::dirty::DirtyModel;
use crate::model::host::HostId;
use crate::units::{Bandwidth, Bytes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmId(pub u32);

impl VmId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// The VM states of the literature (Clark et al. 2005 §3; libvirt's domain states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VmState {
    /// Defined but not running (before its start time, or after it stopped).
    Inactive,
    /// Running on its host.
    Active,
    /// vCPUs stopped, memory resident (the stop-and-copy phase of a live migration).
    Paused,
    /// Memory saved away; not resident on any host's CPU (cold migration, host boot wait).
    Suspended,
    /// Running on its source while its memory is copied to a destination.
    Migrating,
}

impl VmState {
    pub const ALL: [VmState; 5] = [
        VmState::Inactive,
        VmState::Active,
        VmState::Paused,
        VmState::Suspended,
        VmState::Migrating,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Inactive => "inactive",
            VmState::Active => "active",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Migrating => "migrating",
        }
    }

    /// Whether the VM's vCPUs run and ask for CPU.
    pub fn runs(self) -> bool {
        matches!(self, VmState::Active | VmState::Migrating)
    }
}

/// CPU utilisation of a VM's own vCPUs over time, in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub enum CpuModel {
    Constant(f64),
    /// Replayed from a trace, one trace VM per VM.
    Trace,
    /// `mean + amplitude · cos(2π (t − peak) / period)`, the office-hours curve of the ULM
    /// spec's use case ("outside office hours, hardly anyone uses the servers").
    Diurnal {
        mean: f64,
        amplitude: f64,
        peak: SimTime,
        period: SimTime,
    },
}

impl CpuModel {
    /// Utilisation at `t`; a trace-driven VM's comes from its trace instead (0 here).
    pub fn at(&self, t: SimTime) -> f64 {
        match *self {
            CpuModel::Trace => 0.0,
            CpuModel::Constant(u) => u,
            CpuModel::Diurnal {
                mean,
                amplitude,
                peak,
                period,
            } => {
                let p = period.as_secs_f64().max(1e-9);
                let phase = (t.as_secs_f64() - peak.as_secs_f64()) / p;
                mean + amplitude * (2.0 * std::f64::consts::PI * phase).cos()
            }
        }
    }
}

/// What VMs of one group share: their workload models.
#[derive(Debug, Clone)]
pub struct VmGroup {
    pub name: String,
    pub cpu: CpuModel,
    /// Standard deviation of per-step noise added to the CPU model.
    pub cpu_noise: f64,
    pub dirty: DirtyModel,
    /// The VM's own network traffic to clients outside the data centre.
    pub traffic: Option<Bandwidth>,
}

/// All VMs.
#[derive(Debug, Clone, Default)]
pub struct Vms {
    pub groups: Vec<VmGroup>,
    pub name: Vec<String>,
    pub group: Vec<u32>,
    pub host: Vec<HostId>,
    pub state: Vec<VmState>,
    pub vcpus: Vec<u32>,
    pub vcpu_mips: Vec<f64>,
    pub ram: Vec<Bytes>,
    pub start: Vec<SimTime>,
    pub stop: Vec<Option<SimTime>>,
    /// Current utilisation of its vCPUs, [0, 1].
    pub util: Vec<f64>,
    /// MIPS asked for and received now.
    pub demand: Vec<f64>,
    pub alloc: Vec<f64>,
    /// Integrals over the run, MIPS·s.
    pub requested_mips_s: Vec<f64>,
    pub shortfall_mips_s: Vec<f64>,
}

impl Vms {
    pub fn len(&self) -> usize {
        self.name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        name: String,
        group: u32,
        host: HostId,
        vcpus: u32,
        vcpu_mips: f64,
        ram: Bytes,
        start: SimTime,
        stop: Option<SimTime>,
    ) -> VmId {
        let id = VmId(self.name.len() as u32);
        self.name.push(name);
        self.group.push(group);
        self.host.push(host);
        self.state.push(VmState::Inactive);
        self.vcpus.push(vcpus);
        self.vcpu_mips.push(vcpu_mips);
        self.ram.push(ram);
        self.start.push(start);
        self.stop.push(stop);
        self.util.push(0.0);
        self.demand.push(0.0);
        self.alloc.push(0.0);
        self.requested_mips_s.push(0.0);
        self.shortfall_mips_s.push(0.0);
        id
    }

    pub fn group_of(&self, v: VmId) -> &VmGroup {
        &self.groups[self.group[v.idx()] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diurnal_curve_peaks_at_its_peak_time() {
        let m = CpuModel::Diurnal {
            mean: 0.4,
            amplitude: 0.3,
            peak: SimTime::from_secs(14 * 3600),
            period: SimTime::from_secs(86_400),
        };
        assert!((m.at(SimTime::from_secs(14 * 3600)) - 0.7).abs() < 1e-12);
        assert!((m.at(SimTime::from_secs(2 * 3600)) - 0.1).abs() < 1e-12);
    }
}
