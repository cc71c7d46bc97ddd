//! A trace imported from a cluster's monitoring (Prometheus, RRD exports), before and after
//! it is written: per-VM samples on a fixed step, with what happened to each series (gaps,
//! counter resets, appearing, vanishing, moving host) counted so that the import can say it.
//!
//! An import is written as a folder: `trace.csv` (the long CSV format, which `[trace]
//! format = "csv"` replays), `hosts.csv` (each host's own measured CPU utilisation, for
//! comparing with what the simulation derives from its VMs) and `import.json` (the range,
//! every VM's and host's report, and their measured means, which `migsim inventory --trace`
//! reads).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// The most steps an import holds: a year at a 3 s step. A range or step past it is a typo (or
/// a hostile file), and would only exhaust memory.
pub const MAX_STEPS: usize = 10_000_000;

/// Checks that `start..=end` at `step` is a grid an import can hold, and returns its steps.
pub fn grid_steps(start: f64, end: f64, step: f64) -> Result<usize, String> {
    if !(step > 0.0 && step.is_finite() && start.is_finite() && end.is_finite()) {
        return Err(format!(
            "step {step} over {start}..{end}: expected a positive step and finite times"
        ));
    }
    let steps = ((end - start) / step + 1e-9).floor();
    if steps < 0.0 {
        return Err(format!("the range {start}..{end} ends before it starts"));
    }
    if steps > MAX_STEPS as f64 {
        return Err(format!(
            "{steps} steps of {step} s from {start} to {end}: more than the {MAX_STEPS} an import holds"
        ));
    }
    Ok(steps as usize)
}

/// Samples on the grid `start + k·step`, k = 0..=steps.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Unix seconds of the first grid point; trace times are seconds after it.
    pub start: f64,
    pub step: f64,
    pub steps: usize,
    pub source: String,
    pub vms: Vec<VmSeries>,
    pub hosts: Vec<HostSeries>,
    /// Measurements the source did not have (an exporter not scraped, say).
    pub absent: Vec<String>,
}

/// One VM's samples. `None` where there is no sample at that step.
#[derive(Debug, Clone, Default)]
pub struct VmSeries {
    pub name: String,
    /// The host it was seen on, from step k on: the first entry and every move.
    pub hosts: Vec<(usize, String)>,
    pub vcpus: u32,
    /// CPU utilisation of its vCPUs, 0–1.
    pub cpu: Vec<Option<f32>>,
    /// Memory in use, bytes.
    pub memory: Vec<Option<f64>>,
    /// Dirty-page rate, bytes/s.
    pub dirty: Vec<Option<f64>>,
    /// Network traffic, received plus sent, bytes/s.
    pub net: Vec<Option<f64>>,
    pub report: SeriesReport,
}

/// One host's own measurements.
#[derive(Debug, Clone, Default)]
pub struct HostSeries {
    pub name: String,
    pub cpus: usize,
    pub cpu: Vec<Option<f32>>,
    pub memory: Option<f64>,
    pub report: SeriesReport,
}

/// What happened to a series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeriesReport {
    /// Steps with a sample.
    pub samples: usize,
    /// Steps without one between its first and last (interpolated over when replayed).
    pub gaps: usize,
    /// Counter resets (the domain or host restarted): the new value is the increase.
    pub resets: usize,
    /// Samples above 100 % of the vCPUs (the emulator's own threads count in libvirt's CPU
    /// time), written as 1.
    pub clamped: usize,
    /// Staleness markers or NaN values in the answers.
    pub nan: usize,
    /// Seconds after the start of its first and last sample; a VM that appeared or vanished
    /// within the range holds its first value before and its last after when replayed.
    pub first: Option<f64>,
    pub last: Option<f64>,
}

