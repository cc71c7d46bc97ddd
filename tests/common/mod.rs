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

/// The shared reference data: `$MIGSIM_SHARED/rel`, or `../shared/rel` beside the project.
/// Tests that read it are `#[ignore = "needs the reference data …"]`: a fresh clone lists them
/// as ignored with that reason, and `cargo test -- --include-ignored` (what CI runs) runs
/// them. A test run on purpose fails on missing data, naming the path; it never passes quietly.
pub fn shared(rel: &str) -> PathBuf {
    let root = match std::env::var_os("MIGSIM_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    let p = root.join(rel);
    assert!(
        p.exists(),
        "reference data {} is missing: put shared/ beside the project or set MIGSIM_SHARED",
        p.display()
    );
    p
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

/// Runs `migsim` like [`migsim`], but kills it after `limit` and fails the test: for inputs
/// that once made a run loop forever, so that a regression fails instead of hanging CI.
pub fn migsim_within(cwd: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_migsim"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("migsim starts");
    // Drain both pipes while waiting: a child whose output fills a pipe would block forever.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).expect("pipe reads");
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr piped")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("migsim {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
