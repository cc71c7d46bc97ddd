//! `migsim compare`: one scenario replayed under several consolidation policies, side by side.
//!
//! Every policy sees the same hosts, VMs, traces and seed, so the differences in the table are
//! the policies' alone. Runs go in parallel; the table and files are in the order the policies
//! were given, whatever the thread count.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::progress::Tasks;
use super::{Failure, load};
use crate::base::write_atomic;
use crate::metrics::{Summary, catalog};
use crate::report;
use crate::report::comparison::{self, PolicyRun};
use crate::scenario::load::Loaded;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Scenario file (default: the built-in quickstart).
    pub scenario: Option<PathBuf>,
    /// A policy to run (repeat, or give a comma-separated list); default: each registry
    /// entry's defaults (the policies listed below, Beloglazov's five detectors with MMT).
    #[arg(
        long = "policy",
        short = 'p',
        visible_alias = "policies",
        value_delimiter = ','
    )]
    pub policies: Vec<String>,
    /// Override a scenario value for every run, e.g. `horizon=6h` (repeatable).
    #[arg(long)]
    pub set: Vec<String>,
    /// Random seed for every run (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run each policy under this many seeds (the seed, seed + 1, …); the table shows means.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Write `comparison.csv`, `comparison.md`, `report.html`, the charts (`plots/`, PNG and
    /// SVG) and each policy's `runs/<policy>/{timeline,migrations}.csv` into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the table as CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the table as Markdown here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Print the summaries as a JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// No progress bar and no table (the files still hold it).
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: &CompareArgs) -> Result<(), Failure> {
    super::with_jobs(a.jobs, || compare(a))
}

