//! `migsim sweep` and `migsim collect`: a scenario over a grid of overrides and seeds, on one
//! machine or split into shards (a Slurm job array, say) and merged afterwards.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::progress::Tasks;
use super::{Failure, load};
use crate::base::write_atomic;
use crate::sweep::{self, Axis, Plan, ResultFile, Shard, TaskResult};

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Scenario file (default: the built-in quickstart).
    pub scenario: Option<PathBuf>,
    /// An axis, `key=v1,v2,...` (repeatable: the sweep is their Cartesian product); with one
    /// value, an override that holds at every point. `k1,k2=v1,v2` links fields: both take
    /// each value together.
    #[arg(long = "set", value_name = "KEY=V1,V2,...")]
    pub set: Vec<String>,
    /// Seeds: `1..10` (inclusive), a list `3,7,11`, or a count N (N seeds from the scenario's).
    #[arg(long, default_value = "1")]
    pub seeds: String,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Folder for the results (default: `output/sweep-<scenario name>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (0-based) and write shard-I-of-N.json for `migsim collect`.
    /// Inside a Slurm job array it defaults to SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// No progress bar and no table.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Folders holding shard-*.json files (or the files themselves).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for results.csv and summary.csv (default: the first input folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No table.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn sweep(a: &SweepArgs) -> Result<(), Failure> {
    super::with_jobs(a.jobs, || run_sweep(a))
}

fn run_sweep(a: &SweepArgs) -> Result<(), Failure> {
    let mut fixed = Vec::new();
    let mut axes: Vec<Axis> = Vec::new();
    for s in &a.set {
        let axis = sweep::parse_axis(s).map_err(Failure::BadInput)?;
        let taken: Vec<&str> = axes.iter().flat_map(|x| x.fields()).collect();
        if let Some(f) = axis.fields().find(|f| taken.contains(f)) {
            return Err(Failure::BadInput(format!(
                "--set {f}: the key is swept twice"
            )));
        }
        if axis.fields().any(|f| f == "seed") {
            return Err(Failure::BadInput(
                "--set seed=...: give seeds with --seeds".into(),
            ));
        }
        if axis.values.len() == 1 {
            for f in axis.fields() {
                fixed.push(format!("{f}={}", axis.values[0]));
            }
        } else {
            axes.push(axis);
        }
    }
    let base = load(a.scenario.as_deref(), &fixed)?;
    let seeds = sweep::parse_seeds(&a.seeds, base.scenario.seed).map_err(Failure::BadInput)?;
    let resolved =
        toml::to_string(&base.scenario).map_err(|e| Failure::Failed(format!("scenario: {e}")))?;
    let plan = Plan {
        scenario: base.scenario.name.clone(),
        scenario_hash: crate::base::hash_text(&resolved),
        fixed,
        axes,
        seeds,
    };
    let shard = match &a.shard {
        Some(s) => sweep::parse_shard(s).map_err(Failure::BadInput)?,
        None => sweep::slurm_shard(|k| std::env::var(k).ok())
            .map_err(Failure::BadInput)?
            .unwrap_or(Shard::WHOLE),
    };
    let tasks: Vec<usize> = (0..plan.tasks()).filter(|&t| shard.owns(t)).collect();
    // Load every run first, so that a bad value fails before anything runs.
    let mut loaded = Vec::with_capacity(tasks.len());
    for &t in &tasks {
        let (point, seed) = plan.task(t);
        let l = load(a.scenario.as_deref(), &plan.task_sets(t)).map_err(|e| {
            Failure::BadInput(format!(
                "point {point} ({}), seed {seed}: {e}",
                describe(&plan, point)
            ))
        })?;
        loaded.push(l);
    }
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(format!("sweep-{}", plan.scenario)));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    if !a.quiet {
        eprintln!(
            "sweep {}: {} points x {} seeds = {} runs{}",
            plan.scenario,
            plan.points(),
            plan.seeds.len(),
            plan.tasks(),
            if shard.count > 1 {
                format!(
                    "; shard {}/{} runs {}",
                    shard.index,
                    shard.count,
                    tasks.len()
                )
            } else {
                String::new()
            }
        );
    }
    let progress = Tasks::new("sweep", tasks.len(), a.quiet);
    let results: Vec<TaskResult> = tasks
        .par_iter()
        .zip(loaded.par_iter())
        .map(|(&t, l)| {
            let r = std::panic::catch_unwind(|| crate::run::summary(l).map_err(|e| e.to_string()));
            progress.tick();
            match r {
                Ok(Ok(s)) => TaskResult::ok(&plan, t, &s),
                Ok(Err(e)) => TaskResult::failed(&plan, t, e),
                Err(p) => TaskResult::failed(&plan, t, format!("panicked: {}", panic_text(&p))),
            }
        })
        .collect();
    progress.finish();
    let file = ResultFile::new(plan.clone(), shard, results);
    let failed: Vec<&TaskResult> = file
        .results
        .iter()
        .filter(|r| !r.error.is_empty())
        .collect();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        write_atomic(&p, body.as_bytes())
            .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))
    };
    write(&shard.file_name(), &file.to_json())?;
    if shard.count == 1 {
        write("results.csv", &sweep::results_csv(&plan, &file.results))?;
        write("summary.csv", &sweep::summary_csv(&plan, &file.results))?;
        if !a.quiet {
            print!("{}", sweep::table(&plan, &file.results));
            println!(
                "results: {}",
                dir.join("results.csv").display().to_string()
                    + ", "
                    + &dir.join("summary.csv").display().to_string()
            );
        }
    } else if !a.quiet {
        println!(
            "shard {}/{}: {} runs written to {}; merge the shards with `migsim collect {}`",
            shard.index,
            shard.count,
            file.results.len(),
            dir.join(shard.file_name()).display(),
            dir.display()
        );
    }
    report_failures(&plan, &failed)
}

fn describe(plan: &Plan, point: usize) -> String {
    if plan.axes.is_empty() {
        return "no axes".into();
    }
    plan.axes
        .iter()
        .zip(plan.point_values(point))
        .map(|(a, v)| format!("{}={v}", a.key))
        .collect::<Vec<_>>()
        .join(" ")
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown cause".into())
}

/// Failed runs are in the files (status column) and on stderr, and make the exit code 1.
fn report_failures(plan: &Plan, failed: &[&TaskResult]) -> Result<(), Failure> {
    if failed.is_empty() {
        return Ok(());
    }
    for r in failed {
        eprintln!(
            "point {} ({}), seed {}: {}",
            r.point,
            describe(plan, r.point),
            r.seed,
            r.error
        );
    }
    Err(Failure::Failed(format!(
        "{} of the runs failed; their rows say why",
        failed.len()
    )))
}

pub fn collect(a: &CollectArgs) -> Result<(), Failure> {
    let mut paths = Vec::new();
    for input in &a.inputs {
        if input.is_dir() {
            let rd = std::fs::read_dir(input)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", input.display())))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
                })
                .collect();
            if found.is_empty() {
                return Err(Failure::BadInput(format!(
                    "{}: no shard-*.json files",
                    input.display()
                )));
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(input.clone());
        }
    }
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        let name = p.display().to_string();
        let text =
            std::fs::read_to_string(p).map_err(|e| Failure::BadInput(format!("{name}: {e}")))?;
        files.push((
            name.clone(),
            ResultFile::parse(&name, &text).map_err(Failure::BadInput)?,
        ));
    }
    let (plan, results) = sweep::merge(&files).map_err(Failure::BadInput)?;
    let dir = match &a.out {
        Some(d) => d.clone(),
        None if a.inputs[0].is_dir() => a.inputs[0].clone(),
        None => a.inputs[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    for (name, body) in [
        ("results.csv", sweep::results_csv(&plan, &results)),
        ("summary.csv", sweep::summary_csv(&plan, &results)),
    ] {
        let p = dir.join(name);
        write_atomic(&p, body.as_bytes())
            .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))?;
    }
    if !a.quiet {
        println!(
            "collected {} runs of sweep {} from {} files",
            results.len(),
            plan.scenario,
            files.len()
        );
        print!("{}", sweep::table(&plan, &results));
    }
    let failed: Vec<&TaskResult> = results.iter().filter(|r| !r.error.is_empty()).collect();
    report_failures(&plan, &failed)
}
