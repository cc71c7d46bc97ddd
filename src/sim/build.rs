//! Building a run from a checked scenario: host types, power models, VMs and their dirty-page
//! models, traces, the network, initial placement and the first events.

use std::collections::VecDeque;

use super::failures::{Failure, Ha, draw_failures};
use super::{Migrations, Request, STREAM_WORKLOAD, Simulation};
use crate::engine::{EventQueue, SimTime};
use crate::model::host::{HostId, HostType, Hosts};
use crate::model::network::{Network, TopologyKind, TopologySpec};
use crate::model::power::{PowerModel, PowerState, PowerStates, spec_preset};
use crate::model::vm::{CpuModel, DirtyModel, VmGroup, VmId, Vms};
use crate::policy;
use crate::scenario::load::Loaded;
use crate::scenario::{
    CpuModelKind, HostTypeSpec, InitialPlacement, InitialPower, Scenario, ScenarioError,
    TopologySpecKind,
};
use crate::units::{Bandwidth, Bytes, Volume};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

impl Simulation {
    /// Builds the model from a loaded scenario. Errors name the scenario field at fault.
    pub fn build(loaded: &Loaded) -> Result<Simulation, ScenarioError> {
        let sc = loaded.scenario.clone();
        let mut hosts = Hosts {
            types: sc
                .host_types
                .iter()
                .map(|t| {
                    let cal = sc
                        .calibration
                        .as_ref()
                        .and_then(|c| c.host_type.get(&t.name));
                    calibrated(host_type_from(t), cal)
                })
                .collect(),
            ..Hosts::default()
        };
        let mut seen = std::collections::BTreeMap::new();
        for (g, group) in sc.hosts.iter().enumerate() {
            let tid = sc
                .host_types
                .iter()
                .position(|t| t.name == group.host_type)
                .expect("validated host type") as u32;
            let state = match group.initial_state {
                InitialPower::On => PowerState::On,
                InitialPower::Off => PowerState::Off,
            };
            let pattern = group.name.clone().unwrap_or_else(|| "{type}-{i}".into());
            for i in 0..group.count {
                let name = if group.literal_name {
                    pattern.clone()
                } else {
                    expand_name(&pattern, i, &group.host_type)
                };
                if let Some(prev) = seen.insert(name.clone(), g) {
                    return Err(loaded.field_error(
                        &format!("hosts[{g}].name"),
                        format!("host name {name:?} is also produced by hosts[{prev}]"),
                    ));
                }
                hosts.push(name, tid, state);
            }
        }

        let trace = match &sc.trace {
            Some(t) if sc.vms.iter().any(|v| v.cpu.model == CpuModelKind::Trace) => {
                let format = crate::trace::Format::parse(&t.format).expect("validated");
                let path = loaded.resolve_path("trace.path", &t.path);
                let read = match (format, &t.order) {
                    (crate::trace::Format::PlanetLab, Some(o)) => {
                        let order = loaded.resolve_path("trace.order", o);
                        crate::trace::planetlab::read_dir(&path, Some(&order))
                    }
                    _ => crate::trace::read(format, &path),
                };
                Some(read.map_err(|e| loaded.field_error("trace.path", e.to_string()))?)
            }
            _ => None,
        };
        let trace_vms = trace.as_ref().map_or(0, |t| t.vms.len());
        let mut next_trace = 0usize;
        // With `join = "name"`, each trace VM by its name, and which ones drive a VM.
        let by_name: Option<std::collections::BTreeMap<&str, usize>> = match (&sc.trace, &trace) {
            (Some(spec), Some(t)) if spec.joins_by_name() => {
                let mut index = std::collections::BTreeMap::new();
                for (i, v) in t.vms.iter().enumerate() {
                    if index.insert(v.name.as_str(), i).is_some() {
                        return Err(loaded.field_error(
                            "trace.path",
                            format!(
                                "trace VM {:?} appears twice; names must be unique to join on them",
                                v.name
                            ),
                        ));
                    }
                }
                Some(index)
            }
            _ => None,
        };
        let mut driven = vec![false; trace_vms];

        let mut vms = Vms::default();
        let mut seen = std::collections::BTreeMap::new();
        let mut trace_idx: Vec<u32> = Vec::new();
        // Trace groups with `count = 0` share the trace VMs the counted groups leave, in order:
        // ceil(rest / k) each and the last takes what remains. With four such groups this is
        // CloudSim's assignment of VM i to type i / ceil(n / 4) (`PlanetLabHelper.createVmList`).
        let is_trace_group = |v: &crate::scenario::VmGroupSpec| v.cpu.model == CpuModelKind::Trace;
        let counted: usize = sc
            .vms
            .iter()
            .filter(|v| is_trace_group(v))
            .map(|v| v.count as usize)
            .sum();
        let sharing = sc
            .vms
            .iter()
            .filter(|v| is_trace_group(v) && v.count == 0)
            .count();
        let rest = trace_vms.saturating_sub(counted);
        let share = if sharing > 0 {
            rest.div_ceil(sharing)
        } else {
            0
        };
        let mut shared_so_far = 0usize;
        let mut sharing_seen = 0usize;
        for (g, v) in sc.vms.iter().enumerate() {
            let is_trace = is_trace_group(v);
            let count = if is_trace && v.count == 0 {
                sharing_seen += 1;
                let n = if sharing_seen == sharing {
                    rest - shared_so_far.min(rest)
                } else {
                    share.min(rest - shared_so_far.min(rest))
                };
                shared_so_far += n;
                n as u32
            } else {
                v.count
            };
            if is_trace && by_name.is_none() && next_trace + count as usize > trace_vms {
                return Err(loaded.field_error(
                    &format!("vms[{g}].count"),
                    format!(
                        "the trace has {trace_vms} VMs; this group would need VMs {} to {}",
                        next_trace,
                        next_trace + count as usize - 1
                    ),
                ));
            }
            let cpu = match v.cpu.model {
                CpuModelKind::Trace => CpuModel::Trace,
                CpuModelKind::Constant => CpuModel::Constant(v.cpu.util.expect("validated")),
                CpuModelKind::Diurnal => CpuModel::Diurnal {
                    mean: v.cpu.mean.expect("validated"),
                    amplitude: v.cpu.amplitude.expect("validated"),
                    peak: v.cpu.peak.map(|d| d.time()).unwrap_or(SimTime::ZERO),
                    period: v
                        .cpu
                        .period
                        .map(|d| d.time())
                        .unwrap_or(SimTime::from_secs(86_400)),
                },
            };
            let dirty = dirty_model_from(&v.dirty, v.ram);
            vms.groups.push(VmGroup {
                name: v.name.clone(),
                cpu,
                cpu_noise: v.cpu.noise,
                dirty,
                traffic: v.traffic,
            });
            let group_start = v.start.map(|d| d.time()).unwrap_or(SimTime::ZERO);
            let group_stop = v.lifetime.map(|d| group_start + d.time());
            for i in 0..count {
                let (mut start, mut stop) = (group_start, group_stop);
                let name = if v.literal_name {
                    v.name.clone()
                } else {
                    expand_name(&v.name, i, "")
                };
                trace_idx.push(if is_trace {
                    let idx = match &by_name {
                        Some(index) => {
                            let idx = *index.get(name.as_str()).ok_or_else(|| {
                                loaded.field_error(
                                    &format!("vms[{g}].name"),
                                    format!(
                                        "VM {name:?} has no trace VM of that name in {} \
                                         (trace.join = \"name\")",
                                        loaded
                                            .resolve_path(
                                                "trace.path",
                                                &sc.trace.as_ref().expect("joined").path
                                            )
                                            .display()
                                    ),
                                )
                            })?;
                            driven[idx] = true;
                            idx
                        }
                        None => {
                            next_trace += 1;
                            next_trace - 1
                        }
                    };
                    // A trace that records lifetimes (Azure) starts and stops its VMs, within
                    // the group's own window.
                    if let Some((created, deleted)) =
                        trace.as_ref().and_then(|t| t.vms[idx].lifetime)
                    {
                        start = start.max(created);
                        stop = Some(stop.map_or(deleted, |s| s.min(deleted)).max(start));
                    }
                    idx as u32
                } else {
                    u32::MAX
                });
                if let Some(prev) = seen.insert(name.clone(), g) {
                    return Err(loaded.field_error(
                        &format!("vms[{g}].name"),
                        format!("VM name {name:?} is also produced by vms[{prev}]"),
                    ));
                }
                vms.push(
                    name,
                    g as u32,
                    HostId(u32::MAX),
                    v.vcpus,
                    v.vcpu_mips,
                    v.ram,
                    start,
                    stop,
                );
            }
        }

        if let (Some(spec), Some(t)) = (&sc.trace, &trace)
            && by_name.is_some()
        {
            let unused: std::collections::BTreeSet<&str> =
                spec.unused.iter().map(String::as_str).collect();
            if let Some(v) = t
                .vms
                .iter()
                .zip(&driven)
                .find(|(v, d)| !**d && !unused.contains(v.name.as_str()))
            {
                return Err(loaded.field_error(
                    "trace.unused",
                    format!(
                        "trace VM {:?} drives no VM of the scenario; list it in trace.unused \
                         to leave it out",
                        v.0.name
                    ),
                ));
            }
            if let Some(u) = unused
                .iter()
                .find(|u| !by_name.as_ref().expect("joined").contains_key(*u))
            {
                return Err(
                    loaded.field_error("trace.unused", format!("{u:?} is not a VM of the trace"))
                );
            }
            if let Some((v, _)) = t
                .vms
                .iter()
                .zip(&driven)
                .find(|(v, d)| **d && unused.contains(v.name.as_str()))
            {
                return Err(loaded.field_error(
                    "trace.unused",
                    format!("{:?} drives a VM, yet is listed as unused", v.name),
                ));
            }
        } else if trace_vms > next_trace {
            return Err(loaded.field_error(
                "trace.path",
                format!(
                    "the trace has {trace_vms} VMs but the scenario drives only {next_trace}: \
                     set count = 0 on a trace group to use them all"
                ),
            ));
        }

        let mut pinned = Vec::with_capacity(sc.vms.len());
        for (g, group) in sc.vms.iter().enumerate() {
            pinned.push(match &group.host {
                None => None,
                Some(name) => Some(hosts.name.iter().position(|n| n == name).ok_or_else(|| {
                    loaded.field_error(&format!("vms[{g}].host"), format!("no host named {name:?}"))
                })?),
            });
        }
        let host_vms = place_initial(&sc, &mut hosts, &mut vms, &pinned).map_err(|(g, msg)| {
            let field = if pinned[g].is_some() {
                format!("vms[{g}].host")
            } else {
                format!("vms[{g}]")
            };
            loaded.field_error(&field, msg)
        })?;

        let net = Network::build(&TopologySpec {
            kind: match sc.network.topology {
                TopologySpecKind::Star => TopologyKind::Star,
                TopologySpecKind::Tree => TopologyKind::Tree,
            },
            host_nic: (0..hosts.len())
                .map(|i| hosts.host_type(HostId(i as u32)).nic)
                .collect(),
            host_names: hosts.name.clone(),
            host_latency: sc.network.host_latency.time(),
            rack_size: sc.network.rack_size as usize,
            uplink: sc
                .network
                .uplink
                .unwrap_or(crate::units::Bandwidth::gbit(40.0)),
            uplink_latency: sc.network.uplink_latency.time(),
        });
        for (i, b) in sc.network.background.iter().enumerate() {
            if net.link_by_name(&b.link).is_none() {
                let racks = if net.kind == TopologyKind::Tree {
                    format!(", rack0/up … rack{}/down", net.racks() - 1)
                } else {
                    String::new()
                };
                return Err(loaded.field_error(
                    &format!("network.background[{i}].link"),
                    format!(
                        "no link named {:?}; links are HOST/tx and HOST/rx{racks}",
                        b.link
                    ),
                ));
            }
        }

        for (i, f) in sc.faults.iter().enumerate() {
            if net.link_by_name(&f.link).is_none() {
                return Err(loaded.field_error(
                    &format!("fault[{i}].link"),
                    format!(
                        "no link named {:?}; links are HOST/tx, HOST/rx and rackN/up|down",
                        f.link
                    ),
                ));
            }
        }
        let mut maintenance = Vec::new();
        for (i, m) in sc.maintenance.iter().enumerate() {
            let field = format!("maintenance[{i}].hosts");
            if m.hosts.is_empty() {
                return Err(loaded.field_error(&field, "name at least one host"));
            }
            let mut hs = Vec::new();
            for name in &m.hosts {
                let h =
                    hosts.name.iter().position(|n| n == name).ok_or_else(|| {
                        loaded.field_error(&field, format!("no host named {name:?}"))
                    })?;
                hs.push(h);
            }
            if m.duration.time() == SimTime::ZERO {
                return Err(loaded.field_error(
                    &format!("maintenance[{i}].duration"),
                    "a window must last longer than 0 s",
                ));
            }
            let at = m.at.time();
            maintenance.push(policy::maintenance::Window {
                hosts: hs,
                drain: SimTime::from_nanos(at.as_nanos().saturating_sub(m.lead.time().as_nanos())),
                at,
                end: at + m.duration.time(),
            });
        }
        let mut failures = Vec::new();
        for (i, f) in sc.host_failures.iter().enumerate() {
            let h = hosts
                .name
                .iter()
                .position(|n| *n == f.host)
                .ok_or_else(|| {
                    loaded.field_error(
                        &format!("host_failure[{i}].host"),
                        format!("no host named {:?}", f.host),
                    )
                })?;
            failures.push(Failure {
                host: HostId(h as u32),
                at: f.at.time(),
                repair: f.repair.map(|r| r.time()),
                restart_delay: f.restart_delay.time(),
            });
        }
        if let Some(r) = &sc.reliability {
            if r.mtbf.time() == SimTime::ZERO {
                return Err(loaded.field_error("reliability.mtbf", "must be longer than 0 s"));
            }
            failures.extend(draw_failures(
                sc.seed,
                hosts.len(),
                sc.horizon.time(),
                r.mtbf.time(),
                r.repair.map(|d| d.time()),
                r.restart_delay.time(),
            ));
        }
        let link_capacity: Vec<Bandwidth> = net.links.iter().map(|l| l.capacity).collect();
        let mut requests = Vec::new();
        for (i, m) in sc.migrate.iter().enumerate() {
            let vm = vms.name.iter().position(|n| *n == m.vm).ok_or_else(|| {
                loaded.field_error(
                    &format!("migrate[{i}].vm"),
                    format!("no VM named {:?}", m.vm),
                )
            })?;
            let to = hosts.name.iter().position(|n| *n == m.to).ok_or_else(|| {
                loaded.field_error(
                    &format!("migrate[{i}].to"),
                    format!("no host named {:?}", m.to),
                )
            })?;
            requests.push(Request {
                vm: VmId(vm as u32),
                to: HostId(to as u32),
                at: m.at.time(),
            });
        }

        let mut seed_rng = ChaCha8Rng::seed_from_u64(sc.seed);
        seed_rng.set_stream(STREAM_WORKLOAD);
        let n_vms = vms.len();
        let n_hosts = hosts.len();
        let policy =
            policy::build(&sc.policy.name, &sc.policy.params, sc.seed).expect("validated policy");
        let (vm_history, host_history) = histories(policy.as_ref(), n_vms, n_hosts);
        Ok(Simulation {
            horizon: sc.horizon.time(),
            policy,
            maintenance_checked: vec![false; maintenance.len()],
            maintenance_restored: vec![false; maintenance.len()],
            maintenance,
            maintenance_missed: 0,
            ha: Ha {
                failed: vec![false; n_hosts],
                ..Default::default()
            },
            failures,
            scenario: sc,
            hosts,
            vms,
            net,
            host_vms,
            queue: EventQueue::new(),
            rng_workload: seed_rng,
            vm_flow: vec![None; n_vms],
            vm_last: vec![SimTime::ZERO; n_vms],
            traffic_demand: Volume::ZERO,
            traffic_delivered: Volume::ZERO,
            timeline: Vec::new(),
            last_sample: None,
            peak_active: 0,
            migs: Migrations::new(n_hosts),
            trace,
            trace_idx,
            migration_shortfall: 0.0,
            pending_wake: None,
            vm_history,
            host_history,
            power_log: Vec::new(),
            requests,
            traffic_samples: Vec::new(),
            link_capacity,
        })
    }
}

