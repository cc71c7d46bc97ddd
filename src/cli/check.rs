//! `migsim check`: regression checks over suites of scenarios.

use std::path::PathBuf;

use super::Failure;
use crate::base::write_atomic;
use crate::check::{self, Baseline, Status};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Suite folders or suite files.
    #[arg(required = true)]
    pub suites: Vec<PathBuf>,
    /// Baseline to compare with (default: each suite's own).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write JUnit XML here (one test case per scenario and metric).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary here (for a pull-request comment).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Rewrite the baseline with this run's figures and print what changed.
    #[arg(long)]
    pub update_baseline: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
}

fn read_baseline(path: &std::path::Path) -> Result<Baseline, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::BadInput(format!(
            "{}: cannot read the baseline ({e}); create it with --update-baseline",
            path.display()
        ))
    })?;
    check::parse_baseline(&path.display().to_string(), &text).map_err(Failure::BadInput)
}

pub fn run(a: &CheckArgs) -> Result<(), Failure> {
    super::with_jobs(a.jobs, || run_suites(a))
}

fn run_suites(a: &CheckArgs) -> Result<(), Failure> {
    let mut all = Vec::new();
    // Each baseline file, with the runs compared against it (several suites may share one).
    let mut baselines: std::collections::BTreeMap<std::path::PathBuf, (Baseline, Vec<String>)> =
        std::collections::BTreeMap::new();
    for path in &a.suites {
        let suite = check::load_suite(path).map_err(Failure::BadInput)?;
        let runs = check::run_all(&suite);
        let base_path = a
            .baseline
            .clone()
            .or(suite.baseline.clone())
            .expect("a suite always names a baseline");
        if a.update_baseline {
            let old = if base_path.is_file() {
                read_baseline(&base_path)?
            } else {
                Baseline::new()
            };
            let new = check::baseline_of(&runs);
            let diff = check::compare(&suite, &runs, &old);
            let changed: Vec<_> = diff.iter().filter(|f| f.status != Status::Held).collect();
            for f in &changed {
                println!(
                    "{}: {} {} -> {}",
                    f.scenario,
                    f.metric,
                    f.baseline.map_or("-".into(), |b| b.to_string()),
                    f.current.map_or("-".into(), |c| c.to_string())
                );
            }
            let mut json =
                serde_json::to_string_pretty(&new).map_err(|e| Failure::Failed(e.to_string()))?;
            json.push('\n');
            write_atomic(&base_path, json.as_bytes())
                .map_err(|e| Failure::Failed(format!("{}: {e}", base_path.display())))?;
            println!(
                "{}: baseline rewritten ({} runs, {} metrics changed)",
                base_path.display(),
                new.len(),
                changed.len()
            );
            for (k, r) in &runs {
                if let check::RunResult::Error(e) = r {
                    return Err(Failure::Failed(format!("{k}: {e}")));
                }
            }
            continue;
        }
        let baseline = read_baseline(&base_path)?;
        all.extend(check::compare(&suite, &runs, &baseline));
        let entry = baselines.entry(base_path).or_insert((baseline, Vec::new()));
        entry.1.extend(runs.into_iter().map(|(k, _)| k));
    }
    if a.update_baseline {
        return Ok(());
    }
    for (baseline, keys) in baselines.values() {
        all.extend(check::stale(baseline, keys.iter().map(String::as_str)));
    }
    if all.is_empty() {
        return Err(Failure::Failed(
            "nothing was compared: the suites ran no scenario the baseline knows".into(),
        ));
    }
    print!("{}", check::table(&all));
    if let Some(p) = &a.junit {
        write_atomic(p, check::junit(&all).as_bytes())
            .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))?;
    }
    if let Some(p) = &a.markdown {
        write_atomic(p, check::markdown(&all).as_bytes())
            .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))?;
    }
    if all.iter().any(|f| f.status.fails()) {
        Err(Failure::Regressed)
    } else {
        Ok(())
    }
}
