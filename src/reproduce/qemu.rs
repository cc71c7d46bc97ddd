//! The measured QEMU 10.0.2 migrations in `../shared/validation/qemu/`, predicted from their
//! configuration and the documented guest alone.
//!
//! Every parameter comes from the run's row (memory, working set, dirty rate, bandwidth cap,
//! downtime limit, capabilities, timeout action) or from the guest and testbed as the data's
//! README documents them. There are three such guest facts: 227.4 MiB of the 256.5 MiB are
//! non-zero pages; the unthrottled loopback stream reached 1,547 Mbit/s; and the dirtier writes
//! one byte per page in 10 ms ticks. The one parameter the README does not give is how much of
//! its vCPU each dirtier mode needs ([`WRITER_CPU_SHARE_SEQ`], [`WRITER_CPU_SHARE_CPU`]). It
//! only matters under auto-converge, and it is calibrated from the two auto-converge runs. Those
//! two runs are therefore a fit, not an independent check.

use std::path::Path;

use serde::Serialize;

use crate::migration::{MigrationRecord, Outcome};
use crate::scenario;

/// Unthrottled loopback stream of the testbed: "≈1,547 Mbit/s (≈190 MB/s, bounded by CPU under
/// TCG)" (validation/qemu/README.md).
pub const TESTBED_LINK: &str = "1547Mbit/s";
/// Non-zero memory of the guest: "an idle 256 MiB guest sent 227.4 MiB of normal pages"
/// (validation/qemu/README.md).
pub const GUEST_NONZERO: &str = "227.4MiB";
/// Calibrated, not documented: the `seq` dirtier sleeps between its 10 ms ticks, and its rounds
/// stayed saturated up to a 90 % throttle, shrinking only at 99 %
/// (m256-high-bw32-dl300-autoconv). That bounds its vCPU need to about 2 %.
pub const WRITER_CPU_SHARE_SEQ: f64 = 0.02;
/// Calibrated, not documented: the `cpu` dirtier busy-waits, and its rounds began to shrink at a
/// 70 % throttle (m256-cpu-bw32-dl300-autoconv): 0.3 / 0.6 × 50 MiB/s × 1.7 s ≈ 42 MiB, below the
/// 61 MiB of a saturated round.
pub const WRITER_CPU_SHARE_CPU: f64 = 0.6;

/// One measured run and its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub name: String,
    pub measured_status: String,
    pub predicted_outcome: String,
    pub measured_total_s: Option<f64>,
    pub predicted_total_s: f64,
    pub measured_mib: f64,
    pub predicted_mib: f64,
    pub measured_rounds: u32,
    pub predicted_rounds: u32,
    pub measured_downtime_ms: Option<f64>,
    pub measured_gap_ms: Option<f64>,
    pub predicted_downtime_ms: f64,
    pub measured_throttle_pct: f64,
    pub predicted_throttle_pct: f64,
    /// Whether a parameter was calibrated on this run (see the module doc).
    pub calibration_run: bool,
}

impl Comparison {
    pub fn total_error(&self) -> Option<f64> {
        self.measured_total_s
            .map(|m| self.predicted_total_s / m - 1.0)
    }
    pub fn bytes_error(&self) -> f64 {
        self.predicted_mib / self.measured_mib - 1.0
    }
}

fn field<'a>(row: &'a csv::StringRecord, head: &csv::StringRecord, name: &str) -> &'a str {
    head.iter()
        .position(|h| h == name)
        .and_then(|i| row.get(i))
        .unwrap_or("")
}

