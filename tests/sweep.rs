//! `migsim sweep` and `migsim collect` as scripts and Slurm job arrays call them.

mod common;

use std::fs;
use std::path::Path;

use common::{migsim, stderr, stdout};

const AXES: [&str; 6] = [
    "--set",
    "policy.name=none,thr-mmt-0.8",
    "--set",
    "workload.cpu_scale=1,1.25",
    "--set",
    "horizon=2h",
];

fn sweep(cwd: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sweep", "--quiet", "--seeds", "1..3", "--out", out];
    args.extend(AXES);
    args.extend(extra);
    migsim(cwd, &args)
}

#[test]
fn sharded_sweep_collects_to_the_local_sweeps_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = sweep(d, "local", &["--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results = fs::read_to_string(d.join("local/results.csv")).unwrap();
    // 4 points x 3 seeds, plus the header.
    assert_eq!(results.lines().count(), 13, "{results}");
    assert!(results.starts_with("point,seed,policy.name,workload.cpu_scale,status,energy_kwh,"));
    assert!(results.lines().skip(1).all(|l| l.contains(",ok,")));
    // Consolidation changes energy; seeds change it a little, so the CI has width.
    let summary = fs::read_to_string(d.join("local/summary.csv")).unwrap();
    let energy: Vec<Vec<&str>> = summary
        .lines()
        .filter(|l| l.contains(",energy_kwh,"))
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(energy.len(), 4);
    for row in &energy {
        let (mean, lo, hi): (f64, f64, f64) = (
            row[6].parse().unwrap(),
            row[8].parse().unwrap(),
            row[9].parse().unwrap(),
        );
        assert_eq!(row[4], "3", "three runs per point: {row:?}");
        assert!(lo < mean && mean < hi, "{row:?}");
    }
    assert_ne!(energy[0][6], energy[2][6], "policies differ");

    // The same sweep in three shards, one thread each, merged.
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = sweep(d, "shards", &["--shard", &shard, "--jobs", "1"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(!d.join("shards/results.csv").exists());
    let o = migsim(d, &["collect", "shards", "--out", "merged"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("collected 12 runs"), "{}", stdout(&o));
    for f in ["results.csv", "summary.csv"] {
        assert_eq!(
            fs::read(d.join("local").join(f)).unwrap(),
            fs::read(d.join("merged").join(f)).unwrap(),
            "{f} differs between the local and the sharded sweep"
        );
    }
}

#[test]
fn slurm_array_variables_pick_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_migsim"))
        .args(["sweep", "--quiet", "--seeds", "2", "--out", "s"])
        .args(["--set", "policy.name=none,ulm", "--set", "horizon=1h"])
        .env("SLURM_ARRAY_TASK_ID", "11")
        .env("SLURM_ARRAY_TASK_MIN", "10")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(dir.path().join("s/shard-1-of-3.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Tasks 0..4; shard 1 of 3 owns task 1 only.
    let tasks: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"].as_u64().unwrap())
        .collect();
    assert_eq!(tasks, vec![1]);
    assert_eq!(v["format"], "migsim-sweep");
    assert_eq!(v["migsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["plan"]["scenario_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn collect_refuses_shards_of_different_scenarios_and_missing_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = ["--quiet", "--seeds", "2", "--set", "policy.name=none,ulm"];
    let run = |out: &str, shard: &str, horizon: &str| {
        let mut args = vec!["sweep", "--out", out, "--shard", shard];
        args.extend(base);
        let h = format!("horizon={horizon}");
        args.extend(["--set", &h]);
        let o = migsim(d, &args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run("mixed", "0/2", "1h");
    run("mixed", "1/2", "2h");
    let o = migsim(d, &["collect", "mixed"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hash"), "{}", stderr(&o));
    assert!(!d.join("mixed/results.csv").exists());

    run("gap", "0/2", "1h");
    let o = migsim(d, &["collect", "gap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("2 of 4 tasks are missing (tasks 1, 3)"),
        "{}",
        stderr(&o)
    );

    fs::write(d.join("gap/shard-1-of-2.json"), "{\"format\": 1,\n").unwrap();
    let o = migsim(d, &["collect", "gap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("shard-1-of-2.json:"), "{}", stderr(&o));
}

#[test]
fn a_bad_axis_value_fails_before_anything_runs_and_names_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &[
            "sweep",
            "--quiet",
            "--out",
            "bad",
            "--set",
            "policy.name=none,no-such-policy",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("point 1 (policy.name=no-such-policy)"),
        "{err}"
    );
    assert!(!dir.path().join("bad/results.csv").exists());
    let o = migsim(dir.path(), &["sweep", "--seeds", "4..2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--seeds"), "{}", stderr(&o));
}
