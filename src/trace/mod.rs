//! Workload traces: readers for public formats, one per format behind one trait, and
//! synthetic generators.
//!
//! A trace is a set of VMs, each with CPU utilisation samples (0–1) at fixed or irregular
//! times, and optionally memory and a dirty-page rate. Readers check every row. A malformed
//! value is an error that names the file, the line and the field, never a silently skipped
//! row.

pub mod azure;
pub mod bitbrains;
pub mod csv_long;
pub mod generate;
pub mod import;
pub mod planetlab;
pub mod prometheus;
pub mod rrd;
pub mod stats;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::SimTime;

/// A bad trace row, or a trace that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TraceError {
    pub file: PathBuf,
    /// 1-based line, 0 when the error concerns the file as a whole.
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.file.display(), self.line)?;
        } else {
            write!(f, "{}: ", self.file.display())?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl TraceError {
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        field: &str,
        message: impl Into<String>,
    ) -> TraceError {
        TraceError {
            file: file.into(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// One VM of a trace: its name, and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct VmTrace {
    pub name: String,
    /// Sample times, non-decreasing.
    pub times: Vec<SimTime>,
    /// CPU utilisation of the VM's vCPUs, 0–1.
    pub cpu: Vec<f32>,
    /// Memory in use, bytes, if the format has it.
    pub memory: Option<Vec<f32>>,
    /// Dirty-page rate, bytes/s, if the format has it.
    pub dirty_rate: Option<Vec<f32>>,
    /// When the VM was created and deleted, relative to the trace's start, if the format
    /// records it (Azure's `vmtable`). A trace-driven VM starts and stops at these times.
    pub lifetime: Option<(SimTime, SimTime)>,
}

impl VmTrace {
    /// CPU utilisation at `t`: linear interpolation between the neighbouring samples, the first
    /// value before the first sample and the last after the last (CloudSim's
    /// `UtilizationModelPlanetLabInMemory` interpolates the same way).
    pub fn cpu_at(&self, t: SimTime) -> f64 {
        sample_at(&self.times, &self.cpu, t)
    }
}

fn sample_at(times: &[SimTime], values: &[f32], t: SimTime) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let i = times.partition_point(|&s| s <= t);
    if i == 0 {
        return values[0] as f64;
    }
    if i >= times.len() {
        return values[values.len() - 1] as f64;
    }
    let (t0, t1) = (times[i - 1], times[i]);
    let (v0, v1) = (values[i - 1] as f64, values[i] as f64);
    if t1 <= t0 {
        return v1;
    }
    let f = (t - t0).as_secs_f64() / (t1 - t0).as_secs_f64();
    v0 + (v1 - v0) * f
}

/// The trace formats migsim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder of per-VM files, one integer CPU percentage per line, 300 s apart
    /// (CoMon/PlanetLab as shipped with CloudSim).
    PlanetLab,
    /// `time,vm,cpu[,memory][,dirty_rate]`, one row per VM and sample, in time order.
    Csv,
    /// Bitbrains GWA-T-12: a folder of per-VM `;`-separated CSV files with CPU and memory.
    Bitbrains,
    /// Azure Public Dataset V1/V2: `vmtable.csv` and `vm_cpu_readings*.csv` in one folder.
    Azure,
}

impl Format {
    /// The names `parse` accepts, for error messages.
    pub const NAMES: &'static str = "planetlab, csv, bitbrains or azure";

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "planetlab" => Some(Format::PlanetLab),
            "csv" => Some(Format::Csv),
            "bitbrains" => Some(Format::Bitbrains),
            "azure" => Some(Format::Azure),
            _ => None,
        }
    }
}

/// A whole trace.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub vms: Vec<VmTrace>,
}

/// The VMs of a trace, one at a time.
pub type VmIter<'a> = Box<dyn Iterator<Item = Result<VmTrace, TraceError>> + 'a>;

/// A trace format's reader. Adding a format is one module with one of these and one line in
/// [`reader`].
///
/// `vms` yields the trace VM by VM. Formats that keep one VM per file (PlanetLab) stream it,
/// so that a caller that only aggregates, such as `migsim trace stats`, never holds the whole
/// trace. Formats whose rows interleave VMs (the long CSV, Azure's readings) or need every
/// file before the first VM is known (Bitbrains' common start time) read it whole first.
pub trait TraceReader: Sync {
    fn format(&self) -> Format;

    fn vms<'a>(&'a self, path: &'a Path) -> Result<VmIter<'a>, TraceError>;

    /// The whole trace.
    fn read(&self, path: &Path) -> Result<Trace, TraceError> {
        Ok(Trace {
            vms: self.vms(path)?.collect::<Result<_, _>>()?,
        })
    }

    /// Whether each VM's last sample is an appended copy rather than a measurement (CloudSim
    /// appends a 289th point to PlanetLab's 288), which statistics leave out.
    fn appends_last_sample(&self) -> bool {
        false
    }
}

/// Reads a format by reading it whole with `read_whole`.
struct Whole {
    format: Format,
    read_whole: fn(&Path) -> Result<Trace, TraceError>,
}

impl TraceReader for Whole {
    fn format(&self) -> Format {
        self.format
    }

    fn vms<'a>(&'a self, path: &'a Path) -> Result<VmIter<'a>, TraceError> {
        let t = (self.read_whole)(path)?;
        Ok(Box::new(t.vms.into_iter().map(Ok)))
    }

    fn read(&self, path: &Path) -> Result<Trace, TraceError> {
        (self.read_whole)(path)
    }
}

/// The reader of each format.
pub fn reader(format: Format) -> &'static dyn TraceReader {
    static CSV: Whole = Whole {
        format: Format::Csv,
        read_whole: csv_long::read,
    };
    static BITBRAINS: Whole = Whole {
        format: Format::Bitbrains,
        read_whole: bitbrains::read_dir,
    };
    static AZURE: Whole = Whole {
        format: Format::Azure,
        read_whole: azure::read_dir,
    };
    match format {
        Format::PlanetLab => &planetlab::Reader,
        Format::Csv => &CSV,
        Format::Bitbrains => &BITBRAINS,
        Format::Azure => &AZURE,
    }
}

/// Reads a trace in `format` from `path`.
pub fn read(format: Format, path: &Path) -> Result<Trace, TraceError> {
    reader(format).read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_interpolate_linearly_and_hold_at_the_ends() {
        let times = vec![SimTime::from_secs(0), SimTime::from_secs(300)];
        let v = vec![0.1f32, 0.5];
        assert!((sample_at(&times, &v, SimTime::from_secs(150)) - 0.3).abs() < 1e-6);
        assert!((sample_at(&times, &v, SimTime::from_secs(900)) - 0.5).abs() < 1e-6);
        assert!((sample_at(&times, &v, SimTime::ZERO) - 0.1).abs() < 1e-6);
    }

    #[test]
    fn every_format_has_its_reader() {
        for f in [
            Format::PlanetLab,
            Format::Csv,
            Format::Bitbrains,
            Format::Azure,
        ] {
            assert_eq!(reader(f).format(), f);
        }
        assert!(reader(Format::PlanetLab).appends_last_sample());
        assert!(!reader(Format::Csv).appends_last_sample());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = TraceError::new(
            "day/vm1",
            12,
            "cpu",
            "expected an integer percentage; got \"x\"",
        );
        assert_eq!(
            e.to_string(),
            "day/vm1:12: cpu: expected an integer percentage; got \"x\""
        );
    }
}
