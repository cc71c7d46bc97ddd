//! Azure Public Dataset V1 (2017) and V2 (2019): a folder holding
//!
//! - `vmtable.csv`, one VM per row, no header: vmid, subscriptionid, deploymentid, vmcreated,
//!   vmdeleted, maxcpu, avgcpu, p95maxcpu, vmcategory, vmcorecountbucket, vmmemorybucket;
//! - `vm_cpu_readings-file-K-of-N.csv`, no header: timestamp, vmid, min cpu, max cpu, avg cpu,
//!   one row per VM every 5 minutes.
//!
//! Times are seconds from the start of the trace (`AzurePublicDatasetV1.md`; schema in
//! ../shared/reference/landscape.md §4). A VM's utilisation is its average CPU (%) over each
//! 5-minute interval, and it lives from `vmcreated` to `vmdeleted`. Reading files are taken in
//! numeric order (file-2 before file-10) and streamed row by row. VMs keep the vmtable's
//! order; a VM with no readings is kept, idle, rather than dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Trace, TraceError, VmTrace};
use crate::engine::SimTime;

const VMTABLE: &str = "vmtable.csv";
const READINGS: &str = "vm_cpu_readings";

/// Orders names with their digit runs compared as numbers.
fn natural_key(name: &str) -> Vec<(u8, u64, String)> {
    let mut out = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            let (d, r) = rest.split_at(digits);
            out.push((0, d.parse().unwrap_or(u64::MAX), String::new()));
            rest = r;
        } else {
            let n = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (s, r) = rest.split_at(n);
            out.push((1, 0, s.to_string()));
            rest = r;
        }
    }
    out
}

fn reading_files(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| TraceError::new(dir, 0, "", format!("cannot read the folder: {e}")))?;
    let mut out = Vec::new();
    for e in rd {
        let p = e
            .map_err(|e| TraceError::new(dir, 0, "", e.to_string()))?
            .path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with(READINGS) {
            if !name.ends_with(".csv") {
                return Err(TraceError::new(
                    &p,
                    0,
                    "",
                    "compressed or unknown reading file: decompress it to .csv first",
                ));
            }
            out.push(p);
        }
    }
    out.sort_by_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    if out.is_empty() {
        return Err(TraceError::new(
            dir,
            0,
            "",
            format!("no {READINGS}*.csv files in the folder"),
        ));
    }
    Ok(out)
}

fn reader(path: &Path) -> Result<csv::Reader<std::fs::File>, TraceError> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| TraceError::new(path, 0, "", format!("cannot read: {e}")))
}

fn line_of(r: &csv::StringRecord) -> usize {
    r.position().map_or(0, |p| p.line() as usize)
}

fn field<T: std::str::FromStr>(
    path: &Path,
    r: &csv::StringRecord,
    i: usize,
    name: &str,
    what: &str,
) -> Result<T, TraceError> {
    let s = r.get(i).unwrap_or("");
    s.parse().map_err(|_| {
        TraceError::new(
            path,
            line_of(r),
            name,
            format!("expected {what}; got {s:?}"),
        )
    })
}

