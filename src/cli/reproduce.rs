//! `migsim reproduce`: published and measured results, simulated and compared.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::base::write_atomic;
use crate::report;
use crate::reproduce::{beloglazov2012, clark2005, lab, qemu};

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// clark2005 | qemu | beloglazov2012
    pub what: String,
    /// Folder of the Clark et al. scenarios.
    #[arg(long, default_value = "scenarios/clark2005")]
    pub scenarios: PathBuf,
    /// Folder of the measured QEMU runs (runs.csv).
    #[arg(long, default_value = "../shared/validation/qemu")]
    pub data: PathBuf,
    /// Folder of the lab's QEMU runs (contrib/qemu-lab), one JSON file per run.
    #[arg(long, default_value = "validation/qemu-lab/runs")]
    pub lab: PathBuf,
    /// The PlanetLab days (beloglazov2012), one folder per day.
    #[arg(long, default_value = "../shared/traces/planetlab")]
    pub traces: PathBuf,
    /// Folder of the CloudSim experiment scenarios (beloglazov2012).
    #[arg(long, default_value = "scenarios/cloudsim")]
    pub cloudsim: PathBuf,
    /// Where figures and tables go (default: `output/<what>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn reproduce(a: &ReproduceArgs) -> Result<(), Failure> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&a.what));
    match a.what.as_str() {
        "clark2005" => clark(a, &out),
        "qemu" => qemu_runs(a, &out),
        "beloglazov2012" => beloglazov(a, &out),
        other => Err(Failure::BadInput(format!(
            "unknown reproduction {other:?}; known: clark2005, qemu, beloglazov2012"
        ))),
    }
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Failed(format!("{what}: {e}"))
}

fn beloglazov(a: &ReproduceArgs, out: &Path) -> Result<(), Failure> {
    for (flag, dir) in [("--traces", &a.traces), ("--cloudsim", &a.cloudsim)] {
        if !dir.is_dir() {
            return Err(Failure::BadInput(format!(
                "{flag} {}: no such folder (run from the project root, or pass {flag})",
                dir.display()
            )));
        }
    }
    let runs = beloglazov2012::run_all(&a.cloudsim, &a.traces).map_err(Failure::BadInput)?;
    let meds = beloglazov2012::medians(&runs);
    std::fs::create_dir_all(out).map_err(failed("creating the output folder"))?;
    write_atomic(
        &out.join("beloglazov2012.csv"),
        beloglazov2012::csv(&runs).as_bytes(),
    )
    .map_err(failed("beloglazov2012.csv"))?;
    let medians_json = serde_json::to_string_pretty(&meds).expect("medians serialise");
    write_atomic(&out.join("medians.json"), medians_json.as_bytes())
        .map_err(failed("medians.json"))?;
    report::plot::write_dot_panels(
        &beloglazov2012::figure(&runs),
        &out.join("table-v.png"),
        &out.join("table-v.svg"),
    )
    .map_err(failed("table-v figure"))?;
    if a.json {
        println!("{medians_json}");
        return Ok(());
    }
    print!("{}", beloglazov2012::table(&meds));
    println!(
        "per day: {}; figure: {} (and .svg)",
        out.join("beloglazov2012.csv").display(),
        out.join("table-v.png").display()
    );
    Ok(())
}

