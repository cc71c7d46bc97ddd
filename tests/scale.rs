//! The scale benchmark's scenarios (`scenarios/scale/`) and the load peak they use.

mod common;

use common::{migsim, scenarios, stderr, stdout};

fn summary(args: &[&str]) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut all = args.to_vec();
    all.extend_from_slice(&["--quiet", "--out", out.to_str().unwrap()]);
    let o = migsim(tmp.path(), &all);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn every_scale_scenario_is_valid() {
    let dir = scenarios().join("scale");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let o = migsim(&dir, &["validate", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", p.display(), stderr(&o));
            n += 1;
        }
    }
    assert!(n >= 7, "{n} scenarios");
}

#[test]
fn a_load_peak_overloads_hosts_and_moves_more_vms() {
    let dir = scenarios().join("scale");
    let steady = summary(&["run", dir.join("thr-mmt-0.8-1k.toml").to_str().unwrap()]);
    let peak = summary(&[
        "run",
        dir.join("thr-mmt-0.8-1k-peak.toml").to_str().unwrap(),
    ]);
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    assert!(f(&peak, "overload_time_fraction") > 10.0 * f(&steady, "overload_time_fraction"));
    assert!(f(&peak, "migrations") > f(&steady, "migrations"));
    assert!(f(&peak, "energy_kwh") > f(&steady, "energy_kwh"));
}

#[test]
fn a_bad_peak_names_its_field() {
    let dir = scenarios().join("scale");
    let p = dir.join("thr-mmt-0.8-1k-peak.toml");
    let o = migsim(
        &dir,
        &[
            "validate",
            p.to_str().unwrap(),
            "--set",
            "workload.peak.factor=-1",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("workload.peak.factor"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_generator_writes_a_load_peak() {
    let tmp = tempfile::tempdir().unwrap();
    let generate = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut a = vec![
            "trace", "generate", "--vms", "5", "--seed", "2", "--format", "csv", "--out",
        ];
        a.push(out.to_str().unwrap());
        a.extend_from_slice(extra);
        let o = migsim(tmp.path(), &a);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out).unwrap()
    };
    let plain = generate("plain.csv", &[]);
    let peak = generate("peak.csv", &["--peak-at", "12h", "--peak-for", "2h"]);
    assert_ne!(plain, peak);
    let o = migsim(
        tmp.path(),
        &[
            "trace",
            "generate",
            "--vms",
            "1",
            "--out",
            "x.csv",
            "--format",
            "csv",
            "--peak-at",
            "1h",
            "--peak-factor=-2",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--peak-factor"), "{}", stderr(&o));
}
