//! The scenario loader: a scenario, a file it may include (`inc.toml`), and `--set` lines.
//! Whatever the bytes, loading returns a scenario or an error; it never panics, and a
//! scenario that loads has passed validation, whose size bounds keep building it affordable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 3);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.toml"), &p[0]).unwrap();
    std::fs::write(dir.path().join("inc.toml"), &p[1]).unwrap();
    let sets: Vec<String> = String::from_utf8_lossy(&p[2])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if let Ok(l) = migsim::scenario::load_file(&dir.path().join("main.toml"), &sets) {
        let _ = migsim::scenario::notes(&l);
    }
});
