//! The monitoring importers: a Prometheus `query_range` answer (as both the CPU-time and the
//! vCPU answer, on a grid from its own points) or an `rrdtool xport` output, chosen by the
//! first byte. A bad answer is an error naming the file and the point; never a panic, and
//! never a grid that exhausts memory.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use migsim::trace::{prometheus, rrd};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(series) = prometheus::parse_matrix(Path::new("cpu_time.json"), text) else {
            return;
        };
        let times: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        let (lo, hi) = times
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t)));
        let step = 1.0 + (which >> 1) as f64;
        let Ok(grid) = prometheus::Grid::new(lo, hi, step) else {
            return;
        };
        let mut answers: BTreeMap<&'static str, Option<Vec<prometheus::Series>>> = BTreeMap::new();
        answers.insert("cpu_time", Some(series.clone()));
        answers.insert("vcpus", Some(series.clone()));
        answers.insert("node_idle", Some(series));
        if let Ok(imp) = prometheus::assemble(&answers, grid, &prometheus::Labels::default(), "fuzz") {
            let _ = imp.trace_csv();
            let _ = imp.report_text();
        }
    } else if let Ok(e) = rrd::parse(Path::new("x.xml"), rest) {
        let vcpus: BTreeMap<String, u32> = [(String::new(), 2)].into();
        if let Ok(imp) = rrd::assemble(&[("x.xml".into(), e)], rrd::Unit::NsPerSecond, &vcpus) {
            let _ = imp.trace_csv();
        }
    }
});
