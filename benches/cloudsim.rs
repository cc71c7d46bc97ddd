//! CloudSim compatibility speed: `cargo bench --bench cloudsim [-- DAY_DIR]`.
//!
//! `cargo bench --bench cloudsim -- --policy thr-mmt-0.8 --runs 9` times one experiment only;
//! `--sorted` drives VM i with the i-th file in name order instead, and compares with
//! CloudSim's runs in that order where the references have one. `--scan-every-host` scores
//! every host in every placement, as CloudSim does, instead of using PABFD's host index: the
//! same results, and the measure of what the index saves.
//!
//! Runs CloudSim's experiments on a PlanetLab day (default: the shared 20110303, in the VM order
//! CloudSim used) and prints the wall time and peak memory of each, next to CloudSim 3.0.3's
//! own wall time for the same experiment from ../shared/reference/cloudsim/results.csv and the
//! ratio of the two. CloudSim's figure is its whole Java process; ours is the experiment, and
//! the trace read is printed on its own line.

use std::path::PathBuf;
use std::time::Instant;

use migsim::compat::cloudsim::{Experiment, Policy};

mod common;

use common::peak_rss_mib;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let only = value_of("--policy");
    let sorted = args.iter().any(|a| a == "--sorted");
    let scan_every_host = args.iter().any(|a| a == "--scan-every-host");
    let runs: usize = value_of("--runs").and_then(|r| r.parse().ok()).unwrap_or(3);
    // The first argument that is neither a flag nor a flag's value.
    let chosen = args
        .iter()
        .enumerate()
        .find(|(i, a)| {
            !a.starts_with("--")
                && (*i == 0 || !matches!(args[i - 1].as_str(), "--policy" | "--runs"))
        })
        .map(|(_, a)| PathBuf::from(a));
    // The reference day runs in CloudSim's own VM order, or in name order with `--sorted`, and
    // its wall times compare with CloudSim's in the same order; any other folder runs in name
    // order, with nothing to compare against.
    let reference_day = chosen.is_none();
    let day = chosen.unwrap_or_else(|| root.join("../shared/traces/planetlab/20110303"));
    if !day.is_dir() {
        eprintln!("SKIPPED: no trace folder at {}", day.display());
        return;
    }
    let order = root.join("../shared/reference/cloudsim/vm-file-order/20110303.csv");
    let order = (reference_day && !sorted && order.is_file()).then_some(order);
    let t0 = Instant::now();
    let trace =
        migsim::trace::planetlab::read_dir_percentages(&day, order.as_deref()).expect("trace");
    println!(
        "read {} VMs in {:.3} s",
        trace.len(),
        t0.elapsed().as_secs_f64()
    );
    let cloudsim_wall = if reference_day {
        cloudsim_wall_times(&root, if sorted { "sorted" } else { "listfiles" })
    } else {
        Vec::new()
    };
    for name in [
        "thr-mmt-0.8",
        "iqr-mmt-1.5",
        "lr-mmt-1.2",
        "thr-mc-0.8",
        "lr-mc-1.2",
        "dvfs",
        "npa",
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut best = f64::INFINITY;
        let mut r = None;
        for _ in 0..runs {
            let t = Instant::now();
            let e = Experiment::from_percentages(Policy::parse(name).unwrap(), &trace, 800);
            let e = if scan_every_host {
                e.scan_every_host()
            } else {
                e
            };
            r = Some(e.run());
            best = best.min(t.elapsed().as_secs_f64());
        }
        let r = r.unwrap();
        let versus = match cloudsim_wall.iter().find(|(p, _)| p == name) {
            Some((_, w)) => format!("CloudSim {w:>6.2} s = {:>5.0}x", w / best),
            None => "CloudSim -".into(),
        };
        println!(
            "{name:<12} best of {runs}: {best:>8.4} s | {versus} | {:>8.3} kWh {:>6} migrations | peak RSS {:.1} MiB",
            r.energy_kwh,
            r.migrations,
            peak_rss_mib()
        );
    }
}

/// (policy, CloudSim's wall seconds) for 20110303 in the VM order `which` (`listfiles`:
/// CloudSim's own; `sorted`: name order).
fn cloudsim_wall_times(root: &std::path::Path, which: &str) -> Vec<(String, f64)> {
    let path = root.join("../shared/reference/cloudsim/results.csv");
    let Ok(mut rd) = csv::Reader::from_path(&path) else {
        return Vec::new();
    };
    let Ok(head) = rd.headers().cloned() else {
        return Vec::new();
    };
    let col = |n: &str| head.iter().position(|h| h == n);
    let (Some(order), Some(policy), Some(wall)) = (col("order"), col("policy"), col("wall_s"))
    else {
        return Vec::new();
    };
    rd.records()
        .filter_map(Result::ok)
        .filter(|r| r.get(order) == Some(which))
        .filter_map(|r| Some((r.get(policy)?.to_string(), r.get(wall)?.parse().ok()?)))
        .collect()
}
