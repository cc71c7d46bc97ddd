//! `migsim calibrate`: the constants behind measured migrations are found again, and too few
//! measurements are refused.
//!
//! The "measurements" here are what the simulation itself predicts under known constants
//! (stream rate, switchover, setup), written into an `execution.csv` for a plan made without
//! them; the real test is `contrib/libvirt/test-calibrate.sh`.

mod common;

use std::fs;
use std::path::Path;

use common::{migsim, stderr, stdout};
use migsim::plan::ActionPlan;

const CLUSTER: &str = r#"
name = "two"
horizon = "2h"

[[host_type]]
name = "small"
cores = 8
core_mips = 2400
ram = "64GiB"
nic = "1Gbit/s"
power = { preset = "dell-r640" }

[migration]
# One at a time and no rate limit, so that each migration's time is its own.
max_concurrent_per_host = 1
max_bandwidth = "0B/s"

[[hosts]]
type = "small"
count = 1
name = "a"
literal_name = true

[[hosts]]
type = "small"
count = 1
name = "b"
literal_name = true
"#;

fn vms(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[vms]]\nname = \"vm-{i}\"\nliteral_name = true\ncount = 1\nhost = \"a\"\nvcpus = 1\n\
                 vcpu_mips = 2400\nram = \"{}MiB\"\ncpu = {{ model = \"constant\", util = 0.5 }}\n\
                 dirty = {{ rate = \"{}MiB/s\", wws = \"64MiB\" }}\n\n",
                512 + 256 * i,
                4 * (i + 1)
            )
        })
        .collect()
}

const DRAIN: &str = "[policy]\nname = \"none\"\n[[maintenance]]\nhosts = [\"a\"]\nat = \"40min\"\nduration = \"20min\"\nlead = \"30min\"\n";

const TRUTH: &str = "[calibration.host_type.small]\nstream_rate = \"400MB/s\"\nswitchover = \"25ms\"\nsetup = \"300ms\"\n";

/// Plans the drain of `a` with `n` VMs twice, without and with the true constants, and writes
/// the second plan's predictions as the first plan's measurements.
fn executed(d: &Path, n: usize) {
    fs::write(d.join("cluster.toml"), format!("{CLUSTER}{}", vms(n))).unwrap();
    fs::write(
        d.join("drain.toml"),
        format!("include = \"cluster.toml\"\nname = \"drain\"\n{DRAIN}"),
    )
    .unwrap();
    fs::write(
        d.join("truth.toml"),
        format!("include = \"drain.toml\"\n{TRUTH}"),
    )
    .unwrap();
    for (s, out) in [("drain.toml", "p1"), ("truth.toml", "truth")] {
        let o = migsim(d, &["plan", s, "--policy", "none", "--out", out, "-q"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |p: &str| ActionPlan::parse(p, &fs::read_to_string(d.join(p)).unwrap()).unwrap();
    let (p1, truth) = (read("p1/plan.json"), read("truth/plan.json"));
    let mut csv = String::from(
        "action,type,vm,source,destination,status,message,predicted_time_s,measured_time_s,\
         predicted_downtime_ms,measured_downtime_ms,predicted_bytes,measured_bytes,\
         predicted_rounds,measured_iterations\n",
    );
    for (a, m) in p1.migrations() {
        let (t, _) = truth
            .migrations()
            .find(|(_, x)| x.resource_name == m.resource_name)
            .unwrap();
        let (p, q) = (&a.predicted, &t.predicted);
        csv += &format!(
            "{},migrate,{},{},{},succeeded,,{},{},{},{},{},{},{},\n",
            a.id,
            m.resource_name,
            m.source_node,
            m.destination_node,
            p.end_s - p.start_s,
            q.end_s - q.start_s,
            p.downtime_ms,
            q.downtime_ms,
            p.bytes,
            q.bytes,
            p.rounds
        );
    }
    fs::write(d.join("p1/execution.csv"), csv).unwrap();
}

#[test]
fn the_constants_behind_measured_migrations_are_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    executed(d, 4);
    let o = migsim(d, &["calibrate", "p1", "--out", "calibration.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stdout(&o);
    assert!(report.contains("4 measured migrations"), "{report}");
    assert!(report.contains("held out (4-fold)"), "{report}");
    let text = fs::read_to_string(d.join("calibration.toml")).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let c = &t["calibration"]["host_type"]["small"];
    let rate: migsim::units::Bandwidth = c["stream_rate"].as_str().unwrap().parse().unwrap();
    let ms = |k: &str| {
        migsim::units::parse_duration(c[k].as_str().unwrap())
            .unwrap()
            .as_millis_f64()
    };
    assert!(
        (rate.as_bytes_per_sec() / 400e6 - 1.0).abs() < 0.05,
        "{text}"
    );
    assert!((ms("switchover") - 25.0).abs() < 3.0, "{text}");
    assert!((ms("setup") - 300.0).abs() < 30.0, "{text}");
    assert_eq!(c["migrations"].as_integer(), Some(4));

    // The next plan with the calibration predicts the "measurements".
    fs::write(
        d.join("next.toml"),
        "include = [\"drain.toml\", \"calibration.toml\"]\n",
    )
    .unwrap();
    let o = migsim(
        d,
        &["plan", "next.toml", "--policy", "none", "--out", "p2", "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |p: &str| ActionPlan::parse(p, &fs::read_to_string(d.join(p)).unwrap()).unwrap();
    let (p2, truth) = (read("p2/plan.json"), read("truth/plan.json"));
    for (a, m) in p2.migrations() {
        let (t, _) = truth
            .migrations()
            .find(|(_, x)| x.resource_name == m.resource_name)
            .unwrap();
        let (p, q) = (&a.predicted, &t.predicted);
        let rel = ((p.end_s - p.start_s) / (q.end_s - q.start_s) - 1.0).abs();
        assert!(
            rel < 0.05,
            "{}: {} s against {} s",
            m.resource_name,
            p.end_s - p.start_s,
            q.end_s - q.start_s
        );
    }
}

#[test]
fn too_few_migrations_or_a_plan_without_its_scenario_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    executed(d, 2);
    let o = migsim(d, &["calibrate", "p1"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("host type \"small\": 2 measured migration(s)") && e.contains("at least 3"),
        "{e}"
    );
    fs::remove_file(d.join("p1/scenario.toml")).unwrap();
    let o = migsim(d, &["calibrate", "p1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("scenario.toml: missing"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_calibration_for_a_host_type_the_scenario_lacks_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("c.toml"),
        format!(
            "{CLUSTER}{}[calibration.host_type.big]\nstream_rate = \"1GB/s\"\n",
            vms(1)
        ),
    )
    .unwrap();
    let o = migsim(d, &["validate", "c.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("calibration.host_type.big"),
        "{}",
        stderr(&o)
    );
}
