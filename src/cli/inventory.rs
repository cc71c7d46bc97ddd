//! `migsim inventory`: a scenario from a real cluster.

use std::path::PathBuf;

use super::Failure;
use crate::base::write_atomic;
use crate::inventory::{self, Assumptions, Inventory};

#[derive(clap::Args, Debug)]
pub struct InventoryArgs {
    /// Folder of saved virsh outputs: one sub-folder per host with nodeinfo.txt,
    /// domstats.txt (`virsh domstats --raw`) and optionally dominfo*.txt.
    pub saved: Option<PathBuf>,
    /// Read a live host instead: NAME=URI (repeatable; needs the libvirt feature).
    #[arg(long = "connect", value_name = "NAME=URI")]
    pub connect: Vec<String>,
    /// Write the scenario here (default: print it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The scenario's name.
    #[arg(long, default_value = "inventory")]
    pub name: String,
    /// NIC speed of every host. libvirt does not report it; the default is a placeholder, not
    /// a measurement.
    #[arg(long, default_value = "10Gbit/s")]
    pub nic: String,
    /// SPECpower preset for every host's power. libvirt does not report it; the default is a
    /// placeholder.
    #[arg(long, default_value = "dell-r640")]
    pub power_preset: String,
    /// Constant CPU utilisation assumed for every VM, 0-1: a placeholder until a trace is
    /// attached (one `virsh domstats` sample cannot give a rate).
    #[arg(long, default_value_t = 0.2)]
    pub cpu_util: f64,
    /// Dirty-page rate assumed for every VM: a placeholder. Measure it with
    /// `virsh domjobinfo` during a migration (its dirty rate) and set it per VM.
    #[arg(long, default_value = "8MiB/s")]
    pub dirty_rate: String,
    /// Writable working set assumed for every VM: a placeholder, as for the dirty rate.
    #[arg(long, default_value = "64MiB")]
    pub wws: String,
    /// Share of every guest's memory assumed to be zero pages, which a migration sends as a
    /// few bytes each: a placeholder (0, all memory in use, suits busy guests).
    #[arg(long, default_value_t = 0.0)]
    pub zero_fraction: f64,
    /// The scenario's horizon.
    #[arg(long, default_value = "1h")]
    pub horizon: String,
    /// A `migsim trace import` folder of the same cluster: domains it measured replay their
    /// CPU load from its trace.csv (joined on domain names), with its measured dirty rates
    /// and traffic where it has them.
    #[arg(long, value_name = "DIR")]
    pub trace: Option<PathBuf>,
    /// With --connect: measure every running domain's dirty rate over this many seconds
    /// (libvirt's dirty-rate calculation, QEMU's page sampling; 1-60) and write it into the
    /// scenario as a measurement. Saved `virsh domstats --dirtyrate` outputs are read too.
    #[arg(long, value_name = "SECONDS")]
    pub dirty_calc: Option<u32>,
    /// How QEMU measures: page-sampling (its default: hashes 512 sampled pages per GiB, least
    /// intrusive, coarse on small guests), dirty-bitmap (counts every page the dirty log
    /// records) or dirty-ring (KVM's dirty ring, when the guest runs with it).
    #[arg(long, default_value = "page-sampling")]
    pub dirty_calc_mode: String,
}

