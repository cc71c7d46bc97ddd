//! The run's results: its timeline, power log and summary.

use super::{PowerChange, Simulation};
use crate::metrics::{self, Summary, TimelineRow, vm_state_counts};
use crate::migration::Outcome;
use crate::model::vm::VmId;

impl Simulation {
    pub fn power_changes(&self) -> &[PowerChange] {
        &self.power_log
    }

    pub fn timeline(&self) -> &[TimelineRow] {
        &self.timeline
    }

    pub(super) fn summary(&mut self) -> Summary {
        let end = self.horizon;
        for i in 0..self.vms.len() {
            self.accrue_vm(VmId(i as u32), end);
        }
        self.net.advance(end);
        self.net.settle();
        let mut delivered = self.traffic_delivered;
        for f in self.vm_flow.iter().flatten() {
            if let Some(d) = self.net.delivered(*f) {
                delivered += d;
            }
        }
        let energy_j: f64 = self.hosts.energy_j.iter().sum();
        let horizon_s = end.as_secs_f64();
        let active_s: f64 = self.hosts.active_s.iter().sum();
        let overload_s: f64 = self.hosts.overload_s.iter().sum();
        // Hosts whose demand exceeds capacity have allocation below demand: the SLATAH time.
        let sla_s = overload_s;
        let requested: f64 = self.vms.requested_mips_s.iter().sum();
        let short: f64 = self.vms.shortfall_mips_s.iter().sum();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        // Migrations still under way at the horizon, or still waiting for a slot, are recorded
        // as unfinished, not dropped; closing one must not start a waiting one.
        self.migs.closing = true;
        for slot in 0..self.migs.active.len() {
            if self.migs.active[slot].is_some() {
                self.close_unfinished(end, slot);
            }
        }
        for r in std::mem::take(&mut self.migs.waiting) {
            let mut rec = self.new_record(&r, r.at);
            rec.outcome = Outcome::Unfinished;
            rec.reason = "still waiting for a migration slot at the horizon".into();
            rec.total_time_s = end.as_secs_f64() - r.at.as_secs_f64();
            self.migs.records.push(rec);
        }
        let recs = &self.migs.records;
        let completed_downtimes: Vec<f64> = recs
            .iter()
            .filter(|r| r.outcome == Outcome::Completed)
            .map(|r| r.downtime_ms)
            .collect();
        Summary {
            scenario: self.scenario.name.clone(),
            seed: self.scenario.seed,
            horizon_s,
            hosts: self.hosts.len(),
            vms: self.vms.len(),
            policy: self.policy.name().to_string(),
            hypervisor: format!("{:?}", self.scenario.migration.hypervisor).to_lowercase(),
            energy_kwh: energy_j / 3.6e6,
            mean_power_w: ratio(energy_j, horizon_s),
            peak_active_hosts: self.peak_active,
            mean_active_hosts: ratio(active_s, horizon_s),
            host_shutdowns: self.hosts.shutdowns.iter().sum(),
            migrations: recs.len() as u32,
            failed_migrations: recs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Cancelled))
                .count() as u32,
            cancelled_migrations: recs
                .iter()
                .filter(|r| r.outcome == Outcome::Cancelled)
                .count() as u32,
            migrated_bytes: recs.iter().map(|r| r.transferred_bytes).sum::<f64>() as u64,
            // `+ 0.0`: an empty f64 sum is -0.0, which JSON would print as such.
            total_downtime_s: recs.iter().map(|r| r.downtime_ms).sum::<f64>() / 1e3 + 0.0,
            downtime_p50_ms: metrics::nearest_rank(&completed_downtimes, 0.5),
            downtime_p95_ms: metrics::nearest_rank(&completed_downtimes, 0.95),
            downtime_max_ms: completed_downtimes.iter().copied().fold(0.0, f64::max),
            mean_migration_time_s: {
                let done: Vec<f64> = recs
                    .iter()
                    .filter(|r| r.outcome == Outcome::Completed)
                    .map(|r| r.total_time_s)
                    .collect();
                if done.is_empty() {
                    0.0
                } else {
                    done.iter().sum::<f64>() / done.len() as f64
                }
            },
            cpu_unmet_fraction: ratio(short, requested),
            slatah: ratio(sla_s, active_s),
            pdm: ratio(self.migration_shortfall, requested),
            slav: ratio(sla_s, active_s) * ratio(self.migration_shortfall, requested),
            esv: energy_j / 3.6e6
                * ratio(sla_s, active_s)
                * ratio(self.migration_shortfall, requested),
            overload_time_fraction: ratio(overload_s, active_s),
            traffic_delivered_fraction: if self.traffic_demand.is_positive() {
                (delivered / self.traffic_demand).min(1.0)
            } else {
                1.0
            },
            maintenance_missed: self.maintenance_missed,
            host_failures: self.ha.failures,
            ha_restarts: self.ha.restarts,
            ha_downtime_s: self.ha.downtime_s,
            vms_down_at_end: self.ha.queue.len() as u32,
            migration_energy_kwh: {
                let m = &self.scenario.migration;
                recs.iter()
                    .map(|r| {
                        m.energy_j_per_mb * r.transferred_bytes / (1u64 << 20) as f64
                            + m.energy_j_fixed
                    })
                    .sum::<f64>()
                    / 3.6e6
                    + 0.0
            },
            baseline_energy_kwh: None,
            energy_saved_kwh: None,
            energy_saved_pct: None,
            vm_states_at_end: vm_state_counts(&self.vms),
            events: self.queue.processed(),
            migsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}
