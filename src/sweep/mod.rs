//! Parameter sweeps: a scenario run at every point of a Cartesian product of overrides, under
//! several seeds, with a mean and a 95 % confidence interval per point.
//!
//! A sweep is split into tasks, one per (point, seed). Tasks are numbered point-major
//! (`task = point · seeds + seed index`), and shard `i` of `n` runs the tasks with
//! `task mod n = i`, so that shards get a similar mix of cheap and dear points. Each shard
//! writes a self-describing [`ResultFile`] (scenario hash, migsim version, axes, seeds, its
//! tasks); [`merge`] checks that a set of them belongs to one sweep and covers it exactly, and
//! yields the same rows a local sweep would, so `results.csv` and `summary.csv` come out
//! byte-identical whichever way the sweep ran.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::metrics::Summary;

/// The `format` field of every result file.
pub const FORMAT: &str = "migsim-sweep";
/// Bumped when the result file's layout changes; [`merge`] refuses other versions.
pub const FORMAT_VERSION: u32 = 1;

/// One swept scenario field and the values it takes. A key of several comma-separated fields
/// (`host_type[0].nic,host_type[1].nic`) is a linked axis: every field takes the same value,
/// so that "every NIC at 10 Gbit/s" is one point, not a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl Axis {
    /// The scenario fields this axis sets.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.key.split(',').map(str::trim)
    }
}

/// Parses `key=v1,v2,...`. Commas inside `[...]`, `{...}` or quotes do not split, so that an
/// array value such as `hosts[0].power=[1,2]` stays one value.
pub fn parse_axis(text: &str) -> Result<Axis, String> {
    let (key, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("--set {text:?}: expected key=value[,value...]"))?;
    let key = key.trim();
    if key.split(',').any(|k| k.trim().is_empty()) {
        return Err(format!("--set {text:?}: a key is empty"));
    }
    let key = key.split(',').map(str::trim).collect::<Vec<_>>().join(",");
    let mut values = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in rest.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '[' | '{') => {
                depth += 1;
                cur.push(c);
            }
            (None, ']' | '}') => {
                depth -= 1;
                cur.push(c);
            }
            (None, ',') if depth == 0 => values.push(std::mem::take(&mut cur)),
            (None, c) => cur.push(c),
        }
    }
    values.push(cur);
    let values: Vec<String> = values.into_iter().map(|v| v.trim().to_string()).collect();
    if let Some(i) = values.iter().position(|v| v.is_empty()) {
        return Err(format!("--set {text:?}: value {} is empty", i + 1));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("--set {text:?}: value {v:?} is given twice"));
        }
    }
    Ok(Axis {
        key: key.to_string(),
        values,
    })
}

/// Parses `--seeds`: `A..B` or `A..=B` (both inclusive: `1..10` is ten seeds), a list
/// `3,7,11`, or a count `N` (N seeds from `first`, the scenario's seed).
pub fn parse_seeds(text: &str, first: u64) -> Result<Vec<u64>, String> {
    let bad = |why: &str| format!("--seeds {text:?}: {why}");
    let num = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| bad(&format!("{:?} is not a whole number", s.trim())))
    };
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..") {
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad("the range is empty"));
        }
        (a..=b).collect()
    } else if text.contains(',') {
        text.split(',').map(num).collect::<Result<_, _>>()?
    } else {
        let n = num(text)?;
        if n == 0 {
            return Err(bad("must be at least 1"));
        }
        (0..n).map(|k| first.wrapping_add(k)).collect()
    };
    if let Some(s) = seeds.iter().find(|&&s| s > i64::MAX as u64) {
        return Err(bad(&format!(
            "seed {s} is above 2^63-1 (TOML integers are signed)"
        )));
    }
    for (i, s) in seeds.iter().enumerate() {
        if seeds[..i].contains(s) {
            return Err(bad(&format!("seed {s} is given twice")));
        }
    }
    Ok(seeds)
}

