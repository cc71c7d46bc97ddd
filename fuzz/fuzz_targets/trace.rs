//! Every trace reader, chosen by the first byte: PlanetLab (one VM file), long CSV, Bitbrains
//! (one VM file) and Azure (`vmtable.csv` and one readings file). A bad trace is an error with
//! file, line and field; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migsim::trace::{self, Format};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (format, path) = match which % 4 {
        0 => {
            std::fs::write(d.join("vm-1"), rest).unwrap();
            (Format::PlanetLab, d.to_path_buf())
        }
        1 => {
            std::fs::write(d.join("t.csv"), rest).unwrap();
            (Format::Csv, d.join("t.csv"))
        }
        2 => {
            std::fs::write(d.join("1.csv"), rest).unwrap();
            (Format::Bitbrains, d.to_path_buf())
        }
        _ => {
            let p = common::parts(rest, 2);
            std::fs::write(d.join("vmtable.csv"), &p[0]).unwrap();
            std::fs::write(d.join("vm_cpu_readings-file-1-of-1.csv"), &p[1]).unwrap();
            (Format::Azure, d.to_path_buf())
        }
    };
    let _ = trace::read(format, &path);
});
