//! The command line: parse arguments, hand typed options to the library, map outcomes to exit
//! codes. No model logic lives here.
//!
//! Exit codes are a contract for scripts and CI: 0 success, 1 the run failed (for example an
//! output could not be written), 2 bad input (arguments, scenario files).

pub mod calibrate;
pub mod check;
pub mod compare;
pub mod execute;
pub mod inventory;
pub mod migrate;
pub mod plan;
pub mod progress;
pub mod reproduce;
pub mod sweep;
pub mod trace;
pub mod trace_import;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::base::write_atomic;
use crate::report::{self, FileRecorder};
use crate::scenario::{self, ScenarioError};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "migsim",
    version,
    about = "Simulate live VM migration and consolidation in a data centre, and plan it",
    after_help = "Examples:\n  migsim run                         run the built-in quickstart scenario\n  migsim run scenarios/quickstart.toml --seed 7 --json\n  migsim validate scenarios/*.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a simulation and write its results.
    #[command(
        after_help = "Examples:\n  migsim run\n  migsim run scenarios/quickstart.toml --out /tmp/qs --set horizon=2h --set 'vms[0].count=40'\n  migsim run scenarios/quickstart.toml --seed 7 --json | jq .energy_kwh\n\nResults go to output/<scenario name>/: summary.json, hosts.csv, timeline.csv,\nmigrations.csv, scenario.toml (the scenario as run), and events.jsonl with --events."
    )]
    Run(RunArgs),
    /// Simulate one live migration and print its rounds.
    #[command(
        after_help = "Examples:\n  migsim migrate --hypervisor qemu --ram 256MiB --nonzero 227MiB --wws 64MiB --dirty-rate 10MiB/s --bandwidth 32MiB/s --link 1547Mbit/s\n  migsim migrate --hypervisor xen --ram 800MB --wws 60MB --dirty-rate 40Mbit/s --link 1Gbit/s --background 870Mbit/s --json\n  migsim migrate --dirty-rate 50MiB/s --wws 64MiB --bandwidth 32MiB/s --timeout 60s --on-timeout postcopy\n  migsim migrate scenarios/clark2005/apache.toml"
    )]
    Migrate(Box<migrate::MigrateArgs>),
    /// Reproduce published (clark2005) or measured (qemu) migrations and compare.
    #[command(
        after_help = "Examples:\n  migsim reproduce clark2005\n  migsim reproduce qemu --data ../shared/validation/qemu"
    )]
    Reproduce(reproduce::ReproduceArgs),
    /// Run a suite of scenarios and compare their metrics with a baseline.
    #[command(
        after_help = "Examples:\n  migsim check scenarios/regression\n  migsim check scenarios/regression --junit check.xml --markdown check.md\n  migsim check scenarios/regression --update-baseline\n\nExits 0 when every metric holds, 1 when any moved beyond its tolerance or a\nscenario failed, 2 on bad input."
    )]
    Check(check::CheckArgs),
    /// Replay one scenario under several consolidation policies, side by side.
    #[command(
        after_help = "Examples:\n  migsim compare scenarios/whatif/day.toml\n  migsim compare scenarios/whatif/day.toml -p none,thr-mmt-0.8,lr-mmt-1.2 --csv day.csv\n  migsim compare --set horizon=6h --markdown quickstart.md\n\nPolicies: none, ulm, spread, offhours, and <detector>-<selector>-<parameter> with detector\nthr|iqr|mad|lr|lrr and selector mmt|mc|mu|rs (Beloglazov & Buyya, CCPE 2012).\nEnergy saved is measured against `none` when it is in the list, else the first policy."
    )]
    Compare(compare::CompareArgs),
    /// Run a scenario over a grid of overrides and seeds: means and 95 % confidence intervals.
    #[command(
        after_help = "Examples:\n  migsim sweep scenarios/whatif/day.toml --set policy.name=none,thr-mmt-0.8 --set workload.cpu_scale=1,1.5 --seeds 1..10\n  migsim sweep --set 'network.uplink=10Gbit/s,40Gbit/s' --seeds 5 --out /tmp/sw\n  migsim sweep day.toml --set policy.name=none,ulm --seeds 1..20 --shard 0/4   # then: migsim collect DIR\n\nWrites results.csv (one row per point and seed), summary.csv (per point and metric: runs,\nmean, std, 95 % CI by Student's t) and sweep.json. With --shard I/N, or inside a Slurm job\narray, only every N-th run from I is done and shard-I-of-N.json is written.\nExits 0 when every run succeeded, 1 when any failed (its row says why), 2 on bad input."
    )]
    Sweep(sweep::SweepArgs),
    /// Merge the shard files of a sweep into results.csv and summary.csv.
    #[command(
        after_help = "Example:\n  migsim collect output/sweep-day --out output/sweep-day\n\nRefuses shards of different scenarios, sweeps or migsim versions, tasks given twice, and\nsweeps with tasks missing (it names them)."
    )]
    Collect(sweep::CollectArgs),
    /// Export what a policy did as an action plan (plan.json) and a virsh script (plan.sh).
    #[command(
        after_help = "Examples:\n  migsim plan                                   the quickstart under thr-mmt-0.8\n  migsim plan scenarios/whatif/maintenance.toml -p thr-mmt-0.8 --out /tmp/mw\n  migsim plan scenarios/whatif/day.toml --from 8h --until 10h\n\nplan.json follows OpenStack Watcher's action plans: actions (migrate, change_node_power_state,\nhost_maintenance, sleep) with parameters, parents (a DAG shaped by per-host and per-link\nconcurrency caps) and the predicted start, end, downtime and bytes. plan.sh runs the same\nplan with virsh, in dependency order; it is a dry run unless MIGSIM_EXECUTE=yes."
    )]
    Plan(plan::PlanArgs),
    /// Carry out a plan on libvirt hosts (a dry run unless --yes; needs the libvirt feature).
    #[command(
        after_help = "Examples:\n  migsim execute output/plan-quickstart/plan.json --uri-template 'qemu+ssh://{host}/system'\n  migsim execute plan.json --connect a=qemu+tcp://10.0.0.1/system --connect b=qemu+tcp://10.0.0.2/system --yes\n\nWithout --yes it checks every host and VM the plan names and prints what it would do.\nWith --yes it runs the DAG with the plan's concurrency, journals each action (a rerun\nresumes), leaves a VM whose migration failed running on its source, skips what depends on\na failure, and writes execution.csv (measured against predicted). Exits 0 when all went\nwell, 1 when the check found problems or an action failed, 2 on bad input."
    )]
    Execute(execute::ExecuteArgs),
    /// Fit the cluster's migration constants (stream rate, switchover, setup per host type)
    /// to the migrations executed plans measured, and write an overlay for the next plan.
    Calibrate(calibrate::CalibrateArgs),
    /// Build a scenario from a real cluster: saved virsh outputs, or live libvirt hosts.
    #[command(
        after_help = "Examples:\n  migsim inventory saved/ --out cluster.toml     saved/<host>/{nodeinfo,domstats}.txt\n  migsim inventory --connect a=qemu+ssh://a/system --connect b=qemu+ssh://b/system\n\nSave a host's outputs with:\n  virsh nodeinfo > saved/HOST/nodeinfo.txt\n  virsh domstats --raw > saved/HOST/domstats.txt\n  virsh dominfo DOMAIN > saved/HOST/dominfo-DOMAIN.txt   (optional)\n\nEvery domain is pinned to the host it runs on; what libvirt does not report (NIC speed,\npower, CPU load, dirty rate) comes from the options and is noted in the file."
    )]
    Inventory(inventory::InventoryArgs),
    /// Generate or summarise workload traces.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
    /// Check scenario files without running them.
    #[command(
        after_help = "Example:\n  migsim validate scenarios/quickstart.toml scenarios/*.toml\n\nExits 0 when every file is valid, 2 when any is not; each error names\nfile:line:column and the field."
    )]
    Validate(ValidateArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario file (TOML). Without one, the built-in quickstart scenario runs.
    pub scenario: Option<PathBuf>,
    /// Folder for the results (default: `output/<scenario name>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Random seed, overriding the scenario's (0 to 2^63-1: TOML integers are signed 64-bit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub seed: Option<u64>,
    /// Override any scenario field: `--set key.path=value` (repeatable), e.g. `--set hosts[0].count=4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the summary as one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write events.jsonl, one line per simulation event.
    #[arg(long)]
    pub events: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Overrides applied before checking, as with `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Why a command did not succeed, and so which exit code it gets.
#[derive(Debug)]
pub enum Failure {
    BadInput(String),
    Failed(String),
    /// `migsim check` found regressions (already reported).
    Regressed,
}

impl From<crate::run::RunError> for Failure {
    fn from(e: crate::run::RunError) -> Self {
        match e {
            crate::run::RunError::Input(e) => e.into(),
            crate::run::RunError::Failed(m) => Failure::Failed(m),
        }
    }
}

impl From<ScenarioError> for Failure {
    fn from(e: ScenarioError) -> Self {
        Failure::BadInput(e.to_string())
    }
}

/// The command line, with the policy list read from the registry so that help never falls
/// behind it.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let policies = format!(
        "Policies ([policy] name, --set policy.name=…, compare -p):\n{}",
        crate::policy::registry::help()
    );
    let with_policies = |c: clap::Command| {
        let before = c
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        c.after_help(format!("{}\n\n{policies}", before.trim_end()))
    };
    Cli::command()
        .mut_subcommand("run", with_policies)
        .mut_subcommand("compare", with_policies)
}

pub fn main() -> i32 {
    use clap::FromArgMatches;
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
        }
    };
    let result = match cli.command {
        Command::Run(a) => run(&a),
        Command::Validate(a) => validate(&a),
        Command::Migrate(a) => migrate::migrate(&a),
        Command::Reproduce(a) => reproduce::reproduce(&a),
        Command::Trace(t) => trace::run(&t),
        Command::Check(a) => check::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Sweep(a) => sweep::sweep(&a),
        Command::Collect(a) => sweep::collect(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Execute(a) => execute::run(&a),
        Command::Calibrate(a) => calibrate::run(&a),
        Command::Inventory(a) => inventory::run(&a),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(Failure::BadInput(m)) => {
            eprintln!("migsim: error: {m}");
            EXIT_BAD_INPUT
        }
        Err(Failure::Failed(m)) => {
            eprintln!("migsim: run failed: {m}");
            EXIT_FAILED
        }
        Err(Failure::Regressed) => EXIT_FAILED,
    }
}

/// Runs `f` on a private pool of `jobs` threads, or on the global pool. Results never depend
/// on the thread count: every parallel step collects in input order.
fn with_jobs<T>(
    jobs: Option<usize>,
    f: impl FnOnce() -> Result<T, Failure> + Send,
) -> Result<T, Failure>
where
    T: Send,
{
    match jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|e| Failure::Failed(e.to_string()))?
            .install(f),
        None => f(),
    }
}

fn load(path: Option<&Path>, sets: &[String]) -> Result<scenario::load::Loaded, ScenarioError> {
    match path {
        Some(p) => scenario::load_file(p, sets),
        None => scenario::load_builtin(sets),
    }
}

fn run(a: &RunArgs) -> Result<(), Failure> {
    let mut sets = a.set.clone();
    if let Some(seed) = a.seed {
        sets.push(format!("seed={seed}"));
    }
    let loaded = load(a.scenario.as_deref(), &sets)?;
    for n in scenario::notes(&loaded) {
        eprintln!("note: {n}");
    }
    let engine = crate::run::engine_for(&loaded.scenario);
    let prepared = engine.prepare(&loaded)?;
    let sc = &loaded.scenario;
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&sc.name));
    // The folder appears whole when the run is done, or not at all (see `AtomicDir`).
    let staging = crate::base::AtomicDir::create(&dir, "summary.json")
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let out = staging.path();
    let io_err = |what: &str, e: std::io::Error| Failure::Failed(format!("{what}: {e}"));

    let mut rec = if engine.streams() {
        Some(
            FileRecorder::create(out, sc.outputs.hosts_csv, a.events || sc.outputs.events)
                .map_err(|e| io_err(&format!("cannot write in {}", dir.display()), e))?,
        )
    } else {
        None
    };

    let show_progress =
        !a.quiet && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut progress = |frac: f64| {
        if !show_progress {
            return;
        }
        if bar.is_none() && started.elapsed().as_secs_f64() > 1.0 {
            let b = indicatif::ProgressBar::new(1000);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} simulating [{bar:40}] {percent}% eta {eta}",
                )
                .expect("valid template"),
            );
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_position((frac * 1000.0) as u64);
        }
    };
    let mut run = match rec.as_mut() {
        Some(r) => prepared.run(r, &mut progress)?,
        None => prepared.run(&mut crate::sim::NullRecorder, &mut progress)?,
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if engine.has_baseline() {
        crate::run::attach_baseline(&mut run.summary, &loaded)?;
    }
    let summary = run.summary;

    let resolved = toml::to_string(sc).map_err(|e| Failure::Failed(e.to_string()))?;
    write_atomic(&out.join("scenario.toml"), resolved.as_bytes())
        .map_err(|e| io_err("scenario.toml", e))?;
    // CloudSim's loop records no per-host series or per-migration rows, as CloudSim reports
    // none either: only the scenario and the summary are written.
    if let Some(series) = &run.series {
        write_atomic(
            &out.join("timeline.csv"),
            report::timeline_csv(&series.timeline).as_bytes(),
        )
        .map_err(|e| io_err("timeline.csv", e))?;
        let mig =
            report::migrations_csv(&series.migrations).map_err(|e| io_err("migrations.csv", e))?;
        write_atomic(&out.join("migrations.csv"), &mig).map_err(|e| io_err("migrations.csv", e))?;
        if sc.outputs.traffic_interval.is_some() {
            write_atomic(
                &out.join("traffic.csv"),
                report::traffic_csv(&series.traffic).as_bytes(),
            )
            .map_err(|e| io_err("traffic.csv", e))?;
        }
    }
    if let Some(rec) = rec {
        rec.commit().map_err(|e| io_err("hosts.csv", e))?;
    }
    // The summary goes last: its presence means the whole run was written.
    write_atomic(
        &out.join("summary.json"),
        report::summary_json(&summary).as_bytes(),
    )
    .map_err(|e| io_err("summary.json", e))?;
    staging
        .commit()
        .map_err(|e| io_err(&format!("cannot move the results to {}", dir.display()), e))?;

    if a.json {
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| Failure::Failed(e.to_string()))?
        );
    } else {
        print!("{}", report::summary_text(&summary, Some(&dir)));
        if run.series.is_none() {
            println!(
                "  SLA           SLATAH {:.4}, PDM {:.6}, SLAV {:.3e}, ESV {:.3e}",
                summary.slatah, summary.pdm, summary.slav, summary.esv
            );
        }
    }
    Ok(())
}

fn validate(a: &ValidateArgs) -> Result<(), Failure> {
    let mut bad = 0;
    for f in &a.files {
        match load(Some(f), &a.set).and_then(|l| {
            for n in scenario::notes(&l) {
                eprintln!("note: {n}");
            }
            crate::run::engine_for(&l.scenario).inspect(&l)
        }) {
            Ok(what) => println!("{}: ok ({what})", f.display()),
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        Err(Failure::BadInput(format!(
            "{bad} of {} scenario files are invalid",
            a.files.len()
        )))
    } else {
        Ok(())
    }
}
