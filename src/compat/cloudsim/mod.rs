//! CloudSim 3.0.3's power-aware consolidation experiments, reproduced step for step.
//!
//! Beloglazov & Buyya's algorithms (CCPE 2012) are what the field compares against, and the
//! CloudSim 3.0.3 code is their executable reference. This module re-implements the behaviour of
//! that code, quirks included, so that migsim's results can be checked against it:
//! the 5-minute updates at t = 300k + 0.1 s with interpolated demand, the over-subscription
//! scheduler that floors shares when a host is full, the 10 % CPU a migrating VM loses (and
//! the 10 % its destination reserves), migration time = RAM ÷ half the host bandwidth, the
//! removal of a VM the first time its demand is exactly 0, energy as the trapezoid of the
//! SPECpower curve over each interval, PABFD with the 3.0.1+ load accounting, the underload
//! phase, and the metric formulas of `examples/power/Helper`. Facts and file references:
//! ../shared/reference/consolidation-algorithms.md.
//!
//! The agreement is exact, not statistical: CloudSim's choices between hosts often turn on the
//! last bits of a sum (near-idle VMs score the same power increase on every host of a type), so
//! every floating-point operation that feeds a decision is done with CloudSim's operands in
//! CloudSim's order. That includes trace samples as `percent / 100.0` doubles, each host's
//! free MIPS re-summed in `java.util.HashMap` order ([`super::java`]) after PABFD's probe,
//! SPECpower interpolation, and Commons Math's QR for the MC selector. Speed comes from skipping
//! work whose result is known to be bit-identical (a probe of a host already in walk order, a
//! refill that gives back what is there), never from a cheaper formula.
//!
//! It runs its own loop because CloudSim's timing is part of the result; the faithful models of
//! the rest of migsim replace these rules when `[compat] cloudsim` is off.

use std::collections::VecDeque;

use crate::metrics::{kth, median};
use crate::model::power::spec_preset;
use crate::trace::VmTrace;

use super::java::{HashOrder, spread, uid_hash};

mod datacenter;
mod detection;
mod host;
mod index;
mod math;
mod optimization;
mod placement;
mod scheduler;
#[cfg(test)]
mod tests;
mod vm;

use host::*;
use index::{GroupQueue, HostIndex};
use math::*;
use scheduler::*;
use vm::*;

/// The broker's entity id, the user id in every VM UID `"2-<vm id>"`: `CloudSim.init` creates
/// entities 0 and 1 (the shutdown entity and the information service) and
/// `Helper.createBroker` comes next. Checked by printing `broker.getId()` under CloudSim 3.0.3.
const BROKER_ID: usize = 2;

/// The spread `HashMap` hash of VM `vm`'s UID.
fn uid_bucket_hash(vm: usize) -> u32 {
    spread(uid_hash(BROKER_ID, vm))
}

/// `Constants.SCHEDULING_INTERVAL = 300`.
pub const INTERVAL: f64 = 300.0;
/// `Constants.SIMULATION_LIMIT = 24 * 60 * 60`.
pub const LIMIT: f64 = 86_400.0;
/// `CloudSim.getMinTimeBetweenEvents()`: cloudlets are submitted this long after the VMs.
pub const SUBMIT_AT: f64 = 0.1;
/// `PowerVm.HISTORY_LENGTH`.
pub const HISTORY_LENGTH: usize = 30;
/// `Constants.HOST_MIPS` (G4, G5), `HOST_PES`, `HOST_RAM`, `HOST_BW`, `HOST_STORAGE`.
const HOST_MIPS: [f64; 2] = [1860.0, 2660.0];
const HOST_PES: usize = 2;
const HOST_RAM: f64 = 4096.0;
const HOST_BW: f64 = 1_000_000.0;
const HOST_STORAGE: f64 = 1_000_000.0;
/// `Constants.VM_MIPS`, `VM_RAM` (MB), `VM_BW`, `VM_SIZE`.
const VM_MIPS: [f64; 4] = [2500.0, 2000.0, 1000.0, 500.0];
const VM_RAM: [f64; 4] = [870.0, 1740.0, 1740.0, 613.0];
const VM_BW: f64 = 100_000.0;
const VM_SIZE: f64 = 2500.0;

