//! PABFD (`PowerVmAllocationPolicyMigrationAbstract.findHostForVm`): the create-and-destroy
//! probe of each host, the power-increase score, and the host index that visits the same
//! hosts in fewer steps.

use super::*;

impl Experiment {
    /// `getUtilizationOfCpuMips`: allocated MIPS, a VM migrating in counted at full size.
    pub(super) fn alloc_mips_slow(&mut self, h: usize) -> f64 {
        let host = &self.hosts[h];
        // Each VM's allocation looked up through a stamped table rather than a search of the
        // map per VM; the sum still runs in VM-list order.
        self.stamp += 1;
        let stamp = self.stamp;
        for (vm, s) in host.sched.map.iter_any_order() {
            self.alloc_of[vm] = (stamp, s.alloc);
        }
        let mut m = 0.0;
        for &v in &host.vms {
            let (at, a) = self.alloc_of[v];
            let a = if at == stamp { a } else { 0.0 };
            if host.migrating_in.contains(&v) {
                m += a * 0.9 / 0.1;
            }
            m += a;
        }
        m
    }

    /// PABFD's evaluation of one host short of the power increase: whether it can take the
    /// VM described by `c`.
    ///
    /// `isHostOverUtilizedAfterAllocation` really creates the VM on the host and destroys it
    /// again. Destroying re-allocates the host's remaining VMs in its hash-map order, which
    /// leaves different last bits in its free MIPS than the update's list-order allocation
    /// did; CloudSim's later choices see those bits, so the evaluation does the same.
    #[inline]
    pub(super) fn admits(&mut self, h: usize, c: &Placing) -> bool {
        self.settle(h);
        let hot = &self.hot[h];
        debug_assert_eq!(hot.available, self.hosts[h].sched.available);
        debug_assert_eq!(hot.storage, self.hosts[h].storage);
        // isSuitableForVm: a PE can hold the request and the host has the MIPS free.
        if !(hot.pe >= c.req && hot.available >= c.req) {
            return false;
        }
        if c.instantiating && !self.is_suitable(h, c.vm) {
            return false;
        }
        if self.pabfd_load(h) != 0.0 {
            let hot = &self.hot[h];
            // vmCreate gets to the scheduler only with storage, RAM and bandwidth to spare.
            let creatable = hot.storage >= VM_SIZE && hot.ram_free >= c.ram && hot.bw_free >= c.bw;
            let over = !creatable
                || match c.threshold {
                    Some(t) => (hot.req + c.req) / hot.total > t,
                    None => self.over_utilized_with(h, Some(c.vm)),
                };
            if creatable {
                self.probe(h, c.vm);
            }
            if over {
                return false;
            }
        }
        true
    }

    /// The scheduler side of `vmCreate(vm)` followed by `vmDestroy(vm)` on `h`. A quiet host
    /// only forgets `vm` as migrating out, which needs nothing of the host's own state.
    #[inline]
    pub(super) fn probe(&mut self, h: usize, vm: usize) {
        let (mig, hash) = (self.vms[vm].in_migration, self.vms[vm].hash);
        debug_assert_eq!(self.hot[h].quiet, self.hosts[h].sched.probe_is_quiet());
        if self.hot[h].quiet && !mig {
            self.outs.remove(vm, h);
        } else {
            if self.hosts[h].sched.probe(&mut self.outs, vm, hash, mig) {
                self.touch(h);
            }
            let sched = &self.hosts[h].sched;
            self.hot[h].available = sched.available;
            self.hot[h].quiet = sched.probe_is_quiet();
        }
        if self.tracking {
            self.probed[h] = true;
        }
        self.reindex(h);
    }

