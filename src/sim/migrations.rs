//! Carrying out migrations: the stages of Clark et al. in the simulation.
//!
//! An algorithm from [`crate::migration`] decides what to send. This module turns each decision
//! into a flow on the source→destination path. It reports back when the flow drains or a check
//! time comes, and moves the VM through its states: running on the source, paused for the
//! stop-and-copy, then running on the destination. It also charges the migration's CPU cost to
//! the source host and keeps the destination's reservation. A migration that cannot start, is
//! cancelled, or fails leaves the VM running where it was.

use std::collections::BTreeMap;

use super::active::{Active, Effect};
use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::migration::encoding::{self, Compression};
use crate::migration::{
    self, Action, Guest, MigrationRecord, OnTimeout, Outcome, Phase, Progress, Settings, Stage,
};
use crate::migration::{Bound, OnTimeoutSpec, Sender, StageTimes, sender};
use crate::model::host::HostId;
use crate::model::network::{Endpoint, FlowId};
use crate::model::power::PowerState;
use crate::model::vm::{VmId, VmState};
use crate::units::{Bandwidth, Bytes, Volume};

/// A migration asked for, not yet started.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub vm: VmId,
    pub to: HostId,
    pub at: SimTime,
}

/// Actions one migration may ask for before it is failed as making no progress. A QEMU
/// migration that never converges iterates every 50–100 ms (`MAX_WAIT`, `BUFFER_DELAY`): a
/// week without a timeout is about 12 million iterations, so this bound stops only a model
/// defect (transfers that shrink towards nothing), with a reason that says so, in seconds of
/// wall time rather than never.
const MAX_STEPS: u64 = 100_000_000;

const NO_MIGRATION: &str = "no migration in the slot an event or flow named";

/// Everything the simulation keeps about migrations.
#[derive(Default)]
pub struct Migrations {
    pub(super) active: Vec<Option<Active>>,
    pub records: Vec<MigrationRecord>,
    pub(super) flow_owner: super::active::FlowOwners,
    pub(super) waiting: Vec<Request>,
    pub(super) per_host: Vec<u32>,
    /// MIPS of migration work charged to each host now.
    pub overhead: Vec<f64>,
    /// Slots of `active` that are empty, and the slot of each VM on the move: kept beside
    /// `active` so that starting a migration and finding one cost a lookup, not a scan.
    free_slots: std::collections::BTreeSet<usize>,
    slot_by_vm: BTreeMap<VmId, usize>,
    /// The slots of the migrations leaving each host, in slot order: a host's migration CPU
    /// is summed over these, not over every migration in flight.
    leaving: Vec<Vec<usize>>,
    /// Hosts whose migration CPU may differ from what their flows now send: a flow's rate
    /// changed, or a migration's transfer started or stopped. Recomputed after the next
    /// settle, in host order.
    cpu_stale: std::collections::BTreeSet<HostId>,
    /// RAM reserved on each host for VMs arriving.
    pub reserved: Vec<u64>,
    /// Stage changes not yet written to the event trace.
    pub(super) log: Vec<(SimTime, String, String)>,
    /// Set while the run's accounts are closed at the horizon: nothing new may start.
    pub(super) closing: bool,
}

impl Migrations {
    pub fn new(hosts: usize) -> Migrations {
        Migrations {
            per_host: vec![0; hosts],
            leaving: vec![Vec::new(); hosts],
            overhead: vec![0.0; hosts],
            reserved: vec![0; hosts],
            ..Migrations::default()
        }
    }

    /// The migration in `slot`. The event handlers reach a slot only through an event or a
    /// flow that names it, and a migration's events and flow end with it: an empty slot here
    /// is a defect of the simulation, not of the scenario.
    pub(super) fn get(&self, slot: usize) -> &Active {
        self.active[slot].as_ref().expect(NO_MIGRATION)
    }

    pub(super) fn get_mut(&mut self, slot: usize) -> &mut Active {
        self.active[slot].as_mut().expect(NO_MIGRATION)
    }

    /// The slot of the migration moving `vm`, if one is under way.
    pub fn slot_of(&self, vm: VmId) -> Option<usize> {
        self.slot_by_vm.get(&vm).copied()
    }

