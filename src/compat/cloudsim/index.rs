//! PABFD's host index: the active hosts grouped by host type and by the 10 % segment of the
//! power curve their allocated load falls in, so that a placement scores only the hosts whose
//! power increase could be the least.
//!
//! CloudSim's `findHostForVm` scores every host, and about 27 000 placements a day each face
//! some 90 of them. The SPECpower curves are piecewise linear and rising, so a host of type `ty`
//! whose allocated load lies in segment k, taking r more load, costs at least
//!
//! ```text
//! base + r · (least slope of segments k ..= K),   K = the segment of (k + 1)/10 + r,
//! ```
//!
//! where `base` is the watts at its allocated load less the watts at its measured load (0 for
//! a host the optimisation has not touched). Each group keeps its least `base`; groups are
//! visited in the order of that bound, and once a group's bound passes the best score found, no
//! host in it can win, nor tie. The bound is lowered by [`MARGIN`], far above the rounding of a
//! SPECpower evaluation, so it holds for the scores as CloudSim computes them, and the choice
//! is the same host to the bit.
//!
//! Only hosts whose evaluation has no side effect may be skipped: CloudSim probes a host by
//! creating and destroying the VM on it, and that probe re-allocates a host whose scheduler is
//! not yet in its hash-map walk order. Such hosts are kept on the index's odd list and always
//! evaluated; a host joins the groups once a probe can no longer change it.

/// Segments 0..=9 of a SPECpower curve, and 10 for a load of 100 % or more, where the curve
/// is flat.
const SEGMENTS: usize = 11;

/// Groups per unit of load. A group narrower than a segment bounds its hosts more tightly: a
/// host low in a segment taking a small VM does not reach the next segment's slope.
const BINS: usize = 10;

/// Groups per host type: `BINS` below 100 % load, and one for 100 % and more.
const GROUPS: usize = BINS + 1;

/// Per group: the segment its lowest load falls in, and the top of its loads.
const BIN_SPAN: [(usize, f64); GROUPS] = {
    let mut span = [(0, 0.0); GROUPS];
    let mut b = 0;
    while b < GROUPS {
        span[b] = (b * 10 / BINS, (b + 1) as f64 / BINS as f64);
        b += 1;
    }
    span
};

/// The groups' bounds for one placement, taken least first: (bound, group) of each
/// non-empty group, in no order.
#[derive(Default)]
pub(super) struct GroupQueue {
    bounds: Vec<(f64, usize)>,
}

impl GroupQueue {
    /// The group with the least bound not yet taken, lowest index on ties, and its bound;
    /// `None` once every group is taken. Placements visit two or three groups, so a scan
    /// for each beats sorting all of them.
    #[inline]
    pub(super) fn pop_least(&mut self) -> Option<(f64, usize)> {
        let mut at = 0;
        let mut least = *self.bounds.first()?;
        for (i, &e) in self.bounds.iter().enumerate().skip(1) {
            if e.0 < least.0 || (e.0 == least.0 && e.1 < least.1) {
                least = e;
                at = i;
            }
        }
        self.bounds.swap_remove(at);
        Some(least)
    }
}

/// How far below a host's true least cost the bound is set. A SPECpower evaluation and the
/// sums before it round by about 1e-13 W; hosts whose costs differ by less than a nanowatt
/// still have to be told apart by the last bits, and are.
const MARGIN: f64 = 1e-9;

const NO_GROUP: u8 = u8::MAX;

#[derive(Clone)]
struct Group {
    hosts: Vec<usize>,
    /// The least `base` of the group's hosts, unless `stale`.
    least_base: f64,
    /// A host holding the least base left or rose: recount before the next bound.
    stale: bool,
}

pub(super) struct HostIndex {
    live: bool,
    group_of: Vec<u8>,
    pos: Vec<u32>,
    base: Vec<f64>,
    groups: Vec<Group>,
    /// Hosts that must be evaluated whatever their bound (see the module note).
    odd: Vec<bool>,
    /// Every odd host, and maybe some no longer odd, each once.
    odd_list: Vec<usize>,
    listed: Vec<bool>,
    /// Hosts excluded from every placement left in this optimisation.
    retired: Vec<bool>,
    retired_list: Vec<usize>,
    /// The placement in which each host was last evaluated.
    seen: Vec<u32>,
    stamp: u32,
    /// Per type, the least slope in watts per unit load over segments i..=j.
    least_slope: [[[f64; SEGMENTS]; SEGMENTS]; 2],
    /// Per type, the host's total MIPS (load = MIPS / total).
    totals: [f64; 2],
}

