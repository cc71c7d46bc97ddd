//! Regression checks: run a suite of scenarios and compare every summary metric with a baseline
//! under per-metric tolerances (`migsim check`).
//!
//! A suite is a folder of scenarios (each run once, with its own seed) or a suite file:
//!
//! ```toml
//! baseline = "baseline.json"          # scenario → metric → value, next to the suite file
//! [tolerance]                         # defaults for every metric
//! rel = 1e-9
//! abs = 1e-12
//! [tolerances.energy_kwh]             # per metric
//! rel = 0.001
//! [[scenario]]
//! file = "../quickstart.toml"
//! seeds = [1, 2]                      # optional; one run per seed, keyed name@seed
//! set = ["horizon=6h"]                # optional overrides
//! ```
//!
//! A metric holds if |current − baseline| ≤ max(abs, rel · |baseline|). Runs are independent
//! and single-threaded, so running them in parallel changes nothing in their results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::metrics::Summary;
use crate::scenario::{self, ScenarioError};

/// Absolute and relative slack for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default)]
    pub abs: f64,
    #[serde(default)]
    pub rel: f64,
}

impl Default for Tolerance {
    /// Results are deterministic, so by default a metric must not move beyond float noise.
    fn default() -> Self {
        Tolerance {
            abs: 1e-12,
            rel: 1e-9,
        }
    }
}

impl Tolerance {
    pub fn allows(&self, baseline: f64, current: f64) -> bool {
        if baseline.is_nan() && current.is_nan() {
            return true;
        }
        (current - baseline).abs() <= self.abs.max(self.rel * baseline.abs())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteScenario {
    pub file: String,
    #[serde(default)]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub set: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub tolerance: Option<Tolerance>,
    #[serde(default)]
    pub tolerances: BTreeMap<String, Tolerance>,
    #[serde(default, rename = "scenario")]
    pub scenarios: Vec<SuiteScenario>,
}

/// One run to make.
#[derive(Debug, Clone)]
pub struct Job {
    /// Baseline key: the scenario's name, with `@seed` when the suite lists seeds.
    pub key: String,
    pub file: PathBuf,
    pub sets: Vec<String>,
}

/// A suite, resolved.
#[derive(Debug, Clone)]
pub struct Suite {
    pub jobs: Vec<Job>,
    pub baseline: Option<PathBuf>,
    pub default_tolerance: Tolerance,
    pub tolerances: BTreeMap<String, Tolerance>,
}

/// Metrics of a summary, flattened to `name → value` (nested maps as `outer.inner`). The event
/// count and the version are bookkeeping, not behaviour, and are left out.
pub fn metrics_of(s: &Summary) -> BTreeMap<String, f64> {
    let v = serde_json::to_value(s).expect("summary serialises");
    let mut out = BTreeMap::new();
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_string(), x);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => {}
        }
    }
    walk("", &v, &mut out);
    for k in ["events", "seed"] {
        out.remove(k);
    }
    out
}