/// Overload detection (`PowerVmAllocationPolicyMigration*`): the faithful policies' detectors,
/// applied by CloudSim's rules here (its LR is ordinary least squares and LRR is identical to
/// it in CloudSim 3.0.1+).
pub use crate::policy::beloglazov::Detector;

/// VM selection (`PowerVmSelectionPolicy*`): MMT takes the least RAM, MU the least
/// utilisation, and MC (`PowerVmSelectionPolicyMaximumCorrelation`) the VM whose history the
/// others' histories explain best (largest R² of an OLS fit with intercept), falling back on
/// MMT when the fit cannot be made, as `RunnerAbstract` configures it. The experiment grammar
/// refuses RS, which CloudSim's PlanetLab runner does not offer.
pub use crate::policy::beloglazov::Selector;

/// The experiments of `examples/power/planetlab`, by the grammar the faithful policies share.
pub use crate::policy::beloglazov::CloudSimExperiment as Policy;

/// What `Helper.printResults` prints, as fractions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Results {
    pub energy_kwh: f64,
    pub migrations: u64,
    pub slatah: f64,
    pub pdm: f64,
    pub slav: f64,
    pub esv: f64,
    pub host_shutdowns: u64,
    pub mean_migration_time_s: f64,
    pub vms_removed: usize,
}

/// Which CloudSim the experiment reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// CloudSim 3.0.3, the released simulator, rule for rule and bit for bit.
    #[default]
    Cloudsim303,
    /// The simulator of Beloglazov & Buyya's CCPE 2012 paper (CloudSim 3.0, January 2012),
    /// where it differs from 3.0.3 in what these experiments use
    /// (`../shared/reference/consolidation-algorithms.md` §2, §5, §10):
    /// - PABFD counts a host's load as `PowerHost.getUtilizationOfCpuMips()`, the
    ///   `utilizationMips` its last update summed (`HostDynamicWorkload.updateVmsProcessing`:
    ///   each VM's allocated MIPS, a VM migrating out divided by 0.9, a VM migrating in at its
    ///   10 % share), in `PowerVmAllocationPolicyMigrationAbstract.findHostForVm`'s non-zero
    ///   gate and in `getMaxUtilizationAfterAllocation` (CloudSim 3.0). 3.0.1 changed both to
    ///   the policy's `getUtilizationOfCpuMips(host)`: the current allocations, which count
    ///   the VMs placed earlier in the same round, plus `allocated · 0.9 / 0.1` for each VM
    ///   migrating in. Under 3.0 tentative placements are invisible to the power estimate,
    ///   and the cheapest active host keeps winning. (The algorithms note, §5, also adds the
    ///   migrating-in allowance to the 3.0 load; the 3.0 update sums none, and with it the
    ///   medians of IQR and MAD fall 10-13 % under Table V's SLAV, without it within 2 %.)
    /// - The 5-minute updates read trace sample k itself, where 3.0.3 updates at
    ///   t = 300k + 0.1 s and interpolates (`UtilizationModelPlanetLabInMemory.getUtilization`),
    ///   so a VM is removed at its first 0 % sample rather than its second
    ///   (`HostDynamicWorkload.getCompletedVms`). Migrations ending between updates still
    ///   interpolate. Inferred from the paper's figures, not from a released source: with both
    ///   rules a patched CloudSim lands within 1–10 % of the paper's Table V for THR, IQR and
    ///   MAD.
    Ccpe2012,
}

