//! Invariants that must hold for any scenario and any set of flows, checked on random inputs.

use migsim::engine::SimTime;
use migsim::model::network::{Endpoint, Network, TopologyKind, TopologySpec};
use migsim::scenario::load_str;
use migsim::sim::NullRecorder;
use migsim::sim::Simulation;
use migsim::units::Bandwidth;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct VmGroupGen {
    count: u32,
    vcpus: u32,
    ram_gib: u32,
    util: f64,
    diurnal: bool,
    noise: f64,
    start_min: u32,
    life_min: Option<u32>,
    traffic_mbit: Option<u32>,
}

fn vm_group() -> impl Strategy<Value = VmGroupGen> {
    (
        1u32..12,
        1u32..5,
        1u32..9,
        0.0f64..1.0,
        any::<bool>(),
        prop_oneof![Just(0.0), 0.0f64..0.3],
        prop_oneof![Just(0u32), 0u32..120],
        proptest::option::of(5u32..200),
        proptest::option::of(10u32..2000),
    )
        .prop_map(
            |(count, vcpus, ram_gib, util, diurnal, noise, start_min, life_min, traffic_mbit)| {
                VmGroupGen {
                    count,
                    vcpus,
                    ram_gib,
                    util,
                    diurnal,
                    noise,
                    start_min,
                    life_min,
                    traffic_mbit,
                }
            },
        )
}

