//! `migsim compare`: one scenario replayed under several consolidation policies, side by side.
//!
//! Every policy sees the same hosts, VMs, traces and seed, so the differences in the table are
//! the policies' alone. Runs go in parallel; the table and files are in the order the policies
//! were given, whatever the thread count.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Failure, load};
use crate::metrics::Summary;
use crate::report::write_atomic;
use crate::sim::Simulation;

/// The policies compared when none are named: the static baseline, one of each Beloglazov
/// detector with the MMT selector at the thresholds of CCPE 2012 Table 3's best runs, and the
/// simple schedulers and the off-hours power-down.
pub const DEFAULT_POLICIES: &[&str] = &[
    "none",
    "thr-mmt-0.8",
    "iqr-mmt-1.5",
    "mad-mmt-2.5",
    "lr-mmt-1.2",
    "lrr-mmt-1.2",
    "ulm",
    "spread",
    "offhours",
];

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Scenario file (default: the built-in quickstart).
    pub scenario: Option<PathBuf>,
    /// A policy to run (repeat, or give a comma-separated list); default: none, the five
    /// Beloglazov detectors with MMT, ulm, spread and offhours.
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
    /// Write `comparison.csv` and `comparison.md` into this folder.
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
}

pub fn run(a: &CompareArgs) -> Result<(), Failure> {
    super::with_jobs(a.jobs, || compare(a))
}

fn compare(a: &CompareArgs) -> Result<(), Failure> {
    let policies: Vec<String> = if a.policies.is_empty() {
        DEFAULT_POLICIES.iter().map(|s| s.to_string()).collect()
    } else {
        a.policies.iter().map(|s| s.trim().to_string()).collect()
    };
    for (i, p) in policies.iter().enumerate() {
        if policies[..i].contains(p) {
            return Err(Failure::BadInput(format!("--policy: {p:?} is given twice")));
        }
    }
    let mut base = a.set.clone();
    if let Some(seed) = a.seed {
        base.push(format!("seed={seed}"));
    }
    // Load every variant first, so that a bad name or override fails before anything runs.
    let mut loaded = Vec::with_capacity(policies.len());
    for p in &policies {
        let mut sets = base.clone();
        sets.push(format!("policy.name={p}"));
        let l = load(a.scenario.as_deref(), &sets)?;
        loaded.push(l);
    }
    let results: Vec<Result<Summary, String>> = loaded
        .par_iter()
        .map(|l| {
            if l.scenario.compat.cloudsim {
                return crate::compat::cloudsim::run_scenario(l).map_err(|e| e.to_string());
            }
            let mut sim = Simulation::build(l).map_err(|e| e.to_string())?;
            sim.run(&mut crate::report::NullRecorder, &mut |_| {})
                .map_err(|e| e.to_string())
        })
        .collect();
    let mut rows = Vec::with_capacity(results.len());
    for (p, r) in policies.iter().zip(results) {
        rows.push(r.map_err(|e| Failure::Failed(format!("policy {p}: {e}")))?);
    }
    let table = Table::new(&rows);
    let ref_kwh = rows[table.reference].energy_kwh;
    for s in &mut rows {
        s.set_baseline(ref_kwh);
    }
    if a.json {
        let json =
            serde_json::to_string_pretty(&rows).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{json}");
    } else {
        let s = &rows[0];
        println!(
            "scenario {} (seed {}), {} hosts, {} VMs, {:.1} h simulated; energy saved is against {}",
            s.scenario,
            s.seed,
            s.hosts,
            s.vms,
            s.horizon_s / 3600.0,
            rows[table.reference].policy
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
    }
    if let Some(p) = &a.csv {
        write(p, table.csv())?;
    }
    if let Some(p) = &a.markdown {
        write(p, table.markdown())?;
    }
    Ok(())
}

/// The comparison, one row per policy.
pub struct Table {
    /// The row that energy savings are measured against: `none` if it ran, else the first.
    pub reference: usize,
    header: Vec<&'static str>,
    cells: Vec<Vec<String>>,
}

impl Table {
    pub fn new(rows: &[Summary]) -> Table {
        let reference = rows.iter().position(|s| s.policy == "none").unwrap_or(0);
        let ref_kwh = rows[reference].energy_kwh;
        let header = vec![
            "policy",
            "energy_kwh",
            "energy_saved_pct",
            "mean_active_hosts",
            "peak_active_hosts",
            "host_shutdowns",
            "migrations",
            "failed",
            "moved_gib",
            "migration_energy_kwh",
            "total_downtime_s",
            "downtime_p50_ms",
            "downtime_p95_ms",
            "downtime_max_ms",
            "mean_migration_s",
            "cpu_unmet_pct",
            "overload_time_pct",
            "slav",
        ];
        let cells = rows
            .iter()
            .map(|s| {
                let saved = if ref_kwh > 0.0 {
                    100.0 * (ref_kwh - s.energy_kwh) / ref_kwh
                } else {
                    0.0
                };
                vec![
                    s.policy.clone(),
                    format!("{:.3}", s.energy_kwh),
                    format!("{:.1}", saved + 0.0),
                    format!("{:.1}", s.mean_active_hosts),
                    s.peak_active_hosts.to_string(),
                    s.host_shutdowns.to_string(),
                    s.migrations.to_string(),
                    (s.failed_migrations + s.cancelled_migrations).to_string(),
                    format!("{:.2}", s.migrated_bytes as f64 / (1u64 << 30) as f64),
                    format!("{:.4}", s.migration_energy_kwh),
                    format!("{:.3}", s.total_downtime_s + 0.0),
                    format!("{:.1}", s.downtime_p50_ms),
                    format!("{:.1}", s.downtime_p95_ms),
                    format!("{:.1}", s.downtime_max_ms),
                    format!("{:.2}", s.mean_migration_time_s + 0.0),
                    format!("{:.3}", 100.0 * s.cpu_unmet_fraction + 0.0),
                    format!("{:.3}", 100.0 * s.overload_time_fraction + 0.0),
                    format!("{:.3e}", s.slav),
                ]
            })
            .collect();
        Table {
            reference,
            header,
            cells,
        }
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
