//! The hosts PABFD may place on, grouped so that a placement scores only the hosts whose power
//! increase could be the least.
//!
//! PABFD (Beloglazov & Buyya, CCPE 2012, Alg. 2) gives each VM the host whose power rises
//! least, lowest id on ties. A scan of every host that is on costs the fleet per VM placed,
//! and the underload phase places VMs from every lightly loaded host: at 10 000 hosts that is
//! the fleet squared per policy step. The power curves are piecewise linear in the load
//! (SPECpower tables at 0, 10, …, 100 %, or a line), so a host of type `ty` whose load lies in
//! segment k, taking a load `x` more, costs at least
//!
//! ```text
//! x · (least slope of segments k ..= K),   K = the segment (k + 1)/10 + x falls in,
//! ```
//!
//! The hosts are kept in groups by type and segment; a placement visits the groups in the
//! order of that bound and stops at the first whose bound exceeds the best score found, so no
//! host it leaves could have won or tied. Within a group the hosts are ordered by load, and a
//! placement visits only those with room for the VM's CPU below the most a host may carry
//! (all of it, or THR's threshold): two in five placements of a congested day find no host at
//! all, and without this would visit every one. Bounds and limits are loosened by [`MARGIN`],
//! far above the rounding of a curve evaluation, so the choice is that of the scan to the bit.

use std::collections::BTreeSet;

use crate::model::power::PowerModel;

/// Segments 0..=9 of a curve, and 10 for a load of 100 % or more.
const SEGMENTS: usize = 11;

/// How far below a host's least possible cost its bound is set: an evaluation of a curve and
/// the difference after it round by about 1e-13 W.
const MARGIN: f64 = 1e-9;

/// Not in a group: off, unavailable, or empty (kept apart, see [`Groups::empty`]).
const NONE: u32 = u32::MAX;

/// The segment `watts` interpolates in for load `u` (its `floor(u · 10)`), so that a host's
/// group is the segment its score starts from.
fn segment(u: f64) -> usize {
    ((u.clamp(0.0, 1.0) * 10.0).floor() as usize).min(SEGMENTS - 1)
}

/// The slope of each segment of a curve, in watts per unit of load; 0 past full load.
fn slopes(model: &PowerModel) -> [f64; SEGMENTS] {
    let mut s = [0.0; SEGMENTS];
    match model {
        PowerModel::SpecPower(t) => {
            for (k, slope) in s.iter_mut().take(10).enumerate() {
                *slope = (t[k + 1] - t[k]) * 10.0;
            }
        }
        PowerModel::Linear { idle, max } => {
            for slope in s.iter_mut().take(10) {
                *slope = max - idle;
            }
        }
    }
    s
}

/// The hosts that are on and available, by type and load segment, with the empty ones apart.
pub(super) struct Groups {
    /// Each host's group (`type · SEGMENTS + segment`), or [`NONE`].
    group_of: Vec<u32>,
    /// The hosts of each group, by load (the bits of a load order as the load does, loads
    /// being at least 0), then id.
    members: Vec<BTreeSet<(u64, usize)>>,
    /// The key each host is filed under in its group.
    key_of: Vec<u64>,
    /// The empty hosts (no VM, nothing reserved) of each type, in id order: PABFD tries only
    /// the first of each type, as they all score alike.
    pub(super) empty: Vec<BTreeSet<usize>>,
    /// Whether each host is indexed at all (on and available when the plan began).
    indexed: Vec<bool>,
    slopes: Vec<[f64; SEGMENTS]>,
    /// Working list of one placement: (bound, group) of the groups it may visit, least first.
    order: std::cell::RefCell<Vec<(f64, usize)>>,
}

impl Groups {
    pub(super) fn new(hosts: usize, models: &[&PowerModel]) -> Groups {
        Groups {
            group_of: vec![NONE; hosts],
            key_of: vec![0; hosts],
            members: vec![BTreeSet::new(); models.len() * SEGMENTS],
            empty: vec![BTreeSet::new(); models.len()],
            indexed: vec![false; hosts],
            slopes: models.iter().map(|m| slopes(m)).collect(),
            order: Default::default(),
        }
    }

    /// Whether host `h` was on and available when the plan began.
    #[cfg(debug_assertions)]
    pub(super) fn indexed(&self, h: usize) -> bool {
        self.indexed[h]
    }

    /// Indexes host `h` of type `ty` (once, when the plan begins).
    pub(super) fn insert(&mut self, h: usize, ty: usize, empty: bool, u: f64) {
        self.indexed[h] = true;
        self.place(h, ty, empty, u);
    }

    /// Files host `h` again after its load or emptiness changed; hosts never indexed stay
    /// out.
    pub(super) fn update(&mut self, h: usize, ty: usize, empty: bool, u: f64) {
        if !self.indexed[h] {
            return;
        }
        let g = self.group_of[h];
        if g != NONE {
            self.members[g as usize].remove(&(self.key_of[h], h));
        } else {
            self.empty[ty].remove(&h);
        }
        self.place(h, ty, empty, u);
    }

    fn place(&mut self, h: usize, ty: usize, empty: bool, u: f64) {
        if empty {
            self.group_of[h] = NONE;
            self.empty[ty].insert(h);
        } else {
            let g = ty * SEGMENTS + segment(u);
            self.group_of[h] = g as u32;
            self.key_of[h] = u.max(0.0).to_bits();
            self.members[g].insert((self.key_of[h], h));
        }
    }

    /// Visits the hosts that may take a VM adding load `x[ty]` to a host of type `ty`: those
    /// whose load is at most `most` less that load, in the order of their groups' bounds,
    /// while `go_on(bound)` says a host of that bound may still win; `visit` scores each host.
    pub(super) fn visit(
        &self,
        x: &[f64],
        most: f64,
        mut go_on: impl FnMut(f64) -> bool,
        mut visit: impl FnMut(usize),
    ) {
        let mut order = self.order.borrow_mut();
        order.clear();
        for (g, hosts) in self.members.iter().enumerate() {
            let (ty, k) = (g / SEGMENTS, g % SEGMENTS);
            let xt = x[ty];
            if hosts.is_empty() || k as f64 / 10.0 > most - xt + MARGIN {
                continue;
            }
            // The last segment a host of this group can reach, one more for rounding.
            let top = if k >= SEGMENTS - 1 {
                k
            } else {
                ((k as f64 + 1.0 + xt * 10.0).floor() as usize + 1).min(SEGMENTS - 2)
            };
            let least = self.slopes[ty][k..=top.max(k)]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            order.push((xt * least - MARGIN, g));
        }
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(bound, g) in order.iter() {
            if !go_on(bound) {
                break;
            }
            let limit = (most - x[g / SEGMENTS] + MARGIN).max(0.0);
            for &(_, h) in self.members[g].range(..=(limit.to_bits(), usize::MAX)) {
                visit(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::power::spec_preset;

    #[test]
    fn a_host_in_a_segment_costs_at_least_its_bound() {
        let m = PowerModel::SpecPower(spec_preset("dell-r640").unwrap());
        let s = slopes(&m);
        // 0.23 → 0.31 crosses from segment 2 (25 W per 10 %) into 3 (26 W per 10 %).
        let (u, x) = (0.23, 0.08);
        let diff = m.watts(u + x) - m.watts(u);
        assert!(diff >= x * s[2].min(s[3]) - MARGIN);
        assert!((diff - (0.07 * s[2] + 0.01 * s[3])).abs() < 1e-9);
        assert_eq!(segment(0.3), 3);
        assert_eq!(segment(1.2), 10);
    }
}
