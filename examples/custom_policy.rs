//! A consolidation policy written outside migsim and run on the built-in quickstart scenario
//! beside the static baseline: `cargo run --release --example custom_policy`.
//!
//! "Drain the idlest": at each tick, the least loaded host that is on gives one VM to the
//! busiest host that still has room below 70 % CPU and enough free RAM. The simulation carries
//! out each decision as a real pre-copy migration, so its costs show in the summary.

use migsim::policy::{ClusterView, Decision, Policy};
use migsim::sim::{NullRecorder, Simulation};

struct DrainIdlest;

impl Policy for DrainIdlest {
    fn name(&self) -> &str {
        "drain-idlest"
    }

    /// Reads only the current loads, so the simulation keeps no histories for it.
    fn uses_history(&self) -> bool {
        false
    }

    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision> {
        let busy = |h: &usize| {
            view.host_vms[*h]
                .iter()
                .any(|&v| view.vms.state[v.idx()].runs())
        };
        let hosts: Vec<usize> = (0..view.hosts.len())
            .filter(|&h| view.available(h))
            .collect();
        let load = |h: usize| view.host_requested(h);
        let Some(from) = hosts
            .iter()
            .copied()
            .filter(busy)
            .min_by(|&a, &b| load(a).total_cmp(&load(b)))
        else {
            return Vec::new();
        };
        let Some(&vm) = view.host_vms[from].iter().find(|&&v| view.movable(v)) else {
            return Vec::new();
        };
        let need = view.vm_requested(vm) / view.hosts.cpu_capacity[from];
        let ram = view.vms.ram[vm.idx()].0;
        let fits = |h: usize| {
            let cap = view.hosts.types[view.hosts.host_type[h] as usize].ram.0;
            let used = view.hosts.ram_used[h].0 + view.reserved[h];
            load(h) + need <= 0.7 && used + ram <= cap
        };
        hosts
            .iter()
            .copied()
            .filter(|&h| h != from && busy(&h) && fits(h))
            .max_by(|&a, &b| load(a).total_cmp(&load(b)))
            .map(|to| {
                vec![Decision::Migrate {
                    vm,
                    to: migsim::model::host::HostId(to as u32),
                }]
            })
            .unwrap_or_default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = migsim::scenario::load_builtin(&["horizon=6h".to_string()])?;
    let baseline = Simulation::build(&loaded)?.run(&mut NullRecorder, &mut |_| {})?;
    let mut custom = Simulation::build(&loaded)?.with_policy(Box::new(DrainIdlest));
    let s = custom.run(&mut NullRecorder, &mut |_| {})?;
    println!("policy        energy kWh  migrations  mean active hosts  total downtime s");
    for r in [&baseline, &s] {
        println!(
            "{:<13} {:>10.3}  {:>10}  {:>17.1}  {:>16.3}",
            r.policy, r.energy_kwh, r.migrations, r.mean_active_hosts, r.total_downtime_s
        );
    }
    Ok(())
}
