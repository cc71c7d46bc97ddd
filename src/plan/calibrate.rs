//! Fitting what the migration model cannot know about a cluster from the migrations its
//! executed plans measured: per source host type, the rate a migration stream really reaches
//! (its CPU and network together), the switchover (the pause after the last page) and the
//! setup (libvirt preparing the destination before the first page).
//!
//! Each executed plan is simulated again from the scenario its folder keeps
//! (`scenario.toml`), with candidate constants, and each measured migration is matched to its
//! simulated twin (same VM, source and destination, nearest planned start). The fit
//! minimises the squared log-ratios of simulated to measured total time and bytes, by golden
//! section over the rate, with setup and switchover from the median residuals, a few rounds
//! in turn. The error is reported as planned, as fitted, and on held-out migrations
//! (k-fold), so that a fit that only memorised its data shows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{ActionKind, ActionPlan};
use crate::scenario::load::Loaded;
use crate::scenario::{CalibrationSpec, HostCalibration};
use crate::sim::Simulation;
use crate::units::{Bandwidth, Duration};

/// Fewer measured migrations of a host type than this cannot fit its three constants and
/// still leave one to check them on.
pub const MIN_MIGRATIONS: usize = 3;

/// One measured migration.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The plan folder and action id.
    pub plan: usize,
    pub action: String,
    pub vm: String,
    pub source: String,
    pub destination: String,
    /// When the plan had it start, seconds into the run.
    pub planned_start_s: f64,
    pub predicted: Figures,
    pub measured: Figures,
}

/// A migration's total time, downtime and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    pub time_s: f64,
    pub downtime_ms: f64,
    pub bytes: f64,
}

/// An executed plan: its scenario and its measured migrations.
pub struct Executed {
    pub dir: PathBuf,
    pub loaded: Loaded,
}

/// The constants of one host type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constants {
    /// Bytes per second.
    pub stream_rate: f64,
    pub switchover_s: f64,
    /// Seconds of switchover per GiB of the guest's memory.
    pub switchover_per_gib_s: f64,
    pub setup_s: f64,
}

/// Where a fit starts: a 1 Gbit/s stream (125 MB/s, a modest NIC; the search spans 1 MB/s to 1 TB/s), a
/// switchover of 10 ms (the order of QEMU's measured 3-7 ms, `Hypervisor::default_resume_time`),
/// no setup.
impl Default for Constants {
    fn default() -> Constants {
        Constants {
            stream_rate: 125e6,
            switchover_s: 0.01,
            switchover_per_gib_s: 0.0,
            setup_s: 0.0,
        }
    }
}

fn num(
    row: &csv::StringRecord,
    i: usize,
    file: &Path,
    line: usize,
    field: &str,
) -> Result<f64, String> {
    row.get(i)
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| {
            format!(
                "{}:{line}: {field}: {:?} is not a measurement",
                file.display(),
                row.get(i).unwrap_or("")
            )
        })
}

