//! What `PowerDatacenter.updateCloudletProcessing` and the hosts it updates do: VM creation
//! and destruction on a host (`Host`, `HostDynamicWorkload`), the bookings, and the update
//! of every host at each interval.

use super::*;

impl Experiment {
    pub(super) fn is_suitable(&self, h: usize, vm: usize) -> bool {
        let host = &self.hosts[h];
        let v = &self.vms[vm];
        let req = v.requested();
        if !(host.sched.pe >= req && host.sched.available >= req) {
            return false;
        }
        let (ram, bw) = (v.requested_ram(), v.requested_bw());
        if ram == 0.0 && bw == 0.0 {
            return true;
        }
        let ram_have = host.ram.free() + host.ram.held_by(vm);
        let bw_have = host.bw.free() + host.bw.held_by(vm);
        host.sched.pe >= req
            && host.sched.available >= req
            && ram_have >= v.requested_ram().min(HOST_RAM)
            && bw_have >= v.requested_bw().min(HOST_BW)
    }

    pub(super) fn alloc_ram_bw(&mut self, h: usize, vm: usize) -> bool {
        let (ram, bw) = (
            self.vms[vm].requested_ram().min(HOST_RAM),
            self.vms[vm].requested_bw().min(HOST_BW),
        );
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        if host.ram.free() < ram {
            return false;
        }
        host.ram.hold(vm, ram);
        host.bw.release(vm);
        if host.bw.free() < bw {
            host.ram.release(vm);
            return false;
        }
        host.bw.hold(vm, bw);
        true
    }

    /// Re-sums `h`'s free MIPS in walk order if a probe left that to do ([`Sched::probe`]),
    /// before anything reads them.
    #[inline]
    pub(super) fn settle(&mut self, h: usize) {
        let sched = &mut self.hosts[h].sched;
        if sched.walk_pending {
            sched.settle(&self.outs);
            self.hot[h].available = sched.available;
        }
    }

    pub(super) fn vm_create(&mut self, h: usize, vm: usize) -> bool {
        self.settle(h);
        if !self.book_vm(h, vm) {
            return false;
        }
        let (req, mig, hash) = (
            self.vms[vm].requested(),
            self.vms[vm].in_migration,
            self.vms[vm].hash,
        );
        self.hosts[h]
            .sched
            .allocate(&mut self.outs, vm, hash, req, mig);
        self.mark_touched(h);
        self.touch(h);
        true
    }

    pub(super) fn vm_deallocate(&mut self, h: usize, vm: usize) {
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.deallocate(&self.outs, vm);
        host.storage += VM_SIZE;
    }

    /// Notes a host whose VMs the optimisation under way created or destroyed.
    pub(super) fn mark_touched(&mut self, h: usize) {
        if self.tracking && !self.touched[h] {
            self.touched[h] = true;
            self.touched_list.push(h);
        }
    }

    pub(super) fn vm_destroy(&mut self, h: usize, vm: usize) {
        self.mark_touched(h);
        self.vm_deallocate(h, vm);
        self.hosts[h].vms.retain(|&v| v != vm);
        self.vms[vm].host = None;
        self.touch(h);
    }

    /// [`Experiment::vm_destroy`] of a VM selected to leave an overloaded host. The host is
    /// then only asked whether it is still overloaded, and is excluded from every placement
    /// until the restore empties it: so its re-allocation in walk order, which nothing would
    /// read, is left out, and of its packed record only the requested MIPS (and the history
    /// sum) that the detectors read are brought up to date.
    pub(super) fn vm_destroy_selected(&mut self, h: usize, vm: usize) {
        self.mark_touched(h);
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.list_available = None;
        host.sched.walk_pending = false;
        host.sched.canonical = false;
        host.sched.map.remove(vm);
        host.storage += VM_SIZE;
        host.vms.retain(|&v| v != vm);
        self.vms[vm].host = None;
        self.changed[h] = true;
        self.dormant[h] = false;
        self.hot[h].req = self.requested_mips(h);
        if self.uses_history {
            self.hosts[h].history_cache = self.history_sum(h);
        }
    }

