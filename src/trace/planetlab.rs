//! PlanetLab (CoMon) traces as CloudSim ships them: a folder per day, one file per VM, one
//! integer CPU percentage per line, 288 lines 300 s apart (CloudSim
//! `UtilizationModelPlanetLabInMemory`, Beloglazov & Buyya, CCPE 2012 §7.3).

use std::fs;
use std::path::{Path, PathBuf};

use super::{Trace, TraceError, VmTrace};
use crate::engine::SimTime;

/// Seconds between samples (CloudSim `Constants.SCHEDULING_INTERVAL = 300`).
pub const INTERVAL_S: u64 = 300;
/// Samples per file: 24 h at 5 min.
pub const SAMPLES: usize = 288;

/// The VM files of a day folder, in the order VMs are driven: name-sorted, or as an order
/// file (`vm_id,file` columns; others ignored) lists them.
pub fn files(dir: &Path, order: Option<&Path>) -> Result<Vec<PathBuf>, TraceError> {
    let unreadable =
        |e: std::io::Error| TraceError::new(dir, 0, "", format!("cannot read the folder: {e}"));
    // Names first, sorted, and paths made once at the end: every path shares the folder, so
    // name order is path order.
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.')
            || Path::new(&name).extension().is_some_and(|e| e == "md")
        {
            continue;
        }
        // The entry's own type needs no `stat` on most file systems; only a link (or an
        // unknown type) is followed to see whether it ends at a file.
        let ty = entry.file_type().map_err(unreadable)?;
        if ty.is_file() || (!ty.is_dir() && entry.path().is_file()) {
            names.push(name);
        }
    }
    names.sort_unstable();
    let Some(order) = order else {
        if names.is_empty() {
            return Err(TraceError::new(dir, 0, "", "no trace files in the folder"));
        }
        return Ok(names.iter().map(|n| dir.join(n)).collect());
    };
    let mut rd = csv::Reader::from_path(order)
        .map_err(|e| TraceError::new(order, 0, "", format!("cannot read: {e}")))?;
    let head = rd
        .headers()
        .map_err(|e| TraceError::new(order, 1, "", e.to_string()))?
        .clone();
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .ok_or_else(|| TraceError::new(order, 1, name, format!("missing column {name:?}")))
    };
    let (c_id, c_file) = (col("vm_id")?, col("file")?);
    // The folder was just listed: a file named there needs no `stat` of its own.
    let listed: std::collections::HashSet<&std::ffi::OsStr> =
        names.iter().map(|n| n.as_os_str()).collect();
    let mut out: Vec<Option<PathBuf>> = Vec::new();
    for (i, row) in rd.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| TraceError::new(order, line, "", e.to_string()))?;
        let id: usize =
            row.get(c_id).unwrap_or("").trim().parse().map_err(|_| {
                TraceError::new(order, line, "vm_id", "expected a VM index (0, 1, …)")
            })?;
        let file = row.get(c_file).unwrap_or("").to_string();
        let path = dir.join(&file);
        if !listed.contains(std::ffi::OsStr::new(&file)) && !path.is_file() {
            return Err(TraceError::new(
                order,
                line,
                "file",
                format!("{} is not in {}", file, dir.display()),
            ));
        }
        if out.len() <= id {
            out.resize(id + 1, None);
        }
        if out[id].is_some() {
            return Err(TraceError::new(
                order,
                line,
                "vm_id",
                format!("VM {id} is listed twice"),
            ));
        }
        out[id] = Some(path);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, p)| {
            p.ok_or_else(|| TraceError::new(order, 0, "vm_id", format!("VM {i} is missing")))
        })
        .collect()
}

/// Reads one VM file: exactly [`SAMPLES`] integer percentages.
pub fn read_file(path: &Path) -> Result<Vec<u8>, TraceError> {
    let bytes =
        read_small(path).map_err(|e| TraceError::new(path, 0, "", format!("cannot read: {e}")))?;
    let v = match plain_percentages(&bytes) {
        Some(v) => v,
        None => {
            let text = String::from_utf8(bytes).map_err(|e| {
                TraceError::new(path, 0, "", format!("cannot read: not UTF-8 text ({e})"))
            })?;
            percentages(path, &text)?
        }
    };
    if v.len() != SAMPLES {
        return Err(TraceError::new(
            path,
            0,
            "",
            format!(
                "expected {SAMPLES} samples (24 h at 5 min), found {}",
                v.len()
            ),
        ));
    }
    Ok(v)
}

/// A whole file that is usually under a kilobyte (288 lines of at most four bytes).
/// `fs::read` and `read_to_end` first ask for the file's size and position; plain reads into
/// room for the usual size spare those two calls of the five a file otherwise costs, and a
/// day folder is a thousand files.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{ErrorKind, Read};
    let mut file = fs::File::open(path)?;
    let mut bytes = vec![0; 2048];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(2 * len, 0);
        }
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(len);
    Ok(bytes)
}

