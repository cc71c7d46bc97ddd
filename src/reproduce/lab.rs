//! The QEMU 10 migrations of `validation/qemu-lab/`, measured on a 2-core Xeon machine with
//! `contrib/qemu-lab/`, predicted from their configuration and one set of host constants.
//!
//! The guests have no disk and no kernel: their memory is `fill_mib` of random or text-like
//! bytes and zero pages, and the firmware idles, so the runs measure what the hosts' CPUs let
//! a stream carry. Source and destination are two QEMU processes on the same two cores,
//! joined by loopback TCP. The constants below are this machine's, fitted once on all the
//! single-thread runs, not per run; the sender-alone runs (`--sink null`) are the source of
//! the defaults in [`crate::migration::sender`].

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::qemu::Comparison;
use crate::migration::Outcome;
use crate::scenario;

/// Zero pages scanned per second on the lab machine: 0.275 µs per page over all idle runs of
/// one thread (idle-1g … idle-16g-ring: 2 235 ms for 8.13 M zero pages), 14.9 GB/s.
pub const LAB_SCAN_RATE: &str = "15GB/s";
/// Normal-page bytes sent per second on the lab machine, the receiver sharing the cores: the
/// random-memory runs of one thread, less their zero pages at [`LAB_SCAN_RATE`], sent 2.36 M
/// normal pages in 30.3 s: 12.9 µs per page, 318 MB/s.
pub const LAB_SEND_RATE: &str = "320MB/s";
/// Cores of the lab machine; multifd uses at most one channel per core.
pub const LAB_CORES: u32 = 2;
/// What one multifd channel writes per second with the sender alone (the stream to a
/// discarding socket): 1 GiB of random or text-like memory in 0.50–0.79 s, 0.65 s on average,
/// less the zero-page scan (`null-{rand,text}-1g-of-2g-mfd1`, with KVM's dirty bitmap and
/// ring), 1.8 GB/s: faster than the 0.72–1.03 GB/s of the legacy migration thread, which
/// also scans.
pub const LAB_NULL_MULTIFD_SEND_RATE: &str = "1.8GB/s";
/// The firmware's own pages in an idle guest: 134–190 normal pages in every run (about
/// 0.6 MiB).
pub const FIRMWARE_NONZERO_MIB: f64 = 0.6;

/// Pages per second above which a writer's migration is not held: the capped writer runs
/// (25 000 pages/s, 40 µs a page) are held; the unthrottled writer (335 000 pages/s, 3 µs a
/// page) spends as long again on the write faults dirty tracking adds.
pub const FASTEST_HELD_WRITER: f64 = 100_000.0;

/// The sender-alone runs the constants come from: the zero-page scan and send rates of
/// [`crate::migration::sender`], [`LAB_NULL_MULTIFD_SEND_RATE`], and the compression costs
/// of [`crate::migration::encoding`]. The other sender-alone runs (mixed memory, two
/// channels) test them.
const CALIBRATION: [&str; 10] = [
    "null-idle-16g-ring",
    "null-rand-2g-of-4g-ring",
    "null-rand-1g-of-2g-mfd1",
    "null-text-1g-of-2g-mfd1",
    "null-rand-1g-of-2g-mfd1-zstd1",
    "null-text-1g-of-2g-mfd1-zstd1",
    "null-rand-1g-of-2g-mfd1-zlib1",
    "null-text-1g-of-2g-mfd1-zlib1",
    "null-rand-1g-of-2g-mfd1-zstd3",
    "null-text-1g-of-2g-mfd1-zstd3",
];