impl SeriesReport {
    /// Counts samples and gaps of `cpu`.
    pub fn count(&mut self, cpu: &[Option<f32>], step: f64) {
        let have: Vec<usize> = (0..cpu.len()).filter(|&k| cpu[k].is_some()).collect();
        self.samples = have.len();
        if let (Some(&a), Some(&b)) = (have.first(), have.last()) {
            self.gaps = (b - a + 1) - have.len();
            self.first = Some(a as f64 * step);
            self.last = Some(b as f64 * step);
        }
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// A VM's line in `import.json`.
#[derive(Debug, Clone, Serialize)]
pub struct VmSummary {
    pub name: String,
    /// The host it was last seen on.
    pub host: String,
    pub vcpus: u32,
    pub moves: Vec<Move>,
    pub mean_cpu: Option<f64>,
    pub mean_memory_bytes: Option<f64>,
    pub mean_dirty_rate_bytes_per_s: Option<f64>,
    pub mean_traffic_bytes_per_s: Option<f64>,
    #[serde(flatten)]
    pub report: SeriesReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub at: f64,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    pub name: String,
    pub cpus: usize,
    pub memory_bytes: Option<f64>,
    pub mean_cpu: Option<f64>,
    #[serde(flatten)]
    pub report: SeriesReport,
}

/// `import.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub start_unix: f64,
    pub step_s: f64,
    pub steps: usize,
    pub absent: Vec<String>,
    pub vms: Vec<VmSummary>,
    pub hosts: Vec<HostSummary>,
}

impl Imported {
    pub fn summary(&self) -> Summary {
        let vms = self
            .vms
            .iter()
            .map(|v| VmSummary {
                name: v.name.clone(),
                host: v.hosts.last().map(|h| h.1.clone()).unwrap_or_default(),
                vcpus: v.vcpus,
                moves: v
                    .hosts
                    .windows(2)
                    .map(|w| Move {
                        at: w[1].0 as f64 * self.step,
                        from: w[0].1.clone(),
                        to: w[1].1.clone(),
                    })
                    .collect(),
                mean_cpu: mean(v.cpu.iter().flatten().map(|&c| c as f64)),
                mean_memory_bytes: mean(v.memory.iter().flatten().copied()),
                mean_dirty_rate_bytes_per_s: mean(v.dirty.iter().flatten().copied()),
                mean_traffic_bytes_per_s: mean(v.net.iter().flatten().copied()),
                report: v.report.clone(),
            })
            .collect();
        let hosts = self
            .hosts
            .iter()
            .map(|h| HostSummary {
                name: h.name.clone(),
                cpus: h.cpus,
                memory_bytes: h.memory,
                mean_cpu: mean(h.cpu.iter().flatten().map(|&c| c as f64)),
                report: h.report.clone(),
            })
            .collect();
        Summary {
            source: self.source.clone(),
            start_unix: self.start,
            step_s: self.step,
            steps: self.steps,
            absent: self.absent.clone(),
            vms,
            hosts,
        }
    }

    /// `trace.csv`: one row per VM and step with a CPU sample, in time order. Memory and dirty
    /// rate are columns when every VM has them; a VM's value at a step without one is its
    /// nearest earlier one (or later, before its first).
    pub fn trace_csv(&self) -> String {
        let with_mem = !self.vms.is_empty()
            && self
                .vms
                .iter()
                .all(|v| v.memory.iter().any(|m| m.is_some()));
        let with_dirty =
            !self.vms.is_empty() && self.vms.iter().all(|v| v.dirty.iter().any(|d| d.is_some()));
        let held = |xs: &[Option<f64>]| -> Vec<f64> {
            let first = xs.iter().flatten().next().copied().unwrap_or(0.0);
            let mut last = first;
            xs.iter()
                .map(|x| {
                    if let Some(x) = x {
                        last = *x;
                    }
                    last
                })
                .collect()
        };
        let mem: Vec<Vec<f64>> = self.vms.iter().map(|v| held(&v.memory)).collect();
        let dirty: Vec<Vec<f64>> = self.vms.iter().map(|v| held(&v.dirty)).collect();
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut head = vec!["time", "vm", "cpu"];
        if with_mem {
            head.push("memory");
        }
        if with_dirty {
            head.push("dirty_rate");
        }
        w.write_record(&head).expect("in memory");
        for k in 0..=self.steps {
            for (i, v) in self.vms.iter().enumerate() {
                let Some(c) = v.cpu.get(k).copied().flatten() else {
                    continue;
                };
                let mut rec = vec![
                    (k as f64 * self.step).to_string(),
                    v.name.clone(),
                    format!("{:.4}", c),
                ];
                if with_mem {
                    rec.push(format!("{:.0}", mem[i][k]));
                }
                if with_dirty {
                    rec.push(format!("{:.0}", dirty[i][k]));
                }
                w.write_record(&rec).expect("in memory");
            }
        }
        String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
    }

    /// `hosts.csv`: `time,host,cpu`, each host's own CPU utilisation.
    pub fn hosts_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(["time", "host", "cpu"]).expect("in memory");
        for k in 0..=self.steps {
            for h in &self.hosts {
                if let Some(c) = h.cpu.get(k).copied().flatten() {
                    w.write_record([
                        (k as f64 * self.step).to_string(),
                        h.name.clone(),
                        format!("{:.4}", c),
                    ])
                    .expect("in memory");
                }
            }
        }
        String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
    }