    /// VMs being migrated now.
    pub fn migrating_vms(&self) -> impl Iterator<Item = VmId> + '_ {
        self.active.iter().flatten().map(|a| a.vm)
    }

    /// VMs whose migration waits for a free slot.
    pub fn waiting_vms(&self) -> impl Iterator<Item = VmId> + '_ {
        self.waiting.iter().map(|r| r.vm)
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn in_flight(&self) -> usize {
        self.slot_by_vm.len()
    }

    /// Whether the slot indexes agree with `active`: every empty slot is free, every
    /// migration's VM maps to its slot (checked with the model's invariants).
    pub(super) fn check_slots(&self) -> Result<(), String> {
        for (i, a) in self.active.iter().enumerate() {
            match a {
                None if !self.free_slots.contains(&i) => {
                    return Err(format!("slot {i} is empty but not free"));
                }
                Some(a) if self.slot_by_vm.get(&a.vm) != Some(&i) => {
                    return Err(format!("slot {i}'s VM {} is not indexed to it", a.vm.0));
                }
                _ => {}
            }
        }
        if self.slot_by_vm.len() + self.free_slots.len() != self.active.len() {
            return Err("the slot indexes hold more than the slots".into());
        }
        Ok(())
    }
}

impl Simulation {
    fn settings(&self, vm: VmId) -> Settings {
        let m = &self.scenario.migration;
        let g = &self.scenario.vms[self.vms.group[vm.idx()] as usize];
        let pause = self.pause_times(self.vms.host[vm.idx()], vm);
        Settings {
            hypervisor: m.hypervisor,
            max_bandwidth: if m.max_bandwidth.is_zero() {
                None
            } else {
                Some(m.max_bandwidth)
            },
            downtime_limit: m.downtime_limit.time(),
            auto_converge: m.auto_converge,
            dirty_limit: m
                .dirty_limit
                .then(|| m.vcpu_dirty_limit * self.vms.vcpus[vm.idx()] as f64),
            timeout: m.timeout.map(|d| d.time()),
            on_timeout: match m.on_timeout {
                OnTimeoutSpec::Cancel => OnTimeout::Cancel,
                OnTimeoutSpec::RaiseLimit => OnTimeout::RaiseLimit(m.raised_downtime_limit.time()),
                OnTimeoutSpec::Postcopy => OnTimeout::Postcopy,
            },
            resume_time: pause.1,
            suspend_time: pause.0,
            sender: Some(self.sender(vm)),
            disk: g.disk.map(Volume::from).unwrap_or(Volume::ZERO),
            disk_dirty_rate: g.disk_write_rate.unwrap_or(Bandwidth::ZERO),
            // Checked when the scenario was loaded.
            compression: Compression::parse(&m.compression).ok().flatten(),
            xbzrle_cache: m.xbzrle_cache.map(Volume::from),
        }
    }

    /// How long `vm` takes to stop, and to resume after its last page, migrating from `src`:
    /// the source type's calibrated switchover (fixed, and per GiB of the guest's memory), else
    /// the scenario's, else the hypervisor's defaults. Read at every action of every
    /// migration, so not through [`Simulation::settings`].
    fn pause_times(&self, src: HostId, vm: VmId) -> (SimTime, SimTime) {
        let m = &self.scenario.migration;
        let ty = self.hosts.host_type(src);
        let suspend = m.suspend_time.map(|d| d.time());
        let resume = ty.migration_resume.or(m.resume_time.map(|d| d.time()));
        let gib = self.vms.ram[vm.idx()].0 as f64 / (1u64 << 30) as f64;
        let per_gib = SimTime::from_secs_f64(ty.migration_resume_per_gib.as_secs_f64() * gib);
        (
            suspend.unwrap_or_else(|| m.hypervisor.default_suspend_time()),
            resume.unwrap_or_else(|| m.hypervisor.default_resume_time()) + per_gib,
        )
    }

    /// The sending side of a migration of `vm` from the host it runs on now.
    fn sender(&self, vm: VmId) -> Sender {
        let ty = self.hosts.host_type(self.vms.host[vm.idx()]);
        Sender::with_channels(
            ty.migration_scan.unwrap_or(sender::DEFAULT_SCAN_RATE),
            ty.migration_send.unwrap_or(sender::DEFAULT_SEND_RATE),
            self.scenario.migration.multifd_channels,
            ty.cores,
        )
    }