    /// `restoreAllocation`'s first steps on a host the optimisation changed: every VM destroyed,
    /// then the VMs migrating in booked back first. The scheduler is left empty; the restore
    /// allocates every VM at once when the host's list is complete.
    pub(super) fn empty_for_restore(&mut self, h: usize) {
        self.dormant[h] = false;
        let host = &mut self.hosts[h];
        host.sched.deallocate_all();
        host.ram.clear();
        host.bw.clear();
        // Cleared rather than taken, so that the refill reuses the list's room.
        for &v in &host.vms {
            host.storage += VM_SIZE;
            self.vms[v].host = None;
        }
        host.vms.clear();
        for vm in self.hosts[h].migrating_in.clone() {
            let host = &mut self.hosts[h];
            if !host.vms.contains(&vm) {
                host.vms.push(vm);
            }
            if !host.sched.migrating_in.contains(&vm) {
                host.sched.migrating_in.push(vm);
            }
            self.alloc_ram_bw(h, vm);
            self.hosts[h].storage -= VM_SIZE;
        }
    }

    /// `vmCreate` short of the scheduler: storage, RAM and bandwidth, and the VM list. The
    /// restore books VMs this way and allocates a host's MIPS once its list is complete.
    pub(super) fn book_vm(&mut self, h: usize, vm: usize) -> bool {
        if self.hosts[h].storage < VM_SIZE || !self.alloc_ram_bw(h, vm) {
            return false;
        }
        self.dormant[h] = false;
        let host = &mut self.hosts[h];
        host.storage -= VM_SIZE;
        host.vms.push(vm);
        self.vms[vm].host = Some(h);
        true
    }

    /// [`Experiment::book_vm`] on a host the restore has just emptied, where the VM holds
    /// nothing yet: a running VM asks for no RAM or bandwidth, so it books zeros without the
    /// release that `RamProvisionerSimple` makes first, which would find nothing.
    pub(super) fn rebook_vm(&mut self, h: usize, vm: usize) -> bool {
        let v = &self.vms[vm];
        if v.requested_ram() != 0.0 || v.requested_bw() != 0.0 {
            return self.book_vm(h, vm);
        }
        let host = &mut self.hosts[h];
        debug_assert!(host.ram.held_by(vm) == 0.0 && host.bw.held_by(vm) == 0.0);
        debug_assert!(host.ram.held.iter().chain(&host.bw.held).all(|e| e.0 != vm));
        if host.storage < VM_SIZE || host.ram.free() < 0.0 || host.bw.free() < 0.0 {
            return false;
        }
        host.ram.hold(vm, 0.0);
        host.bw.hold(vm, 0.0);
        host.storage -= VM_SIZE;
        host.vms.push(vm);
        self.dormant[h] = false;
        self.vms[vm].host = Some(h);
        true
    }

    /// `addMigratingInVm`. CloudSim then updates the target and the source at once; that is
    /// left to the caller, which updates each host once after the last migration it starts
    /// this instant. An update at the same instant rebuilds the host's allocation from its
    /// VMs alone and replaces its same-time state entries, so only the last one is seen.
    pub(super) fn add_migrating_in(&mut self, h: usize, vm: usize, stale: &mut Vec<usize>) {
        self.vms[vm].in_migration = true;
        if self.hosts[h].migrating_in.contains(&vm) {
            return;
        }
        self.alloc_ram_bw(h, vm);
        self.hosts[h].sched.migrating_in.push(vm);
        // `allocatePesForVm`: the VM is on the migrating-in list, so not migrating out, and its
        // request is recorded under its UID. The update that follows re-allocates the host,
        // so the MIPS it would be given here are never read.
        let (req, hash) = (self.vms[vm].requested(), self.vms[vm].hash);
        let sched = &mut self.hosts[h].sched;
        sched.map.put(vm, hash, Share { req, alloc: 0.0 });
        sched.canonical = false;
        sched.list_available = None;
        self.hosts[h].storage -= VM_SIZE;
        self.hosts[h].migrating_in.push(vm);
        self.hosts[h].vms.push(vm);
        self.dormant[h] = false;
        stale.push(h);
        if let Some(src) = self.vms[vm].host {
            stale.push(src);
        }
    }

