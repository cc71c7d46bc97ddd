//! Consolidation policies in the faithful engine: each does what its paper says on clusters
//! small enough to reason about by hand, and together they save energy on a day of load.

mod common;

use common::{migsim, scenarios, stderr, stdout};
use migsim::metrics::Summary;
use migsim::scenario::{load_file, load_str};
use migsim::sim::NullRecorder;
use migsim::sim::Simulation;

/// `hosts` hosts of 4 × 1000 MIPS and 8 GiB; `vms` VMs of `vcpus` × 1000 MIPS at a constant
/// `util`, placed by `placement`.
fn cluster(hosts: u32, vms: u32, vcpus: u32, util: f64, placement: &str, policy: &str) -> String {
    format!(
        r#"
name = "policy-cluster"
seed = 5
horizon = "2h"
[[host_type]]
name = "quad"
cores = 4
core_mips = 1000
ram = "8GiB"
nic = "1Gbit/s"
power = {{ preset = "hp-ml110-g5" }}
[[hosts]]
type = "quad"
count = {hosts}
[[vms]]
name = "vm-{{i}}"
count = {vms}
vcpus = {vcpus}
vcpu_mips = 1000
ram = "1GiB"
cpu = {{ model = "constant", util = {util} }}
dirty = {{ rate = "4MiB/s", wws = "64MiB" }}
[placement]
initial = "{placement}"
[policy]
{policy}
interval = "5min"
"#
    )
}

struct Outcome {
    summary: Summary,
    /// (start time, VM, source, destination) of each migration, in order.
    moves: Vec<(f64, String, String, String)>,
    active_at_end: usize,
}

fn run(text: &str) -> Outcome {
    let loaded = load_str("policy.toml", text, None, &[]).expect("scenario parses");
    let mut sim = Simulation::build(&loaded).expect("scenario builds");
    let summary = sim.run(&mut NullRecorder, &mut |_| {}).expect("runs");
    sim.check_invariants().expect("invariants hold at the end");
    let moves = sim
        .migs
        .records
        .iter()
        .map(|r| {
            (
                r.start_s,
                r.vm.clone(),
                r.source.clone(),
                r.destination.clone(),
            )
        })
        .collect();
    let active_at_end = (0..sim.hosts.len())
        .filter(|&h| !sim.host_vms[h].is_empty())
        .count();
    Outcome {
        summary,
        moves,
        active_at_end,
    }
}

#[test]
fn an_overloaded_host_sheds_one_vm_and_the_cluster_settles() {
    // Two 2-vCPU VMs at 90 % on one quad host: 0.9 utilisation, above THR's 0.8 and ULM's 0.75.
    for policy in [
        "name = \"thr-mmt-0.8\"",
        "name = \"ulm\"",
        "name = \"spread\"",
    ] {
        let o = run(&cluster(2, 2, 2, 0.9, "first-fit", policy));
        assert_eq!(
            o.moves.len(),
            1,
            "{policy}: one move balances the pair, and nothing moves back: {:?}",
            o.moves
        );
        assert_eq!(o.moves[0].2, "quad-0", "{policy}");
        assert_eq!(o.moves[0].3, "quad-1", "{policy}");
        assert_eq!(o.summary.failed_migrations, 0);
    }
}

#[test]
fn ulm_waits_for_sustained_load() {
    // Three samples at a 5-minute interval: not before the third look at the cluster.
    let o = run(&cluster(2, 2, 2, 0.9, "first-fit", "name = \"ulm\""));
    assert!(o.moves[0].0 >= 600.0, "moved at {} s", o.moves[0].0);
    let o = run(&cluster(
        2,
        2,
        2,
        0.9,
        "first-fit",
        "name = \"ulm\"\nsamples = 1",
    ));
    assert_eq!(o.moves[0].0, 300.0, "one sample is enough when asked");
    // A threshold above the load: nothing is overworked.
    let o = run(&cluster(
        2,
        2,
        2,
        0.9,
        "first-fit",
        "name = \"ulm\"\nthreshold = 0.95",
    ));
    assert!(o.moves.is_empty(), "{:?}", o.moves);
}