/// Reads a plan folder: `plan.json`, `execution.csv` and `scenario.toml`. Only migrations
/// that succeeded count.
pub fn read_dir(dir: &Path, index: usize) -> Result<(Executed, Vec<Measured>), String> {
    let pj = dir.join("plan.json");
    let text = std::fs::read_to_string(&pj).map_err(|e| format!("{}: {e}", pj.display()))?;
    let plan = ActionPlan::parse(&pj.display().to_string(), &text)?;
    let sp = dir.join("scenario.toml");
    if !sp.exists() {
        return Err(format!(
            "{}: missing; plans made by this version of migsim keep their scenario there \
             (make the plan again)",
            sp.display()
        ));
    }
    let loaded = crate::scenario::load::load_file(&sp, &[]).map_err(|e| e.to_string())?;
    let ep = dir.join("execution.csv");
    let mut rd = csv::Reader::from_path(&ep).map_err(|e| format!("{}: {e}", ep.display()))?;
    let head = rd
        .headers()
        .map_err(|e| format!("{}: {e}", ep.display()))?
        .clone();
    let col = |n: &str| {
        head.iter().position(|h| h == n).ok_or_else(|| {
            format!(
                "{}:1: no column {n:?}; is this an execution.csv?",
                ep.display()
            )
        })
    };
    let c = [
        col("action")?,
        col("type")?,
        col("status")?,
        col("measured_time_s")?,
        col("measured_downtime_ms")?,
        col("measured_bytes")?,
        col("predicted_time_s")?,
        col("predicted_downtime_ms")?,
        col("predicted_bytes")?,
    ];
    let mut out = Vec::new();
    for (i, row) in rd.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| format!("{}:{line}: {e}", ep.display()))?;
        if &row[c[1]] != "migrate" || &row[c[2]] != "succeeded" {
            continue;
        }
        let id = &row[c[0]];
        let Some(a) = plan.actions.iter().find(|a| a.id == id) else {
            return Err(format!(
                "{}:{line}: action: {id:?} is not in plan.json",
                ep.display()
            ));
        };
        let ActionKind::Migrate(m) = &a.kind else {
            return Err(format!(
                "{}:{line}: action: {id:?} is not a migration in plan.json",
                ep.display()
            ));
        };
        out.push(Measured {
            plan: index,
            action: id.to_string(),
            vm: m.resource_name.clone(),
            source: m.source_node.clone(),
            destination: m.destination_node.clone(),
            planned_start_s: a.predicted.start_s,
            measured: Figures {
                time_s: num(&row, c[3], &ep, line, "measured_time_s")?,
                downtime_ms: num(&row, c[4], &ep, line, "measured_downtime_ms")?,
                bytes: num(&row, c[5], &ep, line, "measured_bytes")?,
            },
            predicted: Figures {
                time_s: num(&row, c[6], &ep, line, "predicted_time_s")?,
                downtime_ms: num(&row, c[7], &ep, line, "predicted_downtime_ms")?,
                bytes: num(&row, c[8], &ep, line, "predicted_bytes")?,
            },
        });
    }
    Ok((
        Executed {
            dir: dir.to_path_buf(),
            loaded,
        },
        out,
    ))
}

/// What an executed plan's scenario says of its hosts and VMs: each host's type, and each
/// VM's memory in GiB. Built once per plan.
struct Cluster {
    host_type: BTreeMap<String, String>,
    vm_gib: BTreeMap<String, f64>,
}

fn cluster(e: &Executed) -> Result<Cluster, String> {
    let sim = Simulation::build(&e.loaded).map_err(|x| x.to_string())?;
    Ok(Cluster {
        host_type: (0..sim.hosts.len())
            .map(|i| {
                let h = crate::model::host::HostId(i as u32);
                (
                    sim.hosts.name[i].clone(),
                    sim.hosts.host_type(h).name.clone(),
                )
            })
            .collect(),
        vm_gib: (0..sim.vms.len())
            .map(|i| {
                (
                    sim.vms.name[i].clone(),
                    sim.vms.ram[i].0 as f64 / (1u64 << 30) as f64,
                )
            })
            .collect(),
    })
}

/// Simulates every executed plan under `consts` and returns the simulated figures of each
/// measured migration, in order.
fn simulate(
    runs: &[Executed],
    measured: &[Measured],
    consts: &BTreeMap<String, Constants>,
) -> Result<Vec<Figures>, String> {
    let sims = simulate_some(runs, measured, consts)?;
    sims.into_iter()
        .zip(measured)
        .map(|(f, m)| {
            f.ok_or_else(|| {
                format!(
                    "{} ({} → {}): the simulation does not complete this migration under the \
                     fitted constants",
                    m.vm, m.source, m.destination
                )
            })
        })
        .collect()
}

/// As [`simulate`], with `None` for a migration the simulation does not complete under
/// `consts` (a candidate rate so low that it times out, say).
fn simulate_some(
    runs: &[Executed],
    measured: &[Measured],
    consts: &BTreeMap<String, Constants>,
) -> Result<Vec<Option<Figures>>, String> {
    let mut out = vec![None; measured.len()];
    for (p, run) in runs.iter().enumerate() {
        let mut loaded = run.loaded.clone();
        let cal = loaded
            .scenario
            .calibration
            .get_or_insert_with(CalibrationSpec::default);
        for (t, c) in consts {
            cal.host_type.insert(t.clone(), spec(c, None));
        }
        let mut sim = Simulation::build(&loaded).map_err(|e| e.to_string())?;
        sim.run(&mut crate::sim::NullRecorder, &mut |_| {})
            .map_err(|e| e.to_string())?;
        let recs = sim.migration_records();
        let mut used = vec![false; recs.len()];
        for (i, m) in measured.iter().enumerate().filter(|(_, m)| m.plan == p) {
            let best = recs
                .iter()
                .enumerate()
                .filter(|(j, r)| {
                    !used[*j]
                        && r.vm == m.vm
                        && r.source == m.source
                        && r.destination == m.destination
                        && r.outcome == crate::migration::Outcome::Completed
                })
                .min_by(|a, b| {
                    let d = |r: &crate::migration::MigrationRecord| {
                        (r.start_s - m.planned_start_s).abs()
                    };
                    d(a.1).total_cmp(&d(b.1))
                });
            let Some((j, r)) = best else {
                continue;
            };
            used[j] = true;
            out[i] = Some(Figures {
                time_s: r.total_time_s,
                downtime_ms: r.downtime_ms,
                bytes: r.transferred_bytes,
            });
        }
    }
    Ok(out)
}

