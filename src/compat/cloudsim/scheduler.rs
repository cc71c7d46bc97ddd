//! `VmSchedulerTimeSharedOverSubscription`: how a host shares its PEs' MIPS among its VMs,
//! flooring shares when the host is full, and the migration's 10 % on both ends.

use super::*;

/// `VmSchedulerTimeSharedOverSubscription` for one host.
#[derive(Default)]
pub(super) struct Sched {
    pub(super) total: f64,
    pub(super) pe: f64,
    /// `mipsMapRequested` and `mipsMap` side by side: each VM's requested MIPS and its
    /// allocation, walked in the order of Java's `HashMap` keyed by VM UID. A VM leaving makes
    /// CloudSim re-allocate the rest in that order, and `available` is a running difference,
    /// so the order decides its last bits.
    pub(super) map: HashOrder<Share>,
    pub(super) available: f64,
    /// Whether the last allocation ran out of MIPS and scaled every VM down.
    pub(super) overflowed: bool,
    /// Whether the state is what re-allocating `map` in walk order gives, as it is after a VM
    /// leaves. Doing that again changes nothing, so PABFD's create-and-destroy probe of a host
    /// costs nothing the second time.
    pub(super) canonical: bool,
    /// `available` as the list-order allocation left it, saved by the first probe that
    /// replaced it: refilling the host in list order gives exactly that back.
    pub(super) list_available: Option<f64>,
    /// A probe has put the scheduler in walk order without re-summing `available`, which
    /// [`Sched::settle`] does before anything reads it.
    pub(super) walk_pending: bool,
    pub(super) migrating_in: Vec<usize>,
    /// The host's index, under which its migrating-out set lives in [`OutSets`].
    pub(super) host: usize,
}

/// Each host's `vmsMigratingOut`, stored by VM: row `vm` holds a bit per host. CloudSim never
/// forgets a VM that migrated out (until it comes back or is placed there again), so the sets
/// grow through the day; membership is all that is asked of them. Stored by VM, the bits PABFD
/// clears while scoring every host for one VM lie together.
#[derive(Default, Clone)]
pub(super) struct OutSets {
    pub(super) words_per_vm: usize,
    pub(super) bits: Vec<u64>,
    /// How many sets hold each VM: most VMs are in none, and then no bit need be read.
    pub(super) count: Vec<u32>,
}

impl OutSets {
    pub(super) fn new(vms: usize, hosts: usize) -> OutSets {
        let words_per_vm = hosts.div_ceil(64);
        OutSets {
            words_per_vm,
            bits: vec![0; vms * words_per_vm],
            count: vec![0; vms],
        }
    }
    #[inline]
    pub(super) fn at(&self, vm: usize, host: usize) -> (usize, u64) {
        (vm * self.words_per_vm + host / 64, 1 << (host % 64))
    }
    #[inline]
    pub(super) fn contains(&self, vm: usize, host: usize) -> bool {
        if self.count[vm] == 0 {
            return false;
        }
        let (w, b) = self.at(vm, host);
        self.bits[w] & b != 0
    }
    #[inline]
    pub(super) fn insert(&mut self, vm: usize, host: usize) {
        let (w, b) = self.at(vm, host);
        if self.bits[w] & b == 0 {
            self.bits[w] |= b;
            self.count[vm] += 1;
        }
    }
    /// Row `vm` into `out`; empty when no set holds `vm`.
    pub(super) fn copy_row(&self, vm: usize, out: &mut Vec<u64>) {
        out.clear();
        if self.count[vm] != 0 {
            let start = vm * self.words_per_vm;
            out.extend_from_slice(&self.bits[start..start + self.words_per_vm]);
        }
    }
    #[inline]
    pub(super) fn remove(&mut self, vm: usize, host: usize) {
        if self.count[vm] == 0 {
            return;
        }
        let (w, b) = self.at(vm, host);
        if self.bits[w] & b != 0 {
            self.bits[w] &= !b;
            self.count[vm] -= 1;
        }
    }
}

/// What one VM asking `req` takes from the host's free MIPS, and what it is given
/// (`VmSchedulerTimeSharedOverSubscription.allocatePesForVm`): the request capped at one PE; a
/// VM migrating in reserves and gets 10 %, one migrating out keeps 90 % of a full reservation.
#[inline]
pub(super) fn share_of(
    pe: f64,
    ins: &[usize],
    outs: &OutSets,
    host: usize,
    vm: usize,
    req: f64,
) -> (f64, f64) {
    share(pe, req, ins.contains(&vm), outs.contains(vm, host))
}