impl HostIndex {
    pub(super) fn new(hosts: usize, curves: [&[f64; 11]; 2], totals: [f64; 2]) -> HostIndex {
        let mut least_slope = [[[f64::INFINITY; SEGMENTS]; SEGMENTS]; 2];
        for (table, power) in least_slope.iter_mut().zip(curves) {
            let slope = |s: usize| {
                if s + 1 < SEGMENTS {
                    (power[s + 1] - power[s]) * 10.0
                } else {
                    0.0
                }
            };
            for (i, row) in table.iter_mut().enumerate() {
                let mut m = f64::INFINITY;
                for (j, cell) in row.iter_mut().enumerate().skip(i) {
                    m = m.min(slope(j));
                    *cell = m;
                }
            }
        }
        HostIndex {
            live: false,
            group_of: vec![NO_GROUP; hosts],
            pos: vec![0; hosts],
            base: vec![0.0; hosts],
            groups: vec![
                Group {
                    hosts: Vec::new(),
                    least_base: f64::INFINITY,
                    stale: false,
                };
                2 * GROUPS
            ],
            odd: vec![false; hosts],
            odd_list: Vec::new(),
            listed: vec![false; hosts],
            retired: vec![false; hosts],
            retired_list: Vec::new(),
            seen: vec![0; hosts],
            stamp: 0,
            least_slope,
            totals,
        }
    }

    /// Whether placements are under way and the index follows every host change.
    #[inline]
    pub(super) fn live(&self) -> bool {
        self.live
    }

    /// Empties the index and makes it live; the caller then places every active host.
    pub(super) fn begin(&mut self) {
        for g in &mut self.groups {
            for &h in &g.hosts {
                self.group_of[h] = NO_GROUP;
            }
            g.hosts.clear();
            g.least_base = f64::INFINITY;
            g.stale = false;
        }
        for &h in &self.odd_list {
            self.listed[h] = false;
            self.odd[h] = false;
        }
        self.odd_list.clear();
        for &h in &self.retired_list {
            self.retired[h] = false;
        }
        self.retired_list.clear();
        self.live = true;
    }

    /// Takes `h` out of the index until the next [`Self::begin`]: the optimisation excludes
    /// it from every placement it has left to make. An excluded host must not lower its
    /// group's bound (a host being emptied has a base far below zero).
    pub(super) fn retire(&mut self, h: usize) {
        if self.retired[h] {
            return;
        }
        self.set(h, None, false);
        self.retired[h] = true;
        self.retired_list.push(h);
    }

    pub(super) fn end(&mut self) {
        self.live = false;
    }

    /// The group of a load within its type: `BINS` for 100 % and more, 0 below 1 / `BINS`.
    #[inline]
    pub(super) fn bin(load: f64) -> usize {
        ((load * BINS as f64) as usize).min(BINS)
    }

    /// Puts `h` in its group, or takes it out of every group when `place` is `None` (an empty
    /// host, which PABFD reaches another way) or when it is odd. `place` is (type, bin, base).
    pub(super) fn set(&mut self, h: usize, place: Option<(usize, usize, f64)>, odd: bool) {
        if self.retired[h] {
            return;
        }
        // An odd host is evaluated apart, so it sits in no group and its base bounds nothing.
        let odd = odd && place.is_some();
        let place = if odd { None } else { place };
        let target = place.map_or(NO_GROUP, |(ty, bin, _)| (ty * GROUPS + bin) as u8);
        let current = self.group_of[h];
        if current != target {
            if current != NO_GROUP {
                let g = &mut self.groups[current as usize];
                let at = self.pos[h] as usize;
                g.hosts.swap_remove(at);
                if let Some(&moved) = g.hosts.get(at) {
                    self.pos[moved] = at as u32;
                }
                if self.base[h] <= g.least_base {
                    g.stale = true;
                }
            }
            if target != NO_GROUP {
                let g = &mut self.groups[target as usize];
                self.pos[h] = g.hosts.len() as u32;
                g.hosts.push(h);
            }
            self.group_of[h] = target;
        }
        if let Some((_, _, base)) = place {
            let g = &mut self.groups[target as usize];
            if current == target && self.base[h] <= g.least_base && base > self.base[h] {
                g.stale = true;
            }
            if base < g.least_base {
                g.least_base = base;
            }
            self.base[h] = base;
        }
        self.odd[h] = odd;
        if odd && !self.listed[h] {
            self.listed[h] = true;
            self.odd_list.push(h);
        }
    }

