//! Bitbrains GWA-T-12 (fastStorage, Rnd): one file per VM, fields separated by `;` and a tab
//! (shown here as a space), with the header
//!
//! ```text
//! Timestamp [ms]; CPU cores; CPU capacity provisioned [MHZ]; CPU usage [MHZ]; CPU usage [%];
//! Memory capacity provisioned [KB]; Memory usage [KB]; Disk read throughput [KB/s]; …
//! ```
//!
//! Despite its header, the timestamp is in epoch seconds (e.g. 1376314846), as OpenDC's reader
//! also takes it (../shared/reference/landscape.md §4). Samples are about 300 s apart. Times
//! are made relative to the earliest timestamp in the folder, so every VM shares one clock.
//! `CPU usage [%]` becomes the utilisation (0–1) and `Memory usage [KB]` the memory in use,
//! taking KB as 1024 bytes. That is an assumption: the dataset does not say, and Linux memory
//! counters report "kB" meaning KiB. Files are read in name order, one row at a time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{Trace, TraceError, VmTrace};
use crate::engine::SimTime;

const TIME: &str = "Timestamp [ms]";
const CPU: &str = "CPU usage [%]";
const MEMORY: &str = "Memory usage [KB]";

/// The per-VM files of a Bitbrains folder, in name order (hidden files skipped).
fn files(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| TraceError::new(dir, 0, "", format!("cannot read the folder: {e}")))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| TraceError::new(dir, 0, "", e.to_string()))?;
        let p = e.path();
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if p.is_file() && !hidden {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(TraceError::new(dir, 0, "", "no VM files in the folder"));
    }
    Ok(out)
}

struct RawVm {
    name: String,
    times: Vec<i64>,
    cpu: Vec<f32>,
    memory: Vec<f32>,
}

fn read_file(path: &Path) -> Result<RawVm, TraceError> {
    let f = std::fs::File::open(path)
        .map_err(|e| TraceError::new(path, 0, "", format!("cannot read: {e}")))?;
    let mut lines = BufReader::new(f).lines();
    let head = match lines.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(TraceError::new(path, 1, "", e.to_string())),
        None => return Err(TraceError::new(path, 0, "", "empty file: no header")),
    };
    let cols: Vec<String> = head
        .trim_start_matches('\u{feff}')
        .split(';')
        .map(|c| c.trim().to_string())
        .collect();
    let col = |n: &str| {
        cols.iter().position(|c| c == n).ok_or_else(|| {
            TraceError::new(
                path,
                1,
                n,
                format!("missing column {n:?}: not a Bitbrains GWA-T-12 header"),
            )
        })
    };
    let (c_t, c_cpu, c_mem) = (col(TIME)?, col(CPU)?, col(MEMORY)?);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut vm = RawVm {
        name,
        times: Vec::new(),
        cpu: Vec::new(),
        memory: Vec::new(),
    };
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line.map_err(|e| TraceError::new(path, n, "", e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        if fields.len() != cols.len() {
            return Err(TraceError::new(
                path,
                n,
                "",
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    cols.len()
                ),
            ));
        }
        let t: i64 = fields[c_t].parse().map_err(|_| {
            TraceError::new(
                path,
                n,
                TIME,
                format!("expected epoch seconds; got {:?}", fields[c_t]),
            )
        })?;
        if let Some(&prev) = vm.times.last()
            && t < prev
        {
            return Err(TraceError::new(
                path,
                n,
                TIME,
                format!("{t} is before the previous sample ({prev}): rows must be in time order"),
            ));
        }
        let num = |c: usize, field: &str| -> Result<f64, TraceError> {
            let v: f64 = fields[c].parse().map_err(|_| {
                TraceError::new(
                    path,
                    n,
                    field,
                    format!("expected a number; got {:?}", fields[c]),
                )
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(TraceError::new(
                    path,
                    n,
                    field,
                    format!("{v} is not a non-negative number"),
                ));
            }
            Ok(v)
        };
        let cpu = num(c_cpu, CPU)?;
        if cpu > 100.0 + 1e-9 {
            return Err(TraceError::new(
                path,
                n,
                CPU,
                format!("{cpu} % is above 100 %"),
            ));
        }
        let mem = num(c_mem, MEMORY)?;
        vm.times.push(t);
        vm.cpu.push((cpu / 100.0) as f32);
        vm.memory.push((mem * 1024.0) as f32);
    }
    if vm.times.is_empty() {
        return Err(TraceError::new(path, 0, "", "no samples after the header"));
    }
    Ok(vm)
}

/// Reads every VM file in `dir`.
pub fn read_dir(dir: &Path) -> Result<Trace, TraceError> {
    let raw: Vec<RawVm> = files(dir)?
        .iter()
        .map(|p| read_file(p))
        .collect::<Result<_, _>>()?;
    let t0 = raw.iter().map(|v| v.times[0]).min().unwrap_or(0);
    let vms = raw
        .into_iter()
        .map(|v| VmTrace {
            name: v.name,
            times: v
                .times
                .iter()
                .map(|&t| SimTime::from_secs((t - t0) as u64))
                .collect(),
            cpu: v.cpu,
            memory: Some(v.memory),
            dirty_rate: None,
            lifetime: None,
        })
        .collect();
    Ok(Trace { vms })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]";

    fn row(t: i64, pct: &str, mem_kb: &str) -> String {
        format!("{t};\t4;\t11703.99;\t1000.0;\t{pct};\t16777216;\t{mem_kb};\t0;\t0;\t1.2;\t0.5")
    }

    #[test]
    fn reads_seconds_percent_and_kib_on_one_clock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("2.csv"),
            format!(
                "{HEAD}\n{}\n{}\n",
                row(1376314846, "10.5", "1024"),
                row(1376315146, "20", "2048")
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("1.csv"),
            format!("{HEAD}\n{}\n", row(1376314546, "0", "0")),
        )
        .unwrap();
        let t = read_dir(dir.path()).unwrap();
        assert_eq!(t.vms.len(), 2);
        assert_eq!(t.vms[0].name, "1");
        assert_eq!(t.vms[0].times, vec![SimTime::ZERO]);
        let v = &t.vms[1];
        assert_eq!(
            v.times,
            vec![SimTime::from_secs(300), SimTime::from_secs(600)]
        );
        assert!((v.cpu[0] - 0.105).abs() < 1e-6);
        assert_eq!(v.memory.as_ref().unwrap()[1], 2048.0 * 1024.0);
    }

    #[test]
    fn bad_rows_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("7.csv");
        std::fs::write(
            &p,
            format!(
                "{HEAD}\n{}\n{}\n",
                row(1376314846, "10", "1"),
                row(1376315146, "abc", "1")
            ),
        )
        .unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, CPU), "{e}");
        std::fs::write(&p, format!("{HEAD}\n{}\n", row(1, "130", "1"))).unwrap();
        assert!(
            read_dir(dir.path())
                .unwrap_err()
                .message
                .contains("above 100")
        );
        std::fs::write(
            &p,
            format!("{HEAD}\n{}\n{}\n", row(600, "1", "1"), row(300, "1", "1")),
        )
        .unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert!(e.message.contains("time order"), "{e}");
        std::fs::write(&p, "a;b;c\n1;2;3\n").unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, TIME), "{e}");
        std::fs::write(&p, format!("{HEAD}\n1;2\n")).unwrap();
        assert!(read_dir(dir.path()).unwrap_err().message.contains("fields"));
    }
}