/// [`share_of`] with the VM's place on the migrating-in list and in the migrating-out set
/// already known.
#[inline]
pub(super) fn share(pe: f64, req: f64, coming_in: bool, held_out: bool) -> (f64, f64) {
    let capped = req.min(pe);
    let taken = if coming_in { capped * 0.1 } else { capped };
    let given = if held_out { capped * 0.9 } else { taken };
    (taken, given)
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Share {
    pub(super) req: f64,
    pub(super) alloc: f64,
}

impl Sched {
    pub(super) fn share(&self, outs: &OutSets, vm: usize, req: f64) -> (f64, f64) {
        share_of(self.pe, &self.migrating_in, outs, self.host, vm, req)
    }

    /// `allocatePesForVm(String, …)`: record the request, then take it from the free MIPS or,
    /// when it does not fit, scale everybody.
    pub(super) fn allocate_uid(&mut self, outs: &OutSets, vm: usize, hash: u32, req: f64) {
        let alloc = self.map.get(vm).map_or(0.0, |s| s.alloc);
        self.map.put(vm, hash, Share { req, alloc });
        let (total, a) = self.share(outs, vm, req);
        if self.available >= total {
            if let Some(s) = self.map.get_mut(vm) {
                s.alloc = a;
            }
            self.available -= total;
        } else {
            self.redistribute(outs);
        }
    }

    /// `redistributeMipsDueToOverSubscription`: every VM gets its share of the host scaled by
    /// capacity ÷ demand (summed in walk order), floored.
    pub(super) fn redistribute(&mut self, outs: &OutSets) {
        let mut required = 0.0;
        let pe = self.pe;
        for (vm, s) in self.map.iter() {
            let mut c = s.req.min(pe);
            if self.migrating_in.contains(&vm) {
                c *= 0.1;
            }
            required += c;
        }
        let scaling = self.total / required;
        let (ins, host) = (&self.migrating_in, self.host);
        for (vm, s) in self.map.iter_mut() {
            let mut m = s.req.min(pe);
            if outs.contains(vm, host) {
                m *= scaling;
                m *= 0.9;
            } else if ins.contains(&vm) {
                m *= 0.1;
                m *= scaling;
            } else {
                m *= scaling;
            }
            s.alloc = m.floor();
        }
        self.available = 0.0;
        self.overflowed = true;
    }

    /// `VmSchedulerTimeShared.allocatePesForVm(Vm, …)`: keeps the migrating-out set in step.
    pub(super) fn allocate(
        &mut self,
        outs: &mut OutSets,
        vm: usize,
        hash: u32,
        req: f64,
        in_migration: bool,
    ) {
        self.track_migration(outs, vm, in_migration);
        self.allocate_uid(outs, vm, hash, req);
        self.canonical = false;
        self.list_available = None;
    }

    #[inline]
    pub(super) fn track_migration(&self, outs: &mut OutSets, vm: usize, in_migration: bool) {
        if in_migration {
            if !self.migrating_in.contains(&vm) {
                outs.insert(vm, self.host);
            }
        } else {
            outs.remove(vm, self.host);
        }
    }

    /// `deallocatePesForVm`: forget the VM, then re-allocate the others in walk order.
    pub(super) fn deallocate(&mut self, outs: &OutSets, vm: usize) {
        self.list_available = None;
        self.map.remove(vm);
        self.reallocate(outs);
    }

    /// Every remaining request allocated again from a full host, in walk order. Once one does
    /// not fit, CloudSim scales everybody and every later request scales again to the same
    /// result, so one redistribution ends the pass.
    pub(super) fn reallocate(&mut self, outs: &OutSets) {
        self.walk_pending = false;
        self.available = self.total;
        self.overflowed = false;
        let mut overflow = false;
        let pe = self.pe;
        let (ins, host) = (&self.migrating_in, self.host);
        let mut available = self.available;
        for (vm, s) in self.map.iter_mut() {
            let (taken, given) = share_of(pe, ins, outs, host, vm, s.req);
            if available >= taken {
                s.alloc = given;
                available -= taken;
            } else {
                overflow = true;
                break;
            }
        }
        self.available = available;
        if overflow {
            self.redistribute(outs);
        }
        self.canonical = true;
    }

    /// PABFD's `vmCreate` then `vmDestroy` of `vm` on this host, as far as the scheduler can
    /// tell: the VM's migration bookkeeping, the map's growth from holding one more key, and a
    /// re-allocation in walk order. Returns whether any allocation may have changed.
    #[inline]
    pub(super) fn probe(
        &mut self,
        outs: &mut OutSets,
        vm: usize,
        hash: u32,
        in_migration: bool,
    ) -> bool {
        self.track_migration(outs, vm, in_migration);
        let grew = self.map.insert_and_remove(hash);
        if self.canonical && !grew {
            return false;
        }
        if !self.canonical && !self.overflowed {
            self.list_available = Some(self.available);
        }
        if !self.overflowed && self.available > WALK_MARGIN {
            // The walk takes the same shares in another order, so its free MIPS differ from
            // these in the last bits only: nothing overflows and no allocation changes. Only
            // the free MIPS are left to re-sum, when something reads them; many hosts a probe
            // puts in walk order are read again only by the restore, which puts back the
            // list-order value.
            self.canonical = true;
            self.walk_pending = true;
            return false;
        }
        let before = self.overflowed;
        self.reallocate(outs);
        before || self.overflowed
    }

    /// Re-sums the free MIPS in walk order if a probe left that to do.
    #[inline]
    pub(super) fn settle(&mut self, outs: &OutSets) {
        if self.walk_pending {
            self.reallocate(outs);
        }
    }

    /// Whether `probe` would change nothing but the probing VM's migrating-out bit: the state
    /// is already the walk-order one and one more key cannot grow the map.
    #[inline]
    pub(super) fn probe_is_quiet(&self) -> bool {
        self.canonical && self.map.takes_one_more_quietly()
    }

    /// Deallocates everything, then allocates `entries` (VM, UID hash, requested MIPS, in
    /// migration) in order, as `HostDynamicWorkload.updateVmsProcessing` does one VM at a
    /// time. Once one VM does not fit, every later call redistributes over all VMs so far, so
    /// the end state is one redistribution over all of them.
    pub(super) fn allocate_all(
        &mut self,
        outs: &mut OutSets,
        entries: &[(usize, u32, f64, bool)],
        allocs: &mut Vec<f64>,
    ) {
        // `deallocate_all` but for the map, which the refill below clears unless it can keep it.
        self.list_available = None;
        self.walk_pending = false;
        self.overflowed = false;
        let left = self.list_shares(outs, entries, allocs);
        self.available = left.unwrap_or(0.0);
        self.map.refill(
            entries
                .iter()
                .zip(allocs.iter())
                .map(|(&(vm, hash, req, _), &alloc)| (vm, hash, Share { req, alloc })),
        );
        if left.is_none() {
            self.redistribute(outs);
            allocs.clear();
            allocs.extend(entries.iter().map(|e| self.allocated_for(e.0)));
        }
        self.canonical = entries.is_empty();
    }

    /// The list-order pass of [`Sched::allocate_all`], which leaves the scheduler as it is:
    /// each VM's migrating-out bit set or cleared, and its share taken from a full host, into
    /// `allocs`. Returns the MIPS left, or `None` once a VM does not fit (CloudSim then scales
    /// every VM; the VMs after it are given 0 here, their bits still kept).
    pub(super) fn list_shares(
        &self,
        outs: &mut OutSets,
        entries: &[(usize, u32, f64, bool)],
        allocs: &mut Vec<f64>,
    ) -> Option<f64> {
        allocs.clear();
        let mut available = self.total;
        let mut overflow = false;
        for &(vm, _, req, in_migration) in entries {
            // `track_migration`, then `share`: the migrating-out bit is known once set or
            // cleared, and only a VM migrating in may hold one set from before. Only a VM in
            // migration is ever on a migrating-in list.
            debug_assert!(in_migration || !self.migrating_in.contains(&vm));
            let coming_in = in_migration && self.migrating_in.contains(&vm);
            let held_out = if !in_migration {
                outs.remove(vm, self.host);
                false
            } else if coming_in {
                outs.contains(vm, self.host)
            } else {
                outs.insert(vm, self.host);
                true
            };
            if overflow {
                allocs.push(0.0);
                continue;
            }
            let (total, a) = share(self.pe, req, coming_in, held_out);
            if available >= total {
                allocs.push(a);
                available -= total;
            } else {
                allocs.push(0.0);
                overflow = true;
            }
        }
        (!overflow).then_some(available)
    }

    pub(super) fn deallocate_all(&mut self) {
        self.list_available = None;
        self.walk_pending = false;
        self.map.clear();
        self.available = self.total;
        self.overflowed = false;
        self.canonical = true;
    }

    pub(super) fn allocated_for(&self, vm: usize) -> f64 {
        self.map.get(vm).map_or(0.0, |s| s.alloc)
    }
}