/// One experiment.
pub struct Experiment {
    policy: Policy,
    era: Era,
    hosts: Vec<Host>,
    vms: Vec<Vm>,
    /// The datacenter's VM list: VMs not yet removed as finished.
    live: Vec<usize>,
    clock: f64,
    last_process: f64,
    energy_ws: f64,
    migrations: u64,
    /// Migrations under way: (completion time, sequence, vm, target host), latest first.
    pending: Vec<(f64, u64, usize, usize)>,
    seq: u64,
    /// Hosts with no VMs, no load and full storage, by type (G4, G5).
    pristine: [std::collections::BTreeSet<usize>; 2],
    /// All other hosts, by id.
    active: Vec<usize>,
    /// Reused buffers: PABFD's candidate hosts, and a host update's requests and allocations.
    candidates: Vec<usize>,
    admitted: Vec<usize>,
    /// Scratch: the bits of the VM being placed in the migrating-out sets.
    out_row: Vec<u64>,
    entries: Vec<(usize, u32, f64, bool)>,
    allocs: Vec<f64>,
    is_pristine: Vec<bool>,
    /// Hosts whose VMs the optimisation under way created or destroyed, by flag and in the
    /// order first touched.
    touched: Vec<bool>,
    touched_list: Vec<usize>,
    /// Scratch: the hosts active when the optimisation under way began.
    active_then: Vec<usize>,
    /// Hosts PABFD probed during the optimisation under way, whose allocation the restore
    /// redoes in list order.
    probed: Vec<bool>,
    /// Hosts changed since their last update. A second update at the same instant (after
    /// migrations complete) redoes only these: for any other host it would allocate the same
    /// requests again and replace its state entries with equal ones, and with no time elapsed
    /// no energy accrues.
    changed: Vec<bool>,
    /// Hosts left empty, idle and recorded inactive by their last update, and given no VM
    /// since: another update would record another inactive entry at zero load, which no
    /// metric or energy sum can see.
    dormant: Vec<bool>,
    /// Hosts whose last update saw a VM with no demand left and not migrating, which
    /// `update_all` then removes (`getCompletedVms`). Only these can hold one.
    finishing: Vec<usize>,
    /// Scratch: the hosts one `update_all` updated, in order.
    updated: Vec<usize>,
    tracking: bool,
    /// Whether the detector reads host histories (IQR, MAD, LR, LRR).
    uses_history: bool,
    /// Whether anything reads the VMs' utilisation histories: the detectors that read host
    /// histories, and MC. THR with MMT or MU never does, so its VMs keep none.
    keeps_histories: bool,
    /// Every host's migrating-out set.
    outs: OutSets,
    samples: Samples,
    /// What PABFD reads of each host.
    hot: Vec<Hot>,
    /// Scratch for `alloc_mips_slow`: (stamp, allocation) by VM.
    alloc_of: Vec<(u64, f64)>,
    stamp: u64,
    /// The G4 and G5 power curves.
    curves: [Curve; 2],
    /// PABFD's host index, live during placements.
    index: HostIndex,
    /// Scratch: the index's groups by their bound, and one group's hosts with their scores.
    group_queue: GroupQueue,
    scored: Vec<(f64, usize)>,
    /// Score every host in every placement, as CloudSim does, instead of using the index: the
    /// reference the index is tested against.
    plain_scan: bool,
}

impl Experiment {
    /// 800 hosts (half HP ML110 G4, half G5) and one VM per trace, VM i of type
    /// i / ceil(n/4) (`Helper.createHostList`, `createVmList`).
    pub fn new(policy: Policy, traces: &[VmTrace], hosts: usize) -> Experiment {
        Experiment::with_samples(policy, Samples::new(traces), hosts)
    }

    /// [`Experiment::new`] from each VM's integer percentages
    /// ([`crate::trace::planetlab::read_dir_percentages`]), which CloudSim divides by 100.
    pub fn from_percentages(policy: Policy, vms: &[Vec<u8>], hosts: usize) -> Experiment {
        Experiment::with_samples(policy, Samples::from_percentages(vms), hosts)
    }

