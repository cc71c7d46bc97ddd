//! A run: the model built from a scenario, driven by the event engine.
//!
//! `build` turns a checked scenario into the model's arrays (hosts, VMs, network) and places the
//! VMs. `run` pops events until the horizon: workload steps re-evaluate CPU demand and shares,
//! samples record the cluster, policy ticks ask the policy for decisions, and power transitions
//! and VM starts and stops change states. The engine only orders events; this module gives them
//! meaning.

mod ha;
mod migrations;
mod record;

use std::io;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::engine::{EventQueue, SimTime};
use crate::metrics::{self, Summary, TimelineRow, vm_state_counts};
use crate::migration::Outcome;
use crate::model::cpu::{share_factor, vm_demand};
use crate::model::host::{HostId, HostType, Hosts};
use crate::model::network::{Endpoint, FlowId, Network, TopologyKind, TopologySpec};
use crate::model::power::{
    PowerModel, PowerState, PowerStates, PowerTarget, spec_preset, transition,
};
use crate::model::vm::{CpuModel, DirtyModel, VmGroup, VmId, VmState, Vms};
use crate::policy::{self, ClusterView, Decision, Policy};
use crate::scenario::load::Loaded;
use crate::scenario::{
    CpuModelKind, HostTypeSpec, InitialPlacement, InitialPower, Scenario, ScenarioError,
    TopologySpecKind,
};
use crate::units::{Bandwidth, Bytes, format_duration};
pub use record::{NullRecorder, Recorder};

pub use migrations::{Migrations, Request};

/// Simulation events. The engine orders them; [`Simulation::handle`] interprets them.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    WorkloadStep,
    Sample,
    PolicyTick,
    VmStart(VmId),
    VmStop(VmId),
    /// A power transition of `host` has finished, unless `generation` is stale.
    PowerSettled {
        host: HostId,
        generation: u32,
    },
    /// Link `link` fails (`up == false`) or is repaired.
    LinkFault {
        fault: usize,
        up: bool,
    },
    /// A scheduled migration (`[[migrate]]`) is due.
    MigrationRequest(usize),
    /// Failure number `n` (timed or drawn) happens.
    HostFail(usize),
    /// The host of failure number `n` is repaired.
    HostRepair(usize),
    /// VMs of failed hosts try to restart.
    HaRestart,
    /// A QEMU loop iteration of the migration in `slot` is due.
    MigrationCheck {
        slot: usize,
        generation: u64,
    },
    MigrationTimeout {
        slot: usize,
        record: usize,
    },
    /// The guest of the migration in `slot` has suspended; its final copy can start.
    MigrationResume {
        slot: usize,
        generation: u64,
    },
    /// Stage 5 of the migration in `slot`.
    MigrationActivate {
        slot: usize,
        generation: u64,
    },
    /// The earliest finite flow drains now, unless the network changed since.
    NetworkWake {
        generation: u64,
    },
    TrafficSample,
    End,
}

/// One sample of a VM's own traffic (`traffic.csv`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrafficSample {
    pub time_s: f64,
    pub vm: String,
    pub mbit_s: f64,
}

/// Stream identifiers of the run's random number generators: one ChaCha8 stream per purpose,
/// so that adding randomness to one part of the model does not shift the numbers of another.
const STREAM_WORKLOAD: u64 = 1;

pub struct Simulation {
    pub scenario: Scenario,
    pub hosts: Hosts,
    pub vms: Vms,
    pub net: Network,
    /// Each host's VMs, for per-host updates; kept in step with `vms.host`.
    pub host_vms: Vec<Vec<VmId>>,
    queue: EventQueue<Event>,
    horizon: SimTime,
    rng_workload: ChaCha8Rng,
    policy: Box<dyn Policy>,
    /// Maintenance windows, resolved, and per window whether its hosts were checked at `at`
    /// and brought back at the end.
    maintenance: Vec<policy::maintenance::Window>,
    maintenance_checked: Vec<bool>,
    maintenance_restored: Vec<bool>,
    /// Hosts that still held VMs when their window opened.
    maintenance_missed: u32,
    /// `[[host_failure]]` hosts, resolved.
    failures: Vec<ha::Failure>,
    ha: ha::Ha,
    vm_flow: Vec<Option<FlowId>>,
    vm_last: Vec<SimTime>,
    traffic_demand: f64,
    traffic_delivered: f64,
    timeline: Vec<TimelineRow>,
    last_sample: Option<SimTime>,
    peak_active: u32,
    pub migs: Migrations,
    requests: Vec<Request>,
    traffic_samples: Vec<TrafficSample>,
    /// Each link's capacity as built, to restore after a fault.
    link_capacity: Vec<f64>,
    trace: Option<crate::trace::Trace>,
    /// The trace VM that drives each VM, or `u32::MAX`.
    trace_idx: Vec<u32>,
    /// MIPS·s of demand unmet while VMs were migrating (the PDM numerator).
    migration_shortfall: f64,
    vm_history: Vec<std::collections::VecDeque<f64>>,
    host_history: Vec<std::collections::VecDeque<f64>>,
    /// Every power transition started, in order: what a plan turns into power actions.
    power_log: Vec<PowerChange>,
}

/// A host power transition as it started: `via` is the state entered now (booting, shutting
/// down), `to` the state it settles in.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerChange {
    pub time_s: f64,
    pub host: HostId,
    pub from: PowerState,
    pub via: PowerState,
    pub to: PowerState,
    pub duration_s: f64,
}