fn compare(a: &CompareArgs) -> Result<(), Failure> {
    let policies: Vec<String> = if a.policies.is_empty() {
        // The registry's defaults: the static baseline, one of each Beloglazov detector with
        // MMT at the parameters of CCPE 2012 Table V, the simple schedulers and off-hours.
        crate::policy::defaults()
            .into_iter()
            .map(str::to_string)
            .collect()
    } else {
        a.policies.iter().map(|s| s.trim().to_string()).collect()
    };
    for (i, p) in policies.iter().enumerate() {
        if policies[..i].contains(p) {
            return Err(Failure::BadInput(format!("--policy: {p:?} is given twice")));
        }
    }
    if a.seeds == 0 {
        return Err(Failure::BadInput("--seeds: must be at least 1".into()));
    }
    let first_seed = match a.seed {
        Some(s) => s,
        None => load(a.scenario.as_deref(), &a.set)?.scenario.seed,
    };
    let seeds: Vec<u64> = (0..a.seeds).map(|k| first_seed.wrapping_add(k)).collect();
    // Load every variant first, so that a bad name or override fails before anything runs.
    let mut loaded = Vec::with_capacity(policies.len() * seeds.len());
    for p in &policies {
        for seed in &seeds {
            let mut sets = a.set.clone();
            sets.push(format!("seed={seed}"));
            sets.push(format!("policy.name={p}"));
            loaded.push(load(a.scenario.as_deref(), &sets)?);
        }
    }
    // The charts need each policy's timeline and migrations: kept for its first seed only.
    let keep_series = a.out.is_some();
    let progress = Tasks::new("compare", loaded.len(), a.quiet);
    let results: Vec<Result<(Summary, Option<PolicyRun>), String>> = loaded
        .par_iter()
        .enumerate()
        .map(|(i, l)| {
            let r = run_one(l, keep_series && i % seeds.len() == 0);
            progress.tick();
            r
        })
        .collect();
    progress.finish();
    let mut rows: Vec<Vec<Summary>> = Vec::with_capacity(policies.len());
    let mut series: Vec<PolicyRun> = Vec::new();
    let mut results = results.into_iter();
    for p in &policies {
        let mut group = Vec::with_capacity(seeds.len());
        for seed in &seeds {
            let r = results.next().expect("one result per run");
            let (s, run) =
                r.map_err(|e| Failure::Failed(format!("policy {p}, seed {seed}: {e}")))?;
            series.extend(run);
            group.push(s);
        }
        rows.push(group);
    }
    let table = Table::new(&rows);
    // Each run's savings are against the reference policy under the same seed.
    let ref_kwh: Vec<f64> = rows[table.reference].iter().map(|s| s.energy_kwh).collect();
    for g in &mut rows {
        for (s, &r) in g.iter_mut().zip(&ref_kwh) {
            s.set_baseline(r);
        }
    }
    for r in &mut series {
        if let Some(g) = rows.iter().find(|g| g[0].policy == r.summary.policy) {
            r.summary = g[0].clone();
        }
    }
    let seeds_text = if seeds.len() == 1 {
        format!("seed {}", seeds[0])
    } else {
        format!("seeds {}..={}, means", seeds[0], seeds[seeds.len() - 1])
    };
    if a.json {
        let all: Vec<&Summary> = rows.iter().flatten().collect();
        let json =
            serde_json::to_string_pretty(&all).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{json}");
    } else if !a.quiet {
        let s = &rows[0][0];
        println!(
            "scenario {} ({seeds_text}), {} hosts, {} VMs, {:.1} h simulated; energy saved is against {}",
            s.scenario,
            s.hosts,
            s.vms,
            s.horizon_s / 3600.0,
            rows[table.reference][0].policy
        );
        print!("{}", table.text());
    }
    let write = |p: &Path, body: String| {
        write_atomic(p, body.as_bytes())
            .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))
    };
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
        write(&dir.join("comparison.csv"), table.csv())?;
        write(&dir.join("comparison.md"), table.markdown())?;
        // Each policy's series, for notebooks: runs/<policy>/{timeline,migrations}.csv.
        for r in &series {
            let d = dir.join("runs").join(comparison::slug(&r.summary.policy));
            std::fs::create_dir_all(&d)
                .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", d.display())))?;
            write(&d.join("timeline.csv"), report::timeline_csv(&r.timeline))?;
            let mig = report::migrations_csv(&r.migrations)
                .map_err(|e| Failure::Failed(format!("migrations.csv: {e}")))?;
            write_atomic(&d.join("migrations.csv"), &mig)
                .map_err(|e| Failure::Failed(format!("{}: {e}", d.display())))?;
        }
        let plots = dir.join("plots");
        let figures = comparison::write_plots(&plots, &series)
            .map_err(|e| Failure::Failed(format!("plots in {}: {e}", plots.display())))?;
        let s = &rows[0][0];
        let facts = vec![
            format!(
                "Scenario {}: {} hosts, {} VMs, {:.1} h simulated, {seeds_text}.",
                s.scenario,
                s.hosts,
                s.vms,
                s.horizon_s / 3600.0
            ),
            format!(
                "Energy saved is measured against {}, run under the same seed.",
                rows[table.reference][0].policy
            ),
            "Every policy saw the same hosts, VMs, traces and seeds; differences are the \
             policies' alone."
                .to_string(),
        ];
        let html = comparison::report_html(
            &format!("migsim comparison: {}", s.scenario),
            &facts,
            table.header(),
            table.rows(),
            &plots,
            &figures,
        )
        .map_err(|e| Failure::Failed(format!("report.html: {e}")))?;
        write(&dir.join("report.html"), html)?;
        if !a.quiet && !a.json {
            println!(
                "wrote {} (comparison.csv, comparison.md, report.html, {} charts in plots/, \
                 runs/<policy>/)",
                dir.display(),
                figures.len()
            );
        }
    }
    if let Some(p) = &a.csv {
        write(p, table.csv())?;
    }
    if let Some(p) = &a.markdown {
        write(p, table.markdown())?;
    }
    Ok(())
}