    fn with_samples(policy: Policy, samples: Samples, hosts: usize) -> Experiment {
        let curves = [
            Curve::new(spec_preset("hp-ml110-g4").expect("preset")),
            Curve::new(spec_preset("hp-ml110-g5").expect("preset")),
        ];
        let hosts: Vec<Host> = (0..hosts)
            .map(|i| {
                let t = host_type(i);
                let total = HOST_MIPS[t] * HOST_PES as f64;
                Host {
                    total,
                    vms: Vec::new(),
                    migrating_in: Vec::new(),
                    sched: Sched {
                        total,
                        pe: HOST_MIPS[t],
                        available: total,
                        host: i,
                        ..Sched::default()
                    },
                    ram: Book::new(HOST_RAM),
                    bw: Book::new(HOST_BW),
                    storage: HOST_STORAGE,
                    util_mips: 0.0,
                    prev_util_mips: 0.0,
                    prev_power: curves[t].power[0],
                    history_cache: [0.0; HISTORY_LENGTH],
                    states: StateStream::default(),
                }
            })
            .collect();
        let n_hosts = hosts.len();
        let n = samples.vms;
        let per_type = n.div_ceil(4).max(1);
        let vms = (0..n)
            .map(|i| {
                let ty = (i / per_type).min(3);
                Vm {
                    mips: VM_MIPS[ty],
                    ram: VM_RAM[ty],
                    id: i,
                    host: None,
                    in_migration: false,
                    being_instantiated: true,
                    prev_time: 0.0,
                    util_now: 0.0,
                    req: 0.0,
                    submitted: false,
                    power_prev_time: 0.0,
                    history: VecDeque::new(),
                    states: StateStream::default(),
                    removed: false,
                    hash: uid_bucket_hash(i),
                }
            })
            .collect();
        let mut e = Experiment {
            policy,
            era: Era::Cloudsim303,
            hosts,
            vms,
            live: Vec::new(),
            clock: 0.0,
            last_process: 0.0,
            energy_ws: 0.0,
            migrations: 0,
            pending: Vec::new(),
            seq: 0,
            pristine: [
                (0..n_hosts).filter(|&h| host_type(h) == 0).collect(),
                (0..n_hosts).filter(|&h| host_type(h) == 1).collect(),
            ],
            active: Vec::new(),
            candidates: Vec::new(),
            admitted: Vec::new(),
            out_row: Vec::new(),
            entries: Vec::new(),
            allocs: Vec::new(),
            is_pristine: vec![true; n_hosts],
            touched: vec![false; n_hosts],
            touched_list: Vec::new(),
            active_then: Vec::new(),
            probed: vec![false; n_hosts],
            changed: vec![true; n_hosts],
            dormant: vec![false; n_hosts],
            finishing: Vec::new(),
            updated: Vec::new(),
            tracking: false,
            outs: OutSets::new(n, n_hosts),
            samples,
            alloc_of: vec![(0, 0.0); n],
            stamp: 0,
            hot: vec![Hot::default(); n_hosts],
            index: HostIndex::new(
                n_hosts,
                [&curves[0].power, &curves[1].power],
                [
                    HOST_MIPS[0] * HOST_PES as f64,
                    HOST_MIPS[1] * HOST_PES as f64,
                ],
            ),
            group_queue: GroupQueue::default(),
            scored: Vec::new(),
            plain_scan: false,
            curves,
            uses_history: matches!(
                policy,
                Policy::Migration(
                    Detector::Iqr(_) | Detector::Mad(_) | Detector::Lr(_) | Detector::Lrr(_),
                    _
                )
            ),
            keeps_histories: false,
        };
        e.keeps_histories = e.uses_history || matches!(policy, Policy::Migration(_, Selector::Mc));
        // Every host's packed record, from its empty state.
        for h in 0..n_hosts {
            e.touch_known(h, 0.0, 0.0, true);
        }
        e
    }

    /// Reproduces `era`'s simulator. The CCPE 2012 accounting scores every host as
    /// `findHostForVm` does: the host index bounds the 3.0.3 score.
    pub fn in_era(mut self, era: Era) -> Experiment {
        self.era = era;
        self.samples.exact_at_updates = era == Era::Ccpe2012;
        if era == Era::Ccpe2012 {
            self.plain_scan = true;
        }
        self
    }

    /// PABFD's load of host `h`: the current allocations (with the migrating-in allowance)
    /// under 3.0.3, the load its last update measured under CCPE 2012 (see [`Era`]).
    pub(super) fn pabfd_load(&self, h: usize) -> f64 {
        match self.era {
            Era::Cloudsim303 => self.hot[h].alloc,
            Era::Ccpe2012 => self.hosts[h].util_mips,
        }
    }

