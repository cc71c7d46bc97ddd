//! The migration model against published and measured results, and its contract.

mod common;

use std::fs;
use std::path::Path;

use common::{migsim, shared, stderr, stdout};
use migsim::migration::Outcome;
use migsim::reproduce::{clark2005, qemu};

fn clark_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/clark2005")
}

fn within(value: f64, target: f64, tol: f64) -> bool {
    (value / target - 1.0).abs() <= tol
}

#[test]
fn clark2005_apache_downtime_is_about_165ms() {
    let e = clark2005::run(&clark_dir(), "apache").unwrap();
    let m = &e.migration;
    assert_eq!(m.outcome, Outcome::Completed);
    // Target from the issue and the paper: 165 ms ± 15 %.
    assert!(within(m.downtime_ms, 165.0, 0.15), "{} ms", m.downtime_ms);
    // "≈72 s" in all: ± 10 %.
    assert!(within(m.total_time_s, 72.0, 0.10), "{} s", m.total_time_s);
}

#[test]
fn clark2005_apache_first_round_costs_the_server_12_percent() {
    // 870 Mbit/s before; ≈765 during the 100 Mbit/s round that takes 12 % of the CPU.
    let e = clark2005::run(&clark_dir(), "apache").unwrap();
    let m = &e.migration;
    let first_end = m.per_round[0].start + m.per_round[0].duration;
    let before = clark2005::mean_throughput(&e, 0.0, m.start_s);
    let during = clark2005::mean_throughput(&e, m.start_s + 0.5, first_end);
    assert!(within(before, 870.0, 0.01), "{before}");
    assert!(within(during, 765.0, 0.02), "{during}");
    // The first round runs at the 100 Mbit/s limit: ≈776 MB in ≈62 s.
    assert!(
        within(m.per_round[0].duration, 62.0, 0.05),
        "{:?}",
        m.per_round[0]
    );
}

#[test]
fn clark2005_specweb99_downtime_is_about_210ms() {
    let e = clark2005::run(&clark_dir(), "specweb99").unwrap();
    assert!(
        within(e.migration.downtime_ms, 210.0, 0.15),
        "{}",
        e.migration.downtime_ms
    );
}

#[test]
fn clark2005_quake3_downtime_is_about_60ms() {
    // ± 20 %: the paper's ≈20 ms to copy a 148 KB round includes the suspend handshake and
    // latency that the model reduces to Xen's 10 ms polling interval.
    let e = clark2005::run(&clark_dir(), "quake3").unwrap();
    assert!(
        within(e.migration.downtime_ms, 60.0, 0.20),
        "{}",
        e.migration.downtime_ms
    );
    assert!(within(e.migration.transferred_bytes / 1e6, 88.0, 0.10));
}

#[test]
fn clark2005_mmuncher_does_not_converge_and_stops_for_seconds() {
    let e = clark2005::run(&clark_dir(), "mmuncher").unwrap();
    assert!(!e.converged, "pre-copy must give up, not converge");
    assert_eq!(e.migration.outcome, Outcome::Completed);
    assert!(
        e.migration.downtime_ms > 2000.0,
        "{}",
        e.migration.downtime_ms
    );
}

/// Runs whose deviation is understood and documented. The model's expected page overlap puts
/// the third sync of m256-high-bw128-dl300 just above the threshold where QEMU completed, and
/// its 33 MiB final copy ran far faster on loopback than the stated 1547 Mbit/s link.
const KNOWN_DEVIATIONS: [(&str, f64); 1] = [("m256-high-bw128-dl300", 0.15)];

#[test]
#[ignore = "needs the reference data in ../shared (or MIGSIM_SHARED): run with --include-ignored"]
fn qemu_measured_runs_are_predicted_within_tolerance() {
    let dir = shared("validation/qemu");
    let rows = qemu::compare_all(&dir).unwrap();
    assert_eq!(rows.len(), 21);
    for r in &rows {
        // Non-converging runs must be predicted not to converge: cancelled at their timeout.
        if r.measured_status == "cancelled" {
            assert_eq!(r.predicted_outcome, "cancelled", "{}", r.name);
            assert!(
                r.bytes_error().abs() <= 0.10,
                "{}: {:+.3}",
                r.name,
                r.bytes_error()
            );
            // A cancelled run stops mid-round: allow one more round of difference.
            let d = r.measured_rounds as i64 - r.predicted_rounds as i64;
            assert!(d.abs() <= 2, "{}: rounds {d}", r.name);
            continue;
        }
        assert_eq!(r.predicted_outcome, "completed", "{}", r.name);
        let tol = KNOWN_DEVIATIONS
            .iter()
            .find(|(n, _)| *n == r.name)
            .map(|(_, t)| *t)
            .unwrap_or(0.10);
        let te = r.total_error().unwrap();
        assert!(
            te.abs() <= tol,
            "{}: total time {:+.1} %",
            r.name,
            te * 100.0
        );
        assert!(
            r.bytes_error().abs() <= tol,
            "{}: bytes {:+.1} %",
            r.name,
            r.bytes_error() * 100.0
        );
        let d = r.measured_rounds as i64 - r.predicted_rounds as i64;
        assert!(
            d.abs() <= 1,
            "{}: dirty-sync-count {} vs {}",
            r.name,
            r.measured_rounds,
            r.predicted_rounds
        );
        // Downtime is the noisiest figure (32–172 ms for one configuration). The model's final
        // copy runs at the stated loopback link speed, while QEMU's ran several times faster
        // with the guest paused, so the prediction is an upper estimate: it must stay within
        // a factor of 8 of the observed STOP→RESUME gap, and never below a fifth of it.
        let gap = r.measured_gap_ms.unwrap();
        let p = r.predicted_downtime_ms;
        assert!(
            p <= 8.0 * gap.max(5.0) && p >= gap / 5.0,
            "{}: downtime {p} vs gap {gap}",
            r.name
        );
    }
}