fn host_type_from(spec: &HostTypeSpec) -> HostType {
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
    }
}

/// The dirty-page model of a VM group.
pub fn dirty_model_from(d: &crate::scenario::DirtySpec, ram: Bytes) -> DirtyModel {
    use crate::model::dirty::DirtyPattern;
    use crate::scenario::DirtyKind;
    let rate = d.rate.map(|r| r.as_bytes_per_sec()).unwrap_or(0.0);
    let span = d.wws.unwrap_or(ram).as_f64();
    let pattern = match d.model {
        DirtyKind::Wws => DirtyPattern::Wws {
            rate,
            wws: if rate > 0.0 { span } else { 0.0 },
        },
        DirtyKind::Uniform => DirtyPattern::Uniform { rate, span },
        DirtyKind::HotCold => DirtyPattern::HotCold {
            rate,
            hot: d.hot.map(|h| h.as_f64()).unwrap_or(0.0),
            hot_share: d.hot_share.unwrap_or(0.0),
            span: ram.as_f64(),
        },
        DirtyKind::Trace => DirtyPattern::Trace {
            per_second: d
                .trace
                .as_ref()
                .map(|t| t.iter().map(|r| r.as_bytes_per_sec()).collect())
                .unwrap_or_default(),
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

fn expand_name(pattern: &str, i: u32, type_name: &str) -> String {
    let mut s = pattern.replace("{i}", &i.to_string());
    s = s.replace("{type}", type_name);
    if s == pattern && !pattern.contains("{i}") {
        format!("{pattern}-{i}")
    } else {
        s
    }
}

impl Simulation {
    /// Builds the model from a loaded scenario. Errors name the scenario field at fault.
    pub fn build(loaded: &Loaded) -> Result<Simulation, ScenarioError> {
        let sc = loaded.scenario.clone();
        let mut hosts = Hosts {
            types: sc.host_types.iter().map(host_type_from).collect(),
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
            if is_trace && next_trace + count as usize > trace_vms {
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
                trace_idx.push(if is_trace {
                    next_trace += 1;
                    // A trace that records lifetimes (Azure) starts and stops its VMs, within
                    // the group's own window.
                    if let Some((created, deleted)) =
                        trace.as_ref().and_then(|t| t.vms[next_trace - 1].lifetime)
                    {
                        start = start.max(created);
                        stop = Some(stop.map_or(deleted, |s| s.min(deleted)).max(start));
                    }
                    (next_trace - 1) as u32
                } else {
                    u32::MAX
                });
                let name = if v.literal_name {
                    v.name.clone()
                } else {
                    expand_name(&v.name, i, "")
                };
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

        if trace_vms > next_trace {
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
            failures.push(ha::Failure {
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
            failures.extend(ha::draw_failures(
                sc.seed,
                hosts.len(),
                sc.horizon.time(),
                r.mtbf.time(),
                r.repair.map(|d| d.time()),
                r.restart_delay.time(),
            ));
        }
        let link_capacity: Vec<f64> = net.links.iter().map(|l| l.capacity).collect();
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
        let policy = policy::build(&sc.policy, sc.seed);
        // Histories exist only for policies that read them (see `Policy::uses_history`).
        let (hist_vms, hist_hosts) = if policy.uses_history() {
            (n_vms, n_hosts)
        } else {
            (0, 0)
        };
        Ok(Simulation {
            horizon: sc.horizon.time(),
            policy,
            maintenance_checked: vec![false; maintenance.len()],
            maintenance_restored: vec![false; maintenance.len()],
            maintenance,
            maintenance_missed: 0,
            ha: ha::Ha {
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
            traffic_demand: 0.0,
            traffic_delivered: 0.0,
            timeline: Vec::new(),
            last_sample: None,
            peak_active: 0,
            migs: Migrations::new(n_hosts),
            trace,
            trace_idx,
            migration_shortfall: 0.0,
            vm_history: vec![std::collections::VecDeque::new(); hist_vms],
            host_history: vec![std::collections::VecDeque::new(); hist_hosts],
            power_log: Vec::new(),
            requests,
            traffic_samples: Vec::new(),
            link_capacity,
        })
    }

    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    pub fn horizon(&self) -> SimTime {
        self.horizon
    }

    /// Runs to the horizon. `progress` is called now and then with the fraction of simulated
    /// time done.
    pub fn run(
        &mut self,
        rec: &mut dyn Recorder,
        progress: &mut dyn FnMut(f64),
    ) -> io::Result<Summary> {
        self.start();
        let horizon_s = self.horizon.as_secs_f64();
        while self.step(rec)? {
            if self.queue.processed().is_multiple_of(4096) {
                progress(self.now().as_secs_f64() / horizon_s);
            }
        }
        progress(1.0);
        self.finish_run(rec)
    }

    /// Schedules the run's first events. Call once, before [`Simulation::step`].
    pub fn start(&mut self) {
        // VMs that start at 0 come first, so that the first workload step and sample see them.
        for (i, &s) in self.vms.start.iter().enumerate() {
            if s < self.horizon {
                self.queue.schedule(s, Event::VmStart(VmId(i as u32)));
            }
        }
        self.queue.schedule(SimTime::ZERO, Event::WorkloadStep);
        self.queue.schedule(SimTime::ZERO, Event::Sample);
        self.queue
            .schedule(self.scenario.policy.interval.time(), Event::PolicyTick);
        for (i, s) in self.vms.stop.iter().enumerate() {
            if let Some(s) = *s
                && s < self.horizon
            {
                self.queue.schedule(s, Event::VmStop(VmId(i as u32)));
            }
        }
        for b in self.scenario.network.background.clone() {
            let l = self.net.link_by_name(&b.link).expect("checked at build");
            self.net
                .start_flow(SimTime::ZERO, vec![l], None, Some(b.rate));
        }
        for (i, f) in self.scenario.faults.iter().enumerate() {
            self.queue.schedule(
                f.at.time(),
                Event::LinkFault {
                    fault: i,
                    up: false,
                },
            );
            if let Some(d) = f.duration {
                self.queue.schedule(
                    f.at.time() + d.time(),
                    Event::LinkFault { fault: i, up: true },
                );
            }
        }
        for (i, r) in self.requests.iter().enumerate() {
            if r.at < self.horizon {
                self.queue.schedule(r.at, Event::MigrationRequest(i));
            }
        }
        for (i, f) in self.failures.iter().enumerate() {
            if f.at < self.horizon {
                self.queue.schedule(f.at, Event::HostFail(i));
                if let Some(r) = f.repair {
                    self.queue.schedule(f.at + r, Event::HostRepair(i));
                }
            }
        }
        if self.scenario.outputs.traffic_interval.is_some() {
            self.queue.schedule(SimTime::ZERO, Event::TrafficSample);
        }
        self.queue.schedule(self.horizon, Event::End);
    }

    /// Processes one event. Returns false once the horizon is reached.
    pub fn step(&mut self, rec: &mut dyn Recorder) -> io::Result<bool> {
        match self.queue.pop() {
            Some((t, ev)) if ev != Event::End && t <= self.horizon => {
                self.handle(t, ev, rec)?;
                self.after_event(t);
                for (at, subject, detail) in std::mem::take(&mut self.migs.log) {
                    if rec.wants_events() {
                        rec.event(at, "migration", &subject, &detail)?;
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Closes the accounts at the horizon and returns the summary.
    pub fn finish_run(&mut self, rec: &mut dyn Recorder) -> io::Result<Summary> {
        let end = self.horizon;
        self.accrue_all(end);
        if self.last_sample != Some(end) {
            self.sample(end, rec)?;
        }
        let summary = self.summary();
        for (at, subject, detail) in std::mem::take(&mut self.migs.log) {
            if rec.wants_events() {
                rec.event(at, "migration", &subject, &detail)?;
            }
        }
        Ok(summary)
    }

    /// Checks the model's invariants: every VM on exactly one existing host, host books in step
    /// with their VMs, no host or link above its capacity. Returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let nh = self.hosts.len();
        let mut seen = vec![0u32; self.vms.len()];
        for (h, list) in self.host_vms.iter().enumerate() {
            if list.len() != self.hosts.vm_count[h] as usize {
                return Err(format!(
                    "host {} counts {} VMs but lists {}",
                    self.hosts.name[h],
                    self.hosts.vm_count[h],
                    list.len()
                ));
            }
            let mut alloc = 0.0;
            let mut ram = 0u64;
            for &v in list {
                if self.vms.host[v.idx()].idx() != h {
                    return Err(format!(
                        "VM {} is listed on {} but says it is on host #{}",
                        self.vms.name[v.idx()],
                        self.hosts.name[h],
                        self.vms.host[v.idx()].0
                    ));
                }
                seen[v.idx()] += 1;
                alloc += self.vms.alloc[v.idx()];
                ram += self.vms.ram[v.idx()].0;
                if self.vms.alloc[v.idx()] > self.vms.demand[v.idx()] * (1.0 + 1e-9) + 1e-9 {
                    return Err(format!(
                        "VM {} gets more CPU than it asks",
                        self.vms.name[v.idx()]
                    ));
                }
            }
            let cap = self.hosts.cpu_capacity[h];
            let overhead = self.migs.overhead[h];
            if alloc + overhead > cap * (1.0 + 1e-9) {
                return Err(format!(
                    "host {} allocates {alloc} MIPS to VMs and {overhead} to migrations of {cap}",
                    self.hosts.name[h]
                ));
            }
            let alloc = alloc + overhead;
            if (alloc - self.hosts.cpu_alloc[h]).abs() > 1e-6 * cap.max(1.0) {
                return Err(format!(
                    "host {} books {} MIPS but its VMs get {alloc}",
                    self.hosts.name[h], self.hosts.cpu_alloc[h]
                ));
            }
            let reserved = self.migs.reserved[h];
            if ram != self.hosts.ram_used[h].0
                || ram + reserved > self.hosts.ram(HostId(h as u32)).0
            {
                return Err(format!(
                    "host {} RAM books {} against VMs {} and capacity {}",
                    self.hosts.name[h],
                    self.hosts.ram_used[h],
                    Bytes(ram),
                    self.hosts.ram(HostId(h as u32))
                ));
            }
        }
        if let Some(v) = seen.iter().position(|&c| c != 1) {
            return Err(format!(
                "VM {} is on {} hosts (of {nh})",
                self.vms.name[v], seen[v]
            ));
        }
        let mut net = self.net.clone();
        net.settle();
        for (l, load) in net.link_load().iter().enumerate() {
            let cap = self.net.links[l].capacity;
            if *load > cap * (1.0 + 1e-9) {
                return Err(format!(
                    "link {} carries {load} B/s of {cap}",
                    self.net.links[l].name
                ));
            }
        }
        Ok(())
    }

    fn handle(&mut self, t: SimTime, ev: Event, rec: &mut dyn Recorder) -> io::Result<()> {
        match ev {
            Event::WorkloadStep => {
                self.workload_step(t);
                let next = t + self.scenario.workload.step.time();
                self.queue.schedule(next, Event::WorkloadStep);
            }
            Event::Sample => {
                self.accrue_all(t);
                self.sample(t, rec)?;
                let next = t + self.scenario.outputs.sample_interval.time();
                self.queue.schedule(next, Event::Sample);
            }
            Event::PolicyTick => {
                if self.policy.uses_history() {
                    self.record_history();
                }
                let mut unavailable =
                    policy::maintenance::unavailable(&self.maintenance, self.hosts.len(), t);
                for (u, &f) in unavailable.iter_mut().zip(&self.ha.failed) {
                    *u |= f;
                }
                self.maintenance_tick(t, rec)?;
                if unavailable.iter().any(|&u| u) {
                    let migrating = self.migrating_flags();
                    let view = self.view(t, &migrating, &unavailable);
                    let decisions = policy::maintenance::drain(&view, &unavailable);
                    for d in decisions {
                        self.apply(t, d, rec)?;
                    }
                }
                let migrating = self.migrating_flags();
                let decisions = {
                    // Built field by field: the policy is borrowed mutably beside the view.
                    let view = ClusterView {
                        now: t,
                        hosts: &self.hosts,
                        vms: &self.vms,
                        host_vms: &self.host_vms,
                        migrating: &migrating,
                        reserved: &self.migs.reserved,
                        vm_history: &self.vm_history,
                        host_history: &self.host_history,
                        unavailable: &unavailable,
                    };
                    self.policy.decide(&view)
                };
                for d in decisions {
                    let host = match d {
                        Decision::SetPower { host, .. } => host,
                        Decision::Migrate { to, .. } => to,
                    };
                    if unavailable[host.idx()] {
                        // Maintenance overrides the policy.
                        if rec.wants_events() {
                            rec.event(
                                t,
                                "refused",
                                &self.hosts.name[host.idx()],
                                "in maintenance",
                            )?;
                        }
                        continue;
                    }
                    self.apply(t, d, rec)?;
                }
                let next = t + self.scenario.policy.interval.time();
                self.queue.schedule(next, Event::PolicyTick);
            }
            Event::VmStart(v) => self.vm_start(t, v, rec)?,
            Event::VmStop(v) => {
                if self.vms.state[v.idx()] != VmState::Inactive {
                    if let Some(slot) = self.migs.slot_of(v) {
                        self.abort(
                            t,
                            slot,
                            crate::migration::Outcome::Failed,
                            "the VM stopped".into(),
                        );
                    }
                    let h = self.vms.host[v.idx()];
                    self.stop_vm_traffic(t, v);
                    self.set_vm_state(t, v, VmState::Inactive);
                    self.refresh_host(t, h);
                    if rec.wants_events() {
                        rec.event(t, "vm_stop", &self.vms.name[v.idx()], "")?;
                    }
                }
            }
            Event::PowerSettled { host, generation } => {
                if self.hosts.transition_gen[host.idx()] == generation {
                    self.power_settled(t, host, rec)?;
                }
            }
            Event::HostFail(i) => {
                let (host, delay) = (self.failures[i].host, self.failures[i].restart_delay);
                self.host_fail(t, host, delay, rec)?;
            }
            Event::HostRepair(i) => self.host_repair(t, self.failures[i].host, rec)?,
            Event::HaRestart => {
                // Retry at the shortest restart delay of the scenario.
                let delay = self
                    .failures
                    .iter()
                    .map(|f| f.restart_delay)
                    .min()
                    .expect("restarts follow failures");
                self.ha_restart(t, delay, rec)?;
            }
            Event::LinkFault { fault, up } => {
                let name = self.scenario.faults[fault].link.clone();
                let l = self.net.link_by_name(&name).expect("checked at build");
                if rec.wants_events() {
                    rec.event(t, "link", &name, if up { "repaired" } else { "failed" })?;
                }
                if up {
                    let cap = self.link_capacity[l.0 as usize];
                    self.net.set_link_capacity(t, l, cap);
                } else {
                    self.net.set_link_capacity(t, l, 0.0);
                    self.fail_migrations_on(t, l, &name);
                }
            }
            Event::MigrationRequest(i) => {
                let r = self.requests[i].clone();
                if rec.wants_events() {
                    rec.event(
                        t,
                        "migrate",
                        &self.vms.name[r.vm.idx()],
                        &format!("to {}", self.hosts.name[r.to.idx()]),
                    )?;
                }
                self.request_migration(t, r);
            }
            Event::MigrationCheck { slot, generation } => self.migration_check(t, slot, generation),
            Event::MigrationTimeout { slot, record } => self.migration_timeout(t, slot, record),
            Event::MigrationResume { slot, generation } => {
                self.migration_resume(t, slot, generation)
            }
            Event::MigrationActivate { slot, generation } => {
                self.migration_activate(t, slot, generation)
            }
            Event::NetworkWake { generation } => {
                if generation == self.net.generation() {
                    for f in self.net.drained(t) {
                        self.migration_flow_drained(t, f);
                    }
                }
            }
            Event::TrafficSample => {
                self.net.settle();
                for (i, f) in self.vm_flow.iter().enumerate() {
                    let rate = f
                        .and_then(|f| self.net.flow(f))
                        .map(|fl| fl.rate * 8.0 / 1e6)
                        .unwrap_or(0.0);
                    if self.vms.groups[self.vms.group[i] as usize]
                        .traffic
                        .is_some()
                    {
                        self.traffic_samples.push(TrafficSample {
                            time_s: t.as_secs_f64(),
                            vm: self.vms.name[i].clone(),
                            mbit_s: rate,
                        });
                    }
                }
                if let Some(d) = self.scenario.outputs.traffic_interval {
                    self.queue.schedule(t + d.time(), Event::TrafficSample);
                }
            }
            Event::End => {}
        }
        Ok(())
    }

    /// After every event: bring flow rates up to date, let migration CPU costs follow the new
    /// rates, and schedule the next flow completion.
    fn after_event(&mut self, t: SimTime) {
        for _ in 0..4 {
            if !self.net.is_dirty() {
                break;
            }
            self.net.settle();
            self.update_migration_cpu(t);
        }
        self.net.settle();
        if let Some(at) = self.net.next_completion() {
            let generation = self.net.generation();
            self.queue
                .schedule(at.max(t), Event::NetworkWake { generation });
        }
    }

    pub fn migration_records(&self) -> &[crate::migration::MigrationRecord] {
        &self.migs.records
    }

    pub fn traffic_samples(&self) -> &[TrafficSample] {
        &self.traffic_samples
    }

    fn apply(&mut self, t: SimTime, d: Decision, rec: &mut dyn Recorder) -> io::Result<()> {
        match d {
            Decision::SetPower { host, target } => self.request_power(t, host, target, rec),
            Decision::Migrate { vm, to } => {
                if rec.wants_events() {
                    rec.event(
                        t,
                        "migrate",
                        &self.vms.name[vm.idx()],
                        &format!(
                            "to {} (policy {})",
                            self.hosts.name[to.idx()],
                            self.policy.name()
                        ),
                    )?;
                }
                self.request_migration(t, Request { vm, to, at: t });
                Ok(())
            }
        }
    }

    /// Which VMs are being migrated or wait to be.
    fn migrating_flags(&self) -> Vec<bool> {
        let mut m = vec![false; self.vms.len()];
        for v in self.migs.migrating_vms() {
            m[v.idx()] = true;
        }
        for r in self.migs.waiting_vms() {
            m[r.idx()] = true;
        }
        m
    }

    fn view<'a>(
        &'a self,
        t: SimTime,
        migrating: &'a [bool],
        unavailable: &'a [bool],
    ) -> ClusterView<'a> {
        ClusterView {
            now: t,
            hosts: &self.hosts,
            vms: &self.vms,
            host_vms: &self.host_vms,
            migrating,
            reserved: &self.migs.reserved,
            vm_history: &self.vm_history,
            host_history: &self.host_history,
            unavailable,
        }
    }

    /// Counts hosts still busy when their window opens, and switches hosts back on when it
    /// closes.
    fn maintenance_tick(&mut self, t: SimTime, rec: &mut dyn Recorder) -> io::Result<()> {
        for w in 0..self.maintenance.len() {
            let win = &self.maintenance[w];
            if !self.maintenance_checked[w] && t >= win.at {
                self.maintenance_checked[w] = true;
                let busy = win
                    .hosts
                    .iter()
                    .filter(|&&h| !self.host_vms[h].is_empty())
                    .count();
                self.maintenance_missed += busy as u32;
            }
            if !self.maintenance_restored[w] && t >= win.end {
                self.maintenance_restored[w] = true;
                let back: Vec<usize> = win.hosts.clone();
                for h in back {
                    self.request_power(t, HostId(h as u32), PowerTarget::On, rec)?;
                }
            }
        }
        Ok(())
    }

    /// Appends this tick's VM demands and host utilisations to the policy's history.
    fn record_history(&mut self) {
        for i in 0..self.vms.len() {
            let d = if self.vms.state[i].runs() {
                self.vms.util[i] * self.vms.vcpus[i] as f64 * self.vms.vcpu_mips[i]
            } else {
                0.0
            };
            let h = &mut self.vm_history[i];
            h.push_back(d);
            if h.len() > policy::HISTORY {
                h.pop_front();
            }
        }
        for h in 0..self.hosts.len() {
            let d: f64 = self.host_vms[h]
                .iter()
                .map(|v| self.vm_history[v.idx()].back().copied().unwrap_or(0.0))
                .sum();
            let hist = &mut self.host_history[h];
            hist.push_back(d / self.hosts.cpu_capacity[h]);
            if hist.len() > policy::HISTORY {
                hist.pop_front();
            }
        }
    }

    /// Starts a power transition if it applies to the host's state.
    pub fn request_power(
        &mut self,
        t: SimTime,
        h: HostId,
        target: PowerTarget,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        if self.ha.failed[h.idx()] {
            // A failed host stays dark until it is repaired.
            return Ok(());
        }
        let from = self.hosts.state[h.idx()];
        let states = self.hosts.host_type(h).states.clone();
        let Some((via, dur, to)) = transition(from, target, &states) else {
            return Ok(());
        };
        self.hosts.accrue(h, t);
        if from == PowerState::On && via != PowerState::On {
            // Leaving "on" is a shutdown for the SLA's host-shutdown count (Beloglazov & Buyya
            // count active → inactive transitions).
            self.hosts.shutdowns[h.idx()] += 1;
        }
        self.power_log.push(PowerChange {
            time_s: t.as_secs_f64(),
            host: h,
            from,
            via,
            to,
            duration_s: dur.as_secs_f64(),
        });
        self.hosts.state[h.idx()] = via;
        self.hosts.target[h.idx()] = to;
        self.hosts.transition_gen[h.idx()] += 1;
        let generation = self.hosts.transition_gen[h.idx()];
        self.refresh_host(t, h);
        if rec.wants_events() {
            rec.event(
                t,
                "power",
                &self.hosts.name[h.idx()],
                &format!(
                    "{} -> {} ({})",
                    from.as_str(),
                    via.as_str(),
                    format_duration(dur)
                ),
            )?;
        }
        self.queue.schedule(
            t + dur,
            Event::PowerSettled {
                host: h,
                generation,
            },
        );
        Ok(())
    }

    fn power_settled(&mut self, t: SimTime, h: HostId, rec: &mut dyn Recorder) -> io::Result<()> {
        let to = self.hosts.target[h.idx()];
        self.hosts.accrue(h, t);
        self.hosts.state[h.idx()] = to;
        if rec.wants_events() {
            rec.event(
                t,
                "power",
                &self.hosts.name[h.idx()],
                &format!("now {}", to.as_str()),
            )?;
        }
        if to == PowerState::On {
            // VMs that were waiting for this host start now.
            let waiting: Vec<VmId> = self.host_vms[h.idx()]
                .iter()
                .copied()
                .filter(|v| self.vms.state[v.idx()] == VmState::Suspended)
                .collect();
            for v in waiting {
                self.activate(t, v);
                if rec.wants_events() {
                    rec.event(t, "vm_start", &self.vms.name[v.idx()], "after host boot")?;
                }
            }
        }
        self.refresh_host(t, h);
        Ok(())
    }

    fn vm_start(&mut self, t: SimTime, v: VmId, rec: &mut dyn Recorder) -> io::Result<()> {
        let h = self.vms.host[v.idx()];
        match self.hosts.state[h.idx()] {
            PowerState::On => {
                self.activate(t, v);
                self.refresh_host(t, h);
                if rec.wants_events() {
                    rec.event(
                        t,
                        "vm_start",
                        &self.vms.name[v.idx()],
                        &self.hosts.name[h.idx()],
                    )?;
                }
            }
            _ => {
                // The host is off or asleep: the VM waits, suspended, while it boots.
                self.set_vm_state(t, v, VmState::Suspended);
                if rec.wants_events() {
                    rec.event(t, "vm_wait", &self.vms.name[v.idx()], "host not on")?;
                }
                self.request_power(t, h, PowerTarget::On, rec)?;
            }
        }
        Ok(())
    }

    /// The VM's nominal utilisation at `t`, before noise.
    fn util_at(&self, i: usize, t: SimTime) -> f64 {
        let g = &self.vms.groups[self.vms.group[i] as usize];
        let u = match (&g.cpu, &self.trace) {
            (CpuModel::Trace, Some(tr)) => tr.vms[self.trace_idx[i] as usize].cpu_at(t),
            (m, _) => m.at(t),
        };
        u * self.scenario.workload.cpu_scale
    }

    fn activate(&mut self, t: SimTime, v: VmId) {
        let u = self.util_at(v.idx(), t);
        self.set_vm_state(t, v, VmState::Active);
        self.vms.util[v.idx()] = u.clamp(0.0, 1.0);
        self.start_vm_traffic(t, v);
    }

    /// Starts the VM's own traffic from its current host, if it has any.
    fn start_vm_traffic(&mut self, t: SimTime, v: VmId) {
        let g = self.vms.group[v.idx()] as usize;
        if self.vm_flow[v.idx()].is_some() {
            return;
        }
        if let Some(rate) = self.vms.groups[g].traffic {
            self.accrue_vm(v, t);
            let h = self.vms.host[v.idx()];
            let path = self.net.path(Endpoint::Host(h.0), Endpoint::External);
            let f = self.net.start_flow(t, path, None, Some(rate));
            self.vm_flow[v.idx()] = Some(f);
        }
    }

    /// Stops the VM's own traffic (it paused, stopped, or is about to move).
    fn stop_vm_traffic(&mut self, t: SimTime, v: VmId) {
        self.accrue_vm(v, t);
        if let Some(f) = self.vm_flow[v.idx()].take()
            && let Some(flow) = self.net.stop_flow(t, f)
        {
            self.traffic_delivered += flow.delivered;
        }
    }

    /// For CPU-bound traffic, the flow's cap follows the share of its demand the VM gets.
    fn follow_cpu(&mut self, t: SimTime, v: VmId) {
        let i = v.idx();
        let g = self.vms.group[i] as usize;
        if !self.scenario.vms[g].traffic_follows_cpu {
            return;
        }
        let (Some(f), Some(rate)) = (self.vm_flow[i], self.vms.groups[g].traffic) else {
            return;
        };
        let share = if self.vms.demand[i] > 0.0 {
            self.vms.alloc[i] / self.vms.demand[i]
        } else {
            1.0
        };
        let cap = Bandwidth::bytes_per_sec(rate.as_bytes_per_sec() * share);
        let current = self.net.flow(f).map(|fl| fl.cap).unwrap_or(0.0);
        if (current - cap.as_bytes_per_sec()).abs() > 1e-6 * current.max(1.0) {
            self.net.set_cap(t, f, Some(cap));
        }
    }

    fn set_vm_state(&mut self, t: SimTime, v: VmId, s: VmState) {
        self.accrue_vm(v, t);
        self.vms.state[v.idx()] = s;
        if !s.runs() {
            self.vms.demand[v.idx()] = 0.0;
            self.vms.alloc[v.idx()] = 0.0;
        }
    }

    fn accrue_vm(&mut self, v: VmId, t: SimTime) {
        let i = v.idx();
        let dt = (t - self.vm_last[i]).as_secs_f64();
        if dt > 0.0 {
            self.vms.requested_mips_s[i] += self.vms.demand[i] * dt;
            self.vms.shortfall_mips_s[i] += (self.vms.demand[i] - self.vms.alloc[i]) * dt;
            if self.vms.state[i] == VmState::Migrating {
                self.migration_shortfall += (self.vms.demand[i] - self.vms.alloc[i]) * dt;
            }
            if let Some(g) = self.vms.groups.get(self.vms.group[i] as usize)
                && let Some(rate) = g.traffic
                && self.vm_flow[i].is_some()
            {
                self.traffic_demand += rate.as_bytes_per_sec() * dt;
            }
        }
        self.vm_last[i] = t;
    }

    /// What VM `i` asks for now, on a host that is `on` with cores of `core` MIPS.
    fn demand_of(&self, i: usize, on: bool, core: f64) -> f64 {
        if on && self.vms.state[i].runs() {
            vm_demand(
                self.vms.util[i],
                self.vms.vcpus[i],
                self.vms.vcpu_mips[i],
                core,
            )
        } else {
            0.0
        }
    }

    /// Recomputes demand, shares and power of one host after its VMs changed.
    fn refresh_host(&mut self, t: SimTime, h: HostId) {
        self.hosts.accrue(h, t);
        let core = self.hosts.host_type(h).core_mips;
        let on = self.hosts.state[h.idx()] == PowerState::On;
        let vms_on_host = std::mem::take(&mut self.host_vms[h.idx()]);
        let demands: Vec<f64> = vms_on_host
            .iter()
            .map(|v| self.demand_of(v.idx(), on, core))
            .collect();
        let demand: f64 = demands.iter().sum();
        let f = share_factor(demand, self.vm_capacity(h));
        for (&v, &d) in vms_on_host.iter().zip(&demands) {
            self.accrue_vm(v, t);
            let i = v.idx();
            self.vms.demand[i] = d;
            self.vms.alloc[i] = d * f;
        }
        self.hosts.cpu_demand[h.idx()] = demand + self.migs.overhead[h.idx()];
        self.hosts.cpu_alloc[h.idx()] = demand * f + self.migs.overhead[h.idx()];
        self.hosts.refresh_power(h);
        for &v in &vms_on_host {
            self.follow_cpu(t, v);
        }
        self.host_vms[h.idx()] = vms_on_host;
    }

    /// CPU left for VMs on `h` once migration work has taken its share: the migration daemon
    /// (Xen's dom0, QEMU's migration thread) runs ahead of the guests.
    fn vm_capacity(&self, h: HostId) -> f64 {
        (self.hosts.cpu_capacity[h.idx()] - self.migs.overhead[h.idx()]).max(0.0)
    }

    /// Every VM's demand is re-evaluated at once, in passes over contiguous arrays.
    fn workload_step(&mut self, t: SimTime) {
        let n = self.vms.len();
        // 1. Close every VM's and host's interval at the old values.
        for i in 0..n {
            self.accrue_vm(VmId(i as u32), t);
        }
        self.accrue_all(t);
        // 2. New utilisation. Noise is drawn for every VM of a noisy group at every step, in id
        //    order, so that the stream does not depend on which VMs happen to run.
        for i in 0..n {
            let mut u = self.util_at(i, t);
            let g = &self.vms.groups[self.vms.group[i] as usize];
            if g.cpu_noise > 0.0 {
                let normal = Normal::new(0.0, g.cpu_noise).expect("noise validated >= 0");
                u += normal.sample(&mut self.rng_workload);
            }
            self.vms.util[i] = u.clamp(0.0, 1.0);
        }
        // 3. Demand per VM, summed per host.
        let nh = self.hosts.len();
        let mut host_demand = vec![0.0f64; nh];
        for i in 0..n {
            let h = self.vms.host[i].idx();
            let core = self.hosts.types[self.hosts.host_type[h] as usize].core_mips;
            let d = self.demand_of(i, self.hosts.state[h] == PowerState::On, core);
            self.vms.demand[i] = d;
            host_demand[h] += d;
        }
        // 4. Shares per host, then allocation per VM.
        let factor: Vec<f64> = (0..nh)
            .map(|h| share_factor(host_demand[h], self.vm_capacity(HostId(h as u32))))
            .collect();
        for i in 0..n {
            let h = self.vms.host[i].idx();
            self.vms.alloc[i] = self.vms.demand[i] * factor[h];
        }
        for h in 0..nh {
            let overhead = self.migs.overhead[h];
            self.hosts.cpu_demand[h] = host_demand[h] + overhead;
            self.hosts.cpu_alloc[h] = host_demand[h] * factor[h] + overhead;
            self.hosts.refresh_power(HostId(h as u32));
        }
        if self.scenario.vms.iter().any(|g| g.traffic_follows_cpu) {
            for i in 0..n {
                self.follow_cpu(t, VmId(i as u32));
            }
        }
    }

    fn accrue_all(&mut self, t: SimTime) {
        for h in 0..self.hosts.len() {
            self.hosts.accrue(HostId(h as u32), t);
        }
    }

    fn sample(&mut self, t: SimTime, rec: &mut dyn Recorder) -> io::Result<()> {
        rec.host_sample(t, &self.hosts)?;
        let row = TimelineRow::capture(t.as_secs_f64(), &self.hosts, &self.vms);
        self.peak_active = self.peak_active.max(row.active_hosts);
        self.timeline.push(row);
        self.last_sample = Some(t);
        Ok(())
    }

    pub fn power_changes(&self) -> &[PowerChange] {
        &self.power_log
    }

    pub fn timeline(&self) -> &[TimelineRow] {
        &self.timeline
    }

    fn summary(&mut self) -> Summary {
        let end = self.horizon;
        for i in 0..self.vms.len() {
            self.accrue_vm(VmId(i as u32), end);
        }
        self.net.advance(end);
        self.net.settle();
        let mut delivered = self.traffic_delivered;
        for f in self.vm_flow.iter().flatten() {
            if let Some(flow) = self.net.flow(*f) {
                delivered += flow.delivered;
            }
        }
        let energy_j: f64 = self.hosts.energy_j.iter().sum();
        let horizon_s = end.as_secs_f64();
        let active_s: f64 = self.hosts.active_s.iter().sum();
        let overload_s: f64 = self.hosts.overload_s.iter().sum();
        // Hosts whose demand exceeds capacity have allocation below demand: the SLATAH time.
        let sla_s = overload_s;
        let requested: f64 = self.vms.requested_mips_s.iter().sum();
        let short: f64 = self.vms.shortfall_mips_s.iter().sum();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        // Migrations still under way at the horizon, or still waiting for a slot, are recorded
        // as unfinished, not dropped; closing one must not start a waiting one.
        self.migs.closing = true;
        for slot in 0..self.migs.active.len() {
            if self.migs.active[slot].is_some() {
                self.close_unfinished(end, slot);
            }
        }
        for r in std::mem::take(&mut self.migs.waiting) {
            let mut rec = self.new_record(&r, r.at);
            rec.outcome = Outcome::Unfinished;
            rec.reason = "still waiting for a migration slot at the horizon".into();
            rec.total_time_s = end.as_secs_f64() - r.at.as_secs_f64();
            self.migs.records.push(rec);
        }
        let recs = &self.migs.records;
        let completed_downtimes: Vec<f64> = recs
            .iter()
            .filter(|r| r.outcome == Outcome::Completed)
            .map(|r| r.downtime_ms)
            .collect();
        Summary {
            scenario: self.scenario.name.clone(),
            seed: self.scenario.seed,
            horizon_s,
            hosts: self.hosts.len(),
            vms: self.vms.len(),
            policy: self.policy.name().to_string(),
            hypervisor: format!("{:?}", self.scenario.migration.hypervisor).to_lowercase(),
            energy_kwh: energy_j / 3.6e6,
            mean_power_w: ratio(energy_j, horizon_s),
            peak_active_hosts: self.peak_active,
            mean_active_hosts: ratio(active_s, horizon_s),
            host_shutdowns: self.hosts.shutdowns.iter().sum(),
            migrations: recs.len() as u32,
            failed_migrations: recs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Cancelled))
                .count() as u32,
            cancelled_migrations: recs
                .iter()
                .filter(|r| r.outcome == Outcome::Cancelled)
                .count() as u32,
            migrated_bytes: recs.iter().map(|r| r.transferred_bytes).sum::<f64>() as u64,
            total_downtime_s: recs.iter().map(|r| r.downtime_ms).sum::<f64>() / 1e3,
            downtime_p50_ms: metrics::nearest_rank(&completed_downtimes, 0.5),
            downtime_p95_ms: metrics::nearest_rank(&completed_downtimes, 0.95),
            downtime_max_ms: completed_downtimes.iter().copied().fold(0.0, f64::max),
            mean_migration_time_s: {
                let done: Vec<f64> = recs
                    .iter()
                    .filter(|r| r.outcome == Outcome::Completed)
                    .map(|r| r.total_time_s)
                    .collect();
                if done.is_empty() {
                    0.0
                } else {
                    done.iter().sum::<f64>() / done.len() as f64
                }
            },
            cpu_unmet_fraction: ratio(short, requested),
            slatah: ratio(sla_s, active_s),
            pdm: ratio(self.migration_shortfall, requested),
            slav: ratio(sla_s, active_s) * ratio(self.migration_shortfall, requested),
            esv: energy_j / 3.6e6
                * ratio(sla_s, active_s)
                * ratio(self.migration_shortfall, requested),
            overload_time_fraction: ratio(overload_s, active_s),
            traffic_delivered_fraction: if self.traffic_demand > 0.0 {
                (delivered / self.traffic_demand).min(1.0)
            } else {
                1.0
            },
            maintenance_missed: self.maintenance_missed,
            host_failures: self.ha.failures,
            ha_restarts: self.ha.restarts,
            ha_downtime_s: self.ha.downtime_s,
            vms_down_at_end: self.ha.queue.len() as u32,
            migration_energy_kwh: {
                let m = &self.scenario.migration;
                recs.iter()
                    .map(|r| {
                        m.energy_j_per_mb * r.transferred_bytes / (1u64 << 20) as f64
                            + m.energy_j_fixed
                    })
                    .sum::<f64>()
                    / 3.6e6
                    + 0.0
            },
            baseline_energy_kwh: None,
            energy_saved_kwh: None,
            energy_saved_pct: None,
            vm_states_at_end: vm_state_counts(&self.vms),
            events: self.queue.processed(),
            migsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Places every VM on a host at build time. Returns each host's VM list, or the VM group that
/// did not fit with a message.
fn place_initial(
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