    /// Scores every host in every placement, as CloudSim's `findHostForVm` does, instead of
    /// visiting the host index's groups by their bound. The choices are the same; this is the
    /// reference the index is tested against, and the measure of what it saves.
    pub fn scan_every_host(mut self) -> Experiment {
        self.plain_scan = true;
        self
    }

    /// Runs the day and computes the metrics.
    pub fn run(mut self) -> Results {
        // t = 0: VMs created one by one, each asking for its full MIPS and RAM.
        let none = vec![false; self.hosts.len()];
        self.begin_index();
        for vm in 0..self.vms.len() {
            let host = match self.policy {
                Policy::Migration(..) => self.find_host(vm, &none, true),
                _ => self.first_fit(vm),
            };
            if let Some(h) = host {
                self.vm_create(h, vm);
                self.live.push(vm);
            }
            self.vms[vm].being_instantiated = false;
            if let Some(h) = self.vms[vm].host {
                self.touch(h);
            }
        }
        self.index.end();
        // Cloudlets arrive with the broker's acknowledgement, 0.1 s later.
        self.clock = SUBMIT_AT;
        for v in &mut self.vms {
            v.submitted = true;
            // Demand is still read at the scheduler's last update, t = 0, until the first update.
            v.util_now = v.util(&self.samples, v.prev_time);
            v.req = v.util_now * v.mips;
        }
        for h in 0..self.hosts.len() {
            self.touch(h);
        }
        self.last_process = SUBMIT_AT;
        let mut next_grid = SUBMIT_AT + INTERVAL;
        loop {
            // The next event: a migration completing, or the 5-minute update.
            // `pending` is kept latest first: the next completion is the last entry.
            let next = match self.pending.last() {
                Some(&(t, ..)) if t < next_grid => {
                    let (t, _, vm, target) = self.pending.pop().expect("just seen");
                    self.clock = t;
                    if t > LIMIT {
                        break;
                    }
                    self.complete_migration(vm, target);
                    let more_now = self.pending.last().is_some_and(|e| e.0 <= self.clock);
                    if !more_now {
                        self.update_all();
                    }
                    continue;
                }
                _ => next_grid,
            };
            if next > LIMIT {
                break;
            }
            self.clock = next;
            self.update_all();
            if let Policy::Migration(_, sel) = self.policy {
                let map = self.optimize(sel);
                let mut stale = Vec::new();
                for (vm, target) in map {
                    self.add_migrating_in(target, vm, &mut stale);
                    self.migrations += 1;
                    let delay = self.vms[vm].ram / (HOST_BW / (2.0 * 8000.0));
                    self.seq += 1;
                    self.pending
                        .push((self.clock + delay, self.seq, vm, target));
                }
                stale.sort_unstable();
                stale.dedup();
                let t = self.clock;
                for h in stale {
                    self.update_host(h, t);
                }
                // Earliest completion last; among equal times, the first scheduled.
                self.pending
                    .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            }
            next_grid = self.clock + INTERVAL;
        }
        self.results()
    }

    fn results(&mut self) -> Results {
        let (mut active, mut viol, mut shutdowns) = (0.0, 0.0, 0);
        for h in &mut self.hosts {
            h.states.finalize(true);
            active += h.states.a;
            viol += h.states.b;
            shutdowns += h.states.count;
        }
        let slatah = if active > 0.0 { viol / active } else { 0.0 };
        let (mut req_total, mut under_mig, mut periods, mut n) = (0.0, 0.0, 0.0, 0);
        for v in &mut self.vms {
            v.states.finalize(false);
            req_total += v.states.a;
            under_mig += v.states.b;
            periods += v.states.periods;
            n += v.states.count;
        }
        let pdm = if req_total > 0.0 {
            under_mig / req_total
        } else {
            0.0
        };
        let energy_kwh = self.energy_ws / 3.6e6;
        let slav = slatah * pdm;
        Results {
            energy_kwh,
            migrations: self.migrations,
            slatah,
            pdm,
            slav,
            esv: energy_kwh * slav,
            host_shutdowns: shutdowns,
            mean_migration_time_s: if n == 0 { f64::NAN } else { periods / n as f64 },
            vms_removed: self.vms.iter().filter(|v| v.removed).count(),
        }
    }
}

