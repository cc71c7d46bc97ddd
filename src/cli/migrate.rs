//! `migsim migrate`: one migration as a what-if, from a scenario or from flags alone.

use std::path::PathBuf;

use super::{Failure, load};
use crate::migration::MigrationRecord;
use crate::scenario;
use crate::units::{Bandwidth, Bytes, parse_duration};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Scenario with `[[migrate]]` entries; without one, a two-host scenario is built from the
    /// flags.
    pub scenario: Option<PathBuf>,
    /// xen | xen4 | qemu | postcopy | cold | storage.
    #[arg(long, default_value = "qemu")]
    pub hypervisor: String,
    /// Guest memory.
    #[arg(long, default_value = "1GiB")]
    pub ram: String,
    /// Memory that is not zero pages (default: all of it).
    #[arg(long)]
    pub nonzero: Option<String>,
    /// Writable working set (default: all memory).
    #[arg(long)]
    pub wws: Option<String>,
    /// Rate at which the guest dirties memory: distinct pages for `--dirty-model wws`, page
    /// writes for `uniform`.
    #[arg(long, default_value = "0B/s")]
    pub dirty_rate: String,
    /// What --dirty-rate means: wws (distinct pages, up to the writable working set, Clark et
    /// al.) or uniform (writes to uniformly random pages of the working set, some of them
    /// again).
    #[arg(long, default_value = "wws", value_parser = ["wws", "uniform"])]
    pub dirty_model: String,
    /// QEMU multifd channels (0: multifd off, one migration thread).
    #[arg(long, default_value_t = 0)]
    pub multifd: u32,
    /// Multifd compression: none, zstd:LEVEL or zlib:LEVEL (level 1 if left out; needs
    /// --multifd).
    #[arg(long, default_value = "none")]
    pub compress: String,
    /// How many times smaller zstd level 1 makes the guest's pages (1: random data; default
    /// 2.887, the Silesia corpus).
    #[arg(long)]
    pub compressibility: Option<f64>,
    /// Turn XBZRLE on with this cache size (QEMU's default cache is 64MiB; not with
    /// --multifd). Needs --page-delta.
    #[arg(long)]
    pub xbzrle: Option<String>,
    /// Bytes of a re-dirtied page that changed since it was sent (what XBZRLE encodes).
    #[arg(long)]
    pub page_delta: Option<String>,
    /// Cores of each host: multifd uses at most one channel per core.
    #[arg(long, default_value_t = 32)]
    pub cores: u32,
    /// Memory one migration thread scans per second for zero pages (default: a current Xeon
    /// core, 20GB/s).
    #[arg(long)]
    pub scan_rate: Option<String>,
    /// Non-zero page bytes one migration thread sends per second (default: 1GB/s).
    #[arg(long)]
    pub send_rate: Option<String>,
    /// Migration rate limit (QEMU max-bandwidth; 0B/s = unlimited).
    #[arg(long, default_value = "128MiB/s")]
    pub bandwidth: String,
    /// Link speed between the two hosts.
    #[arg(long, default_value = "10Gbit/s")]
    pub link: String,
    /// QEMU downtime-limit.
    #[arg(long, default_value = "300ms")]
    pub downtime_limit: String,
    /// The guest's own traffic on the source's link, competing with the migration.
    #[arg(long)]
    pub background: Option<String>,
    /// Act after this long: see --on-timeout.
    #[arg(long)]
    pub timeout: Option<String>,
    /// cancel | raise-limit | postcopy.
    #[arg(long, default_value = "cancel")]
    pub on_timeout: String,
    /// The downtime limit raise-limit sets.
    #[arg(long, default_value = "5s")]
    pub raise_to: String,
    /// QEMU auto-converge.
    #[arg(long)]
    pub auto_converge: bool,
    /// QEMU dirty-limit: cap each vCPU's dirty rate (1 MB/s) where auto-converge would
    /// throttle.
    #[arg(long, conflicts_with = "auto_converge")]
    pub dirty_limit: bool,
    /// Share of its vCPU the guest's writer needs (auto-converge bites below it).
    #[arg(long, default_value_t = 1.0)]
    pub writer_cpu_share: f64,
    /// Give up simulating after this long if the migration has not ended.
    #[arg(long, default_value = "1h")]
    pub horizon: String,
    /// Override scenario fields, as with `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the result as one JSON object (one per migration, in a list, for a scenario with
    /// several).
    #[arg(long)]
    pub json: bool,
}

