//! A run: the model built from a scenario, driven by the event engine.
//!
//! One file per concern, each an `impl Simulation` block over the state declared here:
//! `build` (scenario to arrays, initial placement), `events` (what each event means),
//! `workload` (demand, CPU shares, the VMs' traffic, samples), `power` (the host power-state
//! machine), `tick` (the policy tick and maintenance windows), `migrations` (pre-copy and the
//! other algorithms on the shared network), `failures` (host failures and HA restarts),
//! `invariants` and `summary`. The engine only orders events; this module gives them
//! meaning.

mod active;
mod build;
mod events;
mod failures;
mod invariants;
mod migrations;
mod power;
mod record;
mod summary;
mod tick;
mod workload;

use std::io;

use rand_chacha::ChaCha8Rng;

use crate::engine::{EventQueue, SimTime};
use crate::metrics::{Summary, TimelineRow};
use crate::model::host::{HostId, Hosts};
use crate::model::network::{FlowId, Network};
use crate::model::power::PowerState;
use crate::model::vm::{VmId, Vms};
use crate::policy::{self, Policy};
use crate::scenario::Scenario;
use crate::units::{Bandwidth, Volume};
pub use record::{NullRecorder, Recorder};

pub use migrations::{Migrations, Request};

/// Simulation events. The engine orders them; `Simulation::handle` (in `events`) interprets them.
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
    /// The destination of the migration in `slot` is prepared: pre-copy starts.
    MigrationSetUp {
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
    failures: Vec<failures::Failure>,
    ha: failures::Ha,
    vm_flow: Vec<Option<FlowId>>,
    vm_last: Vec<SimTime>,
    traffic_demand: Volume,
    traffic_delivered: Volume,
    timeline: Vec<TimelineRow>,
    last_sample: Option<SimTime>,
    peak_active: u32,
    pub migs: Migrations,
    requests: Vec<Request>,
    traffic_samples: Vec<TrafficSample>,
    /// Each link's capacity as built, to restore after a fault.
    link_capacity: Vec<Bandwidth>,
    trace: Option<crate::trace::Trace>,
    /// The trace VM that drives each VM, or `u32::MAX`.
    trace_idx: Vec<u32>,
    /// MIPS·s of demand unmet while VMs were migrating (the PDM numerator).
    migration_shortfall: f64,
    /// The network wake-up already in the queue, as (time, network generation): one is
    /// enough, where scheduling one after every event filled the queue with stale copies that
    /// each scheduled another.
    pending_wake: Option<(SimTime, u64)>,
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

impl Simulation {
    /// Replaces the scenario's policy with one of the caller's, before the run starts: the
    /// way a policy written outside this crate is tried on a scenario
    /// (`examples/custom_policy.rs`). The scenario's `[policy] interval` still sets the ticks.
    pub fn with_policy(mut self, policy: Box<dyn Policy>) -> Simulation {
        (self.vm_history, self.host_history) =
            build::histories(policy.as_ref(), self.vms.len(), self.hosts.len());
        self.policy = policy;
        self
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

    pub fn migration_records(&self) -> &[crate::migration::MigrationRecord] {
        &self.migs.records
    }

    pub fn traffic_samples(&self) -> &[TrafficSample] {
        &self.traffic_samples
    }
}