/// Why a run's prediction is not held to the tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// Held to the tolerance.
    Yes,
    /// QEMU sent part of memory twice: with KVM's dirty bitmap (manual protect, initially set)
    /// the second sync reported pages already sent as dirty again. An effect of the KVM mode,
    /// not modelled; the runs with KVM's dirty ring never showed it.
    Resent,
    /// Multifd with source and destination on the same two cores: the channels compete with
    /// their own receivers, which the model (channels bounded by the source's cores) does not
    /// describe. Needs two machines.
    SharedCores,
    /// Compressed multifd with the destination on the same two cores: it decompresses what
    /// the source compresses, and the model has no receiver.
    Decompression,
    /// The sender alone: these runs set the default and compression constants.
    Calibration,
    /// A writer faster than [`FASTEST_HELD_WRITER`] on loopback: its migrations sent normal
    /// pages 3–4× faster than the lab's send rate and converged where the writer's measured
    /// rate says they cannot. The writer's own stalls on dirty tracking (the first write to a
    /// page after each sync faults) and the stream's rate in that state are not modelled.
    FastWriter,
    /// An XBZRLE cache smaller than the working set: pages of the set that share a cache slot
    /// keep each other out (`CACHED_PAGE_LIFETIME`, page_cache.c) in a pattern that depends on
    /// where each round's dirty pages fall; the model's hit share, the cache's fit, is its
    /// upper bound.
    CacheContention,
}

/// One lab run and its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct LabComparison {
    #[serde(flatten)]
    pub c: Comparison,
    /// The configuration, the run's name without its repeat suffix (`-r2`, `-syncs`).
    pub config: String,
    pub held: Held,
    pub bound_by: String,
}

struct Run {
    name: String,
    mem_mib: f64,
    fill: String,
    fill_mib: f64,
    multifd: u32,
    compress: String,
    xbzrle_mib: f64,
    timeout_s: f64,
    /// The guest's writer (`writer.S`): working set MiB, bytes per page, pages per second.
    writer: Option<(f64, f64, f64)>,
    bw_mib: f64,
    dl_ms: f64,
    sink: String,
    status: String,
    total_ms: f64,
    /// None for a run that never switched over.
    downtime_ms: Option<f64>,
    transferred: f64,
    normal_pages: f64,
    zero_pages: f64,
    syncs: u32,
}

fn read(path: &Path) -> Result<Run, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let num = |ptr: &str| -> Result<f64, String> {
        v.pointer(ptr)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{}: no number at {ptr}", path.display()))
    };
    let text_at = |ptr: &str, default: &str| -> String {
        v.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    Ok(Run {
        name: text_at("/name", ""),
        mem_mib: num("/config/mem_mib")?,
        fill: text_at("/config/fill", "none"),
        fill_mib: num("/config/fill_mib")?,
        multifd: num("/config/multifd")? as u32,
        compress: text_at("/config/compress", "none"),
        xbzrle_mib: v
            .pointer("/config/xbzrle_mib")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        timeout_s: num("/config/timeout")?,
        writer: match v.get("writer") {
            Some(_) => Some((
                num("/writer/ws_mib")?,
                num("/writer/bytes")?,
                num("/writer/pages_per_s")?,
            )),
            None => None,
        },
        bw_mib: num("/config/bw_mib")?,
        dl_ms: num("/config/dl_ms")?,
        sink: text_at("/config/sink", "qemu"),
        status: text_at("/final/status", ""),
        total_ms: num("/final/total-time")?,
        downtime_ms: v.pointer("/final/downtime").and_then(Value::as_f64),
        transferred: num("/final/ram/transferred")?,
        normal_pages: num("/final/ram/normal")?,
        zero_pages: num("/final/ram/duplicate")?,
        syncs: num("/final/ram/dirty-sync-count")? as u32,
    })
}

/// What zstd level 1 makes of the lab's fills: random memory does not shrink, the text-like
/// memory shrinks 4.71× (`null-text-1g-of-2g-mfd1-zstd1`), and `mixed` is half of each.
fn compressibility(fill: &str) -> f64 {
    use crate::migration::encoding::LAB_TEXT;
    match fill {
        "text" => LAB_TEXT,
        "mixed" => 1.0 / (0.5 + 0.5 / LAB_TEXT),
        _ => 1.0,
    }
}