fn clark(a: &ReproduceArgs, out: &Path) -> Result<(), Failure> {
    if !a.scenarios.is_dir() {
        return Err(Failure::BadInput(format!(
            "{}: no such folder (run from the project root, or pass --scenarios)",
            a.scenarios.display()
        )));
    }
    let exps = clark2005::run_all(&a.scenarios).map_err(Failure::BadInput)?;
    std::fs::create_dir_all(out).map_err(failed("creating the output folder"))?;
    let apache = exps
        .iter()
        .find(|e| e.name == "apache")
        .expect("apache runs");
    report::plot::write_line_chart(
        &clark2005::throughput_chart(apache),
        &out.join("apache-throughput.png"),
        &out.join("apache-throughput.svg"),
    )
    .map_err(failed("apache-throughput figure"))?;
    write_atomic(
        &out.join("apache-traffic.csv"),
        report::traffic_csv(&apache.traffic).as_bytes(),
    )
    .map_err(failed("apache-traffic.csv"))?;
    write_atomic(
        &out.join("clark2005.csv"),
        clark2005::experiments_csv(&exps).as_bytes(),
    )
    .map_err(failed("clark2005.csv"))?;
    write_atomic(
        &out.join("clark2005-rounds.csv"),
        clark2005::rounds_csv(&exps).as_bytes(),
    )
    .map_err(failed("clark2005-rounds.csv"))?;
    if a.json {
        let v: Vec<serde_json::Value> = exps
            .iter()
            .map(|e| {
                serde_json::json!({
                    "experiment": e.name,
                    "published": e.published,
                    "downtime_ms": e.migration.downtime_ms,
                    "total_time_s": e.migration.total_time_s,
                    "transferred_bytes": e.migration.transferred_bytes,
                    "rounds": e.migration.rounds,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    print!("{}", clark2005::table(&exps));
    let m = &apache.migration;
    let s3 = m
        .stages
        .get(crate::migration::Stage::StopAndCopy)
        .unwrap_or(m.start_s);
    let first_end = m
        .per_round
        .first()
        .map(|r| r.start + r.duration)
        .unwrap_or(s3);
    println!(
        "Apache throughput, Mbit/s (paper: 870 before, 765 first round, 694 later rounds):\n  before {:.0}, first round {:.0}, later rounds {:.0} (over {:.1} s)",
        clark2005::mean_throughput(apache, 0.0, m.start_s),
        clark2005::mean_throughput(apache, m.start_s + 0.5, first_end),
        clark2005::mean_throughput(apache, first_end + 0.5, s3),
        s3 - first_end
    );
    println!(
        "figure: {} (and .svg)",
        out.join("apache-throughput.png").display()
    );
    Ok(())
}

fn qemu_runs(a: &ReproduceArgs, out: &Path) -> Result<(), Failure> {
    if !a.data.join("runs.csv").is_file() {
        return Err(Failure::BadInput(format!(
            "{}: no runs.csv here (pass --data DIR)",
            a.data.display()
        )));
    }
    let rows = qemu::compare_all(&a.data).map_err(Failure::BadInput)?;
    let lab_rows = lab::compare_all(&a.lab).map_err(Failure::BadInput)?;
    std::fs::create_dir_all(out).map_err(failed("creating the output folder"))?;
    let json = serde_json::to_string_pretty(&rows).map_err(|e| Failure::Failed(e.to_string()))?;
    write_atomic(&out.join("comparison.json"), json.as_bytes())
        .map_err(failed("comparison.json"))?;
    let lab_json =
        serde_json::to_string_pretty(&lab_rows).map_err(|e| Failure::Failed(e.to_string()))?;
    write_atomic(&out.join("lab-comparison.json"), lab_json.as_bytes())
        .map_err(failed("lab-comparison.json"))?;
    if a.json {
        println!("{{\"testbed\": {json},\n\"lab\": {lab_json}}}");
    } else {
        print!("{}", qemu::table(&rows));
        let completed: Vec<_> = rows
            .iter()
            .filter(|r| r.measured_status == "completed")
            .collect();
        let within = completed
            .iter()
            .filter(|r| {
                r.total_error().is_some_and(|e| e.abs() <= 0.10) && r.bytes_error().abs() <= 0.10
            })
            .count();
        println!(
            "{within} of {} completed runs within ±10 % on total time and bytes; rounds within ±1 on {} of {}",
            completed.len(),
            rows.iter()
                .filter(|r| (r.measured_rounds as i64 - r.predicted_rounds as i64).abs() <= 1)
                .count(),
            rows.len()
        );
        println!(
            "\nThe lab ({}): guests of 1-16 GiB on this project's 2-core Xeon machine, one set of host constants",
            a.lab.display()
        );
        print!("{}", lab::table(&lab_rows));
        let configs = lab::medians(&lab_rows);
        let within = configs
            .iter()
            .filter(|(_, t, pt, b, pb)| {
                (pt / t - 1.0).abs() <= 0.15 && (pb / b - 1.0).abs() <= 0.15
            })
            .count();
        println!(
            "{within} of {} configurations within ±15 % on the median total time and bytes of their repeats",
            configs.len()
        );
    }
    Ok(())
}
