//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `migsim` binary built for these tests, run in `cwd`.
pub fn migsim(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migsim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("migsim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The project's own scenarios folder.
pub fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// The shared reference data next to the project, or `None` with a message saying why the
/// test that needs it is skipped.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: reference data {} is missing", p.display());
        None
    }
}

/// A small scenario as text, for tests that need one of their own.
pub fn tiny_scenario(name: &str) -> String {
    format!(
        r#"
name = "{name}"
seed = 3
horizon = "2h"

[[host_type]]
name = "g4"
cores = 2
core_mips = 1860
ram = "4GiB"
nic = "1Gbit/s"
power = {{ preset = "hp-ml110-g4" }}

[[hosts]]
type = "g4"
count = 4

[[vms]]
name = "vm-{{i}}"
count = 6
vcpus = 1
vcpu_mips = 1000
ram = "1GiB"
cpu = {{ model = "diurnal", mean = 0.5, amplitude = 0.4, peak = "1h", period = "2h", noise = 0.1 }}
traffic = "100Mbit/s"
"#
    )
}