fn check<T, E: std::fmt::Display>(flag: &str, r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(|e| Failure::BadInput(format!("--{flag}: {e}")))
}

/// The two-host scenario the flags describe, as TOML.
pub fn flags_scenario(a: &MigrateArgs) -> Result<String, Failure> {
    let ram: Bytes = check("ram", a.ram.parse())?;
    if let Some(nz) = &a.nonzero {
        check::<Bytes, _>("nonzero", nz.parse())?;
    }
    if let Some(w) = &a.wws {
        check::<Bytes, _>("wws", w.parse())?;
    }
    check::<Bandwidth, _>("dirty-rate", a.dirty_rate.parse())?;
    for (flag, v) in [("scan-rate", &a.scan_rate), ("send-rate", &a.send_rate)] {
        if let Some(v) = v {
            check::<Bandwidth, _>(flag, v.parse())?;
        }
    }
    if let Some(x) = &a.xbzrle {
        check::<Bytes, _>("xbzrle", x.parse())?;
    }
    if let Some(d) = &a.page_delta {
        check::<Bytes, _>("page-delta", d.parse())?;
    }
    check(
        "compress",
        crate::migration::encoding::Compression::parse(&a.compress),
    )?;
    if a.cores == 0 {
        return Err(Failure::BadInput(
            "--cores: a host has at least one core".into(),
        ));
    }
    check::<Bandwidth, _>("bandwidth", a.bandwidth.parse())?;
    let link: Bandwidth = check("link", a.link.parse())?;
    check("downtime-limit", parse_duration(&a.downtime_limit))?;
    check("raise-to", parse_duration(&a.raise_to))?;
    check("horizon", parse_duration(&a.horizon))?;
    if let Some(b) = &a.background {
        check::<Bandwidth, _>("background", b.parse())?;
    }
    if let Some(t) = &a.timeout {
        check("timeout", parse_duration(t))?;
    }
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let host_ram = Bytes(ram.0.saturating_mul(2).max(Bytes::gib(1).0));
    let mut t = format!(
        "name = \"migrate\"\nhorizon = {horizon}\n\
         [[host_type]]\nname = \"host\"\ncores = {cores}\ncore_mips = 2000\nram = {hram}\nnic = {link}\n\
         power = {{ preset = \"dell-r640\" }}\n{sender}\
         [[hosts]]\ntype = \"host\"\ncount = 1\nname = \"source\"\n\
         [[hosts]]\ntype = \"host\"\ncount = 1\nname = \"destination\"\n\
         [[vms]]\nname = \"vm\"\ncount = 1\nvcpus = 1\nvcpu_mips = 2000\nram = {ram}\n\
         cpu = {{ model = \"constant\", util = 0.5 }}\n",
        horizon = q(&a.horizon),
        cores = a.cores,
        sender = match (&a.scan_rate, &a.send_rate) {
            (None, None) => String::new(),
            (scan, send) => format!(
                "migration = {{ {} }}\n",
                [("scan_rate", scan), ("send_rate", send)]
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {}", q(v))))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        hram = q(&host_ram.to_string()),
        link = q(&link.to_string()),
        ram = q(&a.ram),
    );
    if let Some(nz) = &a.nonzero {
        t.push_str(&format!("nonzero = {}\n", q(nz)));
    }
    if let Some(b) = &a.background {
        t.push_str(&format!("traffic = {}\n", q(b)));
    }
    if let Some(c) = a.compressibility {
        t.push_str(&format!("compressibility = {c}\n"));
    }
    if let Some(d) = &a.page_delta {
        t.push_str(&format!("page_delta = {}\n", q(d)));
    }
    t.push_str(&format!(
        "dirty = {{ model = {}, rate = {}, writer_cpu_share = {}{} }}\n",
        q(&a.dirty_model),
        q(&a.dirty_rate),
        a.writer_cpu_share,
        a.wws
            .as_ref()
            .map(|w| format!(", wws = {}", q(w)))
            .unwrap_or_default()
    ));
    t.push_str(&format!(
        "[migration]\nhypervisor = {}\nmultifd_channels = {}\nmax_bandwidth = {}\ndowntime_limit = {}\nauto_converge = {}\ndirty_limit = {}\non_timeout = {}\nraised_downtime_limit = {}\n",
        q(&a.hypervisor),
        a.multifd,
        q(&a.bandwidth),
        q(&a.downtime_limit),
        a.auto_converge,
        a.dirty_limit,
        q(&a.on_timeout),
        q(&a.raise_to),
    ));
    if let Some(to) = &a.timeout {
        t.push_str(&format!("timeout = {}\n", q(to)));
    }
    t.push_str(&format!("compression = {}\n", q(&a.compress)));
    if let Some(x) = &a.xbzrle {
        t.push_str(&format!("xbzrle_cache = {}\n", q(x)));
    }
    t.push_str("[[migrate]]\nvm = \"vm-0\"\nto = \"destination-0\"\nat = \"0s\"\n");
    t.push_str("[outputs]\nhosts_csv = false\n");
    Ok(t)
}

fn mib(b: f64) -> f64 {
    b / 1048576.0
}

/// The per-round table printed for a human.
pub fn round_table(r: &MigrationRecord) -> String {
    let mut s = format!(
        "{} {} -> {} ({}): {}{}\n",
        r.vm,
        r.source,
        r.destination,
        r.hypervisor,
        r.outcome.as_str(),
        if r.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.reason)
        }
    );
    s.push_str("  round    start_s  duration_s    sent_MiB  dirtied_MiB\n");
    for (i, rd) in r.per_round.iter().enumerate() {
        s.push_str(&format!(
            "  {:>5} {:>10.3} {:>11.3} {:>11.2} {:>12.2}\n",
            i + 1,
            rd.start,
            rd.duration,
            rd.bytes.as_mib(),
            rd.dirtied.as_mib()
        ));
    }
    s.push_str(&format!(
        "  total time {:.3} s, downtime {:.1} ms, {:.1} MiB sent, {} rounds, bound by the {}{}\n",
        r.total_time_s,
        r.downtime_ms,
        mib(r.transferred_bytes),
        r.rounds,
        match r.bound_by {
            crate::migration::Bound::Network => "network",
            crate::migration::Bound::Cpu => "sender's CPU",
            crate::migration::Bound::Cap => "rate limit",
        },
        if r.max_throttle > 0.0 {
            format!(", throttled up to {:.0} %", r.max_throttle * 100.0)
        } else {
            String::new()
        }
    ));
    s
}

pub fn migrate(a: &MigrateArgs) -> Result<(), Failure> {
    let loaded = match &a.scenario {
        Some(p) => load(Some(p), &a.set)?,
        None => {
            let text = flags_scenario(a)?;
            scenario::load_str("<migrate flags>", &text, None, &a.set).map_err(|e| {
                // Errors here name the flag's value; point the user at the flags.
                Failure::BadInput(format!("{e} (from the command-line flags)"))
            })?
        }
    };
    if loaded.scenario.migrate.is_empty() {
        return Err(Failure::BadInput(
            "the scenario schedules no migration: add [[migrate]] vm = …, to = …, at = …".into(),
        ));
    }
    let recs = crate::run::migrations(&loaded)?;
    if a.json {
        let v = if recs.len() == 1 {
            serde_json::to_string(&recs[0])
        } else {
            serde_json::to_string(&recs)
        };
        println!("{}", v.map_err(|e| Failure::Failed(e.to_string()))?);
    } else {
        for r in &recs {
            print!("{}", round_table(r));
        }
    }
    Ok(())
}