    fn guest(&self, vm: VmId) -> Guest {
        let g = self.vms.group_of(vm);
        let ram = Volume::from(self.vms.ram[vm.idx()]);
        let spec = &self.scenario.vms[self.vms.group[vm.idx()] as usize];
        let nonzero = match spec.nonzero {
            Some(nz) => Volume::from(nz),
            None => g.dirty.nonzero(ram),
        };
        Guest {
            memory: ram,
            nonzero,
            dirty: g.dirty.clone(),
            compressibility: spec
                .compressibility
                .unwrap_or(encoding::DEFAULT_COMPRESSIBILITY),
            page_delta: spec.page_delta.map_or(0.0, |d| d.0 as f64),
        }
    }

    /// Stage 0: a migration is asked for. It starts now if both hosts have a free slot, else it
    /// waits for one.
    pub(super) fn request_migration(&mut self, now: SimTime, req: Request) {
        let src = self.vms.host[req.vm.idx()];
        let cap = self.scenario.migration.max_concurrent_per_host;
        if self.migs.per_host[src.idx()] >= cap || self.migs.per_host[req.to.idx()] >= cap {
            self.migs.waiting.push(req);
            return;
        }
        self.begin_migration(now, req);
    }

    /// Starts waiting migrations whose hosts have free slots again, in request order.
    fn start_waiting(&mut self, now: SimTime) {
        if self.migs.closing {
            return;
        }
        let cap = self.scenario.migration.max_concurrent_per_host;
        let mut i = 0;
        while i < self.migs.waiting.len() {
            let r = self.migs.waiting[i].clone();
            let src = self.vms.host[r.vm.idx()];
            if self.migs.per_host[src.idx()] < cap && self.migs.per_host[r.to.idx()] < cap {
                self.migs.waiting.remove(i);
                self.begin_migration(now, r);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn new_record(&self, req: &Request, start: SimTime) -> MigrationRecord {
        let src = self.vms.host[req.vm.idx()];
        MigrationRecord {
            vm: self.vms.name[req.vm.idx()].clone(),
            source: self.hosts.name[src.idx()].clone(),
            destination: self.hosts.name[req.to.idx()].clone(),
            hypervisor: self.scenario.migration.hypervisor.name().into(),
            outcome: Outcome::Failed,
            reason: String::new(),
            start_s: start.as_secs_f64(),
            total_time_s: 0.0,
            downtime_ms: 0.0,
            transferred_bytes: 0.0,
            rounds: 0,
            stages: StageTimes::default(),
            max_throttle: 0.0,
            degradation_s: 0.0,
            bound_by: Bound::Network,
            per_round: Vec::new(),
        }
    }

    fn stage(&mut self, record: usize, stage: Stage, t: SimTime) {
        let r = &mut self.migs.records[record];
        r.stages.set(stage, t.as_secs_f64());
        // Stage changes are events of the debug trace, written at the end of the event.
        self.migs.log.push((
            t,
            r.vm.clone(),
            format!(
                "stage {} {} ({} -> {})",
                stage as u8,
                stage.as_str(),
                r.source,
                r.destination
            ),
        ));
    }

    fn begin_migration(&mut self, now: SimTime, req: Request) {
        let vm = req.vm;
        let src = self.vms.host[vm.idx()];
        let dst = req.to;
        let mut rec = self.new_record(&req, now);
        let record = self.migs.records.len();
        let fail = |why: String| why;
        let refusal = if self.vms.state[vm.idx()] != VmState::Active {
            Some(fail(format!(
                "VM is {}, not running",
                self.vms.state[vm.idx()].as_str()
            )))
        } else if src == dst {
            Some(fail("VM is already on the destination".into()))
        } else if self.hosts.state[dst.idx()] != PowerState::On {
            Some(fail(format!(
                "destination is {}",
                self.hosts.state[dst.idx()].as_str()
            )))
        } else {
            let free = self.hosts.ram(dst).0 as i128
                - self.hosts.ram_used[dst.idx()].0 as i128
                - self.migs.reserved[dst.idx()] as i128;
            if free < self.vms.ram[vm.idx()].0 as i128 {
                Some(fail(format!(
                    "no room on the destination: {} free, {} needed",
                    Bytes(free.max(0) as u64),
                    self.vms.ram[vm.idx()]
                )))
            } else {
                None
            }
        };
        rec.stages.set(Stage::PreMigration, now.as_secs_f64());
        self.migs.log.push((
            now,
            rec.vm.clone(),
            format!(
                "stage 0 pre_migration ({} -> {})",
                rec.source, rec.destination
            ),
        ));
        if let Some(why) = refusal {
            rec.reason = why;
            self.migs.records.push(rec);
            return;
        }
        self.migs.records.push(rec);
        // Stage 1: reserve the destination first.
        self.stage(record, Stage::Reservation, now);
        self.migs.reserved[dst.idx()] += self.vms.ram[vm.idx()].0;
        self.migs.per_host[src.idx()] += 1;
        self.migs.per_host[dst.idx()] += 1;
        let settings = self.settings(vm);
        let link = {
            let path = self.net.path(Endpoint::Host(src.0), Endpoint::Host(dst.0));
            path.iter()
                .map(|l| self.net.links[l.0 as usize].capacity)
                .fold(Bandwidth::UNLIMITED, Bandwidth::min)
        };
        let alg = migration::algorithm(self.guest(vm), &settings, link);
        self.set_vm_state(now, vm, VmState::Migrating);
        let setup = self.hosts.host_type(src).migration_setup;
        // The lowest empty slot, as a scan for the first `None` would find.
        let slot = match self.migs.free_slots.pop_first() {
            Some(i) => i,
            None => {
                self.migs.active.push(None);
                self.migs.active.len() - 1
            }
        };
        self.migs.slot_by_vm.insert(vm, slot);
        let leaving = &mut self.migs.leaving[src.idx()];
        let at = leaving.partition_point(|&s| s < slot);
        leaving.insert(at, slot);
        self.migs.active[slot] = Some(Active::new(record, vm, src, dst, alg, now));
        if let Some(t) = settings.timeout {
            self.queue
                .schedule(now + t, Event::MigrationTimeout { slot, record });
        }
        if setup > SimTime::ZERO {
            self.queue
                .schedule(now + setup, Event::MigrationSetUp { slot, record });
        } else {
            self.migration_set_up(now, slot, record);
        }
    }

    /// The destination is prepared (a calibrated setup time after the start, or at once):
    /// pre-copy starts.
    pub(super) fn migration_set_up(&mut self, now: SimTime, slot: usize, record: usize) {
        match self.migs.active.get(slot) {
            Some(Some(a)) if a.record == record && !a.started => {}
            _ => return,
        }
        self.stage(record, Stage::IterativePrecopy, now);
        let action = self.migs.get_mut(slot).start(now);
        self.apply_action(now, slot, action);
    }

    /// The factor on the VM's nominal dirty rate now: CPU coupling and the hypervisor's throttle.
    fn dirty_factor(&self, vm: VmId, throttle: f64) -> f64 {
        let g = self.vms.group_of(vm);
        let mut f = g.dirty.throttle_factor(throttle);
        if g.dirty.cpu_coupled {
            let i = vm.idx();
            let full = self.vms.vcpus[i] as f64 * self.vms.vcpu_mips[i];
            f *= if full > 0.0 {
                (self.vms.alloc[i] / full).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        f
    }

    /// Carries out an algorithm's actions for the migration in `slot`, until one leaves it
    /// waiting for the network or an event; a flow the last transfer left and no new one took
    /// is stopped.
    fn apply_action(&mut self, now: SimTime, slot: usize, action: Action) {
        self.carry_out_all(now, slot, action);
        if let Some(Some(a)) = self.migs.active.get_mut(slot)
            && let Some(f) = a.spare.take()
        {
            self.net.stop_flow(now, f);
        }
    }

    fn carry_out_all(&mut self, now: SimTime, slot: usize, mut action: Action) {
        loop {
            if !self.migs.get_mut(slot).count_step(MAX_STEPS) {
                let reason = format!(
                    "stopped after {MAX_STEPS} transfer steps without finishing: the migration \
                     model made no progress (please report it with the scenario)"
                );
                self.abort(now, slot, Outcome::Failed, reason);
                return;
            }
            match self.carry_out(now, slot, &action) {
                Some(next) => action = next,
                None => return,
            }
        }
    }

    /// Carries out one action and its effects. Returns the algorithm's next action if it is
    /// due at once (there was nothing to send).
    fn carry_out(&mut self, now: SimTime, slot: usize, action: &Action) -> Option<Action> {
        let (vm, record, src) = {
            let a = self.migs.get(slot);
            (a.vm, a.record, a.src)
        };
        let (suspend_time, resume_time) = self.pause_times(src, vm);
        loop {
            // The dirty-rate factor as the world is now: after a pause or a switch it changes.
            let alg = self.migs.get(slot).alg();
            let factor = self.dirty_factor(vm, alg.throttle());
            let factor = self
                .vms
                .group_of(vm)
                .dirty
                .capped(now, factor, alg.dirty_cap());
            let a = self.migs.get_mut(slot);
            match a.carry_out(now, action, suspend_time, factor) {
                Effect::Pause { resume_at } => {
                    self.stage(record, Stage::StopAndCopy, now);
                    self.pause_vm(now, vm);
                    if let Some((at, generation)) = resume_at {
                        self.queue
                            .schedule(at, Event::MigrationResume { slot, generation });
                        return None;
                    }
                }
                Effect::Switch { paused } => {
                    let resume = resume_time;
                    self.migs.records[record].downtime_ms =
                        ((now - paused) + resume).as_millis_f64();
                    self.stage(record, Stage::Commitment, now);
                    self.stage(record, Stage::Activation, now + resume);
                    self.move_vm(now, slot);
                    self.set_vm_state(now, vm, VmState::Migrating);
                    let h = self.vms.host[vm.idx()];
                    self.refresh_host(now, h);
                    self.start_vm_traffic(now, vm);
                }
                Effect::Wait { at, generation } => {
                    self.queue
                        .schedule(at, Event::MigrationCheck { slot, generation });
                    return None;
                }
                Effect::Report(p) => return Some(a.progress(&p)),
                Effect::Send {
                    bytes,
                    cap,
                    check_at,
                    bound,
                    generation,
                } => {
                    let (src, dst) = (a.src, a.dst);
                    let (cap, bound) = match (cap, self.scenario.migration.stream_limit) {
                        (Some(c), Some(l)) if l < c => (Some(l), Bound::Cap),
                        (None, Some(l)) => (Some(l), Bound::Cap),
                        (c, _) => (c, bound),
                    };
                    let flow = match self.migs.get_mut(slot).spare.take() {
                        Some(f) => {
                            self.net.reuse_flow(now, f, bytes, cap);
                            f
                        }
                        None => {
                            let path = self.net.path(Endpoint::Host(src.0), Endpoint::Host(dst.0));
                            self.net.start_flow(now, path, Some(bytes), cap)
                        }
                    };
                    self.migs.flow_owner.insert(flow.0, slot);
                    self.migs.cpu_stale.insert(src);
                    let a = self.migs.get_mut(slot);
                    a.flow = Some(flow);
                    a.set_limit(cap, bound);
                    if let Some(t) = check_at {
                        self.queue
                            .schedule(t.max(now), Event::MigrationCheck { slot, generation });
                    }
                    return None;
                }
                Effect::Commit { resume, generation } => {
                    self.stage(record, Stage::Commitment, now);
                    self.queue
                        .schedule(now + resume, Event::MigrationActivate { slot, generation });
                    return None;
                }
                Effect::Done => {
                    // The post-copy push is done: the migration ends now.
                    self.finish(now, slot, Outcome::Completed, String::new());
                    self.set_vm_state(now, vm, VmState::Active);
                    return None;
                }
            }
        }
    }

    /// Stops the transfer under way and says what it achieved.
    fn stop_transfer(&mut self, now: SimTime, slot: usize, drained: bool) -> Progress {
        let a = self.migs.active[slot].as_mut().expect(NO_MIGRATION);
        let sent = match a.flow {
            Some(f) => {
                // The flow stays up for the next transfer on the same path (see
                // `Network::reuse_flow`); `apply_action` or `finish` stops it if none follows.
                self.migs.flow_owner.remove(f.0);
                self.migs.cpu_stale.insert(a.src);
                a.spare = Some(f);
                self.net.take_delivered(now, f).unwrap_or(Volume::ZERO)
            }
            None => Volume::ZERO,
        };
        let writes = a.dirtied_since(now, &self.vms.group_of(a.vm).dirty);
        a.end_segment(now, sent, writes, drained)
    }

    /// A migration flow drained.
    pub(super) fn migration_flow_drained(&mut self, now: SimTime, flow: FlowId) {
        let Some(slot) = self.migs.flow_owner.get(flow.0) else {
            return;
        };
        let p = self.stop_transfer(now, slot, true);
        let action = self.migs.get_mut(slot).progress(&p);
        self.apply_action(now, slot, action);
    }

    /// The guest has suspended: the held-back final copy starts.
    pub(super) fn migration_resume(&mut self, now: SimTime, slot: usize, generation: u64) {
        let action = match self.migs.active.get_mut(slot) {
            Some(Some(a)) => a.take_deferred(generation),
            _ => None,
        };
        if let Some(action) = action {
            self.apply_action(now, slot, action);
        }
    }

    /// A QEMU loop iteration is due.
    pub(super) fn migration_check(&mut self, now: SimTime, slot: usize, generation: u64) {
        match self.migs.active.get(slot) {
            Some(Some(a)) if a.expects_check(generation) => {}
            _ => return,
        }
        let p = self.stop_transfer(now, slot, false);
        let action = self.migs.get_mut(slot).progress(&p);
        self.apply_action(now, slot, action);
    }

    pub(super) fn migration_timeout(&mut self, now: SimTime, slot: usize, record: usize) {
        let vm = match self.migs.active.get(slot) {
            Some(Some(a)) if a.record == record && a.paused_at.is_none() => {
                if !a.started {
                    let why = "timed out while the destination was being prepared: cancelled";
                    self.abort(now, slot, Outcome::Cancelled, why.into());
                    return;
                }
                a.vm
            }
            _ => return,
        };
        let how = self.settings(vm).on_timeout;
        let p = self.stop_transfer(now, slot, false);
        match self.migs.get_mut(slot).timeout(&p, how) {
            Some(action) => self.apply_action(now, slot, action),
            None => self.abort(now, slot, Outcome::Cancelled, "timed out: cancelled".into()),
        }
    }

    /// Stage 5: the VM runs on the destination.
    pub(super) fn migration_activate(&mut self, now: SimTime, slot: usize, generation: u64) {
        let (record, vm, paused) = match self.migs.active.get(slot) {
            Some(Some(a)) if a.generation == generation => {
                (a.record, a.vm, a.paused_at.unwrap_or(now))
            }
            _ => return,
        };
        self.stage(record, Stage::Activation, now);
        self.migs.records[record].downtime_ms = (now - paused).as_millis_f64();
        self.move_vm(now, slot);
        self.set_vm_state(now, vm, VmState::Active);
        self.start_vm_traffic(now, vm);
        let h = self.vms.host[vm.idx()];
        self.refresh_host(now, h);
        self.finish(now, slot, Outcome::Completed, String::new());
    }

    /// A link failed: every migration whose transfer crosses it fails, its VM stays where it ran.
    pub(super) fn fail_migrations_on(
        &mut self,
        now: SimTime,
        link: crate::model::network::LinkId,
        name: &str,
    ) {
        let hit: Vec<usize> = self
            .migs
            .active
            .iter()
            .enumerate()
            .filter_map(|(slot, a)| {
                let a = a.as_ref()?;
                let path = self
                    .net
                    .path(Endpoint::Host(a.src.0), Endpoint::Host(a.dst.0));
                (path.contains(&link) && !a.on_destination).then_some(slot)
            })
            .collect();
        for slot in hit {
            self.abort(now, slot, Outcome::Failed, format!("link {name} failed"));
        }
    }

    /// Records a migration still under way at the end of the run, with what it did so far.
    pub(super) fn close_unfinished(&mut self, now: SimTime, slot: usize) {
        let _ = self.stop_transfer(now, slot, false);
        self.finish(
            now,
            slot,
            Outcome::Unfinished,
            "still running at the horizon".into(),
        );
    }

    /// Ends a migration that did not complete: the VM runs on its source as before.
    pub(super) fn abort(&mut self, now: SimTime, slot: usize, outcome: Outcome, reason: String) {
        let _ = self.stop_transfer(now, slot, false);
        let a = self.migs.get(slot);
        let (vm, src, paused) = (a.vm, a.src, a.paused_at.is_some());
        if !a.on_destination {
            self.set_vm_state(now, vm, VmState::Active);
            if paused {
                self.start_vm_traffic(now, vm);
            }
            self.refresh_host(now, src);
        }
        self.finish(now, slot, outcome, reason);
    }

    fn finish(&mut self, now: SimTime, slot: usize, outcome: Outcome, reason: String) {
        let a = self.migs.active[slot].take().expect(NO_MIGRATION);
        self.migs.free_slots.insert(slot);
        self.migs.slot_by_vm.remove(&a.vm);
        let leaving = &mut self.migs.leaving[a.src.idx()];
        if let Ok(at) = leaving.binary_search(&slot) {
            leaving.remove(at);
        }
        if let Some(f) = a.flow {
            self.migs.flow_owner.remove(f.0);
            self.net.stop_flow(now, f);
        }
        if let Some(f) = a.spare {
            self.net.stop_flow(now, f);
        }
        if !a.on_destination {
            self.migs.reserved[a.dst.idx()] -= self.vms.ram[a.vm.idx()].0;
        }
        self.migs.per_host[a.src.idx()] -= 1;
        self.migs.per_host[a.dst.idx()] -= 1;
        let start = self.migs.records[a.record].start_s;
        let vm_name = self.migs.records[a.record].vm.clone();
        self.migs.log.push((
            now,
            vm_name,
            if reason.is_empty() {
                format!("migration {}", outcome.as_str())
            } else {
                format!("migration {}: {reason}", outcome.as_str())
            },
        ));
        let rec = &mut self.migs.records[a.record];
        rec.outcome = outcome;
        rec.reason = reason;
        rec.total_time_s = now.as_secs_f64() - start;
        rec.transferred_bytes = a.bytes.as_bytes();
        rec.rounds = a.alg().syncs();
        rec.per_round = a.alg().rounds().to_vec();
        rec.max_throttle = a.max_throttle;
        rec.bound_by = a.bound_by();
        if a.seg_phase == Phase::Postcopy
            && let Some(act) = rec.stages.get(Stage::Activation)
        {
            rec.degradation_s = (now.as_secs_f64() - act).max(0.0);
        }
        self.set_overhead(now, a.src);
        self.start_waiting(now);
    }

    /// Stage 3 begins: the VM stops running and serving.
    fn pause_vm(&mut self, now: SimTime, vm: VmId) {
        self.set_vm_state(now, vm, VmState::Paused);
        self.stop_vm_traffic(now, vm);
        let h = self.vms.host[vm.idx()];
        self.refresh_host(now, h);
    }

    /// Moves the VM's books from its source to its destination.
    fn move_vm(&mut self, now: SimTime, slot: usize) {
        let a = self.migs.get(slot);
        let (vm, src, dst) = (a.vm, a.src, a.dst);
        self.move_books(now, vm, src, dst);
        self.migs.reserved[dst.idx()] -= self.vms.ram[vm.idx()].0;
        self.migs.get_mut(slot).on_destination = true;
        self.refresh_host(now, src);
        self.refresh_host(now, dst);
    }

    /// Charges `host` the CPU of the migrations leaving it, recomputed from all of them (in
    /// slot order) so that concurrent ones add up.
    fn set_overhead(&mut self, now: SimTime, host: HostId) {
        let total = self.leaving_rate(host);
        self.charge_overhead(now, host, total);
    }

    /// What the transfers of the migrations leaving `host` send now, summed in slot order.
    fn leaving_rate(&self, host: HostId) -> Bandwidth {
        let mut total = Bandwidth::ZERO;
        for &slot in &self.migs.leaving[host.idx()] {
            if let Some(f) = self.migs.get(slot).flow
                && let Some(fl) = self.net.flow(f)
            {
                total += fl.rate;
            }
        }
        total
    }

    /// Sets `host`'s migration CPU from `rate`, what its outgoing migrations send.
    fn charge_overhead(&mut self, now: SimTime, host: HostId, rate: Bandwidth) {
        let core = self.hosts.host_type(host).core_mips;
        let cores = rate * self.scenario.migration.cpu_per_100mbit / Bandwidth::mbit(100.0);
        // Migration work cannot take more than the whole host.
        let mips = (cores * core).min(self.hosts.cpu_capacity[host.idx()]);
        if (mips - self.migs.overhead[host.idx()]).abs() > 1e-9 {
            self.migs.overhead[host.idx()] = mips;
            self.refresh_host(now, host);
        }
    }

    /// After rates change: the migration CPU of the hosts whose outgoing transfers changed
    /// rate, started or stopped follows what they now send. The network names the flows it
    /// re-rated, so the cost is the flows that changed, not every migration in flight.
    pub(super) fn update_migration_cpu(&mut self, now: SimTime) {
        for f in self.net.take_rerated() {
            if let Some(slot) = self.migs.flow_owner.get(f.0) {
                let src = self.migs.get(slot).src;
                self.migs.cpu_stale.insert(src);
            }
        }
        for h in std::mem::take(&mut self.migs.cpu_stale) {
            let rate = self.leaving_rate(h);
            self.charge_overhead(now, h, rate);
        }
    }
}