#[test]
fn spread_leaves_a_balanced_cluster_alone() {
    let o = run(&cluster(
        2,
        2,
        2,
        0.9,
        "first-fit",
        "name = \"spread\"\nthreshold = 1.0",
    ));
    assert!(o.moves.is_empty(), "{:?}", o.moves);
    let o = run(&cluster(2, 2, 2, 0.9, "round-robin", "name = \"spread\""));
    assert!(o.moves.is_empty(), "{:?}", o.moves);
}

#[test]
fn underloaded_hosts_are_emptied_and_put_to_sleep() {
    // Three 1-vCPU VMs at 80 % spread over three quad hosts: 0.2 each. Packed, 0.6 on one.
    for det in [
        "thr-mmt-0.8",
        "iqr-mmt-1.5",
        "mad-mu-2.5",
        "lr-mc-1.2",
        "lrr-rs-1.2",
    ] {
        let o = run(&cluster(
            3,
            3,
            1,
            0.8,
            "round-robin",
            &format!("name = \"{det}\""),
        ));
        assert_eq!(o.active_at_end, 1, "{det}: {:?}", o.moves);
        assert_eq!(o.moves.len(), 2, "{det}: {:?}", o.moves);
        assert_eq!(o.summary.host_shutdowns, 2, "{det}");
        let none = run(&cluster(3, 3, 1, 0.8, "round-robin", "name = \"none\""));
        assert!(
            o.summary.energy_kwh < 0.6 * none.summary.energy_kwh,
            "{det}: {} vs {} kWh",
            o.summary.energy_kwh,
            none.summary.energy_kwh
        );
    }
}

#[test]
fn pending_vms_are_not_migrated() {
    // A VM that starts in an hour holds its place but cannot be moved before it runs.
    let mut text = cluster(3, 3, 1, 0.8, "round-robin", "name = \"thr-mmt-0.8\"");
    text.push_str(
        "[[vms]]\nname = \"late-{i}\"\ncount = 2\nvcpus = 1\nvcpu_mips = 1000\nram = \"1GiB\"\ncpu = { model = \"constant\", util = 0.1 }\nstart = \"1h\"\n",
    );
    let o = run(&text);
    assert_eq!(o.summary.failed_migrations, 0, "{:?}", o.moves);
    let late: Vec<f64> = o
        .moves
        .iter()
        .filter(|m| m.1.starts_with("late"))
        .map(|m| m.0)
        .collect();
    // The check means something only if the policy did move the late VMs once they ran.
    assert!(!late.is_empty(), "no late VM moved: {:?}", o.moves);
    for t in late {
        assert!(t >= 3600.0, "a late VM moved at {t} s, before it started");
    }
}

/// The what-if day: 40 trace-driven VMs on 24 hosts. Every Beloglazov detector packs them
/// onto about a third of the hosts; `none` keeps all 24 on.
#[test]
fn consolidation_saves_energy_over_a_day_of_traces() {
    let path = scenarios().join("whatif/day.toml");
    let summary = |p: &str| {
        let l = load_file(&path, &[format!("policy.name={p}")]).unwrap();
        let mut sim = Simulation::build(&l).unwrap();
        let s = sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
        assert_eq!(s.vm_states_at_end.values().sum::<usize>(), 40, "{p}");
        s
    };
    let none = summary("none");
    assert_eq!(none.migrations, 0);
    assert!((none.mean_active_hosts - 24.0).abs() < 1e-9);
    for p in [
        "thr-mmt-0.8",
        "iqr-mmt-1.5",
        "mad-mmt-2.5",
        "lr-mmt-1.2",
        "lrr-mmt-1.2",
    ] {
        let s = summary(p);
        let saved = 1.0 - s.energy_kwh / none.energy_kwh;
        assert!((0.4..0.8).contains(&saved), "{p}: saved {saved}");
        assert!(s.migrations > 0 && s.failed_migrations == 0, "{p}");
        assert!(s.mean_active_hosts < 12.0, "{p}: {}", s.mean_active_hosts);
        // Consolidation costs a little SLA, not a lot.
        assert!(s.cpu_unmet_fraction < 0.01, "{p}: {}", s.cpu_unmet_fraction);
    }
}