    /// The part of [`Experiment::allocate_in_list_order`] that outlasts the update to come:
    /// the scheduler's map keyed in list order (its table grows as the keys go in). The
    /// shares, the free MIPS and the migrating-out bits are what every update redoes from the
    /// VM list, and a host that keeps VMs is updated before anything reads them.
    pub(super) fn rekey_in_list_order(&mut self, h: usize) {
        let Experiment { hosts, vms, .. } = self;
        let host = &mut hosts[h];
        let sched = &mut host.sched;
        sched.map.refill(
            host.vms
                .iter()
                .map(|&vm| (vm, vms[vm].hash, Share::default())),
        );
        sched.list_available = None;
        sched.walk_pending = false;
        sched.overflowed = false;
        sched.canonical = false;
        sched.available = sched.total;
    }

    /// Every VM of `h` allocated afresh in list order (`Sched::allocate_all`); the requests
    /// and allocations are left in `self.entries` and `self.allocs`.
    pub(super) fn allocate_in_list_order(&mut self, h: usize) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        entries.extend(self.hosts[h].vms.iter().map(|&vm| self.vms[vm].request()));
        let mut allocs = std::mem::take(&mut self.allocs);
        self.hosts[h]
            .sched
            .allocate_all(&mut self.outs, &entries, &mut allocs);
        self.entries = entries;
        self.allocs = allocs;
    }

    /// `HostDynamicWorkload.updateVmsProcessing` with `PowerVm.updateVmProcessing`, for a
    /// host that starts or ends a migration now: the next optimisation comes after another
    /// update, so this one may be brief (see `update_host_at`).
    pub(super) fn update_host(&mut self, h: usize, t: f64) {
        let grid = (t - 0.1) % INTERVAL == 0.0;
        let p = TracePoint::at(t, self.samples.exact_at_updates);
        self.update_host_at(h, t, p, grid, true);
    }

    /// `update_host` with the grid test (`(t − 0.1) % interval == 0`) done once by the caller.
    ///
    /// A `brief` update is one whose scheduler state nothing reads before the host's next
    /// update: only the optimisation reads a host's free MIPS, walk-order map and packed
    /// record, and it always follows a full update at the grid time. A brief update still
    /// keeps the migrating-out bits, the VM and host state histories, the utilisation and the
    /// watts that the energy sum reads; it leaves the map's values, the free MIPS and the rest
    /// of the packed record for the next full update, which rebuilds them from the VM list.
    /// A host that is empty, was empty or runs out of MIPS is updated in full.
    pub(super) fn update_host_at(
        &mut self,
        h: usize,
        t: f64,
        p: TracePoint,
        grid: bool,
        brief: bool,
    ) {
        if self.update_host_in_one_pass(h, t, p, grid, !brief) {
            return;
        }
        // Each VM's cloudlet scheduler moves to t; the VM history grows at grid times.
        // The scheduler's requests are gathered on the way (`allocate_in_list_order`).
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        let mut finishing = false;
        for i in 0..self.hosts[h].vms.len() {
            let vm = self.hosts[h].vms[i];
            let v = &mut self.vms[vm];
            v.set_prev_time(&self.samples, t, p);
            entries.push(v.request());
            finishing |= v.finished();
            if t > v.power_prev_time && grid {
                // set_prev_time has just read the trace at t.
                let u = v.util_now;
                if self.keeps_histories && (t != 0.0 || u != 0.0) {
                    v.history.push_front(u);
                    v.history.truncate(HISTORY_LENGTH);
                }
                v.power_prev_time = t;
            }
        }
        let host = &mut self.hosts[h];
        host.prev_util_mips = host.util_mips;
        host.prev_power = self.hot[h].power_now;
        host.util_mips = 0.0;
        let mut allocs = std::mem::take(&mut self.allocs);
        host.sched
            .allocate_all(&mut self.outs, &entries, &mut allocs);
        let mut total_req = 0.0;
        let mut alloc_mips = 0.0;
        for (&(vm, _, req, mig), &a) in entries.iter().zip(&allocs) {
            let host = &self.hosts[h];
            let mut util = a;
            if mig && host.migrating_in.contains(&vm) {
                alloc_mips += a * 0.9 / 0.1;
            } else {
                self.vms[vm].add_state(t, a, req, mig);
                if mig {
                    util /= 0.9;
                }
            }
            alloc_mips += a;
            self.hosts[h].util_mips += util;
            total_req += req;
        }
        self.entries = entries;
        self.allocs = allocs;
        let host = &mut self.hosts[h];
        let active = host.util_mips > 0.0;
        let u = host.util_mips;
        host.add_state(t, u, total_req, active);
        // Histories grow only at grid times; otherwise the sum cached at the host's last change
        // still holds.
        self.touch_known(h, alloc_mips, total_req, grid);
        self.changed[h] = false;
        let host = &self.hosts[h];
        self.dormant[h] = host.vms.is_empty()
            && host.util_mips == 0.0
            && host.prev_util_mips == 0.0
            && host.states.last_flag() == Some(false);
        if finishing {
            self.finishing.push(h);
        }
    }

    /// [`Experiment::update_host_at`] in one pass over the host's VMs: each VM's demand at
    /// `t`, its migrating-out bit and its share taken in list order, its state entry, and the
    /// host's sums in the same order as the general path adds them. A brief update stops
    /// there; a `full` one then records the shares in the scheduler's map and rebuilds the
    /// packed record. Returns false, having changed nothing the general path does not redo
    /// the same way, for a host that is empty or was, or runs out of MIPS: the caller then
    /// takes the general path. (A VM's second state entry at the same time replaces the
    /// first, and the demand, the bits and the history step are the same whoever makes them
    /// first.)
    pub(super) fn update_host_in_one_pass(
        &mut self,
        h: usize,
        t: f64,
        p: TracePoint,
        grid: bool,
        full: bool,
    ) -> bool {
        let Experiment {
            hosts,
            vms,
            outs,
            samples,
            is_pristine,
            allocs,
            keeps_histories,
            ..
        } = self;
        let keeps_histories = *keeps_histories;
        let host = &mut hosts[h];
        if host.vms.is_empty() || is_pristine[h] {
            return false;
        }
        let sched = &host.sched;
        let (pe, mut available) = (sched.pe, sched.total);
        let (mut finishing, mut total_req, mut util_mips, mut alloc_mips) = (false, 0.0, 0.0, 0.0);
        allocs.clear();
        for &vm in &host.vms {
            let v = &mut vms[vm];
            v.set_prev_time(samples, t, p);
            if t > v.power_prev_time && grid {
                let u = v.util_now;
                if keeps_histories && (t != 0.0 || u != 0.0) {
                    v.history.push_front(u);
                    v.history.truncate(HISTORY_LENGTH);
                }
                v.power_prev_time = t;
            }
            let (req, mig) = (v.requested(), v.in_migration);
            finishing |= v.finished();
            // `Sched::list_shares`, one VM at a time.
            debug_assert!(mig || !sched.migrating_in.contains(&vm));
            let coming_in = mig && sched.migrating_in.contains(&vm);
            let held_out = if !mig {
                outs.remove(vm, h);
                false
            } else if coming_in {
                outs.contains(vm, h)
            } else {
                outs.insert(vm, h);
                true
            };
            let (taken, a) = share(pe, req, coming_in, held_out);
            if available < taken {
                return false;
            }
            available -= taken;
            // The sums of `update_host_at`, term for term (the allocated sum only feeds the
            // packed record).
            debug_assert_eq!(coming_in, mig && host.migrating_in.contains(&vm));
            let mut util = a;
            if coming_in {
                alloc_mips += a * 0.9 / 0.1;
            } else {
                v.add_state(t, a, req, mig);
                if mig {
                    util /= 0.9;
                }
            }
            alloc_mips += a;
            util_mips += util;
            total_req += req;
            if full {
                allocs.push(a);
            }
        }
        host.prev_util_mips = host.util_mips;
        host.prev_power = self.hot[h].power_now;
        host.util_mips = util_mips;
        host.add_state(t, util_mips, total_req, util_mips > 0.0);
        if full {
            // `Sched::allocate_all` after its list-order pass: no VM ran out of MIPS.
            let sched = &mut host.sched;
            sched.list_available = None;
            sched.walk_pending = false;
            sched.overflowed = false;
            sched.available = available;
            sched
                .map
                .refill(host.vms.iter().zip(allocs.iter()).map(|(&vm, &alloc)| {
                    let v = &vms[vm];
                    (
                        vm,
                        v.hash,
                        Share {
                            req: v.requested(),
                            alloc,
                        },
                    )
                }));
            sched.canonical = false;
            self.touch_known(h, alloc_mips, total_req, grid);
        } else {
            // What the energy sum and the next update read; the rest of the packed record
            // waits for the next full update.
            self.hot[h].power_now = self.curves[host_type(h)].at(host.utilization());
        }
        self.changed[h] = false;
        self.dormant[h] = false;
        if finishing {
            self.finishing.push(h);
        }
        true
    }

    /// `PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce`.
    pub(super) fn update_all(&mut self) {
        let t = self.clock;
        let dt = t - self.last_process;
        let grid = (t - 0.1) % INTERVAL == 0.0;
        let p = TracePoint::at(t, self.samples.exact_at_updates);
        let mut updated = std::mem::take(&mut self.updated);
        updated.clear();
        for h in 0..self.hosts.len() {
            if self.dormant[h] || (dt == 0.0 && !self.changed[h]) {
                continue;
            }
            // Only the update at a grid time comes before an optimisation.
            self.update_host_at(h, t, p, grid, !grid);
            updated.push(h);
        }
        if dt > 0.0 {
            if self.policy == Policy::Npa {
                for hot in &self.hot {
                    self.energy_ws += self.curves[hot.ty].power[10] * dt;
                }
            } else {
                // A host not updated is dormant: idle before, so it adds nothing.
                for &h in &updated {
                    let host = &self.hosts[h];
                    if host.prev_utilization() != 0.0 {
                        // Both cached at the update: the power at the previous and at the
                        // current utilisation.
                        let (pp, pc) = (host.prev_power, self.hot[h].power_now);
                        self.energy_ws += (pp + (pc - pp) / 2.0) * dt;
                    }
                }
            }
        }
        self.updated = updated;
        // Finished VMs: demand exactly 0 and not migrating (`getCompletedVms`), host by host
        // in id order. Only a host whose update saw one can hold one: a VM's demand and
        // migration flag change only in its hosts' updates and in moves that mark the hosts
        // changed.
        let mut finishing = std::mem::take(&mut self.finishing);
        finishing.sort_unstable();
        finishing.dedup();
        for &h in &finishing {
            let done: Vec<usize> = self.hosts[h]
                .vms
                .iter()
                .copied()
                .filter(|&v| self.vms[v].finished())
                .collect();
            for vm in done {
                if let Some(host) = self.vms[vm].host {
                    self.vm_destroy(host, vm);
                }
                self.vms[vm].removed = true;
                self.live.retain(|&v| v != vm);
            }
        }
        finishing.clear();
        self.finishing = finishing;
        self.last_process = t;
    }
}