#[test]
fn migrate_json_has_the_contracted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &[
            "migrate",
            "--hypervisor",
            "qemu",
            "--ram",
            "1GiB",
            "--wws",
            "128MiB",
            "--dirty-rate",
            "20MiB/s",
            "--bandwidth",
            "128MiB/s",
            "--link",
            "10Gbit/s",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["outcome"], "completed");
    for k in ["total_time_s", "downtime_ms", "transferred_bytes", "rounds"] {
        assert!(v[k].as_f64().is_some(), "{k} missing: {v}");
    }
    let rounds = v["per_round"].as_array().unwrap();
    assert!(rounds.len() >= 2);
    for k in ["start", "duration", "bytes", "dirtied"] {
        assert!(rounds[0][k].as_f64().is_some(), "per_round.{k} missing");
    }
    assert!(v["downtime_ms"].as_f64().unwrap() <= v["total_time_s"].as_f64().unwrap() * 1e3);
    assert!(v["stages"]["5_activation"].as_f64().is_some());
}

#[test]
fn migrate_prints_a_round_table_and_refuses_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &["migrate", "--hypervisor", "xen", "--ram", "512MB"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("round") && t.contains("total time"), "{t}");
    let o = migsim(dir.path(), &["migrate", "--ram", "512Mb"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--ram"), "{}", stderr(&o));
    let o = migsim(dir.path(), &["migrate", "--hypervisor", "vmware"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn non_convergence_can_be_cancelled_or_switched_to_postcopy() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "migrate",
        "--ram",
        "256MiB",
        "--wws",
        "64MiB",
        "--dirty-rate",
        "50MiB/s",
        "--bandwidth",
        "32MiB/s",
        "--link",
        "1Gbit/s",
        "--timeout",
        "20s",
        "--json",
    ];
    let run = |how: &str| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(["--on-timeout", how]);
        let o = migsim(dir.path(), &a);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(stdout(&o).trim()).unwrap()
    };
    let c = run("cancel");
    assert_eq!(c["outcome"], "cancelled");
    assert_eq!(
        c["downtime_ms"], 0.0,
        "a cancelled migration never paused the VM"
    );
    let p = run("postcopy");
    assert_eq!(p["outcome"], "completed");
    assert!(p["downtime_ms"].as_f64().unwrap() < 50.0);
    assert!(p["degradation_s"].as_f64().unwrap() > 0.0);
    let r = run("raise-limit");
    assert_eq!(r["outcome"], "completed");
}

fn fleet(extra: &str) -> String {
    format!(
        r#"
name = "fleet-mig"
horizon = "10min"
[[host_type]]
name = "small"
cores = 4
core_mips = 2000
ram = "8GiB"
nic = "1Gbit/s"
power = {{ preset = "hp-ml110-g5" }}
[[hosts]]
type = "small"
count = 3
name = "h{{i}}"
[[vms]]
name = "vm-{{i}}"
count = 6
vcpus = 1
vcpu_mips = 2000
ram = "2GiB"
cpu = {{ model = "constant", util = 0.5 }}
dirty = {{ rate = "20MiB/s", wws = "256MiB" }}
traffic = "100Mbit/s"
{extra}
"#
    )
}

#[test]
fn a_migration_to_a_full_host_fails_and_the_vm_stays() {
    let dir = tempfile::tempdir().unwrap();
    // First-fit puts four 2 GiB VMs on h0 (8 GiB) and two on h1: h0 has no room for vm-4.
    let text = fleet(
        "[[migrate]]\nvm = \"vm-4\"\nto = \"h0\"\nat = \"1min\"\n[[migrate]]\nvm = \"vm-0\"\nto = \"h2\"\nat = \"2min\"\n",
    );
    fs::write(dir.path().join("f.toml"), text).unwrap();
    let o = migsim(dir.path(), &["run", "f.toml", "--json", "--events"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(s["migrations"], 2);
    assert_eq!(s["failed_migrations"], 1);
    let csv = fs::read_to_string(dir.path().join("output/fleet-mig/migrations.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1].starts_with("vm-4,h1,h0,qemu,failed,\"no room on the destination"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].starts_with("vm-0,h0,h2,qemu,completed,"),
        "{}",
        rows[2]
    );
    assert_eq!(s["vm_states_at_end"]["active"], 6, "no VM lost");
}

#[test]
fn a_link_failure_aborts_the_migration_and_leaves_the_vm_running() {
    let dir = tempfile::tempdir().unwrap();
    let text = fleet(
        "[migration]\nmax_bandwidth = \"16MiB/s\"\n[[migrate]]\nvm = \"vm-0\"\nto = \"h2\"\nat = \"10s\"\n\
         [[fault]]\nlink = \"h2/rx\"\nat = \"30s\"\nduration = \"1min\"\n",
    );
    fs::write(dir.path().join("f.toml"), text).unwrap();
    let o = migsim(dir.path(), &["run", "f.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = fs::read_to_string(dir.path().join("output/fleet-mig/migrations.csv")).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.starts_with("vm-0,h0,h2,qemu,failed,link h2/rx failed"),
        "{row}"
    );
    let s: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(s["vm_states_at_end"]["active"], 6);
    assert_eq!(s["total_downtime_s"], 0.0);
}

#[test]
fn concurrent_migrations_share_the_source_nic() {
    // Two migrations out of h0 at once, unthrottled: each gets about half of its gigabit NIC,
    // less the VMs' own traffic, so each takes longer than one alone.
    let dir = tempfile::tempdir().unwrap();
    let one = fleet(
        "[migration]\nmax_bandwidth = \"0B/s\"\n[[migrate]]\nvm = \"vm-0\"\nto = \"h2\"\nat = \"10s\"\n",
    );
    let two = fleet(
        "[migration]\nmax_bandwidth = \"0B/s\"\n[[migrate]]\nvm = \"vm-0\"\nto = \"h2\"\nat = \"10s\"\n[[migrate]]\nvm = \"vm-1\"\nto = \"h2\"\nat = \"10s\"\n",
    );
    let time = |text: String, out: &str| {
        fs::write(dir.path().join("f.toml"), text).unwrap();
        let o = migsim(dir.path(), &["run", "f.toml", "--out", out]);
        assert!(o.status.success(), "{}", stderr(&o));
        let csv = fs::read_to_string(dir.path().join(out).join("migrations.csv")).unwrap();
        let row = csv.lines().nth(1).unwrap().to_string();
        row.split(',').nth(7).unwrap().parse::<f64>().unwrap()
    };
    let alone = time(one, "one");
    let shared = time(two, "two");
    assert!(shared > 1.6 * alone, "alone {alone} s, shared {shared} s");
}

#[test]
fn reproduce_clark2005_draws_the_apache_figure() {
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = migsim(
        root,
        &[
            "reproduce",
            "clark2005",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for name in ["apache", "specweb99", "quake3", "mmuncher"] {
        assert!(text.contains(name), "{text}");
    }
    let png = fs::read(out.path().join("apache-throughput.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = fs::read_to_string(out.path().join("apache-throughput.svg")).unwrap();
    assert!(svg.contains("Throughput (Mbit/s)") && svg.contains("Elapsed time (s)"));
    let o = migsim(root, &["reproduce", "nothing"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `downtime-limit` 0 gives QEMU a threshold of 0: only an empty bitmap completes. A guest
/// that writes nothing completes. One that writes slower than the stream shrinks its rounds
/// geometrically; the model's pre-copy syncs take no time, so the rounds reach an empty bitmap
/// and it completes too (QEMU's syncs would see new pages), or its timeout ends it. Either way
/// the run ends: it once looped forever on ever smaller transfers.
#[test]
fn qemu_with_a_zero_downtime_limit_ends() {
    let dir = tempfile::tempdir().unwrap();
    let limit = std::time::Duration::from_secs(120);
    let run = |extra: &[&str]| {
        let mut args = vec!["migrate", "--downtime-limit", "0ms", "--json"];
        args.extend_from_slice(extra);
        let o = common::migsim_within(dir.path(), &args, limit);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(stdout(&o).trim()).unwrap()
    };
    let idle = run(&[]);
    assert_eq!(idle["outcome"], "completed", "{idle}");
    let busy = run(&[
        "--dirty-rate",
        "100MiB/s",
        "--wws",
        "256MiB",
        "--timeout",
        "60s",
    ]);
    assert!(busy["total_time_s"].as_f64().unwrap() <= 60.0, "{busy}");
    assert!(
        busy["outcome"] == "completed" || busy["outcome"] == "cancelled",
        "{busy}"
    );
    // A guest that dirties faster than the stream never empties its bitmap: the timeout ends it.
    let faster = run(&[
        "--dirty-rate",
        "200MiB/s",
        "--wws",
        "512MiB",
        "--timeout",
        "60s",
    ]);
    assert_eq!(faster["outcome"], "cancelled", "{faster}");
    assert_eq!(faster["total_time_s"], 60.0, "{faster}");
}
