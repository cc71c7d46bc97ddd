//! The one table of a run's figures. Sweeps record [`RECORDED`] in this order; `compare`'s
//! table, its summary charts and sweep's terminal table pick figures from it by key, each
//! with its own heading, scale and decimals. A new figure is a `Summary` field and one row
//! here.

use super::Summary;

/// A figure of a run, by its `summary.json` name (or, for a derived figure, a name of its
/// own).
pub struct Metric {
    pub key: &'static str,
    /// `None` where the run has no such figure (energy saved in a CloudSim-compatible run).
    pub value: fn(&Summary) -> Option<f64>,
}

const fn m(key: &'static str, value: fn(&Summary) -> Option<f64>) -> Metric {
    Metric { key, value }
}

/// The figures of `summary.json` that sweeps record, in their column order.
pub const RECORDED: &[Metric] = &[
    m("energy_kwh", |s| Some(s.energy_kwh)),
    m("baseline_energy_kwh", |s| s.baseline_energy_kwh),
    m("energy_saved_kwh", |s| s.energy_saved_kwh),
    m("energy_saved_pct", |s| s.energy_saved_pct),
    m("mean_power_w", |s| Some(s.mean_power_w)),
    m("mean_active_hosts", |s| Some(s.mean_active_hosts)),
    m("peak_active_hosts", |s| Some(s.peak_active_hosts as f64)),
    m("host_shutdowns", |s| Some(s.host_shutdowns as f64)),
    m("migrations", |s| Some(s.migrations as f64)),
    m("failed_migrations", |s| Some(s.failed_migrations as f64)),
    m("cancelled_migrations", |s| {
        Some(s.cancelled_migrations as f64)
    }),
    m("migrated_bytes", |s| Some(s.migrated_bytes as f64)),
    m("total_downtime_s", |s| Some(s.total_downtime_s)),
    m("downtime_p50_ms", |s| Some(s.downtime_p50_ms)),
    m("downtime_p95_ms", |s| Some(s.downtime_p95_ms)),
    m("downtime_max_ms", |s| Some(s.downtime_max_ms)),
    m("mean_migration_time_s", |s| Some(s.mean_migration_time_s)),
    m("migration_energy_kwh", |s| Some(s.migration_energy_kwh)),
    m("cpu_unmet_fraction", |s| Some(s.cpu_unmet_fraction)),
    m("overload_time_fraction", |s| Some(s.overload_time_fraction)),
    m("slatah", |s| Some(s.slatah)),
    m("pdm", |s| Some(s.pdm)),
    m("slav", |s| Some(s.slav)),
    m("esv", |s| Some(s.esv)),
    m("traffic_delivered_fraction", |s| {
        Some(s.traffic_delivered_fraction)
    }),
    m("maintenance_missed", |s| Some(s.maintenance_missed as f64)),
    m("host_failures", |s| Some(s.host_failures as f64)),
    m("ha_restarts", |s| Some(s.ha_restarts as f64)),
    m("ha_downtime_s", |s| Some(s.ha_downtime_s)),
    m("vms_down_at_end", |s| Some(s.vms_down_at_end as f64)),
];

/// Figures derived from the recorded ones, for tables and charts.
pub const DERIVED: &[Metric] = &[
    // Migrations that did not complete, whatever the reason: the VM stayed on its source.
    m("not_completed_migrations", |s| {
        Some((s.failed_migrations + s.cancelled_migrations) as f64)
    }),
];

/// The figure named `key`. Panics on a name that is in neither list: every caller names its
/// figures in code, so a wrong name is a bug that the first test run shows.
pub fn metric(key: &str) -> &'static Metric {
    RECORDED
        .iter()
        .chain(DERIVED)
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("no metric {key:?} in metrics::catalog"))
}

/// The figure `key` of `s`, times `scale` (a unit change), 0 where the run has none.
pub fn scaled(s: &Summary, key: &str, scale: f64) -> f64 {
    (metric(key).value)(s).map_or(0.0, |v| scale * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_figure_is_a_summary_json_field() {
        let s = Summary::default();
        let json = serde_json::to_value(&s).unwrap();
        for m in RECORDED {
            // Optional figures are absent from a summary without a baseline.
            if (m.value)(&s).is_some() {
                assert!(
                    json.get(m.key).is_some(),
                    "{} is not in summary.json",
                    m.key
                );
            }
        }
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<&str> = RECORDED.iter().chain(DERIVED).map(|m| m.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