/// The scenario that describes measured run `row`.
pub fn scenario_for(row: &csv::StringRecord, head: &csv::StringRecord) -> String {
    let f = |n: &str| field(row, head, n).to_string();
    let bw: f64 = f("bw_MiB_s").parse().unwrap_or(0.0);
    let share = if f("mode") == "cpu" {
        WRITER_CPU_SHARE_CPU
    } else {
        WRITER_CPU_SHARE_SEQ
    };
    let mut t = format!(
        r#"name = "{name}"
horizon = "10min"
[[host_type]]
name = "testbed"
cores = 2
core_mips = 2000
ram = "2GiB"
nic = "{TESTBED_LINK}"
power = {{ preset = "dell-r640" }}
{pair}nonzero = "{GUEST_NONZERO}"
cpu = {{ model = "constant", util = 0.1 }}
dirty = {{ rate = "{rate}MiB/s", wws = "{ws}MiB", writer_cpu_share = {share} }}
[migration]
hypervisor = "qemu"
max_bandwidth = "{bw}MiB/s"
downtime_limit = "{dl}ms"
auto_converge = {ac}
raised_downtime_limit = "5000ms"
cpu_per_100mbit = 0.0
"#,
        name = f("name"),
        pair = super::two_hosts_one_guest("testbed", f("total_MiB")),
        rate = f("dirty_MiB_s"),
        ws = f("ws_MiB"),
        bw = bw,
        dl = f("dl_ms"),
        ac = f("caps").contains("auto-converge"),
    );
    let action = f("on_timeout");
    if !action.is_empty() {
        t.push_str(&format!(
            "timeout = \"{}s\"\non_timeout = \"{}\"\n",
            f("action_t_s"),
            match action.as_str() {
                "raise-dl" => "raise-limit",
                "postcopy" => "postcopy",
                _ => "cancel",
            }
        ));
    }
    t.push_str("[[migrate]]\nvm = \"guest-0\"\nto = \"qemu-1\"\nat = \"0s\"\n[outputs]\nhosts_csv = false\n");
    t
}

/// Predicts every run of `runs.csv` in `dir`.
pub fn compare_all(dir: &Path) -> Result<Vec<Comparison>, String> {
    let path = dir.join("runs.csv");
    let mut rd = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let head = rd
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let mut out = Vec::new();
    for (i, row) in rd.records().enumerate() {
        let row = row.map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))?;
        let text = scenario_for(&row, &head);
        let name = field(&row, &head, "name").to_string();
        let loaded = scenario::load_str(&name, &text, None, &[])
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))?;
        let recs = crate::run::migrations(&loaded)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))?;
        let r: &MigrationRecord = recs
            .first()
            .ok_or_else(|| format!("{}:{}: no migration ran", path.display(), i + 2))?;
        let num = |n: &str| field(&row, &head, n).parse::<f64>().ok();
        out.push(Comparison {
            calibration_run: field(&row, &head, "caps").contains("auto-converge"),
            name,
            measured_status: field(&row, &head, "status").to_string(),
            predicted_outcome: r.outcome.as_str().to_string(),
            measured_total_s: num("total_ms").map(|ms| ms / 1e3),
            predicted_total_s: r.total_time_s,
            measured_mib: num("transferred_MiB").unwrap_or(f64::NAN),
            predicted_mib: r.transferred_bytes / 1048576.0,
            measured_rounds: num("dirty_sync_count").unwrap_or(0.0) as u32,
            predicted_rounds: r.rounds,
            measured_downtime_ms: num("downtime_ms"),
            measured_gap_ms: num("downtime_observed_ms"),
            predicted_downtime_ms: if r.outcome == Outcome::Completed {
                r.downtime_ms
            } else {
                0.0
            },
            measured_throttle_pct: num("throttle_max_pct").unwrap_or(0.0),
            predicted_throttle_pct: r.max_throttle * 100.0,
        });
    }
    Ok(out)
}

/// The comparison as a table.
pub fn table(rows: &[Comparison]) -> String {
    let mut s = String::from(
        "run                               outcome (meas/pred)     total s (meas/pred)      MiB sent (meas/pred)   rounds  downtime ms (QEMU/gap/pred)\n",
    );
    for c in rows {
        let pct = |e: Option<f64>| {
            e.map(|e| format!("{:+5.1}%", e * 100.0))
                .unwrap_or_else(|| "   -  ".into())
        };
        s.push_str(&format!(
            "{:<33} {:>9}/{:<10} {:>7}/{:>7.2} {}  {:>7.1}/{:>7.1} {}  {:>2}/{:<2}   {:>5}/{:>5}/{:>6.1}{}\n",
            c.name,
            c.measured_status,
            c.predicted_outcome,
            c.measured_total_s.map(|t| format!("{t:.2}")).unwrap_or_else(|| "-".into()),
            c.predicted_total_s,
            pct(c.total_error()),
            c.measured_mib,
            c.predicted_mib,
            pct(Some(c.bytes_error())),
            c.measured_rounds,
            c.predicted_rounds,
            c.measured_downtime_ms.map(|d| format!("{d:.0}")).unwrap_or_else(|| "-".into()),
            c.measured_gap_ms.map(|d| format!("{d:.0}")).unwrap_or_else(|| "-".into()),
            c.predicted_downtime_ms,
            if c.calibration_run { "  (calibration run)" } else { "" },
        ));
    }
    s
}
