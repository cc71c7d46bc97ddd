//! The faithful engine under a consolidation policy, at growing fleet sizes:
//! `cargo bench --bench policy [-- 100k 1m peak policy=lr-mmt-1.2]`.
//!
//! Runs `scenarios/scale/thr-mmt-0.8-*.toml` (hosts = VMs / 10, racks of 40, THR-MMT-0.8, the
//! QEMU pre-copy model on a shared network, 5-minute steps, one day) at 1 000 and 10 000 VMs,
//! and at 100 000 and 1 000 000 when asked; `peak` adds the same table with demand × 1.5 for
//! two hours; `policy=NAME` runs another policy on the same fleets (`lr-mmt-1.2`, `ulm`). Each
//! size runs in a child process of its own, so that its peak resident memory
//! is its own. Prints wall time, peak RSS, events, migrations, nanoseconds per VM-step and
//! microseconds per migration, and the ratio of each row to the one before: where the cost
//! grows faster than the work, the ratios show it. Figures, not pass/fail.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use migsim::scenario::load_file;
use migsim::sim::{NullRecorder, Simulation};

mod common;

use common::peak_rss_mib;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("scenarios/scale/thr-mmt-0.8-{name}.toml"))
}

/// In the child: one run, one line of figures.
fn child(name: &str, policy: &str) {
    let sets = [format!("policy.name={policy}")];
    let loaded = load_file(&scenario(name), &sets).expect("scale scenario loads");
    let t0 = Instant::now();
    let mut sim = Simulation::build(&loaded).expect("scale scenario builds");
    let s = sim.run(&mut NullRecorder, &mut |_| {}).expect("runs");
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "{} {} {} {} {} {}",
        wall,
        peak_rss_mib(),
        s.events,
        s.migrations,
        s.vms,
        s.horizon_s
    );
}

struct Row {
    name: String,
    wall: f64,
    rss: f64,
    events: f64,
    migrations: f64,
    vm_steps: f64,
}

fn run(name: &str, policy: &str) -> Option<Row> {
    let out = Command::new(std::env::current_exe().ok()?)
        .env("MIGSIM_BENCH_ONE", name)
        .env("MIGSIM_BENCH_POLICY", policy)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [wall, rss, events, migrations, vms, horizon] = v[..] else {
        eprintln!("{name}: unreadable figures {line:?}");
        return None;
    };
    Some(Row {
        name: name.to_string(),
        wall,
        rss,
        events,
        migrations,
        vm_steps: vms * horizon / 300.0,
    })
}

fn table(title: &str, names: &[&str], policy: &str) {
    println!("\n{title}");
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>10} {:>13} {:>12}   {:>8} {:>8} {:>8}",
        "fleet",
        "wall s",
        "RSS MiB",
        "events",
        "migrations",
        "ns/VM-step",
        "µs/migr.",
        "× wall",
        "× VM-st.",
        "× migr."
    );
    let mut prev: Option<Row> = None;
    for name in names {
        let Some(r) = run(name, policy) else { continue };
        let ratios = match &prev {
            Some(p) => format!(
                "{:>8.1} {:>8.1} {:>8.1}",
                r.wall / p.wall,
                r.vm_steps / p.vm_steps,
                r.migrations / p.migrations.max(1.0)
            ),
            None => format!("{:>8} {:>8} {:>8}", "", "", ""),
        };
        println!(
            "{:<10} {:>9.2} {:>9.1} {:>10.0} {:>10.0} {:>13.0} {:>12.1}   {}",
            r.name,
            r.wall,
            r.rss,
            r.events,
            r.migrations,
            r.wall / r.vm_steps * 1e9,
            r.wall / r.migrations.max(1.0) * 1e6,
            ratios
        );
        prev = Some(r);
    }
}

fn main() {
    if let Ok(name) = std::env::var("MIGSIM_BENCH_ONE") {
        let policy = std::env::var("MIGSIM_BENCH_POLICY").unwrap_or_else(|_| "thr-mmt-0.8".into());
        child(&name, &policy);
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    let mut sizes = vec!["1k", "10k"];
    if has("100k") || has("1m") {
        sizes.push("100k");
    }
    if has("1m") {
        sizes.push("1m");
    }
    let policy = args
        .iter()
        .find_map(|a| a.strip_prefix("policy="))
        .unwrap_or("thr-mmt-0.8")
        .to_string();
    println!(
        "{policy}, faithful QEMU model, hosts = VMs / 10, racks of 40, 1 day; this machine, release build"
    );
    table("steady load", &sizes, &policy);
    if has("peak") {
        let peak: Vec<String> = sizes
            .iter()
            .filter(|s| **s != "1m")
            .map(|s| format!("{s}-peak"))
            .collect();
        let peak: Vec<&str> = peak.iter().map(String::as_str).collect();
        table("demand × 1.5 from 12:00 to 14:00", &peak, &policy);
    }
}
