//! Scale and speed figures: `cargo bench --bench scale`.
//!
//! Prints, for the built-in quickstart and for a fleet of 100 000 hosts and 1 000 000 VMs, the
//! time to build the model, the time to simulate, the events per second and the peak resident
//! memory of this process. Figures, not pass/fail: compare them across commits on one machine.

use std::time::Instant;

use migsim::scenario::{load_builtin, load_str};
use migsim::sim::NullRecorder;
use migsim::sim::Simulation;

mod common;

use common::peak_rss_mib;

fn fleet(hosts: u32, vms: u32, horizon: &str) -> String {
    format!(
        r#"
name = "fleet"
seed = 1
horizon = "{horizon}"
[[host_type]]
name = "r640"
cores = 32
core_mips = 2400
ram = "256GiB"
nic = "10Gbit/s"
power = {{ preset = "dell-r640" }}
[[hosts]]
type = "r640"
count = {hosts}
[network]
topology = "tree"
rack_size = 40
uplink = "100Gbit/s"
[[vms]]
name = "vm-{{i}}"
count = {vms}
vcpus = 2
vcpu_mips = 2400
ram = "8GiB"
cpu = {{ model = "diurnal", mean = 0.4, amplitude = 0.3, peak = "14h", noise = 0.05 }}
dirty = {{ rate = "10MiB/s", wws = "256MiB" }}
[placement]
cpu_overcommit = 2.0
[outputs]
hosts_csv = false
"#
    )
}

fn measure(label: &str, text: Option<&str>) {
    let t0 = Instant::now();
    let loaded = match text {
        Some(t) => load_str(label, t, None, &[]).expect("bench scenario loads"),
        None => load_builtin(&[]).expect("quickstart loads"),
    };
    let mut sim = Simulation::build(&loaded).expect("bench scenario builds");
    let build = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let s = sim.run(&mut NullRecorder, &mut |_| {}).expect("runs");
    let run = t1.elapsed().as_secs_f64();
    println!(
        "{label:<34} hosts {:>7} vms {:>8} | build {:>7.3} s | run {:>7.3} s | {:>9.0} events/s | {:>6.1} M VM-steps/s | peak RSS {:>7.1} MiB",
        s.hosts,
        s.vms,
        build,
        run,
        s.events as f64 / run,
        (s.vms as f64 * (s.horizon_s / 300.0)) / run / 1e6,
        peak_rss_mib()
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects runs by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("quickstart") {
        for _ in 0..3 {
            measure("quickstart (16 hosts, 1 day)", None);
        }
    }
    if wanted("fleet") {
        measure(
            "fleet-10k (10k hosts, 100k VMs, 1d)",
            Some(&fleet(10_000, 100_000, "24h")),
        );
        measure(
            "fleet-100k (100k hosts, 1M VMs, 2h)",
            Some(&fleet(100_000, 1_000_000, "2h")),
        );
    }
}
