//! The regression suite file and its baseline: a suite whose scenario is the shipped
//! quickstart, read from the fuzzed suite text, and the fuzzed baseline.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let dir = tempfile::tempdir().unwrap();
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/quickstart.toml");
    std::fs::copy(quickstart, dir.path().join("quickstart.toml")).unwrap();
    std::fs::write(dir.path().join("suite.toml"), &p[0]).unwrap();
    let _ = migsim::check::load_suite(&dir.path().join("suite.toml"));
    if let Ok(text) = std::str::from_utf8(&p[1]) {
        let _ = migsim::check::parse_baseline("baseline.json", text);
    }
});
