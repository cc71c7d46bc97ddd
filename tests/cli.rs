//! The command line as users and scripts call it: files written, exit codes, determinism.

mod common;

use std::fs;

use common::{migsim, scenarios, shared, stderr, stdout, tiny_scenario};

const RUN_FILES: [&str; 5] = [
    "summary.json",
    "hosts.csv",
    "timeline.csv",
    "migrations.csv",
    "scenario.toml",
];

#[test]
fn run_without_argument_runs_the_builtin_quickstart() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(dir.path(), &["run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("output/quickstart");
    for f in RUN_FILES {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let text = stdout(&o);
    assert!(text.contains("scenario quickstart"), "{text}");
    assert!(text.contains("kWh"), "{text}");
    let s: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["scenario"], "quickstart");
    assert_eq!(s["hosts"], 16);
    assert_eq!(s["vms"], 132);
    assert_eq!(s["migrations"], 0);
    assert!(s["energy_kwh"].as_f64().unwrap() > 0.0);
    // Nothing half-written or temporary is left behind.
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn builtin_quickstart_equals_the_shipped_file() {
    let shipped = fs::read_to_string(scenarios().join("quickstart.toml")).unwrap();
    assert_eq!(shipped, migsim::scenario::QUICKSTART);
}

#[test]
fn hosts_csv_has_one_row_per_host_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(dir.path(), &["run", "--out", "r", "--set", "horizon=1h"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = fs::read_to_string(dir.path().join("r/hosts.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,host,type,state,cpu_util,cpu_demand,power_w,energy_kwh,vms"
    );
    // Samples at 0, 5 min, …, 60 min: 13 times 16 hosts.
    assert_eq!(lines.count(), 13 * 16);
    let mig = fs::read_to_string(dir.path().join("r/migrations.csv")).unwrap();
    assert_eq!(mig.lines().count(), 1, "header only: no migrations yet");
}

#[test]
fn json_flag_prints_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(dir.path(), &["run", "--json", "--set", "horizon=30min"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for key in [
        "scenario",
        "seed",
        "horizon_s",
        "hosts",
        "vms",
        "energy_kwh",
        "migrations",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {text}");
    }
    assert_eq!(v["horizon_s"], 1800.0);
}

#[test]
fn same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str, seed: &str| {
        let o = migsim(
            dir.path(),
            &[
                "run",
                "--out",
                out,
                "--seed",
                seed,
                "--events",
                "--set",
                "horizon=6h",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run("a", "5");
    run("b", "5");
    run("c", "6");
    for f in RUN_FILES.iter().chain(["events.jsonl"].iter()) {
        let a = fs::read(dir.path().join("a").join(f)).unwrap();
        let b = fs::read(dir.path().join("b").join(f)).unwrap();
        assert!(a == b, "{f} differs between identical runs");
    }
    let a = fs::read(dir.path().join("a/hosts.csv")).unwrap();
    let c = fs::read(dir.path().join("c/hosts.csv")).unwrap();
    assert_ne!(a, c, "the seed drives the workload noise");
}

#[test]
fn broken_scenario_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = tiny_scenario("broken").replace("ram = \"1GiB\"", "ram = \"1 gig\"");
    fs::write(dir.path().join("broken.toml"), text).unwrap();
    let o = migsim(dir.path(), &["run", "broken.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("broken.toml:23:7: vms[0].ram:"), "{err}");
    assert!(err.contains("\"1 gig\""), "{err}");
    assert!(
        !dir.path().join("output").exists(),
        "no output for a bad scenario"
    );
}

#[test]
fn unknown_field_is_an_error_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = tiny_scenario("typo").replace("count = 4", "count = 4\nrack = 2");
    fs::write(dir.path().join("typo.toml"), text).unwrap();
    let o = migsim(dir.path(), &["validate", "typo.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("typo.toml:17:1: hosts[0].rack: unknown field `rack`"),
        "{err}"
    );
}

#[test]
fn validate_checks_every_file_and_fails_if_any_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("good.toml"), tiny_scenario("good")).unwrap();
    fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\nhorizon = \"2h\"\n",
    )
    .unwrap();
    let o = migsim(dir.path(), &["validate", "good.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("good.toml: ok (good: 4 hosts, 6 VMs, 2h)"));
    let o = migsim(dir.path(), &["validate", "good.toml", "bad.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("good.toml: ok"));
    assert!(
        stderr(&o).contains("bad.toml:1:1: hosts: missing field `hosts`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn include_and_set_override_fields() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("base.toml"), tiny_scenario("base")).unwrap();
    fs::write(
        dir.path().join("bigger.toml"),
        "include = \"base.toml\"\nname = \"bigger\"\n[[hosts]]\ntype = \"g4\"\ncount = 8\n",
    )
    .unwrap();
    let o = migsim(
        dir.path(),
        &[
            "run",
            "bigger.toml",
            "--json",
            "--set",
            "vms[0].count=10",
            "--set",
            "horizon=\"1h\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["scenario"], "bigger");
    assert_eq!(v["hosts"], 8);
    assert_eq!(v["vms"], 10);
    assert_eq!(v["horizon_s"], 3600.0);
    assert!(dir.path().join("output/bigger/summary.json").is_file());
}

#[test]
fn bad_set_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(dir.path(), &["run", "--set", "vms[7].count=1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--set vms[7].count=1: vms has 3 entries"),
        "{}",
        stderr(&o)
    );
    let o = migsim(dir.path(), &["run", "--set", "horizon=soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--set horizon=soon: horizon: expected a duration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unwritable_output_is_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("occupied"), "a file, not a folder").unwrap();
    let o = migsim(dir.path(), &["run", "--out", "occupied/x"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The error names the folder and why, nothing claims success, and nothing was left.
    let err = stderr(&o);
    assert!(
        err.contains("run failed") && err.contains("cannot create occupied/x"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("occupied")]);
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["validate", "--help"],
    ] {
        let o = migsim(dir.path(), &args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Example"), "{args:?}: {}", stdout(&o));
    }
    let o = migsim(dir.path(), &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Every scenario file in `scenarios/` (or in one subfolder of it), sorted; files whose names
/// start with '_' are include-only fragments, and suite.toml files list scenarios for
/// `migsim check`.
fn shipped_scenarios(under: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![scenarios().join(under)];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "toml")
                && !p.file_name().unwrap().to_string_lossy().starts_with('_')
                && p.file_name().unwrap() != "suite.toml"
            {
                files.push(p.display().to_string());
            }
        }
    }
    files.sort();
    files
}

fn assert_valid(files: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let o = migsim(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.contains(": ok (")).count(),
        files.len(),
        "{}",
        stdout(&o)
    );
}

/// Every shipped scenario but CloudSim's, which replay the PlanetLab traces of ../shared.
#[test]
fn shipped_scenarios_validate() {
    let cloudsim = scenarios().join("cloudsim").display().to_string();
    let files: Vec<String> = shipped_scenarios("")
        .into_iter()
        .filter(|f| !f.starts_with(&cloudsim))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    assert_valid(&files);
}

#[test]
#[ignore = "needs the reference data in ../shared (or MIGSIM_SHARED): run with --include-ignored"]
fn shipped_cloudsim_scenarios_validate_on_the_shared_traces() {
    let files = shipped_scenarios("cloudsim");
    assert_eq!(files.len(), 18, "{files:?}");
    // The scenarios name the traces relative to themselves; the test checks that they are
    // there rather than overriding the path.
    shared("traces/planetlab/20110303");
    assert_valid(&files);
}

#[test]
fn include_cycles_are_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), "include = \"b.toml\"\n").unwrap();
    fs::write(dir.path().join("b.toml"), "include = [\"a.toml\"]\n").unwrap();
    let o = migsim(dir.path(), &["validate", "a.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("include cycle"), "{}", stderr(&o));
    let o = migsim(dir.path(), &["validate", "missing-include.toml"]);
    assert_eq!(o.status.code(), Some(2));
    fs::write(dir.path().join("c.toml"), "include = \"nowhere.toml\"\n").unwrap();
    let o = migsim(dir.path(), &["validate", "c.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.toml:1:11: include: cannot open"),
        "{}",
        stderr(&o)
    );
}

/// A count that would allocate the machine away is refused at once, naming the field and
/// the limit; so is more VM RAM than all hosts have.
#[test]
fn huge_counts_are_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let limit = std::time::Duration::from_secs(60);
    for (set, want) in [
        (
            "hosts[0].count=4294967295",
            "hosts[0].count: brings the scenario to 4294967295 hosts; at most 2000000",
        ),
        (
            "vms[0].count=4294967295",
            "vms[0].count: brings the scenario to 4294967295 VMs; at most 20000000",
        ),
        (
            "vms[0].count=10000000",
            "vms[0].count: brings the VMs' RAM to",
        ),
    ] {
        let o = common::migsim_within(
            dir.path(),
            &[
                "validate",
                &scenarios().join("quickstart.toml").display().to_string(),
                "--set",
                set,
            ],
            limit,
        );
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{set}: {}", stderr(&o));
    }
}

/// A run's folder is replaced whole by the next run into it, and a folder of other files is
/// never written into.
#[test]
fn a_run_folder_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.toml");
    fs::write(&tiny, tiny_scenario("tiny")).unwrap();
    let tiny = tiny.display().to_string();
    let o = migsim(
        dir.path(),
        &["run", &tiny, "--out", "res", "--quiet", "--events"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("res/events.jsonl").is_file());
    // A file left in the folder, and the staging folder of a run that was killed.
    fs::write(dir.path().join("res/stray.csv"), "x").unwrap();
    fs::create_dir(dir.path().join(".res.tmp-999999999")).unwrap();
    let o = migsim(dir.path(), &["run", &tiny, "--out", "res", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = fs::read_dir(dir.path().join("res"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "hosts.csv",
            "migrations.csv",
            "scenario.toml",
            "summary.json",
            "timeline.csv"
        ]
    );
    assert!(!dir.path().join(".res.tmp-999999999").exists());
    // Someone else's folder.
    fs::create_dir(dir.path().join("mine")).unwrap();
    fs::write(dir.path().join("mine/notes.txt"), "keep").unwrap();
    let o = migsim(dir.path(), &["run", &tiny, "--out", "mine", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds no finished run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_dir(dir.path().join("mine")).unwrap().count(), 1);
}

/// A shorter run of a longer day keeps the groups that start later, and says so.
#[test]
fn a_group_starting_after_the_horizon_is_noted_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &[
            "run",
            "--set",
            "horizon=1h",
            "--out",
            "r",
            "--quiet",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "note: <built-in quickstart>:90:9: vms[2].start: 20h is not before the horizon (1h)"
        ),
        "{}",
        stderr(&o)
    );
    let s: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let total: u64 = s["vm_states_at_end"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, s["vms"].as_u64().unwrap(), "{s}");
}

#[test]
fn a_duplicate_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("dup.toml"),
        "name = \"a\"\n[policy]\nname = \"none\"\n[policy]\nname = \"ulm\"\n",
    )
    .unwrap();
    let o = migsim(dir.path(), &["validate", "dup.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("dup.toml:4:2: duplicate key `policy`"),
        "{}",
        stderr(&o)
    );
}

/// No figure is written as a negative zero (an empty sum of floats is -0.0).
#[test]
fn a_run_without_migrations_writes_zero_not_negative_zero() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &[
            "run",
            "--set",
            "horizon=2h",
            "--out",
            "r",
            "--quiet",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("\"migrations\":0"), "{text}");
    assert!(text.contains("\"total_downtime_s\":0.0"), "{text}");
    assert!(!text.contains("-0.0"), "{text}");
    assert!(
        !fs::read_to_string(dir.path().join("r/summary.json"))
            .unwrap()
            .contains("-0.0")
    );
}

/// Policy parameters outside what their rule can mean are refused with the reason
/// (CCPE 2012 swept THR over 0.6–1.0).
#[test]
fn out_of_range_policy_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, want) in [
        ("thr-mmt-5", "the detector's parameter 5 is not in (0, 1]"),
        ("thr-mmt-1e9", "is not in (0, 1]"),
        ("thr-mmt-0", "the detector's parameter 0 is not in (0, 1]"),
        ("mad-mmt-50", "is not in (0, 10]"),
        ("thr-zz-0.8", "\"zz\" is not a selector"),
    ] {
        let o = migsim(
            dir.path(),
            &["run", "--set", &format!("policy.name={name}"), "--quiet"],
        );
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
    }
    let o = migsim(
        dir.path(),
        &[
            "run",
            "--set",
            "policy.name=ulm",
            "--set",
            "policy.threshold=1.5",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("policy.threshold: 1.5 is not in (0, 1]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn trace_generate_refuses_empty_and_degenerate_grids() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["--duration", "0s"][..], "--duration: 0s holds no sample"),
        (&["--interval", "0s"][..], "--interval: 0s is shorter than"),
        (
            &["--interval", "1s", "--duration", "3650d"][..],
            "at most 1000000",
        ),
    ] {
        let mut a = vec!["trace", "generate", "--format", "csv", "--out", "t.csv"];
        a.extend_from_slice(args);
        let o = migsim(dir.path(), &a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(
            !dir.path().join("t.csv").exists(),
            "nothing written for {args:?}"
        );
    }
}

#[test]
fn a_scenario_name_that_is_not_plain_ascii_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "tïny",
        "a b",
        "rocket-🚀",
        "evil-\u{202e}txt",
        ".hidden",
        "a/b",
    ] {
        let o = migsim(
            dir.path(),
            &["run", "--set", &format!("name={name}"), "--quiet"],
        );
        assert_eq!(o.status.code(), Some(2), "{name:?}");
        assert!(
            stderr(&o).contains("cannot name an output folder"),
            "{name:?}: {}",
            stderr(&o)
        );
    }
    assert!(!dir.path().join("output").exists(), "no folder was made");
}
