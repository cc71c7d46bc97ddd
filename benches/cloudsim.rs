//! CloudSim compatibility speed: `cargo bench --bench cloudsim [-- DAY_DIR]`.
//!
//! Runs CloudSim's THR-MMT-0.8, DVFS and NPA experiments on a PlanetLab day (default: the
//! shared 20110303) and prints the wall time and peak memory of each, next to CloudSim 3.0.3's
//! own figures from ../shared/reference/cloudsim/results.csv.

use std::path::PathBuf;
use std::time::Instant;

use migsim::compat::cloudsim::{Experiment, Policy};

mod common;

use common::peak_rss_mib;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let day = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/traces/planetlab/20110303"));
    if !day.is_dir() {
        eprintln!("SKIPPED: no trace folder at {}", day.display());
        return;
    }
    let order = root.join("../shared/reference/cloudsim/vm-file-order/20110303.csv");
    let order = order.is_file().then_some(order);
    let t0 = Instant::now();
    let trace = migsim::trace::planetlab::read_dir(&day, order.as_deref()).expect("trace");
    println!(
        "read {} VMs in {:.3} s",
        trace.vms.len(),
        t0.elapsed().as_secs_f64()
    );
    for name in [
        "thr-mmt-0.8",
        "iqr-mmt-1.5",
        "lr-mmt-1.2",
        "thr-mc-0.8",
        "lr-mc-1.2",
        "dvfs",
        "npa",
    ] {
        let mut best = f64::INFINITY;
        let mut r = None;
        for _ in 0..3 {
            let t = Instant::now();
            r = Some(Experiment::new(Policy::parse(name).unwrap(), &trace.vms, 800).run());
            best = best.min(t.elapsed().as_secs_f64());
        }
        let r = r.unwrap();
        println!(
            "{name:<12} best of 3: {best:>8.4} s | {:>8.3} kWh {:>6} migrations | peak RSS {:.1} MiB",
            r.energy_kwh,
            r.migrations,
            peak_rss_mib()
        );
    }
}