/// Reads `vmtable.csv` and every reading file in `dir`.
pub fn read_dir(dir: &Path) -> Result<Trace, TraceError> {
    let table = dir.join(VMTABLE);
    if !table.is_file() {
        return Err(TraceError::new(
            &table,
            0,
            "",
            "missing: an Azure trace folder holds vmtable.csv and vm_cpu_readings*.csv",
        ));
    }
    let mut vms = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rec in reader(&table)?.records() {
        let r = rec.map_err(|e| TraceError::new(&table, 0, "", e.to_string()))?;
        let n = line_of(&r);
        if r.len() != 11 {
            return Err(TraceError::new(
                &table,
                n,
                "",
                format!("{} fields; vmtable rows have 11", r.len()),
            ));
        }
        let id = r[0].to_string();
        let created: u64 = field(&table, &r, 3, "vmcreated", "seconds")?;
        let deleted: u64 = field(&table, &r, 4, "vmdeleted", "seconds")?;
        if deleted < created {
            return Err(TraceError::new(
                &table,
                n,
                "vmdeleted",
                format!("{deleted} is before vmcreated ({created})"),
            ));
        }
        if index.insert(id.clone(), vms.len()).is_some() {
            return Err(TraceError::new(
                &table,
                n,
                "vmid",
                format!("VM {id:?} is listed twice"),
            ));
        }
        vms.push(VmTrace {
            name: id,
            times: Vec::new(),
            cpu: Vec::new(),
            memory: None,
            dirty_rate: None,
            lifetime: Some((SimTime::from_secs(created), SimTime::from_secs(deleted))),
        });
    }
    for path in reading_files(dir)? {
        for rec in reader(&path)?.records() {
            let r = rec.map_err(|e| TraceError::new(&path, 0, "", e.to_string()))?;
            let n = line_of(&r);
            if r.len() != 5 {
                return Err(TraceError::new(
                    &path,
                    n,
                    "",
                    format!("{} fields; reading rows have 5", r.len()),
                ));
            }
            let t: u64 = field(&path, &r, 0, "timestamp", "seconds")?;
            let Some(&v) = index.get(&r[1]) else {
                return Err(TraceError::new(
                    &path,
                    n,
                    "vmid",
                    format!("VM {:?} is not in vmtable.csv", &r[1]),
                ));
            };
            let avg: f64 = field(&path, &r, 4, "avg cpu", "a percentage")?;
            if !(0.0..=100.0).contains(&avg) {
                return Err(TraceError::new(
                    &path,
                    n,
                    "avg cpu",
                    format!("{avg} is not a percentage (0–100)"),
                ));
            }
            let vm = &mut vms[v];
            let time = SimTime::from_secs(t);
            if let Some(&prev) = vm.times.last()
                && time < prev
            {
                return Err(TraceError::new(
                    &path,
                    n,
                    "timestamp",
                    format!(
                        "{t} s is before VM {:?}'s previous reading ({} s)",
                        vm.name,
                        prev.as_secs_f64()
                    ),
                ));
            }
            vm.times.push(time);
            vm.cpu.push((avg / 100.0) as f32);
        }
    }
    Ok(Trace { vms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(table: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(VMTABLE), table).unwrap();
        for (n, body) in files {
            std::fs::write(dir.path().join(n), body).unwrap();
        }
        dir
    }

    const TABLE: &str = "vmA,sub1,dep1,0,2592000,99.4,12.1,80.2,Interactive,2,4\n\
                         vmB,sub1,dep1,600,1200,50,10,40,Delay-insensitive,>24,>64\n\
                         vmC,sub2,dep2,300,900,0,0,0,Unknown,2,2\n";

    #[test]
    fn reads_lifetimes_and_readings_in_numeric_file_order() {
        let dir = folder(
            TABLE,
            &[
                (
                    "vm_cpu_readings-file-2-of-10.csv",
                    "300,vmA,1.0,9.0,5.0\n900,vmB,0,40,20.5\n",
                ),
                (
                    "vm_cpu_readings-file-10-of-10.csv",
                    "600,vmA,2.0,30.0,12.0\n",
                ),
                ("vm_cpu_readings-file-1-of-10.csv", "0,vmA,0.5,3.0,2.5\n"),
            ],
        );
        let t = read_dir(dir.path()).unwrap();
        let names: Vec<&str> = t.vms.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["vmA", "vmB", "vmC"]);
        let a = &t.vms[0];
        assert_eq!(
            a.times,
            [0, 300, 600].map(SimTime::from_secs).to_vec(),
            "file-2 comes before file-10"
        );
        assert_eq!(a.cpu, vec![0.025, 0.05, 0.12]);
        assert_eq!(
            t.vms[1].lifetime,
            Some((SimTime::from_secs(600), SimTime::from_secs(1200)))
        );
        // A VM without readings is kept.
        assert!(t.vms[2].times.is_empty());
    }

    #[test]
    fn bad_rows_name_file_line_and_field() {
        let dir = folder(
            TABLE,
            &[(
                "vm_cpu_readings-file-1-of-1.csv",
                "0,vmA,0,1,1\n300,vmZ,0,1,1\n",
            )],
        );
        let e = read_dir(dir.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "vmid"), "{e}");
        assert!(e.file.ends_with("vm_cpu_readings-file-1-of-1.csv"));

        let dir = folder(
            TABLE,
            &[(
                "vm_cpu_readings-file-1-of-1.csv",
                "0,vmA,0,1,1\n300,vmA,0,1,150\n",
            )],
        );
        let e = read_dir(dir.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "avg cpu"), "{e}");

        let dir = folder(
            "vmA,s,d,900,300,1,1,1,x,1,1\n",
            &[("vm_cpu_readings-file-1-of-1.csv", "0,vmA,0,1,1\n")],
        );
        let e = read_dir(dir.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "vmdeleted"), "{e}");

        let dir = folder(
            TABLE,
            &[(
                "vm_cpu_readings-file-1-of-1.csv",
                "300,vmA,0,1,1\n0,vmA,0,1,1\n",
            )],
        );
        assert!(
            read_dir(dir.path())
                .unwrap_err()
                .message
                .contains("previous reading")
        );

        let dir = folder(TABLE, &[("vm_cpu_readings-file-1-of-1.csv.gz", "")]);
        assert!(
            read_dir(dir.path())
                .unwrap_err()
                .message
                .contains("decompress")
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(
            read_dir(empty.path())
                .unwrap_err()
                .message
                .contains("vmtable.csv")
        );
    }
}