/// Parses `--shard I/N` (0 ≤ I < N).
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("--shard {text:?}: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// The shard a Slurm job-array task runs: `SLURM_ARRAY_TASK_ID` counted from
/// `SLURM_ARRAY_TASK_MIN` (arrays need not start at 0) out of `SLURM_ARRAY_TASK_COUNT`.
/// `None` outside an array; an error if the variables disagree.
pub fn slurm_shard(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
    let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
    else {
        return Ok(None);
    };
    let parse = |name: &str, v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("{name}={v:?} is not a whole number"))
    };
    let id = parse("SLURM_ARRAY_TASK_ID", &id)?;
    let count = parse("SLURM_ARRAY_TASK_COUNT", &count)?;
    let min = match var("SLURM_ARRAY_TASK_MIN") {
        Some(m) => parse("SLURM_ARRAY_TASK_MIN", &m)?,
        None => 0,
    };
    let index = id
        .checked_sub(min)
        .ok_or_else(|| format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"))?;
    if count == 0 || index >= count {
        return Err(format!(
            "SLURM_ARRAY_TASK_ID={id} (minimum {min}) is not one of SLURM_ARRAY_TASK_COUNT={count} \
             tasks; submit a contiguous array such as --array=0-{}",
            count.max(1) - 1
        ));
    }
    Ok(Some(Shard { index, count }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn owns(&self, task: usize) -> bool {
        task % self.count == self.index
    }

    /// The result file's name: `sweep.json` for a whole sweep, else `shard-I-of-N.json`.
    pub fn file_name(&self) -> String {
        if self.count == 1 {
            "sweep.json".into()
        } else {
            format!("shard-{}-of-{}.json", self.index, self.count)
        }
    }
}

/// What defines a sweep: every shard of one sweep carries the same plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The scenario's name.
    pub scenario: String,
    /// SHA-256 of the scenario as resolved with the fixed overrides (`scenario.toml` of a run),
    /// before the swept values and seeds are applied.
    pub scenario_hash: String,
    /// The overrides that hold at every point (`--set key=value` with one value).
    pub fixed: Vec<String>,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
}

impl Plan {
    pub fn points(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    pub fn tasks(&self) -> usize {
        self.points() * self.seeds.len()
    }

    /// Each axis's value at `point`; the first axis varies slowest.
    pub fn point_values(&self, point: usize) -> Vec<&str> {
        let mut rest = point;
        let mut out = vec![""; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            out[i] = &a.values[rest % a.values.len()];
            rest /= a.values.len();
        }
        out
    }

    /// (point, seed) of a task.
    pub fn task(&self, task: usize) -> (usize, u64) {
        let s = self.seeds.len();
        (task / s, self.seeds[task % s])
    }

    /// The overrides of a task: the fixed ones, then the point's, then the seed.
    pub fn task_sets(&self, task: usize) -> Vec<String> {
        let (point, seed) = self.task(task);
        let mut sets = self.fixed.clone();
        for (a, v) in self.axes.iter().zip(self.point_values(point)) {
            for field in a.fields() {
                sets.push(format!("{field}={v}"));
            }
        }
        sets.push(format!("seed={seed}"));
        sets
    }
}

/// The metrics a sweep records, in column order: the catalog's recorded figures, by their
/// `summary.json` names.
pub use crate::metrics::catalog::RECORDED as METRICS;

/// One task's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub task: usize,
    pub point: usize,
    pub seed: u64,
    /// Empty when the run succeeded; else why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// `METRICS` in order; `None` where the run has no such figure or failed.
    pub metrics: Vec<Option<f64>>,
}

impl TaskResult {
    pub fn ok(plan: &Plan, task: usize, s: &Summary) -> TaskResult {
        let (point, seed) = plan.task(task);
        TaskResult {
            task,
            point,
            seed,
            error: String::new(),
            metrics: METRICS.iter().map(|m| (m.value)(s)).collect(),
        }
    }

    pub fn failed(plan: &Plan, task: usize, why: String) -> TaskResult {
        let (point, seed) = plan.task(task);
        TaskResult {
            task,
            point,
            seed,
            error: if why.is_empty() { "failed".into() } else { why },
            metrics: vec![None; METRICS.len()],
        }
    }
}

/// What one shard (or a whole local sweep) writes: self-describing, so that `collect` can tell
/// whether files belong together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    pub format: String,
    pub format_version: u32,
    pub migsim_version: String,
    pub plan: Plan,
    pub shard: Shard,
    /// The metric names, so that a file says what its numbers are.
    pub metrics: Vec<String>,
    pub results: Vec<TaskResult>,
}

impl ResultFile {
    pub fn new(plan: Plan, shard: Shard, results: Vec<TaskResult>) -> ResultFile {
        ResultFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            migsim_version: env!("CARGO_PKG_VERSION").into(),
            plan,
            shard,
            metrics: METRICS.iter().map(|m| m.key.to_string()).collect(),
            results,
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("result file serialises");
        s.push('\n');
        s
    }