/// Runs one variant; with `keep`, also returns what its charts need.
fn run_one(l: &Loaded, keep: bool) -> Result<(Summary, Option<PolicyRun>), String> {
    let run = crate::run::engine_for(&l.scenario)
        .run(l, &mut crate::sim::NullRecorder, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let s = run.summary;
    // CloudSim's loop records no per-host series or per-migration rows.
    let series = run.series.unwrap_or_default();
    let run = keep.then(|| PolicyRun {
        summary: s.clone(),
        timeline: series.timeline,
        migrations: series.migrations,
    });
    Ok((s, run))
}

/// A table column: its heading, the catalog figure it shows (`crate::metrics::catalog`)
/// and the scale that turns it into the heading's unit, and its decimals (`None`: a count,
/// printed whole when there is one seed and to one decimal as a mean of several).
type Column = (&'static str, &'static str, f64, Option<usize>);

/// Bytes to GiB.
const GIB: f64 = 1.0 / (1u64 << 30) as f64;

const COLUMNS: &[Column] = &[
    ("energy_kwh", "energy_kwh", 1.0, Some(3)),
    // Against the comparison's own reference policy, worked out in `Table::new`.
    ("energy_saved_pct", "energy_saved_pct", 1.0, Some(1)),
    ("mean_active_hosts", "mean_active_hosts", 1.0, Some(1)),
    ("peak_active_hosts", "peak_active_hosts", 1.0, None),
    ("host_shutdowns", "host_shutdowns", 1.0, None),
    ("migrations", "migrations", 1.0, None),
    ("failed", "not_completed_migrations", 1.0, None),
    ("moved_gib", "migrated_bytes", GIB, Some(2)),
    ("migration_energy_kwh", "migration_energy_kwh", 1.0, Some(4)),
    ("total_downtime_s", "total_downtime_s", 1.0, Some(3)),
    ("downtime_p50_ms", "downtime_p50_ms", 1.0, Some(1)),
    ("downtime_p95_ms", "downtime_p95_ms", 1.0, Some(1)),
    ("downtime_max_ms", "downtime_max_ms", 1.0, Some(1)),
    ("mean_migration_s", "mean_migration_time_s", 1.0, Some(2)),
    ("cpu_unmet_pct", "cpu_unmet_fraction", 100.0, Some(3)),
    (
        "overload_time_pct",
        "overload_time_fraction",
        100.0,
        Some(3),
    ),
    ("slatah", "slatah", 1.0, Some(5)),
    ("pdm", "pdm", 1.0, Some(6)),
    ("slav", "slav", 1.0, None),
];

/// The comparison, one row per policy; with several seeds each cell is the mean over them.
pub struct Table {
    /// The row that energy savings are measured against: `none` if it ran, else the first.
    pub reference: usize,
    header: Vec<&'static str>,
    cells: Vec<Vec<String>>,
}

impl Table {
    /// `rows[i]` holds policy i's summaries, one per seed.
    pub fn new(rows: &[Vec<Summary>]) -> Table {
        let reference = rows.iter().position(|g| g[0].policy == "none").unwrap_or(0);
        let mean = |g: &[Summary], f: &dyn Fn(&Summary) -> f64| {
            g.iter().map(f).sum::<f64>() / g.len() as f64 + 0.0
        };
        let ref_kwh = mean(&rows[reference], &|s| s.energy_kwh);
        let header = std::iter::once("policy")
            .chain(COLUMNS.iter().map(|c| c.0))
            .collect();
        let cells = rows
            .iter()
            .map(|g| {
                let mut row = vec![g[0].policy.clone()];
                for &(name, key, scale, decimals) in COLUMNS {
                    let v = if name == "energy_saved_pct" {
                        let kwh = mean(g, &|s| s.energy_kwh);
                        if ref_kwh > 0.0 {
                            100.0 * (ref_kwh - kwh) / ref_kwh + 0.0
                        } else {
                            0.0
                        }
                    } else {
                        mean(g, &|s| catalog::scaled(s, key, scale))
                    };
                    row.push(match decimals {
                        Some(d) => format!("{v:.d$}"),
                        None if name == "slav" => format!("{v:.3e}"),
                        None if g.len() == 1 => format!("{v:.0}"),
                        None => format!("{v:.1}"),
                    });
                }
                row
            })
            .collect();
        Table {
            reference,
            header,
            cells,
        }
    }

    pub fn header(&self) -> &[&'static str] {
        &self.header
    }

    pub fn rows(&self) -> &[Vec<String>] {
        &self.cells
    }

    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.cells
                    .iter()
                    .map(|r| r[c].len())
                    .chain([self.header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &[&str]| {
            for (c, cell) in cells.iter().enumerate() {
                if c == 0 {
                    let _ = write!(out, "{cell:<w$}", w = widths[c]);
                } else {
                    let _ = write!(out, "  {cell:>w$}", w = widths[c]);
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        for r in &self.cells {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(&mut out, &cells);
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push('\n');
        for r in &self.cells {
            out.push_str(&r.join(","));
            out.push('\n');
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.header.join(" | "));
        out.push('|');
        for c in 0..self.header.len() {
            out.push_str(if c == 0 { " :-- |" } else { " --: |" });
        }
        out.push('\n');
        for r in &self.cells {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out
    }
}