    /// PABFD's host choice (`findHostForVm`): the least power increase, the lowest id on ties.
    ///
    /// Empty hosts of one type all score the same, so only the lowest-numbered one of each type
    /// is evaluated; the others could never win the tie. When `pristine_allowed` is false every
    /// empty host is excluded (the underload phase excludes switched-off hosts).
    pub(super) fn find_host(
        &mut self,
        vm: usize,
        excluded: &[bool],
        pristine_allowed: bool,
    ) -> Option<usize> {
        let v = &self.vms[vm];
        let c = Placing {
            vm,
            req: v.requested(),
            ram: v.requested_ram().min(HOST_RAM),
            bw: v.requested_bw().min(HOST_BW),
            instantiating: v.requested_ram() != 0.0 || v.requested_bw() != 0.0,
            threshold: match self.policy {
                Policy::Migration(Detector::Thr(t), _) => Some(t),
                _ => None,
            },
        };
        // A VM being instantiated is on no host yet, so `isSuitableForVm` finds none of its
        // RAM or bandwidth booked on the host scored; the quiet-host shortcut relies on that.
        let indexed = self.index.live()
            && !self.plain_scan
            && !self.vms[vm].in_migration
            && (!c.instantiating || self.vms[vm].host.is_none());
        if indexed {
            return self.best_indexed(&c, excluded, pristine_allowed);
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&self.active);
        if pristine_allowed {
            for set in &self.pristine {
                if let Some(&h) = set.iter().find(|&&h| !excluded[h]) {
                    candidates.push(h);
                }
            }
        }
        let best = self.best_in_general(&c, &candidates, excluded);
        self.candidates = candidates;
        best
    }

    /// PABFD's scan as CloudSim writes it: admit (probing) every candidate, then score those
    /// admitted. Any detector, any VM; the indexed scan must choose as this one does.
    pub(super) fn best_in_general(
        &mut self,
        c: &Placing,
        candidates: &[usize],
        excluded: &[bool],
    ) -> Option<usize> {
        // Everything but the power first, probes included: a probe changes only its own
        // host, and each host's power is read after its own probe either way. The power
        // increases then come from a loop with no side effects.
        let mut admitted = std::mem::take(&mut self.admitted);
        admitted.clear();
        for &h in candidates {
            if !excluded[h] && self.admits(h, c) {
                admitted.push(h);
            }
        }
        let mut best: Option<(f64, usize)> = None;
        for &h in &admitted {
            consider(&mut best, self.power_increase(h, c.req), h);
        }
        self.admitted = admitted;
        best.map(|b| b.1)
    }