/// The scenario that describes lab run `r`.
fn scenario_for(r: &Run) -> String {
    let sender = if r.sink == "null" && r.multifd > 0 {
        format!("migration = {{ send_rate = \"{LAB_NULL_MULTIFD_SEND_RATE}\" }}\n")
    } else if r.sink == "null" {
        String::new()
    } else {
        format!(
            "migration = {{ scan_rate = \"{LAB_SCAN_RATE}\", send_rate = \"{LAB_SEND_RATE}\" }}\n"
        )
    };
    format!(
        r#"name = "{name}"
horizon = "10min"
[[host_type]]
name = "lab"
cores = {LAB_CORES}
core_mips = 2000
ram = "{host_ram}MiB"
nic = "100Gbit/s"
power = {{ preset = "dell-r640" }}
{sender}{pair}nonzero = "{nonzero}MiB"
cpu = {{ model = "constant", util = 0.0 }}
compressibility = {compressibility}
{guest}[migration]
hypervisor = "qemu"
max_bandwidth = "{bw}MiB/s"
downtime_limit = "{dl}ms"
multifd_channels = {mfd}
compression = "{compress}"
timeout = "{timeout}s"
{xbzrle}cpu_per_100mbit = 0.0
[[migrate]]
vm = "guest-0"
to = "qemu-1"
at = "0s"
[outputs]
hosts_csv = false
"#,
        name = r.name,
        host_ram = (r.mem_mib * 2.0) as u64,
        pair = super::two_hosts_one_guest("lab", r.mem_mib),
        nonzero =
            (r.fill_mib + r.writer.map_or(0.0, |w| w.0) + FIRMWARE_NONZERO_MIB).min(r.mem_mib),
        compressibility = compressibility(&r.fill),
        guest = match r.writer {
            // writer.S dirties distinct pages in turn, cycling through its working set.
            Some((ws, bytes, pages_per_s)) => format!(
                "page_delta = \"{bytes}B\"\ndirty = {{ model = \"wws\", rate = \"{rate}B/s\", wws = \"{ws}MiB\" }}\n",
                rate = (pages_per_s * 4096.0).round()
            ),
            None => String::new(),
        },
        compress = r.compress,
        timeout = r.timeout_s,
        xbzrle = if r.xbzrle_mib > 0.0 {
            format!("xbzrle_cache = \"{}MiB\"\n", r.xbzrle_mib)
        } else {
            String::new()
        },
        bw = r.bw_mib,
        dl = r.dl_ms,
        mfd = r.multifd,
    )
}

/// The configuration a run repeats: its name without a repeat suffix (`-r2`) or the trace-only
/// suffix `-syncs` (tracing the syncs does not change the migration).
fn config_of(name: &str) -> String {
    let name = name.strip_suffix("-syncs").unwrap_or(name);
    match name.rsplit_once("-r") {
        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            base.to_string()
        }
        _ => name.to_string(),
    }
}

