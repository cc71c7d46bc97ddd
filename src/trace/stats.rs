//! Trace statistics as Beloglazov & Buyya's Table II reports them (CCPE 2012): VMs, and the
//! mean, standard deviation and quartiles of CPU utilisation over every sample.
//!
//! Computed in one streaming pass with a histogram of 0.01 % bins, so that a trace larger than
//! memory can be summarised. For PlanetLab's integer percentages the quartiles are exact.

use serde::Serialize;

use super::{TraceError, VmTrace};

/// Bins of 0.01 percentage point from 0 to 100 %.
const BINS: usize = 10_001;

#[derive(Debug, Clone)]
pub struct Accumulator {
    vms: usize,
    n: u64,
    sum: f64,
    sum_sq: f64,
    hist: Vec<u64>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator {
            vms: 0,
            n: 0,
            sum: 0.0,
            sum_sq: 0.0,
            hist: vec![0; BINS],
        }
    }
}

/// Table II's row for one trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub vms: usize,
    pub samples: u64,
    /// Percent.
    pub mean: f64,
    /// Percent; sample standard deviation.
    pub stdev: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
}

impl Accumulator {
    /// Adds one VM's samples (utilisation 0–1).
    pub fn add_vm(&mut self, samples: impl IntoIterator<Item = f64>) {
        self.vms += 1;
        for u in samples {
            let pct = (u * 100.0).clamp(0.0, 100.0);
            self.n += 1;
            self.sum += pct;
            self.sum_sq += pct * pct;
            self.hist[(pct * 100.0).round() as usize] += 1;
        }
    }

    /// The value at rank `k` (0-based) of the sorted samples.
    fn at_rank(&self, k: u64) -> f64 {
        let mut seen = 0u64;
        for (b, &c) in self.hist.iter().enumerate() {
            seen += c;
            if seen > k {
                return b as f64 / 100.0;
            }
        }
        100.0
    }

    /// Quantile by linear interpolation between closest ranks (R's type 7).
    fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let pos = (self.n - 1) as f64 * q;
        let lo = pos.floor() as u64;
        let hi = pos.ceil() as u64;
        let (a, b) = (self.at_rank(lo), self.at_rank(hi));
        a + (b - a) * (pos - lo as f64)
    }

    pub fn finish(&self) -> Stats {
        let n = self.n.max(1) as f64;
        let mean = self.sum / n;
        let var = if self.n > 1 {
            (self.sum_sq - self.sum * self.sum / n) / (n - 1.0)
        } else {
            0.0
        };
        Stats {
            vms: self.vms,
            samples: self.n,
            mean,
            stdev: var.max(0.0).sqrt(),
            q1: self.quantile(0.25),
            median: self.quantile(0.5),
            q3: self.quantile(0.75),
        }
    }
}

/// Statistics of the VMs' samples; PlanetLab's appended 289th point is not a sample and is
/// left out.
pub fn of_vms<'a>(vms: impl IntoIterator<Item = &'a VmTrace>, planetlab: bool) -> Stats {
    let mut acc = Accumulator::default();
    for v in vms {
        let n = if planetlab {
            v.cpu.len().saturating_sub(1)
        } else {
            v.cpu.len()
        };
        acc.add_vm(v.cpu[..n].iter().map(|&c| c as f64));
    }
    acc.finish()
}

/// Streams a PlanetLab day folder VM by VM.
pub fn planetlab_day(dir: &std::path::Path) -> Result<Stats, TraceError> {
    of_reader(super::reader(super::Format::PlanetLab), dir)
}

/// Statistics of a trace read VM by VM through its format's reader.
pub fn of_reader(r: &dyn super::TraceReader, path: &std::path::Path) -> Result<Stats, TraceError> {
    let mut acc = Accumulator::default();
    let drop_last = r.appends_last_sample();
    for v in r.vms(path)? {
        let v = v?;
        let n = if drop_last {
            v.cpu.len().saturating_sub(1)
        } else {
            v.cpu.len()
        };
        acc.add_vm(v.cpu[..n].iter().map(|&c| c as f64));
    }
    Ok(acc.finish())
}

pub fn header() -> &'static str {
    "trace                     VMs     mean   st.dev     Q1  median     Q3   (CPU utilisation, %)"
}

pub fn row(name: &str, s: &Stats) -> String {
    format!(
        "{name:<22} {:>6} {:>7.2}% {:>7.2}% {:>5.0}% {:>6.0}% {:>5.0}%",
        s.vms, s.mean, s.stdev, s.q1, s.median, s.q3
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_of_a_known_sample() {
        let mut a = Accumulator::default();
        a.add_vm([0.01, 0.02, 0.03, 0.04, 0.05]);
        let s = a.finish();
        assert_eq!(s.vms, 1);
        assert!((s.mean - 3.0).abs() < 1e-9);
        assert!((s.median - 3.0).abs() < 1e-9);
        assert!((s.q1 - 2.0).abs() < 1e-9);
        assert!((s.q3 - 4.0).abs() < 1e-9);
        assert!((s.stdev - 2.5f64.sqrt()).abs() < 1e-9);
    }
}