    /// Reads a result file; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<ResultFile, String> {
        let f: ResultFile = serde_json::from_str(text).map_err(|e| {
            format!(
                "{name}:{}:{}: not a migsim sweep result file: {e}",
                e.line(),
                e.column()
            )
        })?;
        if f.format != FORMAT {
            return Err(format!(
                "{name}: format is {:?}, expected {FORMAT:?}",
                f.format
            ));
        }
        if f.format_version != FORMAT_VERSION {
            return Err(format!(
                "{name}: format_version {} is not {FORMAT_VERSION}; collect it with the migsim \
                 that wrote it",
                f.format_version
            ));
        }
        let expect: Vec<String> = METRICS.iter().map(|m| m.key.to_string()).collect();
        if f.metrics != expect {
            return Err(format!(
                "{name}: its metrics differ from this migsim's (written by migsim {})",
                f.migsim_version
            ));
        }
        let tasks = f.plan.tasks();
        for r in &f.results {
            if r.task >= tasks || f.plan.task(r.task) != (r.point, r.seed) {
                return Err(format!(
                    "{name}: result for task {} (point {}, seed {}) is not part of its plan",
                    r.task, r.point, r.seed
                ));
            }
            if r.metrics.len() != METRICS.len() {
                return Err(format!(
                    "{name}: task {} has {} metrics, expected {}",
                    r.task,
                    r.metrics.len(),
                    METRICS.len()
                ));
            }
        }
        Ok(f)
    }
}

/// Merges result files of one sweep into its full, ordered list of results. Refuses files of
/// different scenarios, plans or migsim versions, a task given twice, and a sweep with tasks
/// missing (naming them), so a merged sweep never silently lacks a run.
pub fn merge(files: &[(String, ResultFile)]) -> Result<(Plan, Vec<TaskResult>), String> {
    let Some((first_name, first)) = files.first() else {
        return Err("no sweep result files to collect".into());
    };
    for (name, f) in &files[1..] {
        if f.migsim_version != first.migsim_version {
            return Err(format!(
                "{name} was written by migsim {} but {first_name} by migsim {}; results of \
                 different versions are not merged",
                f.migsim_version, first.migsim_version
            ));
        }
        if f.plan.scenario_hash != first.plan.scenario_hash {
            return Err(format!(
                "{name} ran scenario {:?} with hash {} but {first_name} ran {:?} with hash {}; \
                 the scenario or its fixed overrides changed between shards",
                f.plan.scenario,
                short(&f.plan.scenario_hash),
                first.plan.scenario,
                short(&first.plan.scenario_hash)
            ));
        }
        if f.plan != first.plan {
            return Err(format!(
                "{name} and {first_name} are shards of different sweeps (axes, seeds or \
                 overrides differ)"
            ));
        }
    }
    let plan = first.plan.clone();
    let mut slots: Vec<Option<(TaskResult, &str)>> = vec![None; plan.tasks()];
    for (name, f) in files {
        for r in &f.results {
            if let Some((_, other)) = &slots[r.task] {
                return Err(format!(
                    "task {} (point {}, seed {}) is in both {other} and {name}",
                    r.task, r.point, r.seed
                ));
            }
            slots[r.task] = Some((r.clone(), name));
        }
    }
    let missing: Vec<usize> = (0..slots.len()).filter(|&t| slots[t].is_none()).collect();
    if !missing.is_empty() {
        let shards: Vec<String> = files
            .iter()
            .map(|(_, f)| format!("{}/{}", f.shard.index, f.shard.count))
            .collect();
        let list: Vec<String> = missing.iter().take(10).map(|t| t.to_string()).collect();
        return Err(format!(
            "{} of {} tasks are missing (tasks {}{}); shards read: {}",
            missing.len(),
            slots.len(),
            list.join(", "),
            if missing.len() > 10 { ", …" } else { "" },
            shards.join(", ")
        ));
    }
    Ok((plan, slots.into_iter().map(|s| s.unwrap().0).collect()))
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// A value as CSV writes it: shortest round-trip decimal, empty when absent.
fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{}", x + 0.0),
        Some(x) => format!("{x}"),
        None => String::new(),
    }
}

/// Writes rows as CSV (RFC 4180 quoting, by the csv crate).
fn csv_text(rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(&r).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// `results.csv`: one row per (point, seed).
pub fn results_csv(plan: &Plan, results: &[TaskResult]) -> String {
    let header: Vec<String> = ["point", "seed"]
        .into_iter()
        .map(String::from)
        .chain(plan.axes.iter().map(|a| a.key.clone()))
        .chain(std::iter::once("status".to_string()))
        .chain(METRICS.iter().map(|m| m.key.to_string()))
        .collect();
    let rows = results.iter().map(|r| {
        let mut row = vec![r.point.to_string(), r.seed.to_string()];
        row.extend(plan.point_values(r.point).into_iter().map(String::from));
        row.push(if r.error.is_empty() {
            "ok".to_string()
        } else {
            format!("error: {}", r.error)
        });
        row.extend(r.metrics.iter().map(|v| cell(*v)));
        row
    });
    csv_text(std::iter::once(header).chain(rows))
}

/// Mean and two-sided 95 % confidence interval of the mean (Student's t with n − 1 degrees of
/// freedom), over the runs of one point that have the metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; `None` for one run.
    pub std: Option<f64>,
    pub ci95: Option<(f64, f64)>,
}