    /// The same choice through the host index ([`index`]): first every host whose evaluation
    /// may change it (not yet in walk order, or holding the VM as migrating out), then the
    /// lowest-numbered empty host of each type, then the groups of quiet hosts in the order
    /// of their bound on the power increase, until a bound passes the best found.
    ///
    /// Evaluating a host changes at most that host, so the order of evaluation cannot change
    /// any host's verdict or score; ties still go to the lowest id.
    pub(super) fn best_indexed(
        &mut self,
        c: &Placing,
        excluded: &[bool],
        pristine_allowed: bool,
    ) -> Option<usize> {
        let stamp = self.index.next_placement();
        let mut out_row = std::mem::take(&mut self.out_row);
        self.outs.copy_row(c.vm, &mut out_row);
        let held = |row: &[u64], h: usize| row.get(h / 64).is_some_and(|w| w >> (h % 64) & 1 != 0);
        let mut best: Option<(f64, usize)> = None;
        let odd = self.index.take_odd();
        for &h in &odd {
            if excluded[h] || !self.index.is_odd(h) || self.index.see(h, stamp) {
                continue;
            }
            if let Some(d) = self.evaluate(h, c, held(&out_row, h)) {
                consider(&mut best, d, h);
            }
        }
        self.index.return_odd(odd);
        // Hosts holding the VM as migrating out; an empty one is reached below if at all.
        for (w, &word) in out_row.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let h = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if excluded[h] || self.is_pristine[h] || self.index.see(h, stamp) {
                    continue;
                }
                if let Some(d) = self.evaluate(h, c, true) {
                    consider(&mut best, d, h);
                }
            }
        }
        if pristine_allowed {
            for ty in 0..self.pristine.len() {
                let Some(&h) = self.pristine[ty].iter().find(|&&h| !excluded[h]) else {
                    continue;
                };
                if self.index.see(h, stamp) {
                    continue;
                }
                if let Some(d) = self.evaluate(h, c, held(&out_row, h)) {
                    consider(&mut best, d, h);
                }
            }
        }
        // The quiet hosts, whose evaluation changes nothing: in each group every score first,
        // then the verdicts from the least score up, to the first host admitted (no later one
        // could beat it). Most hosts scored are never asked for a verdict.
        let mut queue = std::mem::take(&mut self.group_queue);
        let mut scored = std::mem::take(&mut self.scored);
        self.index.bound_groups(c.req, &mut queue);
        while let Some((bound, g)) = queue.pop_least() {
            if best.is_some_and(|(d, _)| bound > d) {
                break;
            }
            scored.clear();
            for i in 0..self.index.group_len(g) {
                let h = self.index.group_host(g, i);
                debug_assert!(!excluded[h] && !self.index.is_odd(h));
                if !self.index.seen(h, stamp) && !held(&out_row, h) {
                    scored.push((self.power_increase(h, c.req), h));
                }
            }
            loop {
                let mut at = usize::MAX;
                let mut least = best;
                for (i, &(d, h)) in scored.iter().enumerate() {
                    if beats(d, h, least) {
                        least = Some((d, h));
                        at = i;
                    }
                }
                if at == usize::MAX {
                    break;
                }
                let (d, h) = scored.swap_remove(at);
                if self.admits_quietly(h, c) {
                    best = Some((d, h));
                    break;
                }
            }
        }
        self.scored = scored;
        self.group_queue = queue;
        self.out_row = out_row;
        best.map(|b| b.1)
    }

    /// One host's verdict and score, with every side effect CloudSim's evaluation has on it.
    /// A quiet host under THR that does not hold the VM as migrating out changes nothing but
    /// the restore's `probed` mark, so it is admitted by its packed record alone.
    pub(super) fn evaluate(&mut self, h: usize, c: &Placing, held_out: bool) -> Option<f64> {
        let admitted = match c.threshold {
            Some(t) if self.hot[h].quiet && !held_out => {
                self.settle(h);
                let checks = self.quiet_checks(h, c);
                let (suitable, loaded, creatable) = checks;
                if self.tracking && suitable && loaded && creatable && !self.probed[h] {
                    self.probed[h] = true;
                    self.reindex(h);
                }
                self.thr_verdict(h, c, t, checks)
            }
            _ => self.admits(h, c),
        };
        admitted.then(|| self.power_increase(h, c.req))
    }

    /// `isSuitableForVm` and the two conditions of `isHostOverUtilizedAfterAllocation`'s
    /// probe, from a quiet host's packed record: (suitable, loaded, creatable).
    #[inline]
    pub(super) fn quiet_checks(&self, h: usize, c: &Placing) -> (bool, bool, bool) {
        let hot = &self.hot[h];
        debug_assert_eq!(hot.available, self.hosts[h].sched.available);
        let room = (hot.ram_free >= c.ram) & (hot.bw_free >= c.bw);
        let suitable = (hot.pe >= c.req) & (hot.available >= c.req) & (room | !c.instantiating);
        (suitable, hot.alloc != 0.0, (hot.storage >= VM_SIZE) & room)
    }

    /// PABFD's verdict on a quiet host not holding the VM as migrating out, whose probe
    /// changes nothing: under THR from its packed record, otherwise by the detector.
    #[inline]
    pub(super) fn admits_quietly(&mut self, h: usize, c: &Placing) -> bool {
        match c.threshold {
            Some(t) => {
                self.settle(h);
                let checks = self.quiet_checks(h, c);
                self.thr_verdict(h, c, t, checks)
            }
            None => self.admits(h, c),
        }
    }

    /// THR's verdict from a quiet host's checks ([`Experiment::quiet_checks`]): suitable, and
    /// if loaded, creatable and not over the threshold with the VM on it.
    #[inline]
    pub(super) fn thr_verdict(
        &self,
        h: usize,
        c: &Placing,
        t: f64,
        checks: (bool, bool, bool),
    ) -> bool {
        let (suitable, loaded, creatable) = checks;
        let hot = &self.hot[h];
        let over = (hot.req + c.req) / hot.total > t;
        suitable & !(loaded & (!creatable | over))
    }

    /// PABFD's score: watts after taking `req` more MIPS (`getPowerAfterAllocation`) less
    /// watts now.
    #[inline]
    pub(super) fn power_increase(&self, h: usize, req: f64) -> f64 {
        let hot = &self.hot[h];
        // Types are 0 and 1; the mask spares the bounds check.
        self.curves[hot.ty & 1].at((self.pabfd_load(h) + req) / hot.total) - hot.power_now
    }

    /// Keeps `h`'s caches and index in step after its VMs, allocations or utilisation changed.
    pub(super) fn touch(&mut self, h: usize) {
        self.changed[h] = true;
        self.dormant[h] = false;
        let alloc = self.alloc_mips_slow(h);
        let req = self.requested_mips(h);
        self.touch_known(h, alloc, req, true);
    }

    /// The host's requested MIPS, summed in VM-list order as CloudSim adds them.
    pub(super) fn requested_mips(&self, h: usize) -> f64 {
        self.hosts[h]
            .vms
            .iter()
            .map(|&v| self.vms[v].requested())
            .sum()
    }

    /// `touch` with the allocated and requested sums already at hand.
    pub(super) fn touch_known(&mut self, h: usize, alloc: f64, req: f64, histories_moved: bool) {
        if self.uses_history && histories_moved {
            self.hosts[h].history_cache = self.history_sum(h);
        }
        let host = &mut self.hosts[h];
        self.hot[h] = Hot {
            available: host.sched.available,
            pe: host.sched.pe,
            total: host.total,
            alloc,
            req,
            ram_free: host.ram.free(),
            bw_free: host.bw.free(),
            storage: host.storage,
            power_now: self.curves[host_type(h)].at(host.utilization()),
            ty: host_type(h),
            quiet: host.sched.probe_is_quiet(),
        };
        let pristine = host.vms.is_empty() && host.util_mips == 0.0 && host.storage == HOST_STORAGE;
        if pristine == self.is_pristine[h] {
            self.reindex(h);
            return;
        }
        self.is_pristine[h] = pristine;
        let ty = host_type(h);
        if pristine {
            if let Ok(i) = self.active.binary_search(&h) {
                self.active.remove(i);
            }
            self.pristine[ty].insert(h);
        } else {
            self.pristine[ty].remove(&h);
            if let Err(i) = self.active.binary_search(&h) {
                self.active.insert(i, h);
            }
        }
        self.reindex(h);
    }

    /// Keeps `h`'s place in PABFD's index in step with its packed record, while the index is
    /// live. A host is odd, and always evaluated, while a probe could still change it: its
    /// scheduler is not in walk order, or (during an optimisation) it is loaded and not yet
    /// marked probed for the restore.
    #[inline]
    pub(super) fn reindex(&mut self, h: usize) {
        if !self.index.live() {
            return;
        }
        if self.is_pristine[h] {
            self.index.set(h, None, false);
            return;
        }
        let hot = &self.hot[h];
        let load = hot.alloc / hot.total;
        let base = self.curves[hot.ty & 1].at(load) - hot.power_now;
        let odd = !(hot.quiet && (!self.tracking || hot.alloc == 0.0 || self.probed[h]));
        self.index
            .set(h, Some((hot.ty, HostIndex::bin(load), base)), odd);
    }

    /// Makes the index live and places every active host in it.
    pub(super) fn begin_index(&mut self) {
        self.index.begin();
        for i in 0..self.active.len() {
            let h = self.active[i];
            self.reindex(h);
        }
    }

    pub(super) fn first_fit(&self, vm: usize) -> Option<usize> {
        (0..self.hosts.len()).find(|&h| self.is_suitable(h, vm))
    }
}