/// The common case of a file, read byte by byte: lines of ASCII digits (spaces, tabs and a
/// `\r` around them allowed) worth at most 100. Anything else, including every malformed
/// line, gives `None`, and [`percentages`] then reads the text line by line and names what is
/// wrong. A day is a thousand such files, and splitting and trimming them as `str` lines cost
/// as much as opening them.
fn plain_percentages(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut v = Vec::with_capacity(SAMPLES);
    // `str::lines` gives no line after a final newline.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return (bytes.is_empty()).then_some(v);
    }
    for line in body.split(|&b| b == b'\n') {
        let digits = line.trim_ascii();
        if digits.is_empty() {
            return None;
        }
        let mut value: u32 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
            if value > 100 {
                return None;
            }
        }
        v.push(value as u8);
    }
    Some(v)
}

/// Every line of `text` as an integer percentage, or the first line that is not one.
fn percentages(path: &Path, text: &str) -> Result<Vec<u8>, TraceError> {
    let mut v = Vec::with_capacity(SAMPLES);
    for (i, line) in text.lines().enumerate() {
        let s = line.trim();
        let pct: u8 = s.parse().ok().filter(|p| *p <= 100).ok_or_else(|| {
            TraceError::new(
                path,
                i + 1,
                "cpu",
                format!("expected an integer percentage 0–100; got {s:?}"),
            )
        })?;
        v.push(pct);
    }
    Ok(v)
}

/// One VM's trace, with the 289th point CloudSim appends (a copy of the 288th).
pub fn vm_trace(path: &Path) -> Result<VmTrace, TraceError> {
    let v = read_file(path)?;
    let mut times: Vec<SimTime> = (0..=SAMPLES as u64)
        .map(|i| SimTime::from_secs(i * INTERVAL_S))
        .collect();
    times.truncate(SAMPLES + 1);
    let mut cpu: Vec<f32> = v.iter().map(|&p| p as f32 / 100.0).collect();
    cpu.push(*cpu.last().expect("288 samples"));
    Ok(VmTrace {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        times,
        cpu,
        memory: None,
        dirty_rate: None,
        lifetime: None,
    })
}

/// The PlanetLab reader: one file per VM, streamed.
pub struct Reader;

impl super::TraceReader for Reader {
    fn format(&self) -> super::Format {
        super::Format::PlanetLab
    }

    fn vms<'a>(&'a self, path: &'a Path) -> Result<super::VmIter<'a>, TraceError> {
        Ok(Box::new(
            files(path, None)?.into_iter().map(|p| vm_trace(&p)),
        ))
    }

    fn appends_last_sample(&self) -> bool {
        true
    }
}

/// Reads a whole day folder.
///
/// Files are read in parallel (a day is about a thousand small files, and opening them costs
/// more than parsing); the VMs keep the files' order, and the error reported is that of the
/// first bad file in that order, whatever the thread count.
pub fn read_dir(dir: &Path, order: Option<&Path>) -> Result<Trace, TraceError> {
    use rayon::prelude::*;
    let read: Vec<Result<VmTrace, TraceError>> =
        files(dir, order)?.par_iter().map(|p| vm_trace(p)).collect();
    let vms = read.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Trace { vms })
}

/// Reads a whole day folder as each VM's integer percentages, the form CloudSim's reader
/// keeps (`UtilizationModelPlanetLabInMemory` divides them by 100), in the order of
/// [`files`]. Read in parallel like [`read_dir`], with the same first-bad-file error.
pub fn read_dir_percentages(dir: &Path, order: Option<&Path>) -> Result<Vec<Vec<u8>>, TraceError> {
    use rayon::prelude::*;
    let read: Vec<Result<Vec<u8>, TraceError>> = files(dir, order)?
        .par_iter()
        .map(|p| read_file(p))
        .collect();
    read.into_iter().collect()
}