#[test]
fn compare_prints_policies_side_by_side_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenarios().join("whatif/day.toml");
    let sc = sc.to_str().unwrap();
    let mut outputs = Vec::new();
    for jobs in ["1", "2"] {
        let csv = dir.path().join(format!("c{jobs}.csv"));
        let o = migsim(
            dir.path(),
            &[
                "compare",
                sc,
                "-p",
                "none,thr-mmt-0.8,ulm",
                "--jobs",
                jobs,
                "--csv",
                csv.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("energy saved is against none"), "{text}");
        outputs.push((text, std::fs::read_to_string(&csv).unwrap()));
    }
    assert_eq!(outputs[0], outputs[1]);
    let csv = &outputs[0].1;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("policy,energy_kwh,energy_saved_pct"));
    assert!(lines[1].starts_with("none,"));
    assert!(lines[2].starts_with("thr-mmt-0.8,"));

    // --out writes comparison.csv and comparison.md; --policies is the same as --policy.
    let out = dir.path().join("cmp");
    let o = migsim(
        dir.path(),
        &[
            "compare",
            sc,
            "--policies",
            "none,thr-mmt-0.8,ulm",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        &std::fs::read_to_string(out.join("comparison.csv")).unwrap(),
        csv
    );
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(md.starts_with("| policy | energy_kwh |"), "{md}");
    assert_eq!(md.lines().count(), 5);
}

#[test]
fn compare_out_writes_a_self_contained_report_with_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenarios().join("whatif/day.toml");
    let sc = sc.to_str().unwrap();
    for (out, jobs) in [("a", "1"), ("b", "2")] {
        let o = migsim(
            dir.path(),
            &[
                "compare",
                sc,
                "-p",
                "none,thr-mmt-0.8,ulm",
                "--jobs",
                jobs,
                "--out",
                out,
                "-q",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).is_empty(),
            "--quiet prints nothing: {}",
            stdout(&o)
        );
    }
    let a = dir.path().join("a");
    let mut charts = vec![
        "active-hosts",
        "power",
        "energy",
        "downtime-cdf",
        "summary-bars",
        "migrations-thr-mmt-0.8",
    ];
    // ulm moves a VM on this day too; `none` never does, so it gets no migration chart.
    charts.push("migrations-ulm");
    for c in &charts {
        for ext in ["png", "svg"] {
            let p = a.join("plots").join(format!("{c}.{ext}"));
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if ext == "png" {
                assert_eq!(&bytes[..4], b"\x89PNG", "{}", p.display());
            }
            // Deterministic whatever the thread count.
            let q = dir.path().join("b/plots").join(format!("{c}.{ext}"));
            assert_eq!(bytes, std::fs::read(q).unwrap(), "{c}.{ext} differs");
        }
    }
    assert!(!a.join("plots/migrations-none.png").exists());
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert_eq!(
        html,
        std::fs::read_to_string(dir.path().join("b/report.html")).unwrap()
    );
    assert_eq!(html.matches("<svg").count(), charts.len());
    assert_eq!(html.matches("<figure").count(), charts.len());
    // Self-contained: no scripts, stylesheets or images fetched from elsewhere.
    for needle in ["<script", "<link", "<img", "src=", "http://", "https://"] {
        let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside_svg_ns.contains(needle), "report.html has {needle}");
    }
    for p in [
        "none",
        "thr-mmt-0.8",
        "ulm",
        "energy_saved_pct",
        "Active hosts over time",
    ] {
        assert!(html.contains(p), "report.html lacks {p}");
    }
    assert!(a.join("comparison.csv").is_file() && a.join("comparison.md").is_file());
}

#[test]
fn compare_rejects_an_unknown_policy_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    let o = migsim(
        dir.path(),
        &[
            "compare",
            "-p",
            "none,thr-xyz-0.8",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("policy.name"), "{}", stderr(&o));
    assert!(!csv.exists());
}