/// The PlanetLab folder a CloudSim-compatible scenario replays, and its order file if any,
/// resolved against the files that set them.
pub fn trace_location(
    loaded: &crate::scenario::load::Loaded,
) -> Result<(std::path::PathBuf, Option<std::path::PathBuf>), crate::scenario::ScenarioError> {
    let t = loaded.scenario.trace.as_ref().expect("validated trace");
    if t.format != "planetlab" {
        return Err(loaded.field_error(
            "trace.format",
            "CloudSim compatibility replays PlanetLab traces",
        ));
    }
    let path = loaded.resolve_path("trace.path", &t.path);
    let order = t
        .order
        .as_ref()
        .map(|o| loaded.resolve_path("trace.order", o));
    Ok((path, order))
}

/// Runs a scenario with `[compat] cloudsim = true`: CloudSim's experiment `policy.name` on the
/// scenario's `[trace]`, with as many hosts as the scenario lists (half G4, half G5,
/// interleaved by id as `Helper.createHostList` does).
pub fn run_scenario(
    loaded: &crate::scenario::load::Loaded,
) -> Result<crate::metrics::Summary, crate::scenario::ScenarioError> {
    let sc = &loaded.scenario;
    let policy = Policy::parse(&sc.policy.name).expect("validated policy");
    let (path, order) = trace_location(loaded)?;
    let trace = crate::trace::planetlab::read_dir_percentages(&path, order.as_deref())
        .map_err(|e| loaded.field_error("trace.path", e.to_string()))?;
    let hosts: usize = sc.hosts.iter().map(|h| h.count as usize).sum();
    let era = match sc.compat.cloudsim_mode() {
        Some(crate::scenario::CompatMode::Ccpe2012) => Era::Ccpe2012,
        _ => Era::Cloudsim303,
    };
    let r = Experiment::from_percentages(policy, &trace, hosts)
        .in_era(era)
        .run();
    Ok(crate::metrics::Summary {
        scenario: sc.name.clone(),
        seed: sc.seed,
        horizon_s: LIMIT,
        hosts,
        vms: trace.len(),
        policy: sc.policy.name.clone(),
        hypervisor: match era {
            Era::Cloudsim303 => "cloudsim",
            Era::Ccpe2012 => "ccpe2012",
        }
        .into(),
        energy_kwh: r.energy_kwh,
        mean_power_w: r.energy_kwh * 3.6e6 / LIMIT,
        peak_active_hosts: 0,
        mean_active_hosts: 0.0,
        host_shutdowns: r.host_shutdowns as u32,
        migrations: r.migrations as u32,
        failed_migrations: 0,
        cancelled_migrations: 0,
        migrated_bytes: 0,
        total_downtime_s: 0.0,
        // CloudSim models no downtime.
        downtime_p50_ms: 0.0,
        downtime_p95_ms: 0.0,
        downtime_max_ms: 0.0,
        mean_migration_time_s: if r.mean_migration_time_s.is_nan() {
            0.0
        } else {
            r.mean_migration_time_s
        },
        cpu_unmet_fraction: 0.0,
        overload_time_fraction: r.slatah,
        slatah: r.slatah,
        pdm: r.pdm,
        slav: r.slav,
        esv: r.esv,
        traffic_delivered_fraction: 1.0,
        // CloudSim counts no bytes, so there is nothing for Liu's model to weigh.
        migration_energy_kwh: 0.0,
        maintenance_missed: 0,
        host_failures: 0,
        ha_restarts: 0,
        ha_downtime_s: 0.0,
        vms_down_at_end: 0,
        baseline_energy_kwh: None,
        energy_saved_kwh: None,
        energy_saved_pct: None,
        vm_states_at_end: {
            let mut m = crate::metrics::vm_state_counts(&crate::model::vm::Vms::default());
            m.insert("active".into(), trace.len() - r.vms_removed);
            m.insert("inactive".into(), r.vms_removed);
            m
        },
        events: 0,
        migsim_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}
