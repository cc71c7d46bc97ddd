//! `migsim trace`: generate synthetic traces and summarise real ones.

use std::path::PathBuf;

use clap::Subcommand;

use super::Failure;
use crate::engine::SimTime;
use crate::trace::{self, Format, generate, stats};
use crate::units::parse_duration;

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Write a synthetic trace (seeded, reproducible).
    #[command(
        after_help = "Examples:\n  migsim trace generate --kind mixed --vms 200 --seed 1 --out traces/day-mixed\n  migsim trace generate --kind diurnal --vms 50 --format csv --out traces/diurnal.csv"
    )]
    Generate(GenerateArgs),
    /// Print what Beloglazov & Buyya's Table II prints: VMs, mean, st.dev and quartiles.
    #[command(after_help = "Example:\n  migsim trace stats ../shared/traces/planetlab/2011*")]
    Stats(StatsArgs),
    /// A trace of your own cluster from its monitoring (Prometheus, RRD exports).
    #[command(subcommand)]
    Import(super::trace_import::ImportCommand),
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// diurnal | bursty | heavy-tailed | mixed
    #[arg(long, default_value = "mixed")]
    pub kind: String,
    #[arg(long, default_value_t = 100)]
    pub vms: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "5min")]
    pub interval: String,
    #[arg(long, default_value = "24h")]
    pub duration: String,
    /// planetlab (a folder of per-VM files; 5 min, 24 h only) | csv
    #[arg(long, default_value = "planetlab")]
    pub format: String,
    /// Folder (planetlab) or file (csv) to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A load peak starting at this time: every VM's demand times --peak-factor for
    /// --peak-for, capped at 100 %.
    #[arg(long)]
    pub peak_at: Option<String>,
    #[arg(long, default_value = "2h")]
    pub peak_for: String,
    #[arg(long, default_value_t = 1.5)]
    pub peak_factor: f64,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Trace folders (planetlab) or files (csv).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, default_value = "planetlab")]
    pub format: String,
    #[arg(long)]
    pub json: bool,
}

fn format_of(s: &str) -> Result<Format, Failure> {
    Format::parse(s)
        .ok_or_else(|| Failure::BadInput(format!("--format: {s:?} is not {}", Format::NAMES)))
}

pub fn run(cmd: &TraceCommand) -> Result<(), Failure> {
    match cmd {
        TraceCommand::Generate(a) => generate_cmd(a),
        TraceCommand::Stats(a) => stats_cmd(a),
        TraceCommand::Import(c) => super::trace_import::run(c),
    }
}

/// Samples per VM the generator writes at most.
const MAX_SAMPLES: u64 = 1_000_000;

fn generate_cmd(a: &GenerateArgs) -> Result<(), Failure> {
    let kind = generate::Kind::parse(&a.kind).ok_or_else(|| {
        Failure::BadInput(format!(
            "--kind: {:?} is not diurnal, bursty, heavy-tailed or mixed",
            a.kind
        ))
    })?;
    let interval =
        parse_duration(&a.interval).map_err(|e| Failure::BadInput(format!("--interval: {e}")))?;
    let duration =
        parse_duration(&a.duration).map_err(|e| Failure::BadInput(format!("--duration: {e}")))?;
    if a.vms == 0 {
        return Err(Failure::BadInput("--vms: must be at least 1".into()));
    }
    // The generator works in whole seconds; a sample count past a million per VM is a typo
    // (a year at 30 s), not a trace anyone replays.
    if interval < SimTime::from_secs(1) {
        return Err(Failure::BadInput(format!(
            "--interval: {} is shorter than the generator's 1s resolution",
            a.interval
        )));
    }
    if duration < interval {
        return Err(Failure::BadInput(format!(
            "--duration: {} holds no sample at --interval {}",
            a.duration, a.interval
        )));
    }
    let samples = duration.as_nanos() / interval.as_nanos();
    if samples > MAX_SAMPLES {
        return Err(Failure::BadInput(format!(
            "--duration {} at --interval {} is {samples} samples per VM; at most {MAX_SAMPLES}",
            a.duration, a.interval
        )));
    }
    let peak = match &a.peak_at {
        None => None,
        Some(at) => {
            let at =
                parse_duration(at).map_err(|e| Failure::BadInput(format!("--peak-at: {e}")))?;
            let length = parse_duration(&a.peak_for)
                .map_err(|e| Failure::BadInput(format!("--peak-for: {e}")))?;
            if !(a.peak_factor > 0.0 && a.peak_factor.is_finite()) {
                return Err(Failure::BadInput(
                    "--peak-factor: must be a positive number".into(),
                ));
            }
            Some(generate::Peak {
                at,
                length,
                factor: a.peak_factor,
            })
        }
    };
    let format = format_of(&a.format)?;
    let t = generate::generate(&generate::Spec {
        kind,
        vms: a.vms,
        seed: a.seed,
        interval,
        duration,
        peak,
    });
    let io = |e: std::io::Error| Failure::Failed(format!("{}: {e}", a.out.display()));
    match format {
        Format::PlanetLab => {
            if interval.as_nanos() != 300_000_000_000 || duration.as_nanos() != 86_400_000_000_000 {
                return Err(Failure::BadInput(
                    "the planetlab format holds 288 samples at 5 min: use --interval 5min --duration 24h, or --format csv".into(),
                ));
            }
            std::fs::create_dir_all(&a.out).map_err(io)?;
            for v in &t.vms {
                let pct: Vec<u8> = v
                    .cpu
                    .iter()
                    .map(|&c| (c * 100.0).round().clamp(0.0, 100.0) as u8)
                    .collect();
                trace::planetlab::write_file(&a.out.join(&v.name), &pct).map_err(io)?;
            }
        }
        Format::Csv => trace::csv_long::write(&a.out, &t).map_err(io)?,
        f => {
            return Err(Failure::BadInput(format!(
                "--format: generate writes planetlab or csv, not {f:?}"
            )));
        }
    }
    println!("wrote {} VMs to {}", t.vms.len(), a.out.display());
    Ok(())
}

fn stats_cmd(a: &StatsArgs) -> Result<(), Failure> {
    let format = format_of(&a.format)?;
    let mut rows = Vec::new();
    for p in &a.paths {
        let s = stats::of_reader(trace::reader(format), p)
            .map_err(|e| Failure::BadInput(e.to_string()))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string());
        rows.push((name, s));
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s)| serde_json::json!({"trace": n, "stats": s}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        println!("{}", stats::header());
        for (n, s) in &rows {
            println!("{}", stats::row(n, s));
        }
    }
    Ok(())
}