pub(super) fn host_type_from(spec: &HostTypeSpec) -> HostType {
    let power = match (&spec.power.preset, &spec.power.table) {
        (Some(p), _) => PowerModel::SpecPower(spec_preset(p).expect("validated preset")),
        (None, Some(t)) => {
            let mut a = [0.0; 11];
            a.copy_from_slice(t);
            PowerModel::SpecPower(a)
        }
        (None, None) => PowerModel::Linear {
            idle: spec.power.idle.expect("validated").0,
            max: spec.power.max.expect("validated").0,
        },
    };
    let mut states = PowerStates::defaults_for(&power);
    let s = &spec.states;
    if let Some(w) = s.off {
        states.off = w;
    }
    if let Some(w) = s.sleep {
        states.sleep = w;
    }
    if let Some(w) = s.boot {
        states.boot = w;
    }
    if let Some(d) = s.boot_time {
        states.boot_time = d.time();
    }
    if let Some(w) = s.shutdown {
        states.shutdown = w;
    }
    if let Some(d) = s.shutdown_time {
        states.shutdown_time = d.time();
    }
    if let Some(d) = s.sleep_time {
        states.sleep_time = d.time();
    }
    if let Some(d) = s.wake_time {
        states.wake_time = d.time();
    }
    HostType {
        name: spec.name.clone(),
        cores: spec.cores,
        core_mips: spec.core_mips,
        ram: spec.ram,
        nic: spec.nic,
        power,
        states,
        migration_scan: spec.migration.as_ref().and_then(|m| m.scan_rate),
        migration_send: spec.migration.as_ref().and_then(|m| m.send_rate),
        migration_resume: None,
        migration_resume_per_gib: SimTime::ZERO,
        migration_setup: SimTime::ZERO,
    }
}

