//! `migsim check`: the project's own regression suite, and the checker's behaviour.

mod common;

use std::fs;
use std::path::Path;

use common::{migsim, stderr, stdout};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_regression_suite_holds_its_baseline() {
    let o = migsim(root(), &["check", "scenarios/regression"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" passed, 0 failed"), "{}", stdout(&o));
}

/// A copy of the regression suite in a temporary folder, with its own baseline.
fn suite_copy(dir: &Path) {
    let reg = root().join("scenarios/regression");
    let text = fs::read_to_string(reg.join("suite.toml")).unwrap();
    // Point the scenario files back at the project.
    let text = text.replace("file = \"", &format!("file = \"{}/", reg.display()));
    fs::write(dir.join("suite.toml"), text).unwrap();
    fs::copy(reg.join("baseline.json"), dir.join("baseline.json")).unwrap();
}

#[test]
fn a_moved_metric_fails_with_junit_and_markdown_reports() {
    let dir = tempfile::tempdir().unwrap();
    suite_copy(dir.path());
    let base = dir.path().join("baseline.json");
    let mut b: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&base).unwrap()).unwrap();
    let e = b["quickstart@42"]["energy_kwh"].as_f64().unwrap();
    b["quickstart@42"]["energy_kwh"] = serde_json::json!(e * 1.02);
    fs::write(&base, serde_json::to_string_pretty(&b).unwrap()).unwrap();
    let suite = dir.path().join("suite.toml");
    let (junit, md) = (dir.path().join("c.xml"), dir.path().join("c.md"));
    let o = migsim(
        dir.path(),
        &[
            "check",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("quickstart@42") && out.contains("energy_kwh") && out.contains("MOVED"),
        "{out}"
    );
    assert!(out.contains(" failed"), "{out}");
    let x = fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<testcase classname=\"quickstart@42\" name=\"energy_kwh\">"),
        "{x}"
    );
    assert!(x.contains("<failure message=\"MOVED"), "{x}");
    assert_eq!(x.matches("<failure").count(), 1);
    let m = fs::read_to_string(&md).unwrap();
    assert!(
        m.contains("**1 of ") && m.contains("| quickstart@42 | energy_kwh |"),
        "{m}"
    );

    // --update-baseline rewrites it, prints the change, and the suite holds again.
    let o = migsim(
        dir.path(),
        &["check", suite.to_str().unwrap(), "--update-baseline"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("quickstart@42: energy_kwh"),
        "{}",
        stdout(&o)
    );
    let o = migsim(
        dir.path(),
        &["check", suite.to_str().unwrap(), "--jobs", "1"],
    );
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_failing_scenario_is_a_failure_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    // Valid TOML, and two hosts have RAM enough for the VM in all, but neither has it
    // alone: the run fails at build time, when the VM is placed.
    fs::write(
        dir.path().join("crowded.toml"),
        r#"
name = "crowded"
horizon = "1h"
[[host_type]]
name = "t"
cores = 1
core_mips = 1000
ram = "1GiB"
nic = "1Gbit/s"
power = { idle = "50W", max = "100W" }
[[hosts]]
type = "t"
count = 2
[[vms]]
name = "v-{i}"
count = 1
vcpus = 1
vcpu_mips = 1000
ram = "1536MiB"
cpu = { model = "constant", util = 0.5 }
"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("baseline.json"),
        "{\"crowded\": {\"energy_kwh\": 1.0}}\n",
    )
    .unwrap();
    let o = migsim(dir.path(), &["check", "."]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("ERROR: ") && stdout(&o).contains("fits on no host"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_suites_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(dir.path(), &["check", "nowhere"]);
    assert_eq!(o.status.code(), Some(2));
    fs::write(
        dir.path().join("suite.toml"),
        "[[scenario]]\nfile = \"missing.toml\"\n",
    )
    .unwrap();
    let o = migsim(dir.path(), &["check", "suite.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing.toml does not exist"),
        "{}",
        stderr(&o)
    );
    fs::write(
        dir.path().join("suite.toml"),
        "[[scenario]]\nfyle = \"x\"\n",
    )
    .unwrap();
    let o = migsim(dir.path(), &["check", "suite.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("suite.toml:2:1"), "{}", stderr(&o));
}

/// A one-scenario suite in `dir` (a tiny scenario named `tiny`), with `baseline` as its
/// baseline file's text and `tolerance` as its suite's default tolerance line.
fn tiny_suite(dir: &Path, baseline: &str, tolerance: &str) -> std::path::PathBuf {
    fs::write(dir.join("tiny.toml"), common::tiny_scenario("tiny")).unwrap();
    fs::write(
        dir.join("suite.toml"),
        format!("{tolerance}\n[[scenario]]\nfile = \"tiny.toml\"\n"),
    )
    .unwrap();
    fs::write(dir.join("baseline.json"), baseline).unwrap();
    dir.join("suite.toml")
}

#[test]
fn a_baseline_that_covers_no_run_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "{}", "");
    let o = migsim(dir.path(), &["check", suite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("tiny") && out.contains("NOT IN BASELINE"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn a_stale_baseline_entry_is_reported_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "{}", "");
    let o = migsim(
        dir.path(),
        &["check", suite.to_str().unwrap(), "--update-baseline"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // A scenario that was renamed away still has figures in the baseline.
    let base = dir.path().join("baseline.json");
    let mut b: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&base).unwrap()).unwrap();
    b["renamed-away"] = b["tiny"].clone();
    fs::write(&base, serde_json::to_string_pretty(&b).unwrap()).unwrap();
    let o = migsim(dir.path(), &["check", suite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("renamed-away") && out.contains("STALE"),
        "{out}"
    );
    assert!(out.contains(" 1 failed"), "{out}");
}

#[test]
fn a_negative_tolerance_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "{}", "[tolerance]\nrel = -1.0");
    let o = migsim(dir.path(), &["check", suite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("suite.toml: tolerance.rel: -1 is not a slack"),
        "{}",
        stderr(&o)
    );
}