/// Loads a suite: a suite file, or a folder whose scenarios (names not starting with `_`) are
/// each run once.
pub fn load_suite(path: &Path) -> Result<Suite, String> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "toml")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('_'))
                    && p.file_name().is_some_and(|n| n != "suite.toml")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("{}: no scenarios in this folder", path.display()));
        }
        let suite_file = path.join("suite.toml");
        if suite_file.is_file() {
            return load_suite(&suite_file);
        }
        let jobs = files
            .into_iter()
            .map(|f| {
                let key = scenario_name(&f, &[]).unwrap_or_else(|_| f.display().to_string());
                Job {
                    key,
                    file: f,
                    sets: Vec::new(),
                }
            })
            .collect();
        return Ok(Suite {
            jobs,
            baseline: Some(path.join("baseline.json")),
            default_tolerance: Tolerance::default(),
            tolerances: BTreeMap::new(),
        });
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let suite: SuiteFile = toml::from_str(&text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                (
                    before.matches('\n').count() + 1,
                    before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                )
            })
            .unwrap_or((1, 1));
        let message = crate::scenario::load::toml_message(&text, e.span(), e.message());
        format!("{}:{line}:{col}: {message}", path.display())
    })?;
    let tolerances = suite
        .tolerance
        .iter()
        .map(|t| ("tolerance".to_string(), t))
        .chain(
            suite
                .tolerances
                .iter()
                .map(|(m, t)| (format!("tolerances.{m}"), t)),
        );
    for (field, t) in tolerances {
        for (name, v) in [("abs", t.abs), ("rel", t.rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "{}: {field}.{name}: {v} is not a slack (a number of at least 0)",
                    path.display()
                ));
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut jobs = Vec::new();
    for (i, sc) in suite.scenarios.iter().enumerate() {
        let file = dir.join(&sc.file);
        if !file.is_file() {
            return Err(format!(
                "{}: scenario[{i}].file: {} does not exist",
                path.display(),
                file.display()
            ));
        }
        let name = scenario_name(&file, &sc.set).map_err(|e| e.to_string())?;
        if sc.seeds.is_empty() {
            jobs.push(Job {
                key: name,
                file,
                sets: sc.set.clone(),
            });
        } else {
            for s in &sc.seeds {
                let mut sets = sc.set.clone();
                sets.push(format!("seed={s}"));
                jobs.push(Job {
                    key: format!("{name}@{s}"),
                    file: file.clone(),
                    sets,
                });
            }
        }
    }
    if jobs.is_empty() {
        return Err(format!(
            "{}: the suite lists no [[scenario]]",
            path.display()
        ));
    }
    let mut keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    keys.sort();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "{}: two runs share the name {:?}; give them different names or seeds",
            path.display(),
            w[0]
        ));
    }
    Ok(Suite {
        jobs,
        baseline: Some(dir.join(suite.baseline.as_deref().unwrap_or("baseline.json"))),
        default_tolerance: suite.tolerance.unwrap_or_default(),
        tolerances: suite.tolerances,
    })
}

fn scenario_name(file: &Path, sets: &[String]) -> Result<String, ScenarioError> {
    Ok(scenario::load_file(file, sets)?.scenario.name)
}

/// Runs one scenario to its summary.
pub fn run_job(job: &Job) -> Result<Summary, String> {
    let loaded = scenario::load_file(&job.file, &job.sets).map_err(|e| e.to_string())?;
    crate::run::summary(&loaded).map_err(|e| e.to_string())
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub enum RunResult {
    Ok(BTreeMap<String, f64>),
    /// The scenario could not be loaded, failed, or panicked: the message says which.
    Error(String),
}

/// Runs every job, in parallel, and returns the results in suite order.
pub fn run_all(suite: &Suite) -> Vec<(String, RunResult)> {
    suite
        .jobs
        .par_iter()
        .map(|job| {
            let r = std::panic::catch_unwind(|| run_job(job));
            let r = match r {
                Ok(Ok(s)) => RunResult::Ok(metrics_of(&s)),
                Ok(Err(e)) => RunResult::Error(e),
                Err(p) => RunResult::Error(format!(
                    "panicked: {}",
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown cause".into())
                )),
            };
            (job.key.clone(), r)
        })
        .collect()
}

pub type Baseline = BTreeMap<String, BTreeMap<String, f64>>;

/// Reads a baseline (scenario → metric → number); `name` is the file, for errors.
pub fn parse_baseline(name: &str, text: &str) -> Result<Baseline, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{name}:{}:{}: not a baseline (scenario → metric → number): {e}",
            e.line(),
            e.column()
        )
    })
}

/// One comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub scenario: String,
    pub metric: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub tolerance: Tolerance,
    pub status: Status,
    /// For a run that failed, its error.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Held,
    Moved,
    /// In the baseline, not in this run (or the run failed).
    Missing,
    /// In this run, not in the baseline: reported, not a failure.
    New,
    /// The scenario did not run.
    Error,
    /// The baseline has nothing for this run: it compares nothing.
    Uncovered,
    /// The baseline has a run the suite no longer makes.
    Stale,
}

impl Status {
    pub fn fails(self) -> bool {
        matches!(
            self,
            Status::Moved | Status::Missing | Status::Error | Status::Uncovered | Status::Stale
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Moved => "MOVED",
            Status::Missing => "MISSING",
            Status::New => "new",
            Status::Error => "ERROR",
            Status::Uncovered => "NOT IN BASELINE",
            Status::Stale => "STALE",
        }
    }
}

