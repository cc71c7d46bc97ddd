//! `migsim trace import`: a trace of the user's own cluster from its monitoring.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;

use super::Failure;
use crate::trace::import::Imported;
use crate::trace::prometheus::{self, Grid, Labels, client};
use crate::trace::rrd;
use crate::units::parse_duration;

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// From Prometheus (the libvirt and node exporters): a server's query_range API, or
    /// answers saved by an earlier --save.
    #[command(
        after_help = "Examples:\n  migsim trace import prometheus --url http://prometheus:9090 --from now-7d --until now --step 5m --save week/answers --out week\n  migsim trace import prometheus --files week/answers --out week\n\nWrites OUT/trace.csv (replay it with [trace] format = \"csv\"), OUT/hosts.csv and\nOUT/import.json. Exit codes: 0 imported, 2 bad input (a message names the file and field),\n1 the server failed."
    )]
    Prometheus(PrometheusArgs),
    /// From `rrdtool xport` outputs (XML or --json) of collectd's or Munin's libvirt plugins:
    /// each exported column is one VM, named by its legend.
    #[command(
        after_help = "Example:\n  rrdtool xport --json --showtime --start -7d --step 300 DEF:a=virt-web1/virt_cpu_total.rrd:value:AVERAGE XPORT:a:web1 > web1.json\n  migsim trace import rrd web1.json --unit ns-per-s --vcpus web1=2 --out week\n\nExit codes: 0 imported, 2 bad input."
    )]
    Rrd(RrdArgs),
}

#[derive(clap::Args, Debug)]
pub struct PrometheusArgs {
    /// The server, http://HOST:PORT.
    #[arg(long, conflicts_with = "files", required_unless_present = "files")]
    pub url: Option<String>,
    /// A folder of saved answers (KEY.json and range.json, as --save writes) instead of a
    /// server.
    #[arg(long)]
    pub files: Option<PathBuf>,
    /// Start: unix seconds, RFC 3339, or now-DURATION.
    #[arg(long, default_value = "now-7d")]
    pub from: String,
    /// End, as --from.
    #[arg(long, default_value = "now")]
    pub until: String,
    /// The trace's step.
    #[arg(long, default_value = "5min")]
    pub step: String,
    /// Keep the server's answers here, to replay with --files.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// The label that names a VM (libvirt's domain name, as the inventory uses).
    #[arg(long, default_value = "domain")]
    pub vm_label: String,
    /// The label that names a host; series without it use their instance without the port.
    #[arg(long, default_value = "host")]
    pub host_label: String,
    /// A gauge of each domain's dirty-page rate in MiB/s (libvirt's
    /// dirtyrate.megabytes_per_second), when an exporter provides one.
    #[arg(long)]
    pub dirty_metric: Option<String>,
    /// The folder to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RrdArgs {
    /// `rrdtool xport` outputs, XML or JSON.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// What the values are: ns-per-s (collectd's virt_cpu_total), percent or fraction (of
    /// the VM's vCPUs).
    #[arg(long)]
    pub unit: String,
    /// vCPUs: N for every VM, NAME=N for one (repeatable); needed for ns-per-s.
    #[arg(long)]
    pub vcpus: Vec<String>,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: &ImportCommand) -> Result<(), Failure> {
    let (imp, out) = match cmd {
        ImportCommand::Prometheus(a) => (prometheus_cmd(a)?, &a.out),
        ImportCommand::Rrd(a) => (rrd_cmd(a)?, &a.out),
    };
    if imp.vms.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}: no VM has a CPU sample in the range; nothing was written",
            imp.source
        )));
    }
    imp.write(out)
        .map_err(|e| Failure::Failed(format!("{}: {e}", out.display())))?;
    print!("{}", imp.report_text());
    println!(
        "wrote {}, hosts.csv and import.json",
        out.join("trace.csv").display()
    );
    Ok(())
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

fn prometheus_cmd(a: &PrometheusArgs) -> Result<Imported, Failure> {
    let labels = Labels {
        vm: a.vm_label.clone(),
        host: a.host_label.clone(),
    };
    let bad = Failure::BadInput;
    let (answers, range, source) = match (&a.url, &a.files) {
        (Some(url), None) => {
            let t = now();
            let step = parse_duration(&a.step).map_err(|e| bad(format!("--step: {e}")))?;
            let mut r = client::Range {
                start: prometheus::parse_time(&a.from, t)
                    .map_err(|e| bad(format!("--from: {e}")))?,
                end: prometheus::parse_time(&a.until, t)
                    .map_err(|e| bad(format!("--until: {e}")))?,
                step: step.as_secs_f64(),
            };
            // On the step, so that a later import of the same range asks the same grid.
            r.start = (r.start / r.step).floor() * r.step;
            r.end = (r.end / r.step).floor() * r.step;
            Grid::new(r.start, r.end, r.step)
                .map_err(|e| bad(format!("--from/--until/--step: {e}")))?;
            let ans = client::fetch(url, r, a.dirty_metric.as_deref(), a.save.as_deref())
                .map_err(Failure::Failed)?;
            (ans, r, format!("Prometheus at {url}"))
        }
        (None, Some(dir)) => {
            let r = client::Range::read(dir).map_err(|e| bad(e.to_string()))?;
            let ans = prometheus::read_saved(dir, a.dirty_metric.is_some())
                .map_err(|e| bad(e.to_string()))?;
            (ans, r, format!("Prometheus answers in {}", dir.display()))
        }
        _ => return Err(bad("give --url or --files".into())),
    };
    let grid = Grid::new(range.start, range.end, range.step).map_err(bad)?;
    prometheus::assemble(&answers, grid, &labels, &source).map_err(|e| bad(e.to_string()))
}

fn rrd_cmd(a: &RrdArgs) -> Result<Imported, Failure> {
    let unit = rrd::Unit::parse(&a.unit).ok_or_else(|| {
        Failure::BadInput(format!("--unit: {:?} is not {}", a.unit, rrd::Unit::NAMES))
    })?;
    let mut vcpus: BTreeMap<String, u32> = BTreeMap::new();
    for v in &a.vcpus {
        let (name, n) = v.rsplit_once('=').unwrap_or(("", v));
        let n: u32 = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            Failure::BadInput(format!("--vcpus: {v:?}: expected N or NAME=N, N ≥ 1"))
        })?;
        vcpus.insert(name.to_string(), n);
    }
    if unit == rrd::Unit::NsPerSecond && vcpus.is_empty() {
        return Err(Failure::BadInput(
            "--unit ns-per-s: CPU time needs the VMs' vCPUs to become a utilisation; give --vcpus"
                .into(),
        ));
    }
    let mut exports = Vec::new();
    for f in &a.files {
        let bytes =
            std::fs::read(f).map_err(|e| Failure::BadInput(format!("{}: {e}", f.display())))?;
        let e = rrd::parse(f, &bytes).map_err(|e| Failure::BadInput(e.to_string()))?;
        exports.push((f.display().to_string(), e));
    }
    rrd::assemble(&exports, unit, &vcpus).map_err(|e| Failure::BadInput(e.to_string()))
}