pub fn estimate(xs: &[f64]) -> Option<Estimate> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Estimate {
            n,
            mean,
            std: None,
            ci95: None,
        });
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("n > 1 gives positive degrees of freedom")
        .inverse_cdf(0.975);
    let half = t * std / (n as f64).sqrt();
    Some(Estimate {
        n,
        mean,
        std: Some(std),
        ci95: Some((mean - half, mean + half)),
    })
}

/// Per point and metric, the estimate over the point's successful runs.
pub fn estimates(plan: &Plan, results: &[TaskResult]) -> Vec<Vec<Option<Estimate>>> {
    let mut by_point: BTreeMap<usize, Vec<&TaskResult>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.error.is_empty()) {
        by_point.entry(r.point).or_default().push(r);
    }
    (0..plan.points())
        .map(|p| {
            let runs = by_point.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            (0..METRICS.len())
                .map(|m| {
                    let xs: Vec<f64> = runs.iter().filter_map(|r| r.metrics[m]).collect();
                    estimate(&xs)
                })
                .collect()
        })
        .collect()
}

/// `summary.csv`: one row per (point, metric), tidy for pandas and spreadsheets alike.
pub fn summary_csv(plan: &Plan, results: &[TaskResult]) -> String {
    let header: Vec<String> = std::iter::once("point".to_string())
        .chain(plan.axes.iter().map(|a| a.key.clone()))
        .chain(
            [
                "metric",
                "runs",
                "failed",
                "mean",
                "std",
                "ci95_low",
                "ci95_high",
            ]
            .into_iter()
            .map(String::from),
        )
        .collect();
    let mut rows = vec![header];
    for (p, row) in estimates(plan, results).iter().enumerate() {
        let failed = results
            .iter()
            .filter(|r| r.point == p && !r.error.is_empty())
            .count();
        for (m, e) in METRICS.iter().zip(row) {
            let name = m.key;
            let mut r = vec![p.to_string()];
            r.extend(plan.point_values(p).into_iter().map(String::from));
            r.push(name.to_string());
            r.push(e.map_or(0, |e| e.n).to_string());
            r.push(failed.to_string());
            r.push(cell(e.map(|e| e.mean)));
            r.push(cell(e.and_then(|e| e.std)));
            r.push(cell(e.and_then(|e| e.ci95).map(|c| c.0)));
            r.push(cell(e.and_then(|e| e.ci95).map(|c| c.1)));
            rows.push(r);
        }
    }
    csv_text(rows)
}

/// The metrics the terminal table shows, by name, with a scale and decimals.
const TABLE: &[(&str, &str, f64, usize)] = &[
    ("energy_kwh", "energy_kwh", 1.0, 3),
    ("energy_saved_pct", "saved_pct", 1.0, 1),
    ("migrations", "migrations", 1.0, 1),
    ("downtime_p95_ms", "downtime_p95_ms", 1.0, 1),
    ("cpu_unmet_fraction", "cpu_unmet_pct", 100.0, 3),
    ("slav", "slav", 1.0, 0),
];

/// A plain-text table of every point: the mean and the 95 % interval's half-width.
pub fn table(plan: &Plan, results: &[TaskResult]) -> String {
    let est = estimates(plan, results);
    let mut header: Vec<String> = plan.axes.iter().map(|a| a.key.clone()).collect();
    header.push("runs".into());
    header.extend(TABLE.iter().map(|t| t.1.to_string()));
    let mut rows = Vec::new();
    for (p, row) in est.iter().enumerate() {
        let mut cells: Vec<String> = plan
            .point_values(p)
            .into_iter()
            .map(str::to_string)
            .collect();
        let ok = results
            .iter()
            .filter(|r| r.point == p && r.error.is_empty())
            .count();
        let all = results.iter().filter(|r| r.point == p).count();
        cells.push(if ok == all {
            ok.to_string()
        } else {
            format!("{ok}/{all}")
        });
        for &(name, _, scale, d) in TABLE {
            let m = METRICS
                .iter()
                .position(|m| m.key == name)
                .expect("known metric");
            cells.push(match row[m] {
                None => "-".into(),
                Some(e) => {
                    let f = |x: f64| {
                        if d == 0 {
                            format!("{:.2e}", x * scale)
                        } else {
                            format!("{:.d$}", x * scale + 0.0)
                        }
                    };
                    match e.ci95 {
                        Some((lo, hi)) => format!("{} ±{}", f(e.mean), f((hi - lo) / 2.0)),
                        None => f(e.mean),
                    }
                }
            });
        }
        rows.push(cells);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c < plan.axes.len() {
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