fn spec(c: &Constants, migrations: Option<u32>) -> HostCalibration {
    HostCalibration {
        stream_rate: Some(Bandwidth::bytes_per_sec(c.stream_rate)),
        switchover: Some(Duration(crate::engine::SimTime::from_secs_f64(
            c.switchover_s,
        ))),
        switchover_per_gib: Some(Duration(crate::engine::SimTime::from_secs_f64(
            c.switchover_per_gib_s,
        ))),
        setup: Some(Duration(crate::engine::SimTime::from_secs_f64(c.setup_s))),
        migrations,
    }
}

fn loss(sim: &[Option<Figures>], measured: &[Measured], pick: &[usize]) -> f64 {
    pick.iter()
        .map(|&i| {
            // A migration the candidate does not complete is as bad as a hundredfold error.
            let Some(s) = sim[i] else {
                return 2.0 * 100f64.ln().powi(2);
            };
            let m = measured[i].measured;
            let lt = (s.time_s.max(1e-3) / m.time_s.max(1e-3)).ln();
            let lb = (s.bytes.max(1.0) / m.bytes.max(1.0)).ln();
            lt * lt + lb * lb
        })
        .sum()
}

/// Least squares of `y = a + b·x` with `a, b ≥ 0`.
fn regress_nonnegative(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let b = if sxx > 1e-12 {
        xs.iter()
            .zip(ys)
            .map(|(x, y)| (x - mx) * (y - my))
            .sum::<f64>()
            / sxx
    } else {
        0.0
    };
    if b <= 0.0 {
        return (my.max(0.0), 0.0);
    }
    let a = my - b * mx;
    if a >= 0.0 {
        return (a, b);
    }
    let sxx0: f64 = xs.iter().map(|x| x * x).sum();
    let sxy0: f64 = xs.iter().zip(ys).map(|(x, y)| x * y).sum();
    (
        0.0,
        if sxx0 > 0.0 {
            (sxy0 / sxx0).max(0.0)
        } else {
            0.0
        },
    )
}

