//! `optimizeAllocation`: the overload and underload phases, the migration map, and the
//! completion of each migration.

use super::*;

impl Experiment {
    pub(super) fn placement(
        &mut self,
        mut vms: Vec<usize>,
        excluded: &[bool],
        all_or_nothing: bool,
    ) -> Vec<(usize, usize)> {
        self.sort_by_cpu(&mut vms);
        let mut map = Vec::new();
        for vm in vms {
            match self.find_host(vm, excluded, !all_or_nothing) {
                Some(h) => {
                    self.vm_create(h, vm);
                    map.push((vm, h));
                }
                None if all_or_nothing => {
                    for &(v, h) in &map {
                        self.vm_destroy(h, v);
                    }
                    map.clear();
                    break;
                }
                None => {}
            }
        }
        map
    }

    /// `optimizeAllocation`: overloaded hosts shed VMs, then underloaded hosts are emptied.
    pub(super) fn optimize(&mut self, sel: Selector) -> Vec<(usize, usize)> {
        let n = self.hosts.len();
        self.tracking = true;
        self.begin_index();
        // CloudSim walks every host in each step below. An empty host (not in `active`) holds no
        // VM, has no load and no history, so no detector finds it overloaded, and it has
        // nothing to save, evacuate or refill: walking the active hosts in id order does the
        // same.
        let mut hosts_then = std::mem::take(&mut self.active_then);
        hosts_then.clear();
        hosts_then.extend_from_slice(&self.active);
        let over: Vec<usize> = hosts_then
            .iter()
            .copied()
            .filter(|&h| self.over_utilized(h))
            .collect();
        // saveAllocation(): VMs on their hosts, except those migrating in.
        let mut saved: Vec<(usize, usize)> = Vec::with_capacity(self.live.len());
        for &h in &hosts_then {
            let host = &self.hosts[h];
            for &v in &host.vms {
                if !host.migrating_in.contains(&v) {
                    saved.push((h, v));
                }
            }
        }
        let mut to_move = Vec::new();
        for &h in &over {
            while let Some(vm) = self.select_vm(h, sel) {
                to_move.push(vm);
                self.vm_destroy_selected(h, vm);
                if !self.over_utilized(h) {
                    break;
                }
            }
        }
        let mut excluded = vec![false; n];
        for &h in &over {
            excluded[h] = true;
            self.index.retire(h);
        }
        let mut map = self.placement(to_move, &excluded, false);

        // Underload phase. Empty hosts are switched off too, but PABFD here never considers
        // an empty host, and none is a candidate for evacuation, so only the hosts active now
        // are marked: among them, those the placement above has just woken, which count as off.
        let off: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&h| self.hosts[h].utilization() == 0.0)
            .collect();
        let mut ex_under = excluded.clone();
        let mut ex_place = excluded;
        for &h in &off {
            ex_under[h] = true;
            ex_place[h] = true;
            self.index.retire(h);
        }
        // Candidates in the order CloudSim's repeated minimum search would pick them: least
        // measured utilisation first, lowest id on ties. Measured utilisation does not change
        // during the optimisation, and a host only leaves the candidates by being excluded.
        let mut order: Vec<(f64, usize)> = hosts_then
            .iter()
            .map(|&h| (self.hosts[h].utilization(), h))
            .filter(|&(u, h)| !ex_under[h] && u > 0.0 && u < 1.0)
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut cursor = 0;
        loop {
            let mut under = None;
            while cursor < order.len() {
                let h = order[cursor].1;
                cursor += 1;
                if !ex_under[h] && !self.all_out_or_any_in(h) {
                    under = Some(h);
                    break;
                }
            }
            let Some(h) = under else { break };
            ex_under[h] = true;
            ex_place[h] = true;
            self.index.retire(h);
            let vms = self.migratable(h);
            if vms.is_empty() {
                continue;
            }
            let placed = self.placement(vms, &ex_place, true);
            for &(_, t) in &placed {
                ex_under[t] = true;
            }
            map.extend(placed);
        }
        // restoreAllocation(): every host is emptied and refilled, its VMs migrating in first.
        // A host the optimisation never touched gets the same allocations back, so only its
        // VM order and its RAM and bandwidth books (refilled at zero demand) change.
        self.tracking = false;
        self.index.end();
        // The hosts to refill: those active at the start, and any the optimisation touched.
        hosts_then.extend_from_slice(&self.touched_list);
        hosts_then.sort_unstable();
        hosts_then.dedup();
        for &h in &hosts_then {
            if self.touched[h] {
                self.empty_for_restore(h);
            } else {
                let host = &mut self.hosts[h];
                if host.migrating_in.is_empty()
                    && !self.probed[h]
                    && host.ram.all_zero()
                    && host.bw.all_zero()
                {
                    // Refilling would give back exactly what is there.
                    continue;
                }
                let ins = host.migrating_in.clone();
                let rest: Vec<usize> = host
                    .vms
                    .iter()
                    .copied()
                    .filter(|v| !ins.contains(v))
                    .collect();
                host.vms = ins;
                host.vms.extend(rest);
                host.ram.zero_all();
                host.bw.zero_all();
                let sched = &mut self.hosts[h].sched;
                if self.probed[h] && !sched.overflowed && sched.list_available.is_some() {
                    // Probing left the walk-order allocation; refilling in list order gives
                    // the same allocations and the free MIPS it had before.
                    sched.available = sched.list_available.take().unwrap_or(sched.available);
                    sched.canonical = false;
                    sched.walk_pending = false;
                } else if self.probed[h] {
                    // Probing left the walk-order allocation; refilling allocates in list
                    // order again.
                    self.allocate_in_list_order(h);
                }
                // The packed record is not refreshed: the host keeps its VMs, and so its
                // watts (all an update reads of it) and its place among the empty hosts; the
                // full update before the next optimisation rebuilds the rest.
            }
        }
        for &(h, vm) in &saved {
            if self.touched[h] {
                let ok = self.rebook_vm(h, vm);
                debug_assert!(ok, "restoring the allocation cannot fail");
            } else {
                self.vms[vm].host = Some(h);
            }
        }
        // Each refilled host's scheduler allocates its VMs in list order, as the one-by-one
        // `vmCreate` calls would from an empty host. Its packed record is refreshed only where
        // its place among the empty hosts may have changed: otherwise, as above, the watts an
        // update reads are those of the unchanged measured load, and the full update before
        // the next optimisation rebuilds the rest.
        let mut touched = std::mem::take(&mut self.touched_list);
        touched.sort_unstable();
        for &h in &touched {
            if self.hosts[h].vms.is_empty() || self.is_pristine[h] {
                self.allocate_in_list_order(h);
                self.touch(h);
            } else {
                self.rekey_in_list_order(h);
            }
            self.touched[h] = false;
        }
        touched.clear();
        self.touched_list = touched;
        for &h in &hosts_then {
            self.probed[h] = false;
        }
        debug_assert!(
            self.probed.iter().all(|&p| !p),
            "only those hosts are probed"
        );
        self.active_then = hosts_then;
        map
    }

    pub(super) fn all_out_or_any_in(&self, h: usize) -> bool {
        for &v in &self.hosts[h].vms {
            if !self.vms[v].in_migration {
                return false;
            }
            if self.hosts[h].migrating_in.contains(&v) {
                return true;
            }
        }
        true
    }

    pub(super) fn complete_migration(&mut self, vm: usize, target: usize) {
        // PowerDatacenter.processVmMigrate: bring everything up to now first.
        if self.clock > self.last_process {
            self.update_all();
        }
        // CloudSim destroys the VM on its source, removes it from the target's migrating-in
        // list and creates it there, each step re-allocating the host's MIPS. The update that
        // follows at this same instant (`run` makes it once the last completion at this time
        // is moved) re-allocates both hosts from their VM lists and rebuilds their packed
        // records, so only what that update reads and does not rebuild is kept exact here:
        // the VM lists, the RAM, bandwidth and storage books, the scheduler's keys (the table
        // of Java's map grows with them) and migrating-in list, and the migrating-out bits.
        if let Some(src) = self.vms[vm].host {
            self.forget_vm(src, vm);
            self.vms[vm].host = None;
        }
        self.forget_vm(target, vm);
        let host = &mut self.hosts[target];
        host.migrating_in.retain(|&v| v != vm);
        host.sched.migrating_in.retain(|&v| v != vm);
        self.vms[vm].in_migration = false;
        let ok = self.book_vm(target, vm);
        debug_assert!(ok, "a reserved destination takes its VM");
        // `allocatePesForVm` of a VM no longer in migration: out of the migrating-out set,
        // its request recorded under its UID.
        self.outs.remove(vm, target);
        let (req, hash) = (self.vms[vm].requested(), self.vms[vm].hash);
        let sched = &mut self.hosts[target].sched;
        sched.map.put(vm, hash, Share { req, alloc: 0.0 });
        sched.canonical = false;
        sched.list_available = None;
        self.mark_changed(target);
    }

    /// `vmDestroy` short of the re-allocation, for a VM that completed its migration.
    pub(super) fn forget_vm(&mut self, h: usize, vm: usize) {
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.list_available = None;
        host.sched.map.remove(vm);
        host.storage += VM_SIZE;
        host.vms.retain(|&v| v != vm);
        self.mark_changed(h);
    }

    /// What `touch` does that the next update at the same instant does not redo: the host is
    /// marked for that update, and its history sum follows its new VM list.
    pub(super) fn mark_changed(&mut self, h: usize) {
        self.changed[h] = true;
        self.dormant[h] = false;
        if self.uses_history {
            self.hosts[h].history_cache = self.history_sum(h);
        }
    }
}
