//! Clark et al., "Live Migration of Virtual Machines", NSDI 2005: the four experiments,
//! simulated from `scenarios/clark2005/`, against the published figures.

use std::path::Path;

use serde::Serialize;

use crate::migration::{MigrationRecord, Stage};
use crate::report::plot::{Band, LineChart, Series};
use crate::scenario;
use crate::sim::NullRecorder;
use crate::sim::{Simulation, TrafficSample};

/// A published figure and its confidence mark (../shared/reference/clark2005.md).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Published {
    pub downtime_ms: Option<f64>,
    pub total_s: Option<f64>,
    pub sent_mb: Option<f64>,
    /// Whether pre-copy converged.
    pub converges: bool,
    pub source: &'static str,
}

/// The experiments, their scenario files and the paper's figures.
pub const EXPERIMENTS: [(&str, Published); 4] = [
    (
        "apache",
        Published {
            downtime_ms: Some(165.0),
            // ≈62 s first round + 9.8 s of later rounds + the downtime.
            total_s: Some(72.0),
            sent_mb: None,
            converges: true,
            source: "Fig. 8; 165 ms and 9.8 s quoted by textbooks, 62 s recalled",
        },
    ),
    (
        "specweb99",
        Published {
            downtime_ms: Some(210.0),
            total_s: Some(71.0),
            sent_mb: Some(960.0),
            converges: true,
            source: "Fig. 9; 210 ms in the abstract, 71 s and 960 MB recalled",
        },
    ),
    (
        "quake3",
        Published {
            downtime_ms: Some(60.0),
            total_s: None,
            sent_mb: Some(88.0),
            converges: true,
            source: "Figs. 10-11; 60 ms in the abstract, 88 MB recalled",
        },
    ),
    (
        "mmuncher",
        Published {
            downtime_ms: Some(3500.0),
            total_s: None,
            sent_mb: None,
            converges: false,
            source: "§6.5; ≈3.5 s recalled with low confidence",
        },
    ),
];

/// One experiment's result.
#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub name: String,
    pub published: Published,
    pub migration: MigrationRecord,
    /// Whether Xen stopped pre-copy by its own convergence test (fewer than 50 pages left)
    /// rather than a cap (30 rounds, 3× memory, or rate at its maximum while rounds grow).
    pub converged: bool,
    pub traffic: Vec<TrafficSample>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// `clark2005.csv`: per experiment, the paper's figure beside the simulated one (MB are
/// 10^6 bytes, as the paper counts them).
pub fn experiments_csv(exps: &[Experiment]) -> String {
    let mut out = String::from(
        "experiment,published_downtime_ms,downtime_ms,published_total_s,total_time_s,\
         published_sent_mb,sent_mb,rounds,published_converges,converged,source\n",
    );
    for e in exps {
        let m = &e.migration;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},\"{}\"\n",
            e.name,
            opt(e.published.downtime_ms),
            m.downtime_ms,
            opt(e.published.total_s),
            m.total_time_s,
            opt(e.published.sent_mb),
            m.transferred_bytes / 1e6,
            m.rounds,
            e.published.converges,
            e.converged,
            e.published.source.replace('"', "\"\"")
        ));
    }
    out
}

/// `clark2005-rounds.csv`: every pre-copy round of every experiment.
pub fn rounds_csv(exps: &[Experiment]) -> String {
    let mut out = String::from("experiment,round,start_s,duration_s,sent_mb,dirtied_mb\n");
    for e in exps {
        for (i, r) in e.migration.per_round.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                e.name,
                i + 1,
                r.start,
                r.duration,
                r.bytes.as_mb(),
                r.dirtied.as_mb()
            ));
        }
    }
    out
}

/// Runs one experiment's scenario to its horizon.
pub fn run(dir: &Path, name: &str) -> Result<Experiment, String> {
    let file = dir.join(format!("{name}.toml"));
    let loaded = scenario::load_file(&file, &[]).map_err(|e| e.to_string())?;
    let mut sim = Simulation::build(&loaded).map_err(|e| e.to_string())?;
    sim.run(&mut NullRecorder, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let migration = sim
        .migration_records()
        .first()
        .cloned()
        .ok_or_else(|| format!("{}: no migration was scheduled", file.display()))?;
    let published = EXPERIMENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("unknown experiment {name}"))?;
    // The last pre-copy round before stop-and-copy: Xen converged if it sent fewer than 50
    // pages' worth.
    let rounds = &migration.per_round;
    let converged = rounds.len() >= 2
        && rounds[rounds.len() - 2].dirtied.in_pages() < crate::migration::xen::STOP_PAGES;
    Ok(Experiment {
        name: name.to_string(),
        published,
        converged,
        traffic: sim.traffic_samples().to_vec(),
        migration,
    })
}

pub fn run_all(dir: &Path) -> Result<Vec<Experiment>, String> {
    EXPERIMENTS.iter().map(|(n, _)| run(dir, n)).collect()
}

fn cell(p: Option<f64>, s: f64, digits: usize) -> String {
    match p {
        Some(p) => format!(
            "{:>9.*} {:>9.*} {:>+6.1}%",
            digits,
            p,
            digits,
            s,
            (s / p - 1.0) * 100.0
        ),
        None => format!("{:>9} {:>9.*} {:>7}", "-", digits, s, ""),
    }
}

/// Paper vs simulated, as a table.
pub fn table(exps: &[Experiment]) -> String {
    let mut s = String::from(
        "Clark et al., NSDI 2005: paper vs migsim (Xen 3.x pre-copy)\n\
         experiment      downtime ms: paper  simulated        total s: paper  simulated       sent MB: paper  simulated   rounds\n",
    );
    for e in exps {
        let m = &e.migration;
        s.push_str(&format!(
            "{:<12} {} {} {} {:>6}\n",
            e.name,
            cell(e.published.downtime_ms, m.downtime_ms, 1),
            cell(e.published.total_s, m.total_time_s, 1),
            cell(e.published.sent_mb, m.transferred_bytes / 1e6, 1),
            m.rounds
        ));
    }
    s.push_str("(paper figures: ../shared/reference/clark2005.md; dirty-page parameters tuned where the scenario files say so)\n");
    s
}

/// The Apache throughput-over-time figure (Clark et al. Fig. 8): the web server's traffic, with
/// the downtime shaded.
pub fn throughput_chart(e: &Experiment) -> LineChart {
    let m = &e.migration;
    let bands = match (
        m.stages.get(Stage::StopAndCopy),
        m.stages.get(Stage::Activation),
    ) {
        (Some(a), Some(b)) => vec![Band {
            from: a,
            to: b,
            label: format!("downtime, {:.0} ms", m.downtime_ms),
        }],
        _ => Vec::new(),
    };
    LineChart {
        title: "Apache throughput during live migration (Clark et al. 2005, Fig. 8, simulated)"
            .into(),
        x_label: "Elapsed time (s)".into(),
        y_label: "Throughput (Mbit/s)".into(),
        series: vec![Series {
            label: format!("web server, migration from {:.0} s", m.start_s),
            points: e.traffic.iter().map(|t| (t.time_s, t.mbit_s)).collect(),
            colour: None,
        }],
        bands,
        y_max: Some(1000.0),
        legend: Default::default(),
    }
}

/// Mean throughput over `[from, to)` seconds.
pub fn mean_throughput(e: &Experiment, from: f64, to: f64) -> f64 {
    let v: Vec<f64> = e
        .traffic
        .iter()
        .filter(|t| t.time_s >= from && t.time_s < to)
        .map(|t| t.mbit_s)
        .collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}
