//! `migsim plan`: plan.json and plan.sh as operators and executors read them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{migsim, stderr, stdout};
use migsim::plan::{ActionKind, ActionPlan};

#[test]
fn the_quickstart_plan_has_migrations_and_a_script_bash_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = migsim(d, &["plan", "--set", "horizon=3h", "--out", "p1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("under thr-mmt-0.8"), "{}", stdout(&o));
    let text = fs::read_to_string(d.join("p1/plan.json")).unwrap();
    let plan = ActionPlan::parse("plan.json", &text).unwrap();
    assert_eq!(plan.schema_version, 1);
    assert_eq!(plan.strategy, "thr-mmt-0.8");
    let migrations = plan.migrations().count();
    assert!(migrations > 0, "the quickstart plan must move VMs");
    for (a, m) in plan.migrations() {
        assert!(a.predicted.end_s > a.predicted.start_s);
        assert!(a.predicted.downtime_ms > 0.0 && a.predicted.bytes > 0.0);
        assert_ne!(m.source_node, m.destination_node);
    }
    let sh = d.join("p1/plan.sh");
    let ok = Command::new("bash").arg("-n").arg(&sh).status().unwrap();
    assert!(ok.success(), "bash -n plan.sh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&sh).unwrap().permissions().mode() & 0o111,
            0o111
        );
    }
    // A dry run by default: every migration is printed, nothing runs.
    let out = Command::new("bash").arg(&sh).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        printed.matches("would run: virsh -c").count(),
        2 * migrations,
        "{printed}"
    );
    // Same scenario and seed: the same bytes.
    let o = migsim(d, &["plan", "--set", "horizon=3h", "--out", "p2", "-q"]);
    assert!(o.status.success());
    for f in ["plan.json", "plan.sh"] {
        assert_eq!(
            fs::read(d.join("p1").join(f)).unwrap(),
            fs::read(d.join("p2").join(f)).unwrap()
        );
    }
}

#[test]
fn a_window_keeps_only_what_starts_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = migsim(
        d,
        &[
            "plan",
            "--set",
            "horizon=3h",
            "--from",
            "1h",
            "--until",
            "2h",
            "--out",
            "w",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = ActionPlan::parse(
        "plan.json",
        &fs::read_to_string(d.join("w/plan.json")).unwrap(),
    )
    .unwrap();
    for a in &plan.actions {
        if !matches!(a.kind, ActionKind::Sleep(_)) {
            assert!(
                (3600.0..7200.0).contains(&a.predicted.start_s),
                "{} starts at {}",
                a.id,
                a.predicted.start_s
            );
        }
    }
    let o = migsim(d, &["plan", "--from", "2h", "--until", "1h"]);
    assert_eq!(o.status.code(), Some(2));
    let o = migsim(d, &["plan", "--from", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from"), "{}", stderr(&o));
}

/// Host and VM names that a careless script would break on (a name without `{i}` gets `-0`).
const HOST_A: &str = "rack 3 'a' $(touch pwned-a)";
const HOST_B: &str = "b\"; touch pwned-b; echo \"\nnext line";
const VM: &str = "-vm `touch pwned-c` $HOME {i}";
const HOST_A_0: &str = "rack 3 'a' $(touch pwned-a)-0";

fn hostile_scenario() -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    format!(
        r#"
name = "hostile"
seed = 1
horizon = "2h"

[[host_type]]
name = "t"
cores = 8
core_mips = 2000
ram = "32GiB"
nic = "1Gbit/s"
power = {{ preset = "dell-r640" }}

[[hosts]]
type = "t"
count = 1
name = {a}

[[hosts]]
type = "t"
count = 1
name = {b}

[[vms]]
name = {vm}
count = 2
vcpus = 1
vcpu_mips = 1000
ram = "1GiB"
cpu = {{ model = "constant", util = 0.2 }}
dirty = {{ rate = "1MiB/s", wws = "64MiB" }}

[placement]
initial = "round-robin"

[policy]
name = "thr-mmt-0.8"

[[maintenance]]
hosts = [{a0}]
at = "1h"
duration = "30min"
lead = "30min"
"#,
        a = q(HOST_A),
        a0 = q(HOST_A_0),
        b = q(HOST_B),
        vm = q(VM)
    )
}

#[test]
fn names_with_spaces_quotes_substitutions_and_newlines_reach_virsh_intact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("hostile.toml"), hostile_scenario()).unwrap();
    let o = migsim(d, &["plan", "hostile.toml", "--out", "p", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = ActionPlan::parse(
        "plan.json",
        &fs::read_to_string(d.join("p/plan.json")).unwrap(),
    )
    .unwrap();
    let moves: Vec<_> = plan.migrations().map(|(_, m)| m.clone()).collect();
    assert!(!moves.is_empty(), "draining {HOST_A_0:?} moves its VM");
    assert!(moves.iter().all(|m| m.source_node == HOST_A_0));
    assert!(
        plan.actions.iter().any(
            |a| matches!(&a.kind, ActionKind::HostMaintenance(m) if m.resource_name == HOST_A_0)
        )
    );
    let sh = d.join("p/plan.sh");
    assert!(
        Command::new("bash")
            .arg("-n")
            .arg(&sh)
            .status()
            .unwrap()
            .success()
    );

    // A stand-in virsh records its arguments, NUL-separated, each call ended by an ASCII
    // record separator (names may hold newlines).
    let bin = d.join("bin");
    fs::create_dir(&bin).unwrap();
    let log = d.join("virsh.log");
    let fake = bin.join("virsh");
    fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >> '{}'\nprintf '\\036' >> '{}'\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |execute: &str| {
        Command::new("bash")
            .arg(&sh)
            .env("PATH", &path)
            .env("MIGSIM_EXECUTE", execute)
            .env("MIGSIM_SKIP_WAITS", "yes")
            .env("MIGSIM_URI_PREFIX", "qemu+tcp://")
            .env("MIGSIM_URI_SUFFIX", "/system")
            .current_dir(d)
            .output()
            .unwrap()
    };
    let dry = run("no");
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(!log.exists(), "a dry run calls nothing");
    let real = run("yes");
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let calls: Vec<Vec<String>> = fs::read(&log)
        .unwrap()
        .split(|&b| b == 0x1e)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8(a.to_vec()).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(calls.len(), 2 * moves.len());
    for (m, pair) in moves.iter().zip(calls.chunks(2)) {
        let src = format!("qemu+tcp://{}/system", m.source_node);
        let dst = format!("qemu+tcp://{}/system", m.destination_node);
        assert_eq!(
            pair[0],
            [
                "-c",
                src.as_str(),
                "migrate-setmaxdowntime",
                "--domain",
                m.resource_name.as_str(),
                "--downtime",
                "300"
            ]
        );
        let want = [
            "-c",
            src.as_str(),
            "migrate",
            "--live",
            "--persistent",
            "--undefinesource",
            "--bandwidth",
            "128",
            "--domain",
            m.resource_name.as_str(),
            "--desturi",
            dst.as_str(),
        ];
        assert_eq!(pair[1], want);
    }
    for f in ["pwned-a", "pwned-b", "pwned-c"] {
        assert!(
            !Path::new(d).join(f).exists(),
            "{f}: a name was run as code"
        );
    }
}
