//! Beloglazov & Buyya, "Optimal online deterministic algorithms and adaptive heuristics for
//! energy and performance efficient dynamic consolidation of virtual machines in Cloud data
//! centers", CCPE 24(13), 2012: Table V, the ten-day medians of the best combinations and the
//! benchmarks, on the ten PlanetLab days CloudSim ships.
//!
//! Every policy runs on every day in both compatibility modes: `ccpe2012` (the paper's
//! simulator, [`crate::compat::cloudsim::Era::Ccpe2012`]) and `cloudsim-3.0.3` (the released
//! CloudSim, bit for bit). The medians are set beside the paper's.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::metrics::Summary;
use crate::report::plot::{DotPanel, DotPanels, DotRow};

/// The compatibility modes compared, as `compat.mode` names them.
pub const MODES: [&str; 2] = ["ccpe2012", "cloudsim-3.0.3"];

/// One row of Table V: the policy's ten-day medians as the paper prints them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Published {
    pub policy: &'static str,
    /// The scenario in `scenarios/cloudsim/`.
    pub scenario: &'static str,
    pub energy_kwh: f64,
    /// SLAV, ×10⁻⁵.
    pub slav_e5: f64,
    /// SLATAH, %.
    pub slatah_pct: f64,
    /// PDM, %.
    pub pdm_pct: f64,
    /// VM migrations, ×10³.
    pub migrations_k: f64,
}

const fn row(
    policy: &'static str,
    scenario: &'static str,
    energy_kwh: f64,
    slav_e5: f64,
    slatah_pct: f64,
    pdm_pct: f64,
    migrations_k: f64,
) -> Published {
    Published {
        policy,
        scenario,
        energy_kwh,
        slav_e5,
        slatah_pct,
        pdm_pct,
        migrations_k,
    }
}

/// CCPE 2012 Table V (medians over the ten days; also the author's thesis, Table 4.5).
pub const TABLE_V: [Published; 8] = [
    row("NPA", "npa", 2419.2, 0.0, 0.0, 0.0, 0.0),
    row("DVFS", "dvfs", 613.6, 0.0, 0.0, 0.0, 0.0),
    row(
        "THR-MMT-1.0",
        "thr-mmt-1.0",
        75.36,
        25.78,
        24.97,
        0.10,
        13.64,
    ),
    row("THR-MMT-0.8", "thr-mmt-0.8", 89.92, 4.57, 4.61, 0.10, 17.18),
    row("IQR-MMT-1.5", "iqr-mmt-1.5", 90.13, 4.51, 4.64, 0.10, 16.93),
    row("MAD-MMT-2.5", "mad-mmt-2.5", 87.67, 4.48, 4.65, 0.10, 16.72),
    row("LRR-MMT-1.2", "lrr-mmt-1.2", 87.93, 2.77, 3.98, 0.07, 12.82),
    row("LR-MMT-1.2", "lr-mmt-1.2", 88.17, 2.33, 3.63, 0.06, 11.85),
];

/// The metrics of one run, in Table V's units.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Metrics {
    pub energy_kwh: f64,
    pub slav_e5: f64,
    pub slatah_pct: f64,
    pub pdm_pct: f64,
    pub migrations_k: f64,
}

impl Metrics {
    fn of(s: &Summary) -> Metrics {
        Metrics {
            energy_kwh: s.energy_kwh,
            slav_e5: s.slav * 1e5,
            slatah_pct: s.slatah * 100.0,
            pdm_pct: s.pdm * 100.0,
            migrations_k: s.migrations as f64 / 1e3,
        }
    }

    /// The metrics by name, in Table V's order.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("energy_kwh", self.energy_kwh),
            ("slav_e5", self.slav_e5),
            ("slatah_pct", self.slatah_pct),
            ("pdm_pct", self.pdm_pct),
            ("migrations_k", self.migrations_k),
        ]
    }
}

impl Published {
    fn metrics(&self) -> Metrics {
        Metrics {
            energy_kwh: self.energy_kwh,
            slav_e5: self.slav_e5,
            slatah_pct: self.slatah_pct,
            pdm_pct: self.pdm_pct,
            migrations_k: self.migrations_k,
        }
    }
}