/// Writes a VM's samples as a PlanetLab file (integer percentages, one per line).
pub fn write_file(path: &Path, pct: &[u8]) -> std::io::Result<()> {
    let mut s = String::with_capacity(pct.len() * 3);
    for p in pct {
        s.push_str(&p.to_string());
        s.push('\n');
    }
    crate::base::write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node_slice");
        let mut text: String = (0..288).map(|_| "5\n").collect();
        text = text.replacen("5\n", "5\n7.5\n", 1);
        fs::write(&p, &text[..text.len() - 2]).unwrap();
        let e = read_file(&p).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.field, "cpu");
        assert!(e.to_string().contains("node_slice:2: cpu:"), "{e}");
    }

    /// Files are read in parallel, but the error is always the first bad file's in order.
    #[test]
    fn a_folder_reports_its_first_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let good: String = (0..288).map(|_| "5\n").collect();
        for i in 0..40 {
            let text = if i == 17 || i == 33 {
                good.replacen("5\n", "x\n", 1)
            } else {
                good.clone()
            };
            fs::write(dir.path().join(format!("vm{i:02}")), text).unwrap();
        }
        for _ in 0..5 {
            let e = read_dir(dir.path(), None).unwrap_err();
            assert!(e.to_string().contains("vm17:1: cpu"), "{e}");
        }
        fs::write(dir.path().join("vm17"), &good).unwrap();
        fs::write(dir.path().join("vm33"), &good).unwrap();
        assert_eq!(read_dir(dir.path(), None).unwrap().vms.len(), 40);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// The byte reader accepts only what the line reader accepts, with the same values;
        /// what it turns down goes to the line reader, which names the bad line.
        #[test]
        fn the_byte_reader_agrees_with_the_line_reader(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "0", "5", "7", "10", "100", "101", "255", "007", " ", "\t", "\r", "\n",
                    "\n", "\n", "+", "x", "é", "\u{a0}",
                ]),
                0..40,
            )
        ) {
            let text: String = pieces.concat();
            let lines = percentages(Path::new("f"), &text);
            match plain_percentages(text.as_bytes()) {
                Some(v) => proptest::prop_assert_eq!(Some(v), lines.ok()),
                // Turned down: either malformed, or valid in a way only the line reader reads
                // (a sign, Unicode spaces).
                None => {
                    let only_lines_read_it = text.contains('+')
                        || text.lines().any(|l| l.trim() != l.trim_ascii());
                    proptest::prop_assert!(lines.is_err() || only_lines_read_it);
                }
            }
        }
    }

    #[test]
    fn the_byte_reader_takes_crlf_padding_and_a_missing_final_newline() {
        assert_eq!(plain_percentages(b"5\r\n 07\t\n100"), Some(vec![5, 7, 100]));
        assert_eq!(plain_percentages(b""), Some(vec![]));
        assert_eq!(plain_percentages(b"\n"), None);
        assert_eq!(plain_percentages(b"5\n\n6\n"), None);
        assert_eq!(plain_percentages(b"101\n"), None);
    }

    #[test]
    fn a_file_that_is_not_text_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node_bin");
        fs::write(&p, b"5\n\xff\n").unwrap();
        let e = read_file(&p).unwrap_err().to_string();
        assert!(e.contains("node_bin") && e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn a_file_longer_than_the_first_read_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vm");
        // 288 lines padded to 20 bytes each: about three times the first read's room.
        let text: String = (0..288).map(|i| format!("{:>19}\n", i % 101)).collect();
        fs::write(&p, &text).unwrap();
        let v = read_file(&p).unwrap();
        assert_eq!(v.len(), 288);
        assert_eq!(v[287], (287 % 101) as u8);
        assert_eq!(read_small(&p).unwrap(), text.as_bytes());
    }

    #[test]
    fn short_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vm");
        fs::write(&p, "1\n2\n3\n").unwrap();
        assert!(
            read_file(&p)
                .unwrap_err()
                .to_string()
                .contains("expected 288 samples")
        );
    }

    #[test]
    fn vm_traces_append_cloudsims_289th_point() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vm");
        let text: String = (0..288).map(|i| format!("{}\n", i % 100)).collect();
        fs::write(&p, text).unwrap();
        let t = vm_trace(&p).unwrap();
        assert_eq!(t.cpu.len(), 289);
        assert_eq!(t.cpu[288], t.cpu[287]);
        // Between samples 1 (1 %) and 2 (2 %), 0.1 s after the first: CloudSim's t = 300k + 0.1.
        assert!(
            (t.cpu_at(SimTime::from_millis(300_100)) - (0.01 + 0.01 * 0.1 / 300.0)).abs() < 1e-6
        );
    }

    #[test]
    fn order_files_map_vm_ids_to_files() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..288).map(|_| "1\n").collect();
        for n in ["a", "b"] {
            fs::write(dir.path().join(n), &text).unwrap();
        }
        let order = dir.path().join("order.csv");
        fs::write(&order, "vm_id,file,vm_type\n0,b,0\n1,a,0\n").unwrap();
        let f = files(dir.path(), Some(&order)).unwrap();
        assert!(f[0].ends_with("b") && f[1].ends_with("a"));
        fs::write(&order, "vm_id,file\n0,b\n0,a\n").unwrap();
        assert!(
            files(dir.path(), Some(&order))
                .unwrap_err()
                .to_string()
                .contains("listed twice")
        );
        fs::write(&order, "vm_id,file\n0,zz\n").unwrap();
        assert!(
            files(dir.path(), Some(&order))
                .unwrap_err()
                .to_string()
                .contains("order.csv:2: file:")
        );
    }
}