fn scenario_text(
    hosts_on: u32,
    hosts_off: u32,
    tree: bool,
    overcommit: f64,
    groups: &[VmGroupGen],
    seed: u64,
    policy: &str,
) -> String {
    let mut s = format!(
        r#"
name = "prop"
seed = {seed}
horizon = "3h"
[[host_type]]
name = "small"
cores = 8
core_mips = 2000
ram = "32GiB"
nic = "1Gbit/s"
power = {{ preset = "hp-ml110-g5" }}
states = {{ boot_time = "7min" }}
[[host_type]]
name = "big"
cores = 16
core_mips = 2500
ram = "64GiB"
nic = "10Gbit/s"
power = {{ idle = "90W", max = "300W" }}
[[hosts]]
type = "small"
count = {hosts_on}
[[hosts]]
type = "big"
count = {}
initial_state = "off"
[network]
topology = "{}"
rack_size = 3
uplink = "2Gbit/s"
[placement]
initial = "round-robin"
cpu_overcommit = {overcommit}
[workload]
step = "7min"
[policy]
name = "{policy}"
interval = "10min"
# Every run also drains its first host for a maintenance window.
[[maintenance]]
hosts = ["small-0"]
at = "1h"
duration = "40min"
# … and loses it to a failure, then repairs it.
[[host_failure]]
host = "small-0"
at = "20min"
repair = "30min"
[outputs]
sample_interval = "13min"
"#,
        hosts_off.max(1),
        if tree { "tree" } else { "star" }
    );
    for (g, v) in groups.iter().enumerate() {
        let cpu = if v.diurnal {
            format!(
                "{{ model = \"diurnal\", mean = 0.5, amplitude = {:.3}, period = \"2h\", noise = {:.3} }}",
                v.util / 2.0,
                v.noise
            )
        } else {
            format!(
                "{{ model = \"constant\", util = {:.3}, noise = {:.3} }}",
                v.util, v.noise
            )
        };
        s.push_str(&format!(
            "[[vms]]\nname = \"g{g}-{{i}}\"\ncount = {}\nvcpus = {}\nvcpu_mips = 2200\nram = \"{}GiB\"\ncpu = {cpu}\nstart = \"{}min\"\n",
            v.count, v.vcpus, v.ram_gib, v.start_min
        ));
        if let Some(l) = v.life_min {
            s.push_str(&format!("lifetime = \"{l}min\"\n"));
        }
        if let Some(t) = v.traffic_mbit {
            s.push_str(&format!("traffic = \"{t}Mbit/s\"\n"));
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// No VM is lost or duplicated, no host or link is over capacity, at every event.
    #[test]
    fn model_invariants_hold_at_every_event(
        hosts_on in 1u32..6,
        hosts_off in 0u32..3,
        tree in any::<bool>(),
        overcommit in 1.0f64..3.0,
        groups in proptest::collection::vec(vm_group(), 1..4),
        seed in 0u64..i64::MAX as u64,
        policy in prop::sample::select(migsim::policy::examples()),
    ) {
        let text = scenario_text(hosts_on, hosts_off, tree, overcommit, &groups, seed, policy);
        let loaded = match load_str("prop.toml", &text, None, &[]) {
            Ok(l) => l,
            // More VM RAM than all the hosts have is refused before anything is built.
            Err(e) => {
                prop_assert!(e.to_string().contains("no placement can fit them"), "{e}");
                return Ok(());
            }
        };
        let mut sim = match Simulation::build(&loaded) {
            Ok(s) => s,
            // Too many VMs for the hosts is a legitimate, reported outcome.
            Err(e) => {
                prop_assert!(e.to_string().contains("fits on no host"), "{e}");
                return Ok(());
            }
        };
        let n_vms = sim.vms.len();
        let mut rec = NullRecorder;
        sim.start();
        let mut events = 0;
        while sim.step(&mut rec).unwrap() {
            events += 1;
            if let Err(e) = sim.check_invariants() {
                prop_assert!(false, "after event {events} at {}: {e}", sim.now());
            }
            // Three simulated hours of at most eight hosts: a few thousand events. A model that
            // stops advancing time hits the bound instead of hanging the test.
            prop_assert!(events < 500_000, "no progress: {events} events by {}", sim.now());
        }
        let summary = sim.finish_run(&mut rec).unwrap();
        prop_assert_eq!(summary.vm_states_at_end.values().sum::<usize>(), n_vms);
        for r in &sim.migs.records {
            prop_assert!(
                r.downtime_ms <= r.total_time_s * 1e3 * (1.0 + 1e-9) + 1e-9,
                "{} downtime {} ms > total {} s", r.vm, r.downtime_ms, r.total_time_s
            );
            // Every migration that did not complete says why.
            prop_assert!(
                r.outcome == migsim::migration::Outcome::Completed || !r.reason.is_empty(),
                "{} {:?} at {} s without a reason", r.vm, r.outcome, r.start_s
            );
        }
        prop_assert!(summary.energy_kwh >= 0.0);
        prop_assert!((0.0..=1.0).contains(&summary.cpu_unmet_fraction));
        prop_assert!((0.0..=1.0).contains(&summary.overload_time_fraction));
    }

    /// Max-min fairness: every flow is at its own cap, or crosses a full link on which no other
    /// flow gets more than it does.
    #[test]
    fn flow_rates_are_max_min_fair(
        n_hosts in 2usize..10,
        rack in 1usize..4,
        flows in proptest::collection::vec(
            (0usize..10, 0usize..11, proptest::option::of(1.0f64..2000.0)), 1..24),
        remove in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut net = Network::build(&TopologySpec {
            kind: TopologyKind::Tree,
            host_nic: (0..n_hosts).map(|i| Bandwidth::mbit(1000.0 * (1 + i % 3) as f64)).collect(),
            host_names: (0..n_hosts).map(|i| format!("h{i}")).collect(),
            host_latency: SimTime::ZERO,
            rack_size: rack,
            uplink: Bandwidth::mbit(1500.0),
            uplink_latency: SimTime::ZERO,
        });
        let mut ids = Vec::new();
        for (src, dst, cap) in flows {
            let src = Endpoint::Host((src % n_hosts) as u32);
            let dst = if dst >= n_hosts { Endpoint::External } else { Endpoint::Host(dst as u32) };
            if src == dst {
                continue;
            }
            let path = net.path(src, dst);
            ids.push(net.start_flow(SimTime::ZERO, path, None, cap.map(Bandwidth::mbit)));
        }
        for r in remove {
            if ids.is_empty() { break; }
            let id = ids.remove(r.index(ids.len()));
            net.stop_flow(SimTime::ZERO, id);
        }
        net.settle();
        let load = net.link_load();
        for (l, link) in net.links.iter().enumerate() {
            prop_assert!(load[l] <= link.capacity * (1.0 + 1e-9), "{} over capacity", link.name);
        }
        for (id, f) in net.flows() {
            prop_assert!(f.rate <= f.cap * (1.0 + 1e-9));
            if f.rate >= f.cap * (1.0 - 1e-9) {
                continue;
            }
            let bottlenecked = f.links.iter().any(|l| {
                let li = l.0 as usize;
                let full = load[li] >= net.links[li].capacity * (1.0 - 1e-9);
                let max_on_link = net
                    .flows()
                    .filter(|(_, g)| g.links.contains(l))
                    .map(|(_, g)| g.rate)
                    .fold(Bandwidth::ZERO, Bandwidth::max);
                full && f.rate >= max_on_link * (1.0 - 1e-9)
            });
            prop_assert!(bottlenecked, "flow {id:?} at {} has no bottleneck", f.rate);
        }
    }
}

fn migration_scenario(
    hypervisor: &str,
    bw: u32,
    dl_ms: u32,
    rate_mib: u32,
    wws_mib: u32,
    timeout: Option<(u32, &str)>,
    moves: &[(usize, usize, u32)],
) -> String {
    let mut s = format!(
        r#"
name = "prop-mig"
horizon = "4min"
[[host_type]]
name = "h"
cores = 8
core_mips = 2000
ram = "16GiB"
nic = "1Gbit/s"
power = {{ preset = "dell-r640" }}
[[hosts]]
type = "h"
count = 3
name = "h{{i}}"
[network]
topology = "tree"
rack_size = 2
uplink = "1Gbit/s"
[[vms]]
name = "vm-{{i}}"
count = 5
vcpus = 2
vcpu_mips = 2000
ram = "512MiB"
nonzero = "400MiB"
cpu = {{ model = "constant", util = 0.6 }}
dirty = {{ rate = "{rate_mib}MiB/s", wws = "{wws_mib}MiB", cpu_coupled = true }}
traffic = "200Mbit/s"
traffic_follows_cpu = true
[placement]
initial = "round-robin"
[migration]
hypervisor = "{hypervisor}"
max_bandwidth = "{bw}MiB/s"
downtime_limit = "{dl_ms}ms"
max_concurrent_per_host = 2
"#
    );
    if let Some((t, how)) = timeout {
        s.push_str(&format!("timeout = \"{t}s\"\non_timeout = \"{how}\"\n"));
    }
    for (vm, to, at) in moves {
        s.push_str(&format!(
            "[[migrate]]\nvm = \"vm-{vm}\"\nto = \"h{to}\"\nat = \"{at}s\"\n"
        ));
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// Migrations never lose or duplicate a VM, never overfill a host, and report downtime no
    /// longer than their total time; a completed pre-copy sends at least the non-zero memory.
    #[test]
    fn migrations_keep_the_invariants(
        hypervisor in prop::sample::select(vec!["qemu", "xen", "xen4", "postcopy", "cold", "storage"]),
        bw in prop::sample::select(vec![0u32, 32, 128, 512]),
        // 0 included: QEMU's zero threshold once made transfers shrink towards nothing.
        dl_ms in 0u32..1000,
        rate_mib in 0u32..80,
        wws_mib in 1u32..400,
        timeout in proptest::option::of((5u32..90, prop::sample::select(vec!["cancel", "raise-limit", "postcopy"]))),
        moves in proptest::collection::vec((0usize..5, 0usize..3, 0u32..120), 1..6),
    ) {
        let text = migration_scenario(hypervisor, bw, dl_ms, rate_mib, wws_mib.min(512), timeout, &moves);
        let loaded = load_str("prop-mig.toml", &text, None, &[]).expect("generated scenario parses");
        let mut sim = Simulation::build(&loaded).expect("builds");
        let mut rec = NullRecorder;
        sim.start();
        let mut events = 0u64;
        while sim.step(&mut rec).unwrap() {
            events += 1;
            if let Err(e) = sim.check_invariants() {
                prop_assert!(false, "after event {events} at {}: {e}", sim.now());
            }
            // Four simulated minutes hold a few thousand loop iterations per migration (one
            // per 50-100 ms window) and the flows between them: far fewer than this. A model
            // that stops advancing time hits the bound instead of hanging the test.
            prop_assert!(events < 500_000, "no progress: {events} events by {}", sim.now());
        }
        let summary = sim.finish_run(&mut rec).unwrap();
        prop_assert_eq!(summary.vm_states_at_end.values().sum::<usize>(), 5);
        prop_assert_eq!(summary.migrations as usize, moves.len());
        for r in sim.migration_records() {
            prop_assert!(r.downtime_ms / 1e3 <= r.total_time_s + 1e-9, "{r:?}");
            if r.outcome == migsim::migration::Outcome::Completed
                && matches!(hypervisor, "qemu" | "xen" | "xen4" | "storage")
            {
                prop_assert!(r.transferred_bytes >= 400.0 * 1048576.0 * 0.999, "{r:?}");
            }
        }
    }
}