/// One run: a policy on a day in a mode.
#[derive(Debug, Clone, Serialize)]
pub struct DayRun {
    pub mode: &'static str,
    pub policy: &'static str,
    pub day: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A policy's medians in one mode beside the paper's.
#[derive(Debug, Clone, Serialize)]
pub struct Median {
    pub mode: &'static str,
    pub policy: &'static str,
    pub published: Metrics,
    pub median: Metrics,
}

/// The ten days: the folders of `traces` (`../shared/traces/planetlab`), in name order.
pub fn days(traces: &Path) -> Result<Vec<PathBuf>, String> {
    let mut days: Vec<PathBuf> = std::fs::read_dir(traces)
        .map_err(|e| format!("{}: {e}", traces.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    days.sort();
    if days.is_empty() {
        return Err(format!("{}: no day folders", traces.display()));
    }
    Ok(days)
}

/// Runs every policy of Table V on every day in both modes, on both cores. The runs are
/// independent; each lands in its own slot, so the order of the results is the same whatever
/// the threads do.
pub fn run_all(scenarios: &Path, traces: &Path) -> Result<Vec<DayRun>, String> {
    let days = days(traces)?;
    let mut jobs = Vec::new();
    for mode in MODES {
        for p in &TABLE_V {
            for day in &days {
                jobs.push((mode, p, day.clone()));
            }
        }
    }
    let run = |(mode, p, day): &(&'static str, &Published, PathBuf)| -> Result<DayRun, String> {
        let file = scenarios.join(format!("{}.toml", p.scenario));
        let sets = vec![
            format!("trace.path={}", day.display()),
            format!("compat.mode={mode}"),
        ];
        let loaded = crate::scenario::load_file(&file, &sets).map_err(|e| format!("{e}"))?;
        let s = crate::run::summary(&loaded).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(DayRun {
            mode,
            policy: p.policy,
            day: day
                .file_name()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            metrics: Metrics::of(&s),
        })
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let mut slots: Vec<Option<Result<DayRun, String>>> = vec![None; jobs.len()];
    std::thread::scope(|scope| {
        let chunks: Vec<_> = slots.chunks_mut(jobs.len().div_ceil(threads)).collect();
        let mut start = 0;
        for chunk in chunks {
            let from = start;
            start += chunk.len();
            let jobs = &jobs;
            let run = &run;
            scope.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(run(&jobs[from + k]));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every job ran"))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Each policy's ten-day medians per mode, in Table V's order.
pub fn medians(runs: &[DayRun]) -> Vec<Median> {
    let mut out = Vec::new();
    for mode in MODES {
        for p in &TABLE_V {
            let mine: Vec<&DayRun> = runs
                .iter()
                .filter(|r| r.mode == mode && r.policy == p.policy)
                .collect();
            let m = |f: fn(&Metrics) -> f64| median(mine.iter().map(|r| f(&r.metrics)).collect());
            out.push(Median {
                mode,
                policy: p.policy,
                published: p.metrics(),
                median: Metrics {
                    energy_kwh: m(|x| x.energy_kwh),
                    slav_e5: m(|x| x.slav_e5),
                    slatah_pct: m(|x| x.slatah_pct),
                    pdm_pct: m(|x| x.pdm_pct),
                    migrations_k: m(|x| x.migrations_k),
                },
            });
        }
    }
    out
}

/// The runs as CSV, one row per mode, policy and day.
pub fn csv(runs: &[DayRun]) -> String {
    let mut s =
        String::from("mode,policy,day,energy_kwh,slav_e5,slatah_pct,pdm_pct,migrations_k\n");
    for r in runs {
        let m = &r.metrics;
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.mode,
            r.policy,
            r.day,
            m.energy_kwh,
            m.slav_e5,
            m.slatah_pct,
            m.pdm_pct,
            m.migrations_k
        ));
    }
    s
}

fn off(mine: f64, paper: f64) -> String {
    if paper == 0.0 {
        if mine == 0.0 {
            "".into()
        } else {
            "  n/a".into()
        }
    } else {
        format!("{:+5.1}%", (mine / paper - 1.0) * 100.0)
    }
}

/// Table V beside both modes' medians.
pub fn table(meds: &[Median]) -> String {
    let mut s = String::from(
        "Beloglazov & Buyya, CCPE 2012, Table V (ten-day medians) against the simulation\n\
         policy        mode           ",
    );
    for title in [
        "energy kWh",
        "SLAV ×1e-5",
        "SLATAH %",
        "PDM %",
        "migrations ×1e3",
    ] {
        s.push_str(&format!(" {title:<22}"));
    }
    s.push('\n');
    for m in meds {
        s.push_str(&format!("{:<13} {:<15}", m.policy, m.mode));
        for ((_, mine), (_, paper)) in m.median.named().into_iter().zip(m.published.named()) {
            s.push_str(&format!(
                " {mine:>7.2}/{paper:>7.2} {:>6}",
                off(mine, paper)
            ));
        }
        s.push('\n');
    }
    s.push_str("(simulated/paper, and how far the simulation is from the paper)\n");
    s
}

/// Like the paper's Fig. 3: for each metric, every policy's per-day values in each mode, with
/// the paper's median marked.
pub fn figure(runs: &[DayRun]) -> DotPanels {
    let metric_names = [
        ("energy_kwh", "Energy, kWh"),
        ("slav_e5", "SLAV, ×10⁻⁵"),
        ("slatah_pct", "SLATAH, %"),
        ("pdm_pct", "PDM, %"),
        ("migrations_k", "VM migrations, ×10³"),
    ];
    // NPA and DVFS migrate nothing and dwarf the others' energy: the figure shows the
    // consolidating policies, as the paper's does.
    let policies: Vec<&Published> = TABLE_V.iter().filter(|p| p.migrations_k > 0.0).collect();
    let panels = metric_names
        .iter()
        .enumerate()
        .map(|(k, (_, title))| DotPanel {
            title: title.to_string(),
            rows: policies
                .iter()
                .map(|p| DotRow {
                    label: p.policy.to_string(),
                    groups: MODES
                        .iter()
                        .map(|mode| {
                            runs.iter()
                                .filter(|r| r.mode == *mode && r.policy == p.policy)
                                .map(|r| r.metrics.named()[k].1)
                                .collect()
                        })
                        .collect(),
                    mark: p.metrics().named()[k].1,
                })
                .collect(),
        })
        .collect();
    DotPanels {
        title: "Ten PlanetLab days per policy: ccpe2012 (blue), cloudsim-3.0.3 (orange); | the paper's median".into(),
        groups: MODES.iter().map(|m| m.to_string()).collect(),
        panels,
        columns: 3,
    }
}
