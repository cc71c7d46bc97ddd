//! `migsim execute`: carry out a plan on libvirt hosts. A dry run unless `--yes`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Failure;
use crate::base::write_atomic;
use crate::plan::execute::{self, Backend, Options, Status};
use crate::plan::{ActionKind, ActionPlan};

#[derive(clap::Args, Debug)]
pub struct ExecuteArgs {
    /// The plan (plan.json from `migsim plan`).
    pub plan: PathBuf,
    /// How to reach a host: NAME=URI, e.g. `r640-0=qemu+ssh://r640-0.example/system`
    /// (repeatable).
    #[arg(long = "connect", value_name = "NAME=URI")]
    pub connect: Vec<String>,
    /// URI for hosts without --connect, with {host} for the name, e.g.
    /// `qemu+ssh://{host}/system`.
    #[arg(long, value_name = "TEMPLATE")]
    pub uri_template: Option<String>,
    /// The migration stream's URI (libvirt's migrateuri), e.g. tcp://10.0.0.5.
    #[arg(long, value_name = "URI")]
    pub migrate_uri: Option<String>,
    /// Carry the plan out. Without it nothing is changed: hosts and VMs are checked and the
    /// actions are printed.
    #[arg(long)]
    pub yes: bool,
    /// Journal of finished actions; a rerun with the same journal resumes (default:
    /// journal.jsonl beside the plan).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Folder for execution.csv (default: the plan's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not wait through the plan's sleep actions.
    #[arg(long)]
    pub skip_waits: bool,
    /// Program run as `PROGRAM HOST on|off` for power actions (no shell is involved).
    #[arg(long, value_name = "PROGRAM")]
    pub power_cmd: Option<String>,
    /// At most this many actions at once; the plan's DAG already caps each host and link.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
}

pub fn run(a: &ExecuteArgs) -> Result<(), Failure> {
    let name = a.plan.display().to_string();
    let text =
        std::fs::read_to_string(&a.plan).map_err(|e| Failure::BadInput(format!("{name}: {e}")))?;
    let plan = ActionPlan::parse(&name, &text).map_err(Failure::BadInput)?;
    let mut uris = BTreeMap::new();
    for c in &a.connect {
        let (n, u) = c
            .split_once('=')
            .ok_or_else(|| Failure::BadInput(format!("--connect {c:?}: expected NAME=URI")))?;
        uris.insert(n.to_string(), u.to_string());
    }
    let backend = backend(uris, a)?;
    execute_with(a, &plan, backend.as_ref())
}

#[cfg(feature = "libvirt")]
fn backend(uris: BTreeMap<String, String>, a: &ExecuteArgs) -> Result<Box<dyn Backend>, Failure> {
    Ok(Box::new(crate::plan::libvirt::Libvirt {
        uris,
        template: a.uri_template.clone(),
        migrate_uri: a.migrate_uri.clone(),
    }))
}

#[cfg(not(feature = "libvirt"))]
fn backend(_: BTreeMap<String, String>, _: &ExecuteArgs) -> Result<Box<dyn Backend>, Failure> {
    Err(Failure::BadInput(
        "this migsim was built without libvirt; rebuild with `cargo build --release --features \
         libvirt` (needs libvirt-dev and pkg-config), or run the plan's plan.sh"
            .into(),
    ))
}

/// Describes an action for the dry run.
fn describe(a: &crate::plan::Action) -> String {
    let after = if a.parents.is_empty() {
        String::new()
    } else {
        format!(", after {}", a.parents.join(" "))
    };
    match &a.kind {
        ActionKind::Migrate(m) => format!(
            "{}: migrate {:?} from {:?} to {:?} ({}, max downtime {} ms{}{}; predicted {:.1} s, \
             downtime {:.0} ms){after}",
            a.id,
            m.resource_name,
            m.source_node,
            m.destination_node,
            m.bandwidth_mib_s
                .map(|b| format!("{b} MiB/s"))
                .unwrap_or_else(|| "unlimited bandwidth".into()),
            m.downtime_limit_ms,
            if m.auto_converge {
                ", auto-converge"
            } else {
                ""
            },
            m.timeout_s
                .map(|t| format!(", timeout {t} s then {:?}", m.on_timeout))
                .unwrap_or_default(),
            a.predicted.end_s - a.predicted.start_s,
            a.predicted.downtime_ms
        ),
        ActionKind::ChangeNodePowerState(p) => {
            format!("{}: power {} {:?}{after}", a.id, p.state, p.resource_name)
        }
        ActionKind::HostMaintenance(m) => {
            format!("{}: {:?} enters maintenance{after}", a.id, m.resource_name)
        }
        ActionKind::Sleep(s) => format!("{}: wait {} s{after}", a.id, s.duration_s),
    }
}