/// `to` as the scenario at `scenario` should name it: relative to the scenario's folder when
/// both are on one path, else absolute.
fn relative_to_scenario(to: &std::path::Path, scenario: Option<&std::path::Path>) -> String {
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let to = abs(to);
    let base = match scenario {
        Some(s) => abs(s).parent().map(|p| p.to_path_buf()),
        None => std::env::current_dir().ok(),
    };
    let Some(base) = base else {
        return to.display().to_string();
    };
    let (a, b): (Vec<_>, Vec<_>) = (base.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return to.display().to_string();
    }
    let mut rel = std::path::PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    for c in &b[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}

pub fn run(a: &InventoryArgs) -> Result<(), Failure> {
    let inv: Inventory = match (&a.saved, a.connect.is_empty()) {
        (Some(dir), true) => inventory::read_saved(dir).map_err(Failure::BadInput)?,
        (None, false) => live(&a.connect, a.dirty_calc, &a.dirty_calc_mode)?,
        (Some(_), false) => {
            return Err(Failure::BadInput(
                "give a folder of saved outputs or --connect, not both".into(),
            ));
        }
        (None, true) => {
            return Err(Failure::BadInput(
                "give a folder of saved virsh outputs, or --connect NAME=URI".into(),
            ));
        }
    };
    if !(0.0..1.0).contains(&a.zero_fraction) {
        return Err(Failure::BadInput(format!(
            "--zero-fraction {}: expected a share from 0 to below 1",
            a.zero_fraction
        )));
    }
    let assume = Assumptions {
        name: a.name.clone(),
        nic: a.nic.clone(),
        power_preset: a.power_preset.clone(),
        cpu_util: a.cpu_util,
        dirty_rate: a.dirty_rate.clone(),
        wws: a.wws.clone(),
        zero_fraction: a.zero_fraction,
        horizon: a.horizon.clone(),
    };
    let join = match &a.trace {
        Some(dir) => Some(
            inventory::TraceJoin::read(
                dir,
                relative_to_scenario(&dir.join("trace.csv"), a.out.as_deref()),
            )
            .map_err(Failure::BadInput)?,
        ),
        None => None,
    };
    let text = inventory::scenario_toml(&inv, &assume, join.as_ref());
    // Never write a scenario migsim itself would refuse.
    let base = match &a.out {
        Some(p) => std::path::absolute(p)
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf())),
        None => std::env::current_dir().ok(),
    };
    // Named as the file it becomes, so that the trace's relative path resolves from there.
    let name = a
        .out
        .as_ref()
        .map_or("inventory".to_string(), |p| p.display().to_string());
    let loaded = crate::scenario::load::load_str(&name, &text, base.as_deref(), &[])
        .map_err(|e| Failure::BadInput(format!("the inventory gives a bad scenario: {e}")))?;
    crate::sim::Simulation::build(&loaded)
        .map_err(|e| Failure::BadInput(format!("the inventory gives a bad scenario: {e}")))?;
    let left_out = inv.domains.iter().filter(|d| !d.running).count();
    match &a.out {
        Some(p) => {
            write_atomic(p, text.as_bytes())
                .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))?;
            eprintln!(
                "wrote {}: {} hosts, {} running domains{}",
                p.display(),
                inv.hosts.len(),
                inv.domains.len() - left_out,
                if left_out > 0 {
                    format!(" ({left_out} not running, listed in a comment and left out)")
                } else {
                    String::new()
                }
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(feature = "libvirt")]
fn live(connect: &[String], dirty_calc: Option<u32>, mode: &str) -> Result<Inventory, Failure> {
    let mode = match mode {
        "page-sampling" => virt::sys::VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING,
        "dirty-bitmap" => virt::sys::VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP,
        "dirty-ring" => virt::sys::VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING,
        m => {
            return Err(Failure::BadInput(format!(
                "--dirty-calc-mode {m:?}: expected page-sampling, dirty-bitmap or dirty-ring"
            )));
        }
    };
    if let Some(s) = dirty_calc
        && !(1..=60).contains(&s)
    {
        return Err(Failure::BadInput(format!(
            "--dirty-calc {s}: QEMU measures over 1 to 60 seconds"
        )));
    }
    let mut hosts = Vec::new();
    for c in connect {
        let (n, u) = c
            .split_once('=')
            .ok_or_else(|| Failure::BadInput(format!("--connect {c:?}: expected NAME=URI")))?;
        hosts.push((n.to_string(), u.to_string()));
    }
    crate::inventory::live::read(&hosts, dirty_calc.map(|s| (s, mode as u32)))
        .map_err(Failure::Failed)
}

#[cfg(not(feature = "libvirt"))]
fn live(_: &[String], _: Option<u32>, _: &str) -> Result<Inventory, Failure> {
    Err(Failure::BadInput(
        "--connect needs a migsim built with `--features libvirt`; save `virsh nodeinfo` and \
         `virsh domstats --raw` per host and pass their folder instead"
            .into(),
    ))
}