/// Fits the constants of every host type that has migrations in `train` (indices into
/// `measured`, with `types[i]` the source host type of migration i).
pub fn fit(
    runs: &[Executed],
    measured: &[Measured],
    types: &[String],
    gib: &[f64],
    train: &[usize],
) -> Result<BTreeMap<String, Constants>, String> {
    let mut consts: BTreeMap<String, Constants> = train
        .iter()
        .map(|&i| (types[i].clone(), Constants::default()))
        .collect();
    let names: Vec<String> = consts.keys().cloned().collect();
    for _round in 0..4 {
        for t in &names {
            let mine: Vec<usize> = train.iter().copied().filter(|&i| &types[i] == t).collect();
            // Golden section on ln(rate), 1 MB/s to 1 TB/s.
            let eval = |x: f64, consts: &BTreeMap<String, Constants>| -> Result<f64, String> {
                let mut c = consts.clone();
                c.get_mut(t).expect("fitted type").stream_rate = x.exp();
                Ok(loss(&simulate_some(runs, measured, &c)?, measured, &mine))
            };
            let (mut a, mut b) = (1e6f64.ln(), 1e12f64.ln());
            let g = (5f64.sqrt() - 1.0) / 2.0;
            let (mut x1, mut x2) = (b - g * (b - a), a + g * (b - a));
            let (mut f1, mut f2) = (eval(x1, &consts)?, eval(x2, &consts)?);
            for _ in 0..40 {
                if f1 <= f2 {
                    b = x2;
                    x2 = x1;
                    f2 = f1;
                    x1 = b - g * (b - a);
                    f1 = eval(x1, &consts)?;
                } else {
                    a = x1;
                    x1 = x2;
                    f1 = f2;
                    x2 = a + g * (b - a);
                    f2 = eval(x2, &consts)?;
                }
            }
            consts.get_mut(t).expect("fitted type").stream_rate = ((a + b) / 2.0).exp();
            // The switchover: the downtime the simulation leaves over without one, regressed
            // on the guest's memory (a fixed part and a part per GiB, neither negative).
            let mut bare = consts.clone();
            let c = bare.get_mut(t).expect("fitted type");
            c.switchover_s = 0.0;
            c.switchover_per_gib_s = 0.0;
            let base = simulate(runs, measured, &bare)?;
            let xs: Vec<f64> = mine.iter().map(|&i| gib[i]).collect();
            let ys: Vec<f64> = mine
                .iter()
                .map(|&i| (measured[i].measured.downtime_ms - base[i].downtime_ms) / 1000.0)
                .collect();
            let (fixed, per_gib) = regress_nonnegative(&xs, &ys);
            let c = consts.get_mut(t).expect("fitted type");
            c.switchover_s = fixed;
            c.switchover_per_gib_s = per_gib;
            // Setup and rate together, last, so that the total time is centred whatever the
            // switchover added: a migration's measured time is its setup plus a time
            // that scales with 1/rate, so the simulated times without setup, regressed on the
            // measured ones, give the setup (intercept) and the rate's correction (slope).
            let mut bare = consts.clone();
            bare.get_mut(t).expect("fitted type").setup_s = 0.0;
            let base = simulate(runs, measured, &bare)?;
            let xs: Vec<f64> = mine.iter().map(|&i| base[i].time_s).collect();
            let ys: Vec<f64> = mine.iter().map(|&i| measured[i].measured.time_s).collect();
            let (setup, slope) = regress_nonnegative(&xs, &ys);
            let c = consts.get_mut(t).expect("fitted type");
            if slope > 0.05 {
                c.stream_rate = (c.stream_rate / slope).min(1e12);
            } else {
                // The measured times do not grow with what the rate drives: the stream is
                // faster than these migrations can show; the setup holds the time.
                c.stream_rate = 1e12;
            }
            c.setup_s = setup;
        }
    }
    Ok(consts)
}

/// Mean absolute errors: total time and bytes in percent of the measured, downtime in ms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Errors {
    pub time_pct: f64,
    pub bytes_pct: f64,
    pub downtime_ms: f64,
}

impl Errors {
    pub fn of(pairs: &[(Figures, Figures)]) -> Errors {
        let n = pairs.len().max(1) as f64;
        let pct = |p: f64, m: f64| 100.0 * (p - m).abs() / m.max(1e-9);
        Errors {
            time_pct: pairs
                .iter()
                .map(|(p, m)| pct(p.time_s, m.time_s))
                .sum::<f64>()
                / n,
            bytes_pct: pairs
                .iter()
                .map(|(p, m)| pct(p.bytes, m.bytes))
                .sum::<f64>()
                / n,
            downtime_ms: pairs
                .iter()
                .map(|(p, m)| (p.downtime_ms - m.downtime_ms).abs())
                .sum::<f64>()
                / n,
        }
    }
}

/// The outcome of a calibration.
pub struct Calibration {
    pub constants: BTreeMap<String, Constants>,
    pub counts: BTreeMap<String, usize>,
    pub planned: Errors,
    pub fitted: Errors,
    pub cross_validated: Errors,
    pub folds: usize,
    pub migrations: usize,
    pub plans: Vec<PathBuf>,
}

