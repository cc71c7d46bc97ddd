//! `migsim plan`: run a scenario under a policy and export what the policy did as an action
//! plan (`plan.json`) and a `virsh` script (`plan.sh`).

use std::path::{Path, PathBuf};

use super::{Failure, load};
use crate::base::write_atomic;
use crate::model::network::Endpoint;
use crate::plan::{self, Efficacy, Inputs, PlanWindow};
use crate::sim::Simulation;

/// The policy planned with when neither `--policy` nor the scenario names one other than
/// `none`: Beloglazov & Buyya's THR-MMT at 0.8, the setting of their CCPE 2012 runs.
pub const DEFAULT_POLICY: &str = "thr-mmt-0.8";

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Scenario file (default: the built-in quickstart).
    pub scenario: Option<PathBuf>,
    /// The policy whose decisions become the plan (default: the scenario's, or thr-mmt-0.8
    /// when the scenario's is `none`).
    #[arg(long, short = 'p')]
    pub policy: Option<String>,
    /// Plan only what starts at or after this time of the run, e.g. 8h.
    #[arg(long, value_name = "T")]
    pub from: Option<String>,
    /// Plan only what starts before this time (default: the horizon).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Folder for plan.json and plan.sh (default: `output/plan-<scenario name>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a scenario value, as with `run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Random seed, overriding the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn time_arg(name: &str, v: &Option<String>) -> Result<Option<f64>, Failure> {
    v.as_deref()
        .map(|s| {
            crate::units::parse_duration(s)
                .map(|t| t.as_secs_f64())
                .map_err(|e| Failure::BadInput(format!("--{name} {s:?}: {e}")))
        })
        .transpose()
}

pub fn run(a: &PlanArgs) -> Result<(), Failure> {
    let mut sets = a.set.clone();
    if let Some(seed) = a.seed {
        sets.push(format!("seed={seed}"));
    }
    let probe = load(a.scenario.as_deref(), &sets)?;
    let policy = match &a.policy {
        Some(p) => p.clone(),
        None if probe.scenario.policy.name == "none" => DEFAULT_POLICY.to_string(),
        None => probe.scenario.policy.name.clone(),
    };
    sets.push(format!("policy.name={policy}"));
    let loaded = load(a.scenario.as_deref(), &sets)?;
    let sc = &loaded.scenario;
    if !crate::run::engine_for(sc).plans() {
        return Err(Failure::BadInput(
            "a CloudSim-compatible scenario has no real migrations to plan; run it with \
             --set compat.cloudsim=false"
                .into(),
        ));
    }
    let mut sim = Simulation::build(&loaded)?;
    let horizon = sim.horizon().as_secs_f64();
    let from = time_arg("from", &a.from)?.unwrap_or(0.0);
    let until = time_arg("until", &a.until)?.unwrap_or(horizon);
    if until <= from {
        return Err(Failure::BadInput(format!(
            "--until ({until} s) must be after --from ({from} s)"
        )));
    }
    let mut summary = sim
        .run(&mut crate::sim::NullRecorder, &mut |_| {})
        .map_err(|e| Failure::Failed(e.to_string()))?;
    crate::run::attach_baseline(&mut summary, &loaded)?;
    let resolved = toml::to_string(sc).map_err(|e| Failure::Failed(e.to_string()))?;
    // A host-to-host path starts on the source's NIC and ends on the destination's; a NIC
    // is one lane whichever way the data flows, an uplink one lane per direction.
    let path = |s: usize, d: usize| {
        let net = &sim.net;
        let links = net.path(Endpoint::Host(s as u32), Endpoint::Host(d as u32));
        let last = links.len().saturating_sub(1);
        links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let link = &net.links[l.0 as usize];
                let key = match i {
                    0 => format!("nic:{s}"),
                    i if i == last => format!("nic:{d}"),
                    _ => format!("link:{}", link.name),
                };
                (key, link.capacity.as_bytes_per_sec() * 8.0)
            })
            .collect::<Vec<_>>()
    };
    let efficacy = vec![
        Efficacy {
            name: "energy_saved".into(),
            value: summary.energy_saved_kwh.unwrap_or(0.0),
            unit: "kWh".into(),
        },
        Efficacy {
            name: "energy_saved_pct".into(),
            value: summary.energy_saved_pct.unwrap_or(0.0),
            unit: "%".into(),
        },
        Efficacy {
            name: "migrations".into(),
            value: summary.migrations as f64,
            unit: "count".into(),
        },
        Efficacy {
            name: "total_downtime".into(),
            value: summary.total_downtime_s,
            unit: "s".into(),
        },
        Efficacy {
            name: "migrated".into(),
            value: summary.migrated_bytes as f64,
            unit: "bytes".into(),
        },
    ];
    let p = plan::build(&Inputs {
        scenario: sc,
        scenario_hash: crate::base::hash_text(&resolved),
        host_names: &sim.hosts.name,
        path: &path,
        migrations: sim.migration_records(),
        power: sim.power_changes(),
        efficacy,
        window: PlanWindow {
            from_s: from,
            until_s: until,
        },
    });
    p.check()
        .map_err(|e| Failure::Failed(format!("internal: {e}")))?;
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(format!("plan-{}", sc.name)));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let json_path = dir.join("plan.json");
    write_atomic(&json_path, p.to_json().as_bytes())
        .map_err(|e| Failure::Failed(format!("{}: {e}", json_path.display())))?;
    // The scenario as planned, for simulating the plan again once it has been executed.
    let sc_path = dir.join("scenario.toml");
    let sc_text = loaded.resolved_toml().map_err(Failure::Failed)?;
    write_atomic(
        &sc_path,
        format!("# The scenario this plan was made from, assembled (migsim plan).\n{sc_text}")
            .as_bytes(),
    )
    .map_err(|e| Failure::Failed(format!("{}: {e}", sc_path.display())))?;
    let sh_path = dir.join("plan.sh");
    write_script(&sh_path, &plan::shell::script(&p))
        .map_err(|e| Failure::Failed(format!("{}: {e}", sh_path.display())))?;
    if !a.quiet {
        let count = |t: &str| p.actions.iter().filter(|x| x.type_name() == t).count();
        let end = p
            .actions
            .iter()
            .map(|x| x.predicted.end_s)
            .fold(from, f64::max);
        println!(
            "plan {} for {} under {} ({:.0}-{:.0} s of the run): {} actions: {} migrations, {} \
             power changes, {} maintenance, {} waits; {} not planned",
            p.plan_id,
            p.scenario,
            p.strategy,
            from,
            until,
            p.actions.len(),
            count("migrate"),
            count("change_node_power_state"),
            count("host_maintenance"),
            count("sleep"),
            p.not_planned.len()
        );
        println!(
            "predicted: last action ends at {:.0} s; energy saved {:.2} kWh ({:.1} %) over the \
             whole run",
            end,
            summary.energy_saved_kwh.unwrap_or(0.0),
            summary.energy_saved_pct.unwrap_or(0.0)
        );
        println!(
            "wrote {} and {} (a dry run unless MIGSIM_EXECUTE=yes)",
            json_path.display(),
            sh_path.display()
        );
    }
    Ok(())
}

/// Writes the script atomically and makes it executable.
fn write_script(path: &Path, body: &str) -> std::io::Result<()> {
    write_atomic(path, body.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