/// Predicts every run in `dir` (`*.json`), in name order.
pub fn compare_all(dir: &Path) -> Result<Vec<LabComparison>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("{}: no runs (*.json)", dir.display()));
    }
    let mut out = Vec::new();
    for path in paths {
        let r = read(&path)?;
        let text = scenario_for(&r);
        let loaded = scenario::load_str(&r.name, &text, None, &[])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let recs =
            crate::run::migrations(&loaded).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = recs
            .first()
            .ok_or_else(|| format!("{}: no migration ran", path.display()))?;
        // Every page is sent once, as a normal or a zero page, unless memory was re-sent.
        let sent_pages = r.normal_pages + r.zero_pages;
        let held = if CALIBRATION.contains(&config_of(&r.name).as_str()) {
            Held::Calibration
        } else if r.compress != "none" && r.sink != "null" {
            Held::Decompression
        } else if r.multifd > 1 && r.sink != "null" {
            Held::SharedCores
        } else if r.writer.is_some_and(|w| w.2 > FASTEST_HELD_WRITER) {
            Held::FastWriter
        } else if r
            .writer
            .is_some_and(|w| r.xbzrle_mib > 0.0 && r.xbzrle_mib < w.0)
        {
            Held::CacheContention
        } else if r.writer.is_none() && sent_pages > r.mem_mib * 256.0 * 1.02 {
            Held::Resent
        } else {
            Held::Yes
        };
        out.push(LabComparison {
            config: config_of(&r.name),
            held,
            bound_by: m.bound_by.as_str().to_string(),
            c: Comparison {
                name: r.name.clone(),
                measured_status: r.status.clone(),
                predicted_outcome: m.outcome.as_str().to_string(),
                measured_total_s: Some(r.total_ms / 1e3),
                predicted_total_s: m.total_time_s,
                measured_mib: r.transferred / 1048576.0,
                predicted_mib: m.transferred_bytes / 1048576.0,
                measured_rounds: r.syncs,
                predicted_rounds: m.rounds,
                measured_downtime_ms: r.downtime_ms,
                measured_gap_ms: None,
                predicted_downtime_ms: if m.outcome == Outcome::Completed {
                    m.downtime_ms
                } else {
                    0.0
                },
                measured_throttle_pct: 0.0,
                predicted_throttle_pct: m.max_throttle * 100.0,
                calibration_run: held == Held::Calibration,
            },
        });
    }
    Ok(out)
}

/// Per configuration held to the tolerance: the median measured total time and bytes over its
/// repeats, and the prediction (the same for every repeat).
pub fn medians(rows: &[LabComparison]) -> Vec<(String, f64, f64, f64, f64)> {
    let configs: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.held == Held::Yes)
        .map(|r| r.config.as_str())
        .collect();
    configs
        .into_iter()
        .map(|cfg| {
            let runs: Vec<_> = rows
                .iter()
                .filter(|r| r.held == Held::Yes && r.config == cfg)
                .collect();
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let n = v.len();
                if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                }
            };
            let t = median(runs.iter().filter_map(|r| r.c.measured_total_s).collect());
            let b = median(runs.iter().map(|r| r.c.measured_mib).collect());
            (
                cfg.to_string(),
                t,
                runs[0].c.predicted_total_s,
                b,
                runs[0].c.predicted_mib,
            )
        })
        .collect()
}

/// The comparison as a table.
pub fn table(rows: &[LabComparison]) -> String {
    let mut s = String::from(
        "run                          total s (meas/pred)      MiB sent (meas/pred)    rounds  downtime ms  bound by  held\n",
    );
    for r in rows {
        let c = &r.c;
        s.push_str(&format!(
            "{:<28} {:>6.2}/{:>6.2} {:+6.1}%  {:>8.1}/{:>8.1} {:+6.1}%  {:>2}/{:<2}   {:>4.0}/{:>5.1}  {:<8}  {}\n",
            c.name,
            c.measured_total_s.unwrap_or(f64::NAN),
            c.predicted_total_s,
            c.total_error().unwrap_or(f64::NAN) * 100.0,
            c.measured_mib,
            c.predicted_mib,
            c.bytes_error() * 100.0,
            c.measured_rounds,
            c.predicted_rounds,
            c.measured_downtime_ms.unwrap_or(f64::NAN),
            c.predicted_downtime_ms,
            r.bound_by,
            match r.held {
                Held::Yes => "yes",
                Held::Resent => "no: memory re-sent (KVM dirty bitmap)",
                Held::SharedCores => "no: multifd with both ends on 2 cores",
                Held::Decompression => "no: the destination decompresses on the same cores",
                Held::Calibration => "no: sets the defaults",
                Held::FastWriter => "no: writer stalled by dirty tracking",
                Held::CacheContention => "no: XBZRLE cache under the working set",
            }
        ));
    }
    s
}