    /// Writes the folder, each file whole or not at all.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        crate::base::write_atomic(&dir.join("trace.csv"), self.trace_csv().as_bytes())?;
        crate::base::write_atomic(&dir.join("hosts.csv"), self.hosts_csv().as_bytes())?;
        let json = serde_json::to_string_pretty(&self.summary()).expect("serialisable") + "\n";
        crate::base::write_atomic(&dir.join("import.json"), json.as_bytes())
    }

    /// What the import found, for the terminal: one line per VM and host, and a line for
    /// every gap, reset, appearance, disappearance and move.
    pub fn report_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{}: {} VMs, {} hosts, {} steps of {} s ({})",
            self.source,
            self.vms.len(),
            self.hosts.len(),
            self.steps,
            self.step,
            crate::units::format_duration(crate::engine::SimTime::from_secs_f64(
                self.steps as f64 * self.step
            ))
        );
        for a in &self.absent {
            let _ = writeln!(o, "  not measured: {a}");
        }
        let s = self.summary();
        // Series whose first sample comes later than the import's first appeared within the
        // range; those whose last comes earlier than its last vanished.
        let reports = || {
            s.vms
                .iter()
                .map(|v| &v.report)
                .chain(s.hosts.iter().map(|h| &h.report))
        };
        let span = (
            reports()
                .filter_map(|r| r.first)
                .fold(f64::INFINITY, f64::min),
            reports()
                .filter_map(|r| r.last)
                .fold(f64::NEG_INFINITY, f64::max),
        );
        for v in &s.vms {
            let _ = write!(
                o,
                "  vm {:?} on {:?}: {} vCPU, mean CPU {}, {} samples",
                v.name,
                v.host,
                v.vcpus,
                pct(v.mean_cpu),
                v.report.samples
            );
            notes(&mut o, &v.report, span);
            for m in &v.moves {
                let _ = write!(o, "; moved {:?} → {:?} at {} s", m.from, m.to, m.at);
            }
            o.push('\n');
        }
        for h in &s.hosts {
            let _ = write!(
                o,
                "  host {:?}: {} CPUs, mean CPU {}, {} samples",
                h.name,
                h.cpus,
                pct(h.mean_cpu),
                h.report.samples
            );
            notes(&mut o, &h.report, span);
            o.push('\n');
        }
        o
    }
}

fn notes(o: &mut String, r: &SeriesReport, span: (f64, f64)) {
    if r.gaps > 0 {
        let _ = write!(o, "; {} missing (interpolated)", r.gaps);
    }
    if r.resets > 0 {
        let _ = write!(o, "; {} counter reset(s)", r.resets);
    }
    if r.nan > 0 {
        let _ = write!(o, "; {} stale/NaN point(s)", r.nan);
    }
    if r.clamped > 0 {
        let _ = write!(o, "; {} sample(s) above 100 % written as 100 %", r.clamped);
    }
    if let Some(f) = r.first.filter(|&f| f > span.0) {
        let _ = write!(o, "; first sample at {f} s (appeared)");
    }
    if let Some(l) = r.last.filter(|&l| l < span.1) {
        let _ = write!(o, "; last sample at {l} s (vanished)");
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1} %", x * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(name: &str, cpu: Vec<Option<f32>>) -> VmSeries {
        let n = cpu.len();
        let mut v = VmSeries {
            name: name.into(),
            hosts: vec![(0, "h1".into())],
            vcpus: 1,
            cpu,
            memory: vec![None; n],
            dirty: vec![None; n],
            net: vec![None; n],
            report: SeriesReport::default(),
        };
        v.report.count(&v.cpu.clone(), 10.0);
        v
    }

    #[test]
    fn the_written_trace_reads_back_with_names_quoted_and_gaps_left_out() {
        let mut a = vm("web,1", vec![None, Some(0.5), None, Some(0.25)]);
        a.memory = vec![Some(100.0), None, None, Some(300.0)];
        let mut b = vm("db", vec![None, Some(1.0), Some(0.0), None]);
        b.memory = vec![None, Some(7.0), None, None];
        assert_eq!(a.report.gaps, 1);
        assert_eq!(b.report.last, Some(20.0));
        let imp = Imported {
            start: 1000.0,
            step: 10.0,
            steps: 3,
            source: "test".into(),
            vms: vec![a, b],
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        imp.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("trace.csv")).unwrap();
        assert_eq!(
            text,
            "time,vm,cpu,memory\n10,\"web,1\",0.5000,100\n10,db,1.0000,7\n20,db,0.0000,7\n30,\"web,1\",0.2500,300\n"
        );
        let t = crate::trace::csv_long::read(&dir.path().join("trace.csv")).unwrap();
        assert_eq!(t.vms[0].name, "web,1");
        assert_eq!(t.vms[0].cpu, vec![0.5, 0.25]);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("import.json")).unwrap())
                .unwrap();
        assert_eq!(json["vms"][0]["gaps"], 1);
        assert_eq!(json["vms"][1]["mean_cpu"], 0.5);
        let r = imp.report_text();
        assert!(r.contains("1 missing (interpolated)"), "{r}");
        assert!(r.contains("last sample at 20 s (vanished)"), "{r}");
    }
}
