//! What a run measures: the summary and the cluster timeline.

pub mod catalog;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::host::Hosts;
use crate::model::vm::{VmState, Vms};

/// `summary.json`. Field names are a contract with `migsim check` baselines and notebooks:
/// add fields, never rename them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub horizon_s: f64,
    pub hosts: usize,
    pub vms: usize,
    pub policy: String,
    pub hypervisor: String,
    pub energy_kwh: f64,
    pub mean_power_w: f64,
    pub peak_active_hosts: u32,
    pub mean_active_hosts: f64,
    pub host_shutdowns: u32,
    /// Migrations asked for (each has a row in `migrations.csv`).
    pub migrations: u32,
    /// Migrations that did not complete: failed or cancelled (the VM stayed on its source).
    pub failed_migrations: u32,
    pub cancelled_migrations: u32,
    pub migrated_bytes: u64,
    pub total_downtime_s: f64,
    /// Downtime of the migrations that completed: median, 95th percentile (nearest rank) and
    /// maximum, ms.
    pub downtime_p50_ms: f64,
    pub downtime_p95_ms: f64,
    pub downtime_max_ms: f64,
    /// Mean request-to-activation time of the migrations that completed.
    pub mean_migration_time_s: f64,
    /// Σ(demand − allocation) / Σ demand over all VMs and time: the share of asked-for CPU
    /// that contention denied.
    pub cpu_unmet_fraction: f64,
    /// Σ time hosts spent with demand above capacity / Σ time hosts were active (the SLATAH
    /// idea of Beloglazov & Buyya, CCPE 2012, eq. 21, as an aggregate ratio).
    pub overload_time_fraction: f64,
    /// Beloglazov & Buyya's SLA time per active host (CCPE 2012 eq. 21, as CloudSim's
    /// `Helper` aggregates it): time active hosts spent with allocation below demand / time
    /// active.
    pub slatah: f64,
    /// Performance degradation due to migration (eq. 22, aggregated): CPU demand left unmet while
    /// VMs migrate / all CPU demand.
    pub pdm: f64,
    /// `slatah · pdm`.
    pub slav: f64,
    /// `energy_kwh · slav`.
    pub esv: f64,
    /// Bytes the VMs' own traffic delivered / bytes it asked to send.
    pub traffic_delivered_fraction: f64,
    /// Hosts that still held VMs when their maintenance window opened.
    pub maintenance_missed: u32,
    /// `[[host_failure]]`s that happened.
    pub host_failures: u32,
    /// VMs restarted on another host after their host failed.
    pub ha_restarts: u32,
    /// Σ time those VMs were down, from the failure to their restart.
    pub ha_downtime_s: f64,
    /// VMs of failed hosts still waiting for a host at the end of the run.
    pub vms_down_at_end: u32,
    /// Energy of the migrations themselves by Liu et al.'s linear model (HPDC 2011):
    /// Σ (α · MB moved + β) over every migration that started. It is an estimate beside
    /// `energy_kwh`, not part of it: host power already integrates the CPU that migrations use.
    pub migration_energy_kwh: f64,
    /// The same scenario under the `none` policy (static placement): what consolidation is
    /// measured against. Absent in CloudSim compatibility runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_energy_kwh: Option<f64>,
    /// `baseline_energy_kwh − energy_kwh`: negative when the policy costs energy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_saved_kwh: Option<f64>,
    /// `energy_saved_kwh` as a percentage of the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_saved_pct: Option<f64>,
    pub vm_states_at_end: BTreeMap<String, usize>,
    pub events: u64,
    pub migsim_version: String,
}

/// The k-th smallest value (0-based), by selection rather than a full sort.
pub fn kth(s: &mut [f64], k: usize) -> f64 {
    *s.select_nth_unstable_by(k, f64::total_cmp).1
}

/// The median as Commons Math's `Percentile(50)` gives it (the mean of the two middle values
/// for even n, as CloudSim's `MathUtil.median`); 0 for an empty sample.
pub fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let mut s = v.to_vec();
    if n % 2 == 1 {
        kth(&mut s, n / 2)
    } else {
        let hi = kth(&mut s, n / 2);
        // After selection, everything left of n/2 is ≤ it: the lower middle is their maximum.
        let lo = s[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// The `q` quantile (0–1) of `v` by nearest rank; 0 for an empty sample.
pub fn nearest_rank(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

impl Summary {
    /// Fills the energy-saved fields against `baseline_kwh`, the energy of the `none` run.
    pub fn set_baseline(&mut self, baseline_kwh: f64) {
        let saved = baseline_kwh - self.energy_kwh;
        self.baseline_energy_kwh = Some(baseline_kwh);
        self.energy_saved_kwh = Some(saved);
        self.energy_saved_pct = Some(if baseline_kwh > 0.0 {
            100.0 * saved / baseline_kwh
        } else {
            0.0
        });
    }
}

/// One row of `timeline.csv`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineRow {
    pub time_s: f64,
    pub active_hosts: u32,
    pub hosts_on: u32,
    pub power_w: f64,
    pub energy_kwh: f64,
    pub cpu_demand_mips: f64,
    pub cpu_alloc_mips: f64,
    pub running_vms: u32,
}

impl TimelineRow {
    pub fn capture(time_s: f64, hosts: &Hosts, vms: &Vms) -> TimelineRow {
        let mut r = TimelineRow {
            time_s,
            active_hosts: 0,
            hosts_on: 0,
            power_w: 0.0,
            energy_kwh: 0.0,
            cpu_demand_mips: 0.0,
            cpu_alloc_mips: 0.0,
            running_vms: 0,
        };
        for i in 0..hosts.len() {
            if hosts.state[i].is_active() {
                r.active_hosts += 1;
            }
            if hosts.state[i] == crate::model::power::PowerState::On {
                r.hosts_on += 1;
            }
            r.power_w += hosts.power_w[i];
            r.energy_kwh += hosts.energy_j[i] / 3.6e6;
            r.cpu_demand_mips += hosts.cpu_demand[i];
            r.cpu_alloc_mips += hosts.cpu_alloc[i];
        }
        r.running_vms = vms.state.iter().filter(|s| s.runs()).count() as u32;
        r
    }
}

/// Counts of VMs per state, with every state present (zero counts included) so that the JSON
/// has the same keys in every run.
pub fn vm_state_counts(vms: &Vms) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = VmState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for s in &vms.state {
        *m.get_mut(s.as_str()).expect("every state listed") += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).rev().collect();
        assert_eq!(nearest_rank(&v, 0.5), 10.0);
        assert_eq!(nearest_rank(&v, 0.95), 19.0);
        assert_eq!(nearest_rank(&v, 1.0), 20.0);
        assert_eq!(nearest_rank(&[7.0], 0.5), 7.0);
        assert_eq!(nearest_rank(&[], 0.95), 0.0);
    }
}
