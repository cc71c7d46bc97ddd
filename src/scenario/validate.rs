//! Checks a scenario needs beyond its types: ranges, references between sections, one-of fields.

use std::collections::BTreeSet;

use super::load::{Loaded, ScenarioError};
use super::{CpuModelKind, DirtyKind, TopologySpecKind};
use crate::engine::SimTime;
use crate::model::power::{SPEC_PRESETS, spec_preset};

pub fn check(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let bad = |f: &str, m: String| Err(l.field_error(f, m));

    // The name becomes a folder under output/ and a key in baselines and plans: plain ASCII
    // only, so that no look-alike, invisible or direction-changing character can hide in it.
    if s.name.is_empty()
        || s.name.len() > 128
        || s.name.starts_with('.')
        || !s
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad(
            "name",
            format!(
                "{:?} cannot name an output folder: use at most 128 ASCII letters, digits, \
                 '.', '-' and '_', not starting with '.'",
                s.name
            ),
        );
    }
    if s.horizon.time() == SimTime::ZERO {
        return bad("horizon", "must be longer than 0s".into());
    }
    for (f, d) in [
        ("workload.step", s.workload.step),
        ("outputs.sample_interval", s.outputs.sample_interval),
        ("policy.interval", s.policy.interval),
    ] {
        if d.time() == SimTime::ZERO {
            return bad(f, "must be longer than 0s".into());
        }
    }
    let scale = s.workload.cpu_scale;
    if !scale.is_finite() || scale < 0.0 {
        return bad(
            "workload.cpu_scale",
            format!("{scale} is not a non-negative factor"),
        );
    }

    if let Some(p) = s.workload.peak {
        if !(p.factor.is_finite() && p.factor >= 0.0) {
            return bad(
                "workload.peak.factor",
                format!("{} is not a non-negative factor", p.factor),
            );
        }
        if p.length.time() == SimTime::ZERO {
            return bad("workload.peak.length", "must be longer than 0s".into());
        }
    }

    let mut names = BTreeSet::new();
    for (i, t) in s.host_types.iter().enumerate() {
        let p = |f: &str| format!("host_type[{i}].{f}");
        if !names.insert(t.name.as_str()) {
            return bad(
                &p("name"),
                format!("host type {:?} is defined twice", t.name),
            );
        }
        if t.cores == 0 {
            return bad(&p("cores"), "must be at least 1".into());
        }
        if !(t.core_mips > 0.0 && t.core_mips.is_finite()) {
            return bad(&p("core_mips"), "must be a positive number".into());
        }
        if t.ram.0 == 0 {
            return bad(&p("ram"), "must be more than 0B".into());
        }
        if t.nic.is_zero() {
            return bad(&p("nic"), "must be faster than 0bit/s".into());
        }
        let pw = &t.power;
        let forms = pw.preset.is_some() as u8
            + pw.table.is_some() as u8
            + (pw.idle.is_some() || pw.max.is_some()) as u8;
        if forms != 1 {
            return bad(
                &p("power"),
                "give exactly one of: preset = \"hp-ml110-g4\", table = [11 watts], or idle and max"
                    .into(),
            );
        }
        if let Some(name) = &pw.preset
            && spec_preset(name).is_none()
        {
            return bad(
                &p("power.preset"),
                format!(
                    "unknown preset {name:?}; known: {}",
                    SPEC_PRESETS.join(", ")
                ),
            );
        }
        if let Some(tab) = &pw.table {
            if tab.len() != 11 {
                return bad(
                    &p("power.table"),
                    format!(
                        "expected 11 watts (0 %, 10 %, …, 100 % load); got {}",
                        tab.len()
                    ),
                );
            }
            if tab.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return bad(
                    &p("power.table"),
                    "watts must be non-negative numbers".into(),
                );
            }
        }
        if pw.idle.is_some() != pw.max.is_some() {
            return bad(&p("power"), "a linear model needs both idle and max".into());
        }
        if let (Some(i0), Some(m)) = (pw.idle, pw.max)
            && (i0.0 < 0.0 || m.0 < i0.0)
        {
            return bad(
                &p("power.max"),
                "must be at least idle, and idle at least 0W".into(),
            );
        }
    }

    if s.hosts.is_empty() {
        return bad("hosts", "a scenario needs at least one host group".into());
    }
    for (i, h) in s.hosts.iter().enumerate() {
        if !names.contains(h.host_type.as_str()) {
            let known: Vec<&str> = names.iter().copied().collect();
            return bad(
                &format!("hosts[{i}].type"),
                format!(
                    "no host_type named {:?}; defined: {}",
                    h.host_type,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        if h.count == 0 {
            return bad(&format!("hosts[{i}].count"), "must be at least 1".into());
        }
        if h.literal_name && (h.count != 1 || h.name.is_none()) {
            return bad(
                &format!("hosts[{i}].literal_name"),
                "needs count = 1 and a name".into(),
            );
        }
    }

    for (i, v) in s.vms.iter().enumerate() {
        let p = |f: &str| format!("vms[{i}].{f}");
        if v.count == 0 && v.cpu.model != CpuModelKind::Trace {
            return bad(&p("count"), "must be at least 1".into());
        }
        if v.literal_name && v.count != 1 {
            return bad(&p("literal_name"), "needs count = 1".into());
        }
        if v.vcpus == 0 {
            return bad(&p("vcpus"), "must be at least 1".into());
        }
        if !(v.vcpu_mips > 0.0 && v.vcpu_mips.is_finite()) {
            return bad(&p("vcpu_mips"), "must be a positive number".into());
        }
        if v.ram.0 == 0 {
            return bad(&p("ram"), "must be more than 0B".into());
        }
        if v.lifetime.is_some_and(|d| d.time() == SimTime::ZERO) {
            return bad(&p("lifetime"), "must be longer than 0s".into());
        }
        let frac = |f: &str, x: Option<f64>| -> Result<(), ScenarioError> {
            match x {
                Some(x) if !(0.0..=1.0).contains(&x) => {
                    Err(l.field_error(&p(f), format!("must be between 0 and 1; got {x}")))
                }
                _ => Ok(()),
            }
        };
        match v.cpu.model {
            CpuModelKind::Constant => {
                if v.cpu.util.is_none() {
                    return bad(
                        &p("cpu.util"),
                        "a constant CPU model needs util (0 to 1)".into(),
                    );
                }
                frac("cpu.util", v.cpu.util)?;
            }
            CpuModelKind::Trace => {
                if s.trace.is_none() {
                    return bad(
                        &p("cpu.model"),
                        "a trace CPU model needs a [trace] section".into(),
                    );
                }
            }
            CpuModelKind::Diurnal => {
                if v.cpu.mean.is_none() || v.cpu.amplitude.is_none() {
                    return bad(
                        &p("cpu"),
                        "a diurnal CPU model needs mean and amplitude".into(),
                    );
                }
                frac("cpu.mean", v.cpu.mean)?;
                frac("cpu.amplitude", v.cpu.amplitude)?;
                if v.cpu.period.is_some_and(|d| d.time() == SimTime::ZERO) {
                    return bad(&p("cpu.period"), "must be longer than 0s".into());
                }
            }
        }
        if !(v.cpu.noise >= 0.0 && v.cpu.noise.is_finite()) {
            return bad(&p("cpu.noise"), "must be 0 or more".into());
        }
        frac("dirty.zero_fraction", Some(v.dirty.zero_fraction))?;
        frac("dirty.hot_share", v.dirty.hot_share)?;
        if !(v.dirty.writer_cpu_share > 0.0 && v.dirty.writer_cpu_share <= 1.0) {
            return bad(&p("dirty.writer_cpu_share"), "must be in (0, 1]".into());
        }
        match v.dirty.model {
            DirtyKind::Trace => {
                if v.dirty.trace.as_ref().is_none_or(|t| t.is_empty()) {
                    return bad(
                        &p("dirty.trace"),
                        "a trace model needs trace = [\"10MiB/s\", …], one rate per second".into(),
                    );
                }
            }
            DirtyKind::HotCold => {
                if v.dirty.hot.is_none() || v.dirty.hot_share.is_none() || v.dirty.rate.is_none() {
                    return bad(
                        &p("dirty"),
                        "a hot-cold model needs rate, hot and hot_share".into(),
                    );
                }
                if v.dirty.hot.is_some_and(|h| h > v.ram) {
                    return bad(
                        &p("dirty.hot"),
                        "the hot set cannot exceed the VM's RAM".into(),
                    );
                }
            }
            DirtyKind::Wws | DirtyKind::Uniform => {}
        }
        if let Some(w) = v.dirty.wws
            && w > v.ram
        {
            return bad(
                &p("dirty.wws"),
                format!(
                    "the writable working set ({w}) cannot exceed the VM's RAM ({})",
                    v.ram
                ),
            );
        }
    }

    if let Some(t) = &s.trace {
        if crate::trace::Format::parse(&t.format).is_none() {
            return bad(
                "trace.format",
                format!("{:?} is not {}", t.format, crate::trace::Format::NAMES),
            );
        }
        match t.join.as_deref() {
            None | Some("order") => {
                if !t.unused.is_empty() {
                    return bad(
                        "trace.unused",
                        "only with join = \"name\": in order, a trace's VMs are all used".into(),
                    );
                }
            }
            Some("name") => {
                if let Some(g) = s
                    .vms
                    .iter()
                    .position(|v| v.cpu.model == CpuModelKind::Trace && v.count == 0)
                {
                    return bad(
                        &format!("vms[{g}].count"),
                        "with trace.join = \"name\" each trace-driven VM replays the trace VM \
                         of its own name; give the group a count"
                            .into(),
                    );
                }
            }
            Some(other) => {
                return bad(
                    "trace.join",
                    format!("{other:?} is not \"order\" or \"name\""),
                );
            }
        }
    }
    if let Some(c) = &s.calibration {
        for (name, cal) in &c.host_type {
            let field = format!("calibration.host_type.{name}");
            if !s.host_types.iter().any(|t| &t.name == name) {
                return bad(
                    &field,
                    format!("no host type named {name:?}: a calibration applies to one"),
                );
            }
            if cal
                .stream_rate
                .is_some_and(|r| r.as_bytes_per_sec().is_nan() || r.as_bytes_per_sec() <= 0.0)
            {
                return bad(&format!("{field}.stream_rate"), "must be above zero".into());
            }
        }
    }
    if s.network.rack_size == 0 {
        return bad("network.rack_size", "must be at least 1".into());
    }
    if s.network.topology == TopologySpecKind::Tree && s.network.uplink.is_none() {
        return bad(
            "network.uplink",
            "a tree topology needs the rack uplink speed".into(),
        );
    }
    if !(s.placement.cpu_overcommit > 0.0 && s.placement.cpu_overcommit.is_finite()) {
        return bad(
            "placement.cpu_overcommit",
            "must be a positive number".into(),
        );
    }
    if !(s.migration.cpu_per_100mbit >= 0.0 && s.migration.cpu_per_100mbit.is_finite()) {
        return bad("migration.cpu_per_100mbit", "must be 0 or more".into());
    }
    if s.migration
        .timeout
        .is_some_and(|t| t.time() == SimTime::ZERO)
    {
        return bad("migration.timeout", "must be longer than 0s".into());
    }
    if s.outputs
        .traffic_interval
        .is_some_and(|t| t.time() == SimTime::ZERO)
    {
        return bad("outputs.traffic_interval", "must be longer than 0s".into());
    }
    for (i, v) in s.vms.iter().enumerate() {
        if let Some(nz) = v.nonzero
            && nz > v.ram
        {
            return bad(
                &format!("vms[{i}].nonzero"),
                format!("cannot exceed the VM's RAM ({})", v.ram),
            );
        }
    }
    check_size(l)?;
    if s.compat.cloudsim_mode().is_some() {
        if let Err(e) = crate::policy::beloglazov::CloudSimExperiment::parse(&s.policy.name) {
            return bad(
                "policy.name",
                format!(
                    "{:?} is not a CloudSim experiment ({e}): npa, dvfs, or \
                     DETECTOR-SELECTOR-PARAMETER with detector thr|iqr|mad|lr|lrr and selector \
                     mmt|mu|mc (e.g. thr-mmt-0.8)",
                    s.policy.name
                ),
            );
        }
        if let Some(k) = s.policy.params.keys().next() {
            return bad(
                &format!("policy.{k}"),
                "CloudSim's experiments take their parameter in the name".into(),
            );
        }
        if s.trace.is_none() {
            return bad(
                "trace",
                "CloudSim compatibility replays a [trace] (PlanetLab)".into(),
            );
        }
    } else if let Err(e) = crate::policy::build(&s.policy.name, &s.policy.params, s.seed) {
        return match e.key {
            Some(k) => bad(&format!("policy.{k}"), e.message),
            None if crate::policy::registry::entry(&s.policy.name).is_some() => {
                bad("policy.name", format!("{:?}: {}", s.policy.name, e.message))
            }
            None => bad(
                "policy.name",
                format!(
                    "unknown policy {:?}; known policies:\n{}",
                    s.policy.name,
                    crate::policy::registry::help().trim_end()
                ),
            ),
        };
    }
    match crate::migration::encoding::Compression::parse(&s.migration.compression) {
        Err(e) => return bad("migration.compression", e),
        Ok(Some(_)) if s.migration.multifd_channels == 0 => {
            return bad(
                "migration.compression",
                "compresses multifd channels: set migration.multifd_channels".into(),
            );
        }
        Ok(_) => {}
    }
    if s.migration.dirty_limit && s.migration.auto_converge {
        return bad(
            "migration.dirty_limit",
            "QEMU refuses dirty-limit together with auto-converge: choose one".into(),
        );
    }
    if s.migration.dirty_limit && !s.migration.vcpu_dirty_limit.is_positive() {
        return bad(
            "migration.vcpu_dirty_limit",
            "must be at least 1MB/s, as QEMU requires".into(),
        );
    }
    if let Some(cache) = s.migration.xbzrle_cache {
        if s.migration.multifd_channels > 0 {
            return bad(
                "migration.xbzrle_cache",
                "QEMU does not use XBZRLE on multifd channels (ram_save_target_page_multifd); \
                 set migration.multifd_channels = 0 or drop the cache"
                    .into(),
            );
        }
        if cache.0 < 4096 {
            return bad(
                "migration.xbzrle_cache",
                "must hold at least one page (4KiB)".into(),
            );
        }
        if let Some(i) = s.vms.iter().position(|v| v.page_delta.is_none()) {
            return bad(
                &format!("vms[{i}].page_delta"),
                "XBZRLE is on (migration.xbzrle_cache): say how many bytes of a re-dirtied \
                 page change, e.g. page_delta = \"64B\""
                    .into(),
            );
        }
    }
    for (i, v) in s.vms.iter().enumerate() {
        if v.compressibility
            .is_some_and(|c| !(c >= 1.0 && c.is_finite()))
        {
            return bad(
                &format!("vms[{i}].compressibility"),
                "must be a number of at least 1.0 (1.0: memory that does not shrink)".into(),
            );
        }
        if v.page_delta.is_some_and(|d| d.0 > 4096) {
            return bad(
                &format!("vms[{i}].page_delta"),
                "cannot exceed a page (4KiB)".into(),
            );
        }
    }
    if s.migration.max_concurrent_per_host == 0 {
        return bad(
            "migration.max_concurrent_per_host",
            "must be at least 1".into(),
        );
    }
    Ok(())
}

/// Hosts a scenario may describe. The model keeps every host's and VM's state in arrays; the
/// bounds keep a typo such as `count = 4294967295` from allocating the machine away before
/// anything can be reported. At the measured cost (BENCHMARKS.md: about 370 bytes of model
/// state per VM, 1 000 000 VMs and 100 000 hosts in 355 MiB), 20 million VMs need about
/// 7 GiB: twenty times the largest run the benchmarks make.
pub const MAX_HOSTS: u64 = 2_000_000;
/// VMs a scenario may describe; see [`MAX_HOSTS`].
pub const MAX_VMS: u64 = 20_000_000;

/// Bounds the work a scenario asks for before anything is allocated: the host and VM counts,
/// and whether the VMs' RAM can fit at all (RAM is never overcommitted, so a cluster whose
/// VMs ask for more than all its hosts have cannot place them, whatever the placement).
fn check_size(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let mut hosts = 0u64;
    for (i, h) in s.hosts.iter().enumerate() {
        hosts += u64::from(h.count);
        if hosts > MAX_HOSTS {
            return Err(l.field_error(
                &format!("hosts[{i}].count"),
                format!("brings the scenario to {hosts} hosts; at most {MAX_HOSTS} are modelled"),
            ));
        }
    }
    let mut vms = 0u64;
    for (i, v) in s.vms.iter().enumerate() {
        vms += u64::from(v.count);
        if vms > MAX_VMS {
            return Err(l.field_error(
                &format!("vms[{i}].count"),
                format!("brings the scenario to {vms} VMs; at most {MAX_VMS} are modelled"),
            ));
        }
    }
    if s.compat.cloudsim_mode().is_some() {
        // CloudSim's experiments bring their own host and VM types.
        return Ok(());
    }
    let type_ram = |name: &str| {
        s.host_types
            .iter()
            .find(|t| t.name == name)
            .map_or(0u128, |t| u128::from(t.ram.0))
    };
    let host_ram: u128 = s
        .hosts
        .iter()
        .map(|h| u128::from(h.count) * type_ram(&h.host_type))
        .sum();
    let mut vm_ram = 0u128;
    for (i, v) in s.vms.iter().enumerate() {
        vm_ram += u128::from(v.count) * u128::from(v.ram.0);
        if vm_ram > host_ram {
            let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
            return Err(l.field_error(
                &format!("vms[{i}].count"),
                format!(
                    "brings the VMs' RAM to {:.1} GiB, more than all hosts have ({:.1} GiB): \
                     no placement can fit them",
                    gib(vm_ram),
                    gib(host_ram)
                ),
            ));
        }
    }
    Ok(())
}

/// What a valid scenario does that its author may not mean, for `validate` and `run` to say:
/// a VM group that starts at or after the horizon is kept (its VMs hold their places and are
/// counted as never started), as a shorter `--set horizon=…` of a longer day should run, but
/// not silently.
pub fn notes(l: &Loaded) -> Vec<String> {
    let s = &l.scenario;
    s.vms
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let st = v.start?.time();
            (st >= s.horizon.time()).then(|| {
                l.field_error(
                    &format!("vms[{i}].start"),
                    format!(
                        "{} is not before the horizon ({}): these VMs never start in this run",
                        crate::units::format_duration(st),
                        crate::units::format_duration(s.horizon.time())
                    ),
                )
                .to_string()
            })
        })
        .collect()
}