/// The command's work, on any backend.
pub fn execute_with(
    a: &ExecuteArgs,
    plan: &ActionPlan,
    backend: &dyn Backend,
) -> Result<(), Failure> {
    let findings = execute::check(plan, backend);
    for f in &findings {
        eprintln!("check: {}: {}", f.action, f.message);
    }
    if !a.yes {
        println!(
            "dry run of plan {} ({} actions); nothing is changed without --yes",
            plan.plan_id,
            plan.actions.len()
        );
        for act in &plan.actions {
            println!("  would {}", describe(act));
        }
        if !findings.is_empty() {
            return Err(Failure::Failed(format!(
                "the check found {} problem(s); the plan cannot run as it is",
                findings.len()
            )));
        }
        println!("check: every host answers, every VM is where the plan expects, and fits");
        return Ok(());
    }
    if !findings.is_empty() {
        return Err(Failure::Failed(format!(
            "not executing: the check found {} problem(s)",
            findings.len()
        )));
    }
    let plan_dir = a.plan.parent().map(Path::to_path_buf).unwrap_or_default();
    let journal = a
        .journal
        .clone()
        .unwrap_or_else(|| plan_dir.join("journal.jsonl"));
    let opts = Options {
        parallel: a.parallel,
        skip_waits: a.skip_waits,
        power_cmd: a.power_cmd.clone(),
    };
    let outcomes = execute::execute(plan, backend, &journal, &opts, &|m| println!("{m}"))
        .map_err(Failure::Failed)?;
    let dir = a.out.clone().unwrap_or(plan_dir);
    let csv_path = dir.join("execution.csv");
    write_atomic(
        &csv_path,
        execute::execution_csv(plan, &outcomes).as_bytes(),
    )
    .map_err(|e| Failure::Failed(format!("{}: {e}", csv_path.display())))?;
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    println!(
        "{} succeeded, {} noted, {} failed, {} skipped; measured against predicted in {}",
        count(Status::Succeeded),
        count(Status::Noted),
        count(Status::Failed),
        count(Status::Skipped),
        csv_path.display()
    );
    for (act, o) in plan.actions.iter().zip(&outcomes) {
        if let (ActionKind::Migrate(m), Status::Succeeded) = (&act.kind, o.status) {
            println!(
                "  {} {:?}: time {:.2} s (predicted {:.2}), downtime {} ms (predicted {:.0}), \
                 {} (predicted {:.1} MiB)",
                act.id,
                m.resource_name,
                o.measured.time_elapsed_ms.unwrap_or(f64::NAN) / 1000.0,
                act.predicted.end_s - act.predicted.start_s,
                o.measured
                    .downtime_ms
                    .map(|d| format!("{d:.0}"))
                    .unwrap_or_else(|| "?".into()),
                act.predicted.downtime_ms,
                o.measured
                    .data_processed_bytes
                    .map(|b| format!("{:.1} MiB", b / 1048576.0))
                    .unwrap_or_else(|| "? MiB".into()),
                act.predicted.bytes / 1048576.0
            );
        }
    }
    if count(Status::Failed) + count(Status::Skipped) > 0 {
        return Err(Failure::Failed(format!(
            "{} action(s) failed and {} were skipped; the journal {} lets a rerun resume",
            count(Status::Failed),
            count(Status::Skipped),
            journal.display()
        )));
    }
    Ok(())
}
