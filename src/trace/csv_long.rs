//! The generic long CSV format, for traces from anywhere:
//!
//! ```text
//! time,vm,cpu[,memory][,dirty_rate]
//! 0,web-0,0.35
//! 300,web-0,0.41
//! ```
//!
//! `time` is seconds since the start of the trace, `vm` a name, `cpu` the utilisation of the
//! VM's vCPUs as a fraction (0–1), `memory` bytes in use and `dirty_rate` bytes per second
//! dirtied (both optional, but present on every row if in the header). Each VM's rows must be
//! in time order; VMs are numbered in order of first appearance. Rows are read one at a time,
//! so a file larger than memory can be checked or summarised with [`rows`].

use std::collections::BTreeMap;
use std::path::Path;

use super::{Trace, TraceError, VmTrace};
use crate::engine::SimTime;

/// One row of a long CSV trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: usize,
    pub time: SimTime,
    pub vm: String,
    pub cpu: f64,
    pub memory: Option<f64>,
    pub dirty_rate: Option<f64>,
}

/// Streams the rows of `path`, each checked.
pub fn rows(path: &Path) -> Result<impl Iterator<Item = Result<Row, TraceError>>, TraceError> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| TraceError::new(path, 0, "", format!("cannot read: {e}")))?;
    let head = rd
        .headers()
        .map_err(|e| TraceError::new(path, 1, "", e.to_string()))?
        .clone();
    let find = |n: &str| head.iter().position(|h| h == n);
    let need = |n: &str| {
        find(n).ok_or_else(|| {
            TraceError::new(
                path,
                1,
                n,
                format!("missing column {n:?}: expected time,vm,cpu[,memory][,dirty_rate]"),
            )
        })
    };
    let (c_t, c_vm, c_cpu) = (need("time")?, need("vm")?, need("cpu")?);
    let (c_mem, c_dirty) = (find("memory"), find("dirty_rate"));
    if let Some(extra) = head
        .iter()
        .find(|h| !["time", "vm", "cpu", "memory", "dirty_rate"].contains(h))
    {
        return Err(TraceError::new(
            path,
            1,
            extra,
            "unknown column; expected time,vm,cpu[,memory][,dirty_rate]",
        ));
    }
    let path = path.to_path_buf();
    Ok(rd.into_records().enumerate().map(move |(i, rec)| {
        let line = i + 2;
        let rec = rec.map_err(|e| TraceError::new(&path, line, "", e.to_string()))?;
        let num = |c: usize, field: &str| -> Result<f64, TraceError> {
            let s = rec.get(c).unwrap_or("");
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    TraceError::new(
                        &path,
                        line,
                        field,
                        format!("expected a non-negative number; got {s:?}"),
                    )
                })
        };
        let t = num(c_t, "time")?;
        let cpu = num(c_cpu, "cpu")?;
        if cpu > 1.0 {
            return Err(TraceError::new(
                &path,
                line,
                "cpu",
                format!("expected a fraction 0–1; got {cpu} (percentages must be divided by 100)"),
            ));
        }
        let vm = rec.get(c_vm).unwrap_or("").to_string();
        if vm.is_empty() {
            return Err(TraceError::new(&path, line, "vm", "empty VM name"));
        }
        Ok(Row {
            line,
            time: SimTime::from_secs_f64(t),
            vm,
            cpu,
            memory: c_mem.map(|c| num(c, "memory")).transpose()?,
            dirty_rate: c_dirty.map(|c| num(c, "dirty_rate")).transpose()?,
        })
    }))
}

/// Reads a whole long CSV trace.
pub fn read(path: &Path) -> Result<Trace, TraceError> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut vms: Vec<VmTrace> = Vec::new();
    for row in rows(path)? {
        let r = row?;
        let i = *index.entry(r.vm.clone()).or_insert_with(|| {
            vms.push(VmTrace {
                name: r.vm.clone(),
                times: Vec::new(),
                cpu: Vec::new(),
                memory: r.memory.map(|_| Vec::new()),
                dirty_rate: r.dirty_rate.map(|_| Vec::new()),
                lifetime: None,
            });
            vms.len() - 1
        });
        let v = &mut vms[i];
        if v.times.last().is_some_and(|&last| r.time < last) {
            return Err(TraceError::new(
                path,
                r.line,
                "time",
                format!("{}'s rows go back in time", r.vm),
            ));
        }
        v.times.push(r.time);
        v.cpu.push(r.cpu as f32);
        if let (Some(m), Some(x)) = (v.memory.as_mut(), r.memory) {
            m.push(x as f32);
        }
        if let (Some(d), Some(x)) = (v.dirty_rate.as_mut(), r.dirty_rate) {
            d.push(x as f32);
        }
    }
    if vms.is_empty() {
        return Err(TraceError::new(path, 0, "", "the trace has no rows"));
    }
    Ok(Trace { vms })
}

/// Writes a trace in this format.
pub fn write(path: &Path, trace: &Trace) -> std::io::Result<()> {
    let mut out = String::from("time,vm,cpu\n");
    let n = trace.vms.iter().map(|v| v.times.len()).max().unwrap_or(0);
    for k in 0..n {
        for v in &trace.vms {
            if let (Some(t), Some(c)) = (v.times.get(k), v.cpu.get(k)) {
                out.push_str(&format!("{},{},{}\n", t.as_secs_f64(), v.name, c));
            }
        }
    }
    crate::base::write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_per_vm_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(
            &p,
            "time,vm,cpu,dirty_rate\n0,a,0.5,100\n0,b,0.1,0\n300,a,0.7,200\n",
        )
        .unwrap();
        let t = read(&p).unwrap();
        assert_eq!(t.vms.len(), 2);
        assert_eq!(t.vms[0].cpu, vec![0.5, 0.7]);
        assert_eq!(t.vms[0].dirty_rate.as_ref().unwrap(), &vec![100.0, 200.0]);
    }

    #[test]
    fn bad_rows_are_errors_with_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "time,vm,cpu\n0,a,0.5\n300,a,55\n").unwrap();
        let e = read(&p).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "cpu"));
        std::fs::write(&p, "time,vm,cpu\n300,a,0.5\n0,a,0.5\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("t.csv:3: time:"));
        std::fs::write(&p, "time,vm,load\n").unwrap();
        assert!(
            read(&p)
                .unwrap_err()
                .to_string()
                .contains("missing column \"cpu\"")
        );
        std::fs::write(&p, "time,vm,cpu\n0,a,x\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("t.csv:2: cpu:"));
    }
}