/// Compares runs with the baseline.
pub fn compare(suite: &Suite, runs: &[(String, RunResult)], baseline: &Baseline) -> Vec<Finding> {
    let tol = |m: &str| {
        suite
            .tolerances
            .get(m)
            .copied()
            .unwrap_or(suite.default_tolerance)
    };
    let empty = BTreeMap::new();
    let mut out = Vec::new();
    let finding = |scenario: &str, status: Status, message: String| Finding {
        scenario: scenario.to_string(),
        metric: "(run)".into(),
        baseline: None,
        current: None,
        tolerance: Tolerance::default(),
        status,
        message,
    };
    // A gate that compares nothing must not pass: a run the baseline does not know fails
    // (see also `stale` for the other direction).
    for (key, r) in runs {
        if !baseline.contains_key(key) && matches!(r, RunResult::Ok(_)) {
            out.push(finding(
                key,
                Status::Uncovered,
                "not in the baseline, so nothing is compared; write it with --update-baseline"
                    .into(),
            ));
            continue;
        }
        let base = baseline.get(key).unwrap_or(&empty);
        match r {
            RunResult::Error(e) => out.push(Finding {
                scenario: key.clone(),
                metric: "(run)".into(),
                baseline: None,
                current: None,
                tolerance: Tolerance::default(),
                status: Status::Error,
                message: e.clone(),
            }),
            RunResult::Ok(m) => {
                let names: std::collections::BTreeSet<&String> =
                    m.keys().chain(base.keys()).collect();
                for name in names {
                    let (b, c) = (base.get(name).copied(), m.get(name).copied());
                    let t = tol(name);
                    let status = match (b, c) {
                        (Some(b), Some(c)) if t.allows(b, c) => Status::Held,
                        (Some(_), Some(_)) => Status::Moved,
                        (Some(_), None) => Status::Missing,
                        (None, _) => Status::New,
                    };
                    out.push(Finding {
                        scenario: key.clone(),
                        metric: name.clone(),
                        baseline: b,
                        current: c,
                        tolerance: t,
                        status,
                        message: String::new(),
                    });
                }
            }
        }
    }
    out
}

/// Baseline entries that none of `keys` (every run made against this baseline) matches: a
/// renamed or removed scenario, whose figures nothing checks any more.
pub fn stale<'a>(baseline: &Baseline, keys: impl IntoIterator<Item = &'a str>) -> Vec<Finding> {
    let run: std::collections::BTreeSet<&str> = keys.into_iter().collect();
    baseline
        .keys()
        .filter(|k| !run.contains(k.as_str()))
        .map(|k| Finding {
            scenario: k.clone(),
            metric: "(run)".into(),
            baseline: None,
            current: None,
            tolerance: Tolerance::default(),
            status: Status::Stale,
            message: "in the baseline but run by no suite; update the baseline".into(),
        })
        .collect()
}

/// The baseline these runs would write.
pub fn baseline_of(runs: &[(String, RunResult)]) -> Baseline {
    runs.iter()
        .filter_map(|(k, r)| match r {
            RunResult::Ok(m) => Some((k.clone(), m.clone())),
            RunResult::Error(_) => None,
        })
        .collect()
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6e}")).unwrap_or_else(|| "-".into())
}

fn delta(f: &Finding) -> String {
    match (f.baseline, f.current) {
        (Some(b), Some(c)) if b != 0.0 => format!("{:+.3} %", (c / b - 1.0) * 100.0),
        (Some(b), Some(c)) => format!("{:+.3e}", c - b),
        _ => "-".into(),
    }
}

/// The human table: what moved, and a count of what held.
pub fn table(findings: &[Finding]) -> String {
    let mut s = String::new();
    let shown: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status != Status::Held)
        .collect();
    if !shown.is_empty() {
        s.push_str(&format!(
            "{:<28} {:<32} {:>14} {:>14} {:>11}  {}\n",
            "scenario", "metric", "baseline", "current", "change", "status"
        ));
        for f in &shown {
            s.push_str(&format!(
                "{:<28} {:<32} {:>14} {:>14} {:>11}  {}{}\n",
                f.scenario,
                f.metric,
                fmt(f.baseline),
                fmt(f.current),
                delta(f),
                f.status.as_str(),
                if f.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.message)
                }
            ));
        }
    }
    let failed = findings.iter().filter(|f| f.status.fails()).count();
    let held = findings.iter().filter(|f| f.status == Status::Held).count();
    s.push_str(&format!(
        "{held} passed, {failed} failed ({} metrics checked)\n",
        findings.len()
    ));
    s
}