    #[inline]
    pub(super) fn is_odd(&self, h: usize) -> bool {
        self.odd[h]
    }

    /// The odd list, for the caller to evaluate; hand it back with [`Self::return_odd`].
    pub(super) fn take_odd(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.odd_list)
    }

    /// Keeps the hosts of `list` that are still odd, after any listed meanwhile.
    pub(super) fn return_odd(&mut self, mut list: Vec<usize>) {
        list.retain(|&h| {
            let keep = self.odd[h];
            if !keep {
                self.listed[h] = false;
            }
            keep
        });
        list.append(&mut self.odd_list);
        self.odd_list = list;
    }

    /// Starts a placement: no host is seen yet.
    pub(super) fn next_placement(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }

    /// Marks `h` evaluated in placement `stamp`; returns whether it was already.
    #[inline]
    pub(super) fn see(&mut self, h: usize, stamp: u32) -> bool {
        let was = self.seen[h] == stamp;
        self.seen[h] = stamp;
        was
    }

    #[inline]
    pub(super) fn seen(&self, h: usize, stamp: u32) -> bool {
        self.seen[h] == stamp
    }

    /// Every non-empty group's bound on its hosts' cost of taking `req` more MIPS, into
    /// `queue`.
    pub(super) fn bound_groups(&mut self, req: f64, queue: &mut GroupQueue) {
        let r = [req / self.totals[0], req / self.totals[1]];
        queue.bounds.clear();
        for (gi, g) in self.groups.iter_mut().enumerate() {
            if g.hosts.is_empty() {
                continue;
            }
            if g.stale {
                g.least_base = g
                    .hosts
                    .iter()
                    .map(|&h| self.base[h])
                    .fold(f64::INFINITY, f64::min);
                g.stale = false;
            }
            let (ty, b) = (gi / GROUPS, gi % GROUPS);
            // The group's loads lie in [b, b + 1) / BINS, so with r more they span segments
            // from that of b / BINS to that of (b + 1) / BINS + r.
            let (first, top) = BIN_SPAN[b];
            let reach = (((top + r[ty]) * 10.0) as usize).min(SEGMENTS - 1);
            let bound = g.least_base + r[ty] * self.least_slope[ty][first][reach] - MARGIN;
            queue.bounds.push((bound, gi));
        }
    }

    #[inline]
    pub(super) fn group_len(&self, g: usize) -> usize {
        self.groups[g].hosts.len()
    }

    #[inline]
    pub(super) fn group_host(&self, g: usize, i: usize) -> usize {
        self.groups[g].hosts[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G4: [f64; 11] = [
        86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0,
    ];
    const G5: [f64; 11] = [
        93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0,
    ];

    fn index(hosts: usize) -> HostIndex {
        HostIndex::new(hosts, [&G4, &G5], [3720.0, 5320.0])
    }

    /// Piecewise-linear SPECpower interpolation, clamped at 100 %.
    fn power(p: &[f64; 11], u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let i = ((u * 10.0) as usize).min(9);
        p[i] + (p[i + 1] - p[i]) * (u * 10.0 - i as f64)
    }

    #[test]
    fn least_slopes_follow_the_curves() {
        let ix = index(1);
        // G4: 2 W per 10 % from 60 % to 70 % is the flattest stretch below 80 %.
        assert!((ix.least_slope[0][0][7] - 20.0).abs() < 1e-9);
        assert!((ix.least_slope[0][0][5] - 25.0).abs() < 1e-9);
        // G5 is flat only past 100 %.
        assert_eq!(ix.least_slope[1][3][10], 0.0);
        assert!((ix.least_slope[1][3][4] - 50.0).abs() < 1e-9);
    }

    /// The groups in the order a placement takes them: (bound, group).
    fn ordered(ix: &mut HostIndex, req: f64) -> Vec<(f64, usize)> {
        let mut queue = GroupQueue::default();
        ix.bound_groups(req, &mut queue);
        std::iter::from_fn(|| queue.pop_least()).collect()
    }

    #[test]
    fn a_group_bound_never_exceeds_a_member_cost() {
        // Hosts at loads over the whole range, taking requests from tiny to a whole host.
        let mut ix = index(2 * 101);
        ix.begin();
        for h in 0..2 * 101 {
            let (ty, load) = (h % 2, (h / 2) as f64 / 100.0);
            ix.set(h, Some((ty, HostIndex::bin(load), 0.0)), false);
        }
        for req in [0.5, 7.0, 60.0, 300.0, 1000.0, 2500.0, 6000.0] {
            let order = ordered(&mut ix, req);
            let members: usize = order.iter().map(|&(_, g)| ix.group_len(g)).sum();
            assert_eq!(members, 2 * 101, "every host is in a group");
            for &(bound, g) in &order {
                for i in 0..ix.group_len(g) {
                    let h = ix.group_host(g, i);
                    let (ty, load) = (h % 2, (h / 2) as f64 / 100.0);
                    let p = if ty == 0 { &G4 } else { &G5 };
                    let r = req / ix.totals[ty];
                    let cost = power(p, load + r) - power(p, load);
                    assert!(bound <= cost, "req {req}, host {h}: {bound} > {cost}");
                }
            }
            assert!(order.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    #[test]
    fn bases_and_membership_follow_every_change() {
        let mut ix = index(4);
        ix.begin();
        ix.set(0, Some((0, 6, 0.0)), false);
        ix.set(1, Some((0, 6, 2.0)), false);
        ix.set(2, Some((0, 6, 1.0)), false);
        let order = ordered(&mut ix, 0.0);
        assert_eq!(order.len(), 1);
        assert!(order[0].0.abs() < 1e-6);
        // The host with the least base rises: the group's bound follows.
        ix.set(0, Some((0, 6, 3.0)), false);
        assert!((ordered(&mut ix, 0.0)[0].0 - 1.0).abs() < 1e-6);
        // It moves to another group, and the one left behind finds its new least.
        ix.set(2, Some((0, 7, 1.0)), false);
        let order = ordered(&mut ix, 0.0);
        assert_eq!(order.len(), 2);
        assert!((order[0].0 - 1.0).abs() < 1e-6 && (order[1].0 - 2.0).abs() < 1e-6);
        assert_eq!((order[0].1, order[1].1), (7, 6));
        // An odd host leaves the groups for the odd list; an empty host leaves both.
        ix.set(2, Some((0, 7, 1.0)), true);
        assert!(ix.is_odd(2));
        assert_eq!(ordered(&mut ix, 0.0).len(), 1);
        ix.set(2, None, true);
        assert!(!ix.is_odd(2));
        let odd = ix.take_odd();
        assert_eq!(odd, vec![2]);
        ix.return_odd(odd);
        assert!(ix.take_odd().is_empty());
        let order = ordered(&mut ix, 0.0);
        assert_eq!(order.len(), 1);
        assert_eq!(ix.group_len(order[0].1), 2);
    }

    #[test]
    fn a_retired_host_stays_out_until_the_next_optimisation() {
        let mut ix = index(2);
        ix.begin();
        ix.set(0, Some((0, 0, -50.0)), true);
        ix.set(1, Some((0, 0, 0.0)), false);
        ix.retire(0);
        ix.set(0, Some((0, 0, -50.0)), false);
        assert!(!ix.is_odd(0));
        let order = ordered(&mut ix, 0.0);
        assert_eq!(ix.group_len(order[0].1), 1);
        assert!(
            order[0].0.abs() < 1e-6,
            "the retired host's base is forgotten"
        );
        ix.begin();
        ix.set(0, Some((0, 0, -50.0)), false);
        assert!((ordered(&mut ix, 0.0)[0].0 + 50.0).abs() < 1e-6);
    }

    #[test]
    fn a_host_is_seen_once_per_placement() {
        let mut ix = index(3);
        let a = ix.next_placement();
        assert!(!ix.see(1, a));
        assert!(ix.see(1, a) && ix.seen(1, a));
        let b = ix.next_placement();
        assert!(!ix.seen(1, b));
    }
}