#[test]
fn a_run_reports_energy_saved_against_static_placement_and_migration_energy() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenarios().join("whatif/day.toml");
    let sc = sc.to_str().unwrap();
    let read = |out: &str| -> serde_json::Value {
        let p = dir.path().join(out).join("summary.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let o = migsim(dir.path(), &["run", sc, "--out", "none"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let none = read("none");
    assert_eq!(none["energy_saved_kwh"], 0.0);
    assert_eq!(none["baseline_energy_kwh"], none["energy_kwh"]);
    assert_eq!(none["migration_energy_kwh"], 0.0);

    let o = migsim(
        dir.path(),
        &[
            "run",
            sc,
            "--out",
            "thr",
            "--set",
            "policy.name=thr-mmt-0.8",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("against static placement"),
        "{}",
        stdout(&o)
    );
    let thr = read("thr");
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    assert_eq!(f(&thr, "baseline_energy_kwh"), f(&none, "energy_kwh"));
    let saved = f(&none, "energy_kwh") - f(&thr, "energy_kwh");
    assert!((f(&thr, "energy_saved_kwh") - saved).abs() < 1e-9);
    assert!((f(&thr, "energy_saved_pct") - 100.0 * saved / f(&none, "energy_kwh")).abs() < 1e-9);
    // Liu et al. (HPDC 2011): 0.512 J per MB moved plus 20.165 J per migration.
    let mut rdr = csv::Reader::from_path(dir.path().join("thr/migrations.csv")).unwrap();
    let col = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "transferred_bytes")
        .unwrap();
    let joules: f64 = rdr
        .records()
        .map(|r| {
            let b: f64 = r.unwrap()[col].parse().unwrap();
            0.512 * b / 1_048_576.0 + 20.165
        })
        .sum();
    assert!(joules > 0.0);
    let kwh = f(&thr, "migration_energy_kwh");
    assert!(
        (kwh - joules / 3.6e6).abs() < 1e-9 * kwh,
        "{kwh} vs {}",
        joules / 3.6e6
    );
}

/// The CloudSim setup in the faithful engine: the four uncounted trace groups split the
/// trace's VMs as CloudSim assigns its VM types (VM i of type i / ceil(n/4)).
#[test]
fn cloudsim_vm_types_split_the_trace_in_quarters() {
    let path = scenarios().join("regression/cloudsim-day.toml");
    let l = load_file(&path, &["compat.cloudsim=false".to_string()]).unwrap();
    let sim = Simulation::build(&l).unwrap();
    assert_eq!(sim.vms.len(), 40);
    let mips: Vec<f64> = sim.vms.vcpu_mips.clone();
    for (i, m) in mips.iter().enumerate() {
        let want = [2500.0, 2000.0, 1000.0, 500.0][i / 10];
        assert_eq!(*m, want, "VM {i}");
    }
    // An uneven split: 37 trace VMs over three uncounted groups after a counted one of 2.
    let text = format!(
        r#"
name = "split"
horizon = "1h"
[trace]
format = "planetlab"
path = "{}"
[[host_type]]
name = "h"
cores = 64
core_mips = 2500
ram = "256GiB"
nic = "1Gbit/s"
power = {{ preset = "hp-ml110-g5" }}
[[hosts]]
type = "h"
count = 2
[[vms]]
name = "a-{{i}}"
vcpus = 1
vcpu_mips = 1
ram = "1GiB"
cpu = {{ model = "trace" }}
[[vms]]
name = "b-{{i}}"
count = 3
vcpus = 1
vcpu_mips = 2
ram = "1GiB"
cpu = {{ model = "trace" }}
[[vms]]
name = "c-{{i}}"
vcpus = 1
vcpu_mips = 3
ram = "1GiB"
cpu = {{ model = "trace" }}
[[vms]]
name = "d-{{i}}"
vcpus = 1
vcpu_mips = 4
ram = "1GiB"
cpu = {{ model = "trace" }}
"#,
        scenarios().join("../traces/synthetic-day").display()
    );
    let l = load_str("split.toml", &text, None, &[]).unwrap();
    let sim = Simulation::build(&l).unwrap();
    let count = |m: f64| sim.vms.vcpu_mips.iter().filter(|&&x| x == m).count();
    // 40 − 3 counted = 37 shared by three groups: 13, 13, 11.
    assert_eq!(
        (count(1.0), count(2.0), count(3.0), count(4.0)),
        (13, 3, 13, 11)
    );
}

#[test]
fn offhours_packs_at_night_and_wakes_everyone_for_the_office_day() {
    // Four quad hosts, four 1-vCPU VMs at 40 %: 0.1 each spread out, 0.4 on one host packed.
    let mut text = cluster(4, 4, 1, 0.4, "round-robin", "name = \"offhours\"");
    text = text.replace("horizon = \"2h\"", "horizon = \"24h\"");
    text.push_str("[outputs]\nsample_interval = \"1h\"\n");
    let loaded = load_str("offhours.toml", &text, None, &[]).unwrap();
    let mut sim = Simulation::build(&loaded).unwrap();
    let s = sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
    sim.check_invariants().unwrap();
    let at = |h: f64| {
        sim.timeline()
            .iter()
            .find(|r| r.time_s == h * 3600.0)
            .map(|r| (r.active_hosts, r.hosts_on))
            .unwrap()
    };
    assert_eq!(at(4.0), (1, 1), "packed onto one host at 04:00");
    assert_eq!(at(12.0).1, 4, "every host on at noon");
    assert!(at(12.0).0 >= 2, "load spread back at noon: {:?}", at(12.0));
    assert_eq!(at(22.0), (1, 1), "packed again at 22:00");
    assert_eq!(s.failed_migrations, 0);
    let none = run(&cluster(4, 4, 1, 0.4, "round-robin", "name = \"none\"")
        .replace("horizon = \"2h\"", "horizon = \"24h\""));
    assert!(s.energy_kwh < none.summary.energy_kwh);
}

fn maintenance_cluster(policy: &str, lead: &str) -> String {
    let mut text = cluster(3, 3, 1, 0.2, "round-robin", policy);
    text = text.replace("horizon = \"2h\"", "horizon = \"3h\"");
    text.push_str(&format!(
        "[[maintenance]]\nhosts = [\"quad-0\"]\nat = \"1h\"\nduration = \"30min\"\nlead = \"{lead}\"\n[outputs]\nsample_interval = \"15min\"\nhosts_csv = false\n"
    ));
    text
}

#[test]
fn maintenance_drains_a_host_keeps_it_off_and_brings_it_back() {
    for policy in [
        "name = \"none\"",
        "name = \"thr-mmt-0.8\"",
        "name = \"spread\"",
    ] {
        let loaded = load_str(
            "maint.toml",
            &maintenance_cluster(policy, "30min"),
            None,
            &[],
        )
        .unwrap();
        let mut sim = Simulation::build(&loaded).unwrap();
        let s = sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
        sim.check_invariants().unwrap();
        assert_eq!(s.maintenance_missed, 0, "{policy}");
        let recs = &sim.migs.records;
        let drained: Vec<_> = recs.iter().filter(|r| r.source == "quad-0").collect();
        // THR-MMT may have emptied the host by consolidation before draining starts.
        assert!(!drained.is_empty() || policy.contains("thr"), "{policy}");
        for r in &drained {
            if r.start_s >= 1800.0 {
                assert!(r.start_s < 3600.0, "{policy}: drained late {}", r.start_s);
            }
        }
        // Nothing is moved onto the host while it is out of service.
        for r in recs.iter().filter(|r| r.destination == "quad-0") {
            assert!(
                r.start_s < 1800.0 || r.start_s >= 5400.0,
                "{policy}: {} moved onto quad-0 at {} s",
                r.vm,
                r.start_s
            );
        }
        // During the window the cluster has at most two hosts on.
        let during = sim.timeline().iter().find(|r| r.time_s == 4500.0).unwrap();
        assert!(during.hosts_on <= 2, "{policy}: {during:?}");
    }
    // With `none`, the host comes back after the window and stays on.
    let loaded = load_str(
        "maint.toml",
        &maintenance_cluster("name = \"none\"", "30min"),
        None,
        &[],
    )
    .unwrap();
    let mut sim = Simulation::build(&loaded).unwrap();
    sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
    let last = sim.timeline().last().unwrap();
    assert_eq!(last.hosts_on, 3, "{last:?}");
}

#[test]
fn maintenance_without_lead_time_is_reported_missed() {
    let loaded = load_str(
        "maint.toml",
        &maintenance_cluster("name = \"none\"", "0s"),
        None,
        &[],
    )
    .unwrap();
    let mut sim = Simulation::build(&loaded).unwrap();
    let s = sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
    // Draining starts when the window opens: the VM is still there at that moment.
    assert_eq!(s.maintenance_missed, 1);
    let bad =
        maintenance_cluster("name = \"none\"", "30min").replace("[\"quad-0\"]", "[\"quad-9\"]");
    let e = load_str("maint.toml", &bad, None, &[])
        .and_then(|l| Simulation::build(&l).map(|_| ()))
        .unwrap_err();
    assert!(e.to_string().contains("maintenance[0].hosts"), "{e}");
    assert!(e.to_string().contains("quad-9"), "{e}");
}

fn failure_cluster(hosts: u32, extra: &str) -> Outcome {
    let mut text = cluster(hosts, 3, 1, 0.2, "round-robin", "name = \"none\"");
    text.push_str(extra);
    run(&text)
}

#[test]
fn a_failed_hosts_vms_restart_elsewhere_after_the_delay() {
    let o = failure_cluster(
        3,
        "[[host_failure]]\nhost = \"quad-0\"\nat = \"1h\"\nrepair = \"30min\"\n",
    );
    let s = &o.summary;
    assert_eq!(s.host_failures, 1);
    assert_eq!(s.ha_restarts, 1, "vm-0 lived on quad-0");
    assert!(
        (s.ha_downtime_s - 120.0).abs() < 1e-9,
        "{}",
        s.ha_downtime_s
    );
    assert_eq!(s.vms_down_at_end, 0);
    assert_eq!(s.vm_states_at_end["active"], 3);

    // The restart delay is the scenario's.
    let o = failure_cluster(
        3,
        "[[host_failure]]\nhost = \"quad-0\"\nat = \"1h\"\nrestart_delay = \"45s\"\n",
    );
    assert!((o.summary.ha_downtime_s - 45.0).abs() < 1e-9);

    // Nowhere to go: one host, it fails for good, its VMs stay down.
    let o = failure_cluster(1, "[[host_failure]]\nhost = \"quad-0\"\nat = \"1h\"\n");
    assert_eq!(o.summary.vms_down_at_end, 3);
    assert_eq!(o.summary.ha_restarts, 0);
    assert_eq!(o.summary.vm_states_at_end["inactive"], 3);
}

#[test]
fn a_migration_to_a_failing_host_fails_and_leaves_the_vm_running_on_its_source() {
    let o = failure_cluster(
        3,
        "[[migrate]]\nvm = \"vm-0\"\nto = \"quad-1\"\nat = \"30min\"\n\
         [[host_failure]]\nhost = \"quad-1\"\nat = \"1802s\"\n",
    );
    let r = o
        .moves
        .iter()
        .find(|m| m.1 == "vm-0")
        .expect("the migration is recorded");
    assert_eq!(r.2, "quad-0");
    assert_eq!(o.summary.failed_migrations, 1);
    // vm-0 never went down: only vm-1, which lived on quad-1, restarted.
    assert_eq!(o.summary.ha_restarts, 1);
    assert_eq!(o.summary.vm_states_at_end["active"], 3);
}

#[test]
fn random_failures_follow_the_mtbf_and_every_vm_comes_back() {
    let o = failure_cluster(
        3,
        "[reliability]\nmtbf = \"1h\"\nrepair = \"10min\"\nrestart_delay = \"1min\"\n",
    );
    let s = &o.summary;
    // Three hosts over two hours at a one-hour MTBF: a handful of failures, seeded.
    assert!(s.host_failures >= 1, "{}", s.host_failures);
    assert_eq!(
        o.summary,
        failure_cluster(
            3,
            "[reliability]\nmtbf = \"1h\"\nrepair = \"10min\"\nrestart_delay = \"1min\"\n",
        )
        .summary,
        "same seed, same failures"
    );
    assert_eq!(s.vm_states_at_end.values().sum::<usize>(), 3);
    assert!(s.ha_downtime_s >= 60.0 * s.ha_restarts as f64 - 1e-9);
    let bad =
        cluster(2, 2, 1, 0.2, "round-robin", "name = \"none\"") + "[reliability]\nmtbf = \"0s\"\n";
    let e = load_str("r.toml", &bad, None, &[])
        .and_then(|l| Simulation::build(&l).map(|_| ()))
        .unwrap_err();
    assert!(e.to_string().contains("reliability.mtbf"), "{e}");
}

#[test]
fn compare_over_seeds_shows_means_and_keeps_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenarios().join("whatif/day.toml");
    let sc = sc.to_str().unwrap();
    let args = ["compare", sc, "-p", "none,thr-mmt-0.8", "--seeds", "2"];
    let o = migsim(dir.path(), &[&args[..], &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let key: Vec<(String, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["policy"].as_str().unwrap().to_string(),
                r["seed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        key,
        [
            ("none", 1),
            ("none", 2),
            ("thr-mmt-0.8", 1),
            ("thr-mmt-0.8", 2)
        ]
        .map(|(p, s)| (p.to_string(), s))
    );
    let csv = dir.path().join("c.csv");
    let o = migsim(
        dir.path(),
        &[&args[..], &["--csv", csv.to_str().unwrap()]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("seeds 1..=2, means"), "{}", stdout(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let thr: Vec<&str> = text.lines().nth(2).unwrap().split(',').collect();
    let mean =
        (runs[2]["energy_kwh"].as_f64().unwrap() + runs[3]["energy_kwh"].as_f64().unwrap()) / 2.0;
    assert_eq!(thr[1], format!("{mean:.3}"));
    let migs =
        (runs[2]["migrations"].as_f64().unwrap() + runs[3]["migrations"].as_f64().unwrap()) / 2.0;
    assert_eq!(thr[6], format!("{migs:.1}"));
}

#[test]
fn load_scaling_multiplies_demand_up_to_the_vms_size() {
    let base = cluster(1, 2, 1, 0.3, "first-fit", "name = \"none\"");
    let demand = |text: &str| {
        let l = load_str("s.toml", text, None, &[]).unwrap();
        let mut sim = Simulation::build(&l).unwrap();
        sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
        sim.timeline()[1].cpu_demand_mips
    };
    assert!((demand(&base) - 600.0).abs() < 1e-6);
    let scaled = base.replace("[policy]", "[workload]\ncpu_scale = 1.5\n[policy]");
    assert!((demand(&scaled) - 900.0).abs() < 1e-6);
    // 0.3 × 4 = 1.2: each VM asks for its whole vCPU, no more.
    let capped = base.replace("[policy]", "[workload]\ncpu_scale = 4\n[policy]");
    assert!((demand(&capped) - 2000.0).abs() < 1e-6);
    let bad = base.replace("[policy]", "[workload]\ncpu_scale = -1\n[policy]");
    let e = load_str("s.toml", &bad, None, &[]).err().expect("refused");
    assert!(e.to_string().contains("workload.cpu_scale"), "{e}");
}

#[test]
fn migrations_still_waiting_at_the_horizon_are_recorded_unfinished() {
    // Six VMs leave one host at the first tick, one at a time (one migration per host), and
    // the run ends before most of them start.
    let mut text = cluster(2, 6, 1, 0.2, "first-fit", "name = \"none\"");
    text = text.replace("horizon = \"2h\"", "horizon = \"302s\"");
    text.push_str("[migration]\nmax_concurrent_per_host = 1\n");
    for i in 0..6 {
        text.push_str(&format!(
            "[[migrate]]\nvm = \"vm-{i}\"\nto = \"quad-1\"\nat = \"300s\"\n"
        ));
    }
    let loaded = load_str("w.toml", &text, None, &[]).unwrap();
    let mut sim = Simulation::build(&loaded).unwrap();
    let summary = sim.run(&mut NullRecorder, &mut |_| {}).unwrap();
    let recs = &sim.migs.records;
    assert_eq!(recs.len(), 6, "every request has a record");
    let waiting = recs
        .iter()
        .filter(|r| r.reason.contains("waiting for a migration slot"))
        .count();
    assert_eq!(waiting, 5);
    assert_eq!(summary.failed_migrations, 0);
}