/// JUnit XML: one test case per scenario and metric.
pub fn junit(findings: &[Finding]) -> String {
    let failures = findings.iter().filter(|f| f.status.fails()).count();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"migsim check\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"migsim check\" tests=\"{}\" failures=\"{failures}\">\n",
        findings.len(),
        findings.len()
    );
    for f in findings {
        s.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            crate::report::escape_markup(&f.scenario),
            crate::report::escape_markup(&f.metric)
        ));
        if f.status.fails() {
            let msg = if f.message.is_empty() {
                format!(
                    "{}: baseline {}, current {} ({}), tolerance abs {} rel {}",
                    f.status.as_str(),
                    fmt(f.baseline),
                    fmt(f.current),
                    delta(f),
                    f.tolerance.abs,
                    f.tolerance.rel
                )
            } else {
                f.message.clone()
            };
            s.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                crate::report::escape_markup(&msg),
                crate::report::escape_markup(&msg)
            ));
        } else {
            s.push_str("/>\n");
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// A Markdown summary fit for a pull-request comment.
pub fn markdown(findings: &[Finding]) -> String {
    let failed: Vec<&Finding> = findings.iter().filter(|f| f.status.fails()).collect();
    let new = findings.iter().filter(|f| f.status == Status::New).count();
    let mut s = String::from("### migsim check\n\n");
    if failed.is_empty() {
        s.push_str(&format!(
            "All {} metrics held their baseline.",
            findings.len()
        ));
        if new > 0 {
            s.push_str(&format!(
                " {new} metrics are new (not in the baseline yet)."
            ));
        }
        s.push('\n');
        return s;
    }
    s.push_str(&format!(
        "**{} of {} metrics regressed.**\n\n| scenario | metric | baseline | current | change | status |\n|---|---|---|---|---|---|\n",
        failed.len(),
        findings.len()
    ));
    for f in failed {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{} |\n",
            f.scenario,
            f.metric,
            fmt(f.baseline),
            fmt(f.current),
            delta(f),
            f.status.as_str(),
            if f.message.is_empty() {
                String::new()
            } else {
                format!(": {}", f.message.replace('|', "\\|"))
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> Suite {
        Suite {
            jobs: Vec::new(),
            baseline: None,
            default_tolerance: Tolerance::default(),
            tolerances: [(
                "energy_kwh".to_string(),
                Tolerance {
                    abs: 0.0,
                    rel: 0.01,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn tolerances_are_absolute_or_relative_whichever_is_larger() {
        let t = Tolerance {
            abs: 0.5,
            rel: 0.01,
        };
        assert!(t.allows(10.0, 10.5));
        assert!(!t.allows(10.0, 10.6));
        assert!(t.allows(1000.0, 1009.0));
        assert!(!t.allows(1000.0, 1011.0));
    }

    #[test]
    fn moved_missing_and_new_metrics_are_told_apart() {
        let base: Baseline = [(
            "a".to_string(),
            [
                ("energy_kwh".to_string(), 100.0),
                ("migrations".to_string(), 3.0),
            ]
            .into(),
        )]
        .into();
        let runs = vec![(
            "a".to_string(),
            RunResult::Ok([("energy_kwh".to_string(), 100.5), ("slav".to_string(), 0.0)].into()),
        )];
        let f = compare(&suite(), &runs, &base);
        let st = |m: &str| f.iter().find(|x| x.metric == m).unwrap().status;
        assert_eq!(st("energy_kwh"), Status::Held, "within 1 %");
        assert_eq!(st("migrations"), Status::Missing);
        assert_eq!(st("slav"), Status::New);
        let runs = vec![(
            "a".to_string(),
            RunResult::Ok([("energy_kwh".to_string(), 102.0)].into()),
        )];
        let f = compare(&suite(), &runs, &base);
        assert_eq!(f[0].status, Status::Moved);
        assert!(junit(&f).contains("<failure message=\"MOVED"));
        assert!(markdown(&f).contains("| a | energy_kwh |"));
    }
}