/// A host type with what `migsim calibrate` measured for it: a stream rate above the NIC the
/// scenario assumed lifts the NIC too (the assumption was wrong; what was measured was sent).
fn calibrated(mut t: HostType, cal: Option<&crate::scenario::HostCalibration>) -> HostType {
    let Some(c) = cal else {
        return t;
    };
    if let Some(r) = c.stream_rate {
        t.migration_send = Some(r);
        if r > t.nic {
            t.nic = r;
        }
    }
    t.migration_resume = c.switchover.map(|d| d.time());
    t.migration_resume_per_gib = c.switchover_per_gib.map_or(SimTime::ZERO, |d| d.time());
    t.migration_setup = c.setup.map_or(SimTime::ZERO, |d| d.time());
    t
}

/// The dirty-page model of a VM group.
pub fn dirty_model_from(d: &crate::scenario::DirtySpec, ram: Bytes) -> DirtyModel {
    use crate::model::dirty::DirtyPattern;
    use crate::scenario::DirtyKind;
    let rate = d.rate.unwrap_or(Bandwidth::ZERO);
    let span = Volume::from(d.wws.unwrap_or(ram));
    let pattern = match d.model {
        DirtyKind::Wws => DirtyPattern::Wws {
            rate,
            wws: if rate.is_positive() {
                span
            } else {
                Volume::ZERO
            },
        },
        DirtyKind::Uniform => DirtyPattern::Uniform { rate, span },
        DirtyKind::HotCold => DirtyPattern::HotCold {
            rate,
            hot: d.hot.map(Volume::from).unwrap_or(Volume::ZERO),
            hot_share: d.hot_share.unwrap_or(0.0),
            span: Volume::from(ram),
        },
        DirtyKind::Trace => DirtyPattern::Trace {
            per_second: d.trace.as_ref().cloned().unwrap_or_default(),
            wws: span,
        },
    };
    DirtyModel {
        pattern,
        zero_fraction: d.zero_fraction,
        cpu_coupled: d.cpu_coupled,
        writer_cpu_share: d.writer_cpu_share,
    }
}