/// Calibrates from executed plan folders. Refuses a host type with fewer than
/// [`MIN_MIGRATIONS`] measured migrations.
pub fn calibrate(dirs: &[PathBuf]) -> Result<Calibration, String> {
    let mut runs = Vec::new();
    let mut measured = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let (e, m) = read_dir(d, i)?;
        runs.push(e);
        measured.extend(m);
    }
    let mut types = Vec::with_capacity(measured.len());
    let clusters: Vec<Cluster> = runs.iter().map(cluster).collect::<Result<_, _>>()?;
    // Each migration's source host type and guest memory (GiB).
    let mut gib = Vec::with_capacity(measured.len());
    for m in &measured {
        let c = &clusters[m.plan];
        let missing = |what: &str, name: &str| {
            format!(
                "{}: {what} {name:?} is not in the plan's scenario",
                runs[m.plan].dir.display()
            )
        };
        let t = c
            .host_type
            .get(&m.source)
            .ok_or_else(|| missing("host", &m.source))?;
        types.push(t.clone());
        gib.push(*c.vm_gib.get(&m.vm).ok_or_else(|| missing("VM", &m.vm))?);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in &types {
        *counts.entry(t.clone()).or_default() += 1;
    }
    if counts.is_empty() {
        return Err("no migration succeeded in these executions: nothing to calibrate on".into());
    }
    if let Some((t, n)) = counts.iter().find(|(_, n)| **n < MIN_MIGRATIONS) {
        return Err(format!(
            "host type {t:?}: {n} measured migration(s); calibrating its stream rate, switchover \
             and setup needs at least {MIN_MIGRATIONS} (execute more of its migrations first)"
        ));
    }
    let all: Vec<usize> = (0..measured.len()).collect();
    let constants = fit(&runs, &measured, &types, &gib, &all)?;
    let sim = simulate(&runs, &measured, &constants)?;
    let pairs = |sim: &[Figures], pick: &[usize]| -> Vec<(Figures, Figures)> {
        pick.iter()
            .map(|&i| (sim[i], measured[i].measured))
            .collect()
    };
    let planned: Vec<(Figures, Figures)> =
        measured.iter().map(|m| (m.predicted, m.measured)).collect();
    // k-fold: every k-th migration held out in turn, each type keeping at least two to fit.
    let folds = measured.len().min(5);
    let mut held = vec![Figures::default(); measured.len()];
    for f in 0..folds {
        let test: Vec<usize> = all.iter().copied().filter(|i| i % folds == f).collect();
        let train: Vec<usize> = all.iter().copied().filter(|i| i % folds != f).collect();
        let mut c = fit(&runs, &measured, &types, &gib, &train)?;
        for &i in &test {
            c.entry(types[i].clone()).or_default();
        }
        let s = simulate(&runs, &measured, &c)?;
        for &i in &test {
            held[i] = s[i];
        }
    }
    Ok(Calibration {
        counts,
        planned: Errors::of(&planned),
        fitted: Errors::of(&pairs(&sim, &all)),
        cross_validated: Errors::of(&pairs(&held, &all)),
        constants,
        folds,
        migrations: measured.len(),
        plans: dirs.to_vec(),
    })
}

impl Calibration {
    /// The error table, for the terminal and the overlay's comments.
    pub fn report(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} measured migrations from {}",
            self.migrations,
            self.plans
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(o, "mean absolute error    total time   bytes   downtime");
        for (what, e) in [
            ("as planned", self.planned),
            ("fitted", self.fitted),
            (
                &*format!("held out ({}-fold)", self.folds),
                self.cross_validated,
            ),
        ] {
            let _ = writeln!(
                o,
                "  {what:<20} {:>9.1} % {:>5.1} % {:>7.1} ms",
                e.time_pct, e.bytes_pct, e.downtime_ms
            );
        }
        for (t, c) in &self.constants {
            // Near the search's upper end, the measured times did not depend on the rate
            // (the stream was far faster than these migrations needed).
            if c.stream_rate > 1e11 {
                let _ = writeln!(
                    o,
                    "host type {t:?}: the measured times hardly depend on the stream rate; \
                     it is only known to be high (the fit stopped near its 1 TB/s bound)"
                );
            }
            let _ = writeln!(
                o,
                "host type {t:?} ({} migrations): stream {:.1} MB/s, switchover {:.1} ms + {:.1} ms/GiB, setup {:.0} ms",
                self.counts[t],
                c.stream_rate / 1e6,
                c.switchover_s * 1e3,
                c.switchover_per_gib_s * 1e3,
                c.setup_s * 1e3
            );
        }
        o
    }

    /// The overlay: `[calibration.host_type.NAME]` tables, with the report as comments.
    pub fn overlay(&self) -> String {
        let mut o = String::from(
            "# Fitted by migsim calibrate from measured migrations. Include it after the cluster's\n\
             # scenario: include = [\"cluster.toml\", \"calibration.toml\"].\n",
        );
        for l in self.report().lines() {
            let _ = writeln!(o, "# {l}");
        }
        let mut spec = CalibrationSpec::default();
        for (t, c) in &self.constants {
            spec.host_type
                .insert(t.clone(), self::spec(c, Some(self.counts[t] as u32)));
        }
        #[derive(serde::Serialize)]
        struct Top<'a> {
            calibration: &'a CalibrationSpec,
        }
        o.push('\n');
        o.push_str(&toml::to_string(&Top { calibration: &spec }).expect("serialisable"));
        o
    }
}