pub(super) fn expand_name(pattern: &str, i: u32, type_name: &str) -> String {
    let mut s = pattern.replace("{i}", &i.to_string());
    s = s.replace("{type}", type_name);
    if s == pattern && !pattern.contains("{i}") {
        format!("{pattern}-{i}")
    } else {
        s
    }
}

/// Places every VM on a host at build time. Returns each host's VM list, or the VM group that
/// did not fit with a message.
pub(super) fn place_initial(
    sc: &Scenario,
    hosts: &mut Hosts,
    vms: &mut Vms,
    pinned: &[Option<usize>],
) -> Result<Vec<Vec<VmId>>, (usize, String)> {
    let nh = hosts.len();
    let mut host_vms = vec![Vec::new(); nh];
    let mut cpu_reserved = vec![0.0f64; nh];
    let over = sc.placement.cpu_overcommit;
    let fits = |h: usize, hosts: &Hosts, cpu_reserved: &[f64], v: usize, vms: &Vms| -> bool {
        let t = &hosts.types[hosts.host_type[h] as usize];
        let need_cpu = vms.vcpus[v] as f64 * vms.vcpu_mips[v].min(t.core_mips);
        hosts.ram_used[h].0 + vms.ram[v].0 <= t.ram.0
            && cpu_reserved[h] + need_cpu <= t.cpu_capacity() * over * (1.0 + 1e-12)
            && vms.vcpus[v] <= t.cores.saturating_mul(over.ceil() as u32).max(t.cores)
    };
    // Hosts below `first_open` cannot take even the smallest VM, so first-fit starts there:
    // placing a million VMs stays linear instead of rescanning the full hosts every time.
    let min_ram = vms.ram.iter().map(|b| b.0).min().unwrap_or(0);
    let min_core = hosts
        .types
        .iter()
        .map(|t| t.core_mips)
        .fold(f64::INFINITY, f64::min);
    let min_cpu = (0..vms.len())
        .map(|v| vms.vcpu_mips[v].min(min_core) * vms.vcpus[v] as f64)
        .fold(f64::INFINITY, f64::min);
    let mut first_open = 0usize;
    let mut rr = 0usize;
    // Pinned VMs first, so that the others never take the room they must have.
    let is_pinned = |v: usize| pinned[vms.group[v] as usize].is_some();
    let order: Vec<usize> = (0..vms.len())
        .filter(|&v| is_pinned(v))
        .chain((0..vms.len()).filter(|&v| !is_pinned(v)))
        .collect();
    for v in order {
        while first_open < nh {
            let t = &hosts.types[hosts.host_type[first_open] as usize];
            let ram_left = t.ram.0 - hosts.ram_used[first_open].0;
            let cpu_left = t.cpu_capacity() * over - cpu_reserved[first_open];
            if ram_left >= min_ram && cpu_left >= min_cpu * (1.0 - 1e-12) {
                break;
            }
            first_open += 1;
        }
        if let Some(h) = pinned[vms.group[v] as usize]
            && !fits(h, hosts, &cpu_reserved, v, vms)
        {
            return Err((
                vms.group[v] as usize,
                format!(
                    "VM {} ({} vCPUs, {}) does not fit on its host {}: its RAM or CPU is \
                     taken (cpu_overcommit {over})",
                    vms.name[v], vms.vcpus[v], vms.ram[v], hosts.name[h]
                ),
            ));
        }
        let chosen = match (pinned[vms.group[v] as usize], sc.placement.initial) {
            (Some(h), _) => Some(h),
            (None, InitialPlacement::FirstFit) => {
                (first_open..nh).find(|&h| fits(h, hosts, &cpu_reserved, v, vms))
            }
            (None, InitialPlacement::RoundRobin) => {
                let found = (0..nh)
                    .map(|k| (rr + k) % nh)
                    .find(|&h| fits(h, hosts, &cpu_reserved, v, vms));
                if let Some(h) = found {
                    rr = (h + 1) % nh;
                }
                found
            }
        };
        let Some(h) = chosen else {
            let g = vms.group[v] as usize;
            return Err((
                g,
                format!(
                    "VM {} ({} vCPUs, {}) fits on no host: the hosts' RAM or CPU is taken \
                     (placement {:?}, cpu_overcommit {}); add hosts or reduce the group",
                    vms.name[v], vms.vcpus[v], vms.ram[v], sc.placement.initial, over
                ),
            ));
        };
        let t = &hosts.types[hosts.host_type[h] as usize];
        cpu_reserved[h] += vms.vcpus[v] as f64 * vms.vcpu_mips[v].min(t.core_mips);
        hosts.ram_used[h] = Bytes(hosts.ram_used[h].0 + vms.ram[v].0);
        hosts.vm_count[h] += 1;
        vms.host[v] = HostId(h as u32);
        host_vms[h].push(VmId(v as u32));
    }
    Ok(host_vms)
}

/// Empty utilisation histories for every VM and host, or none for a policy that does not read
/// them (`Policy::uses_history`): for a million VMs they cost memory and time at every tick.
pub(super) fn histories(
    policy: &dyn crate::policy::Policy,
    vms: usize,
    hosts: usize,
) -> (Vec<VecDeque<f64>>, Vec<VecDeque<f64>>) {
    if policy.uses_history() {
        (vec![VecDeque::new(); vms], vec![VecDeque::new(); hosts])
    } else {
        (Vec::new(), Vec::new())
    }
}
