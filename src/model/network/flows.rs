//! Flows on the network: starting and stopping them, max-min fair rates, and when they drain.
//!
//! A change (a flow starting, ending or changing its cap, a link failing) re-solves only the
//! flows whose rates it can move: the changed flows first, then any flow left out that fails
//! the local test of max-min fairness on a link the solved flows cross (see
//! [`Network::recompute_touched`]). A flow's progress is rate × time: it is written down only
//! when its rate changes or it ends, and when it drains is kept in an ordered set, so an event
//! costs the flows it moves and their neighbours, not the network.

use super::{DONE_EPSILON, Flow, FlowId, LinkId, Network};
use crate::engine::SimTime;
use crate::units::{Bandwidth, Volume};

impl Flow {
    /// Brings `remaining` and `delivered` up to `now` at the current rate.
    fn catch_up(&mut self, now: SimTime) {
        if now > self.since {
            let sent = (self.rate * (now - self.since)).min(self.remaining);
            self.remaining -= sent;
            self.delivered += sent;
            self.since = now;
        }
    }

    /// When the flow drains at its current rate, if it is finite and moving.
    fn drains_at(&self) -> Option<SimTime> {
        if !self.remaining.as_bytes().is_finite() {
            None
        } else if self.remaining <= DONE_EPSILON {
            Some(self.since)
        } else if self.rate.is_positive() {
            Some(self.since + self.remaining.time_at(self.rate))
        } else {
            None
        }
    }
}

impl Network {
    /// Starts a flow of `bytes` (or a persistent one if `None`) on `links`, capped at `cap`.
    /// Rates of the flows it shares links with are recomputed at the next [`Network::settle`].
    pub fn start_flow(
        &mut self,
        now: SimTime,
        links: Vec<LinkId>,
        bytes: Option<Volume>,
        cap: Option<Bandwidth>,
    ) -> FlowId {
        self.advance(now);
        let latency = self.path_latency(&links);
        let flow = Flow {
            links,
            remaining: bytes.unwrap_or(Volume::bytes(f64::INFINITY)),
            rate: Bandwidth::ZERO,
            cap: cap.unwrap_or(Bandwidth::UNLIMITED),
            delivered: Volume::ZERO,
            latency,
            since: self.now,
            drains: None,
        };
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                self.flows.push(None);
                self.flow_seen.push(0);
                self.bottleneck.push(NO_LINK);
                self.rate_of.push(0.0);
                (self.flows.len() - 1) as u32
            }
        };
        for l in &flow.links {
            self.link_flows[l.0 as usize].push(id);
            self.dirty_links.insert(l.0);
        }
        self.flows[id as usize] = Some(flow);
        self.bottleneck[id as usize] = NO_LINK;
        self.rate_of[id as usize] = 0.0;
        self.dirty_flows.insert(id);
        FlowId(id)
    }

    /// Ends a flow (finished or cancelled) and returns it, brought up to now; the rates of the
    /// flows it shared links with are recomputed.
    pub fn stop_flow(&mut self, now: SimTime, id: FlowId) -> Option<Flow> {
        self.advance(now);
        let mut f = self.flows.get_mut(id.0 as usize)?.take()?;
        f.catch_up(self.now);
        for l in &f.links {
            let on = &mut self.link_flows[l.0 as usize];
            if let Some(i) = on.iter().position(|&x| x == id.0) {
                on.swap_remove(i);
            }
            self.dirty_links.insert(l.0);
        }
        self.dirty_flows.remove(&id.0);
        self.free.push(id.0);
        self.prune_completions();
        Some(f)
    }

    /// Takes what flow `id` has delivered so far, leaving it running with nothing delivered:
    /// the end of one transfer whose flow may carry the next (see [`Network::reuse_flow`]).
    pub fn take_delivered(&mut self, now: SimTime, id: FlowId) -> Option<Volume> {
        self.advance(now);
        let now = self.now;
        let f = self.flows.get_mut(id.0 as usize)?.as_mut()?;
        f.catch_up(now);
        Some(std::mem::replace(&mut f.delivered, Volume::ZERO))
    }

    /// Gives a running flow a new transfer of `bytes` under `cap`: a migration's next round on
    /// the same path. Max-min rates depend on paths and caps only, so with the same cap nothing
    /// else changes and no rate is recomputed; only when this flow drains does.
    pub fn reuse_flow(&mut self, now: SimTime, id: FlowId, bytes: Volume, cap: Option<Bandwidth>) {
        self.advance(now);
        let now = self.now;
        let Some(Some(f)) = self.flows.get_mut(id.0 as usize) else {
            return;
        };
        f.catch_up(now);
        f.remaining = bytes;
        f.delivered = Volume::ZERO;
        f.since = now;
        f.drains = None;
        let cap = cap.unwrap_or(Bandwidth::UNLIMITED);
        if f.cap != cap {
            f.cap = cap;
            self.dirty_flows.insert(id.0);
        } else {
            f.drains = f.drains_at();
            if let Some(t) = f.drains {
                self.completions.push(t, id.0);
            }
        }
        self.prune_completions();
    }

    /// Changes a flow's cap (for example a new round's rate limit).
    pub fn set_cap(&mut self, now: SimTime, id: FlowId, cap: Option<Bandwidth>) {
        self.advance(now);
        if let Some(Some(f)) = self.flows.get_mut(id.0 as usize) {
            f.cap = cap.unwrap_or(Bandwidth::UNLIMITED);
            self.dirty_flows.insert(id.0);
        }
    }

    /// Changes a link's capacity (a failure sets it to 0, a repair restores it).
    pub fn set_link_capacity(&mut self, now: SimTime, link: LinkId, capacity: Bandwidth) {
        self.advance(now);
        self.links[link.0 as usize].capacity = capacity.max(Bandwidth::ZERO);
        // Its flows are tested against the new capacity: over it, or with room, they move.
        self.dirty_links.insert(link.0);
    }

    /// Brings the rates up to date after flows changed. Rates read through [`Network::flow`],
    /// [`Network::flows`], [`Network::link_load`] and [`Network::next_completion`] are those of
    /// the last settle.
    pub fn settle(&mut self) {
        if self.is_dirty() {
            self.generation += 1;
            self.recompute_touched();
        }
    }

    /// The largest relative gap between the rates now and those of one solve of every live
    /// flow from nothing: what the incremental solve is tested against.
    #[cfg(test)]
    pub(super) fn gap_to_full_solve(&self) -> f64 {
        let mut full = self.clone();
        for (i, f) in full.flows.iter().enumerate() {
            if f.is_some() {
                full.dirty_flows.insert(i as u32);
            }
        }
        full.recompute_touched();
        let mut worst = 0.0f64;
        for (a, b) in self.flows.iter().zip(&full.flows) {
            if let (Some(a), Some(b)) = (a, b) {
                let (x, y) = (a.rate.as_bytes_per_sec(), b.rate.as_bytes_per_sec());
                worst = worst.max((x - y).abs() / y.max(1.0));
            }
        }
        worst
    }

    /// Whether flows changed since the last [`Network::settle`].
    pub fn is_dirty(&self) -> bool {
        !self.dirty_links.is_empty() || !self.dirty_flows.is_empty()
    }

    /// A live flow. Its `remaining` and `delivered` are as of its `since`; see
    /// [`Network::delivered`].
    pub fn flow(&self, id: FlowId) -> Option<&Flow> {
        self.flows.get(id.0 as usize).and_then(|f| f.as_ref())
    }

    pub fn flows(&self) -> impl Iterator<Item = (FlowId, &Flow)> {
        self.flows
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (FlowId(i as u32), f)))
    }

    /// What flow `id` has delivered by the network's clock.
    pub fn delivered(&self, id: FlowId) -> Option<Volume> {
        let f = self.flow(id)?;
        let sent = (f.rate * (self.now - f.since.min(self.now))).min(f.remaining);
        Some(f.delivered + sent)
    }

    /// The flows whose rate changed since the last call (a flow may appear more than once, or
    /// have ended since), in the order they were re-rated.
    pub fn take_rerated(&mut self) -> Vec<FlowId> {
        std::mem::take(&mut self.rerated)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Moves the network's clock to `now`. Changes made before hold from then on: they are
    /// rated first.
    pub fn advance(&mut self, now: SimTime) {
        if now > self.now {
            self.settle();
            self.now = now;
        }
    }

    /// When the next finite flow drains at current rates, if any.
    pub fn next_completion(&self) -> Option<SimTime> {
        debug_assert!(!self.is_dirty(), "settle() before reading rates");
        self.completions.first().map(|(t, _)| t)
    }

    /// Whether a completion entry is the flow's current one: the entries a flow leaves behind
    /// when it is re-rated, re-armed or stopped stay in the index until they reach its front.
    fn completion_current(&self, t: SimTime, id: u32) -> bool {
        matches!(self.flows.get(id as usize), Some(Some(f)) if f.drains == Some(t))
    }

    /// Drops the stale entries at the front of the completion index, so that its first entry
    /// is a flow's current completion; rebuilds the index when stale entries outnumber the
    /// current ones, so that it stays the size of the flows.
    fn prune_completions(&mut self) {
        while let Some((t, id)) = self.completions.first() {
            if self.completion_current(t, id) {
                break;
            }
            self.completions.pop_first();
        }
        if self.completions.len() > 2 * (self.flows.len() - self.free.len()) + 1024 {
            let current = self
                .flows
                .iter()
                .enumerate()
                .filter_map(|(i, f)| Some((f.as_ref()?.drains?, i as u32)));
            self.completions.rebuild(current);
        }
    }

    /// Flows whose bytes have all been sent by `now`, in id order. They stay in the table until
    /// stopped, and are reported once for their current rate.
    pub fn drained(&mut self, now: SimTime) -> Vec<FlowId> {
        self.advance(now);
        self.settle();
        let mut out = Vec::new();
        while let Some((t, id)) = self.completions.first() {
            if t > now {
                break;
            }
            self.completions.pop_first();
            if !self.completion_current(t, id) {
                continue;
            }
            if let Some(Some(f)) = self.flows.get_mut(id as usize) {
                f.drains = None;
            }
            out.push(FlowId(id));
        }
        self.prune_completions();
        out.sort();
        out
    }

    /// The rate currently allocated on each link.
    pub fn link_load(&self) -> Vec<Bandwidth> {
        debug_assert!(!self.is_dirty(), "settle() before reading rates");
        let mut load = vec![Bandwidth::ZERO; self.links.len()];
        for f in self.flows.iter().flatten() {
            for l in &f.links {
                load[l.0 as usize] += f.rate;
            }
        }
        load
    }

    /// Adds flow `id` to the region being solved, with those of its links not yet in it.
    fn enter_region(&mut self, id: u32, stamp: u64, flows: &mut Vec<u32>, links: &mut Vec<u32>) {
        self.flow_seen[id as usize] = stamp;
        flows.push(id);
        for l in &self.flows[id as usize].as_ref().expect("live flow").links {
            if self.link_seen[l.0 as usize] != stamp {
                self.link_seen[l.0 as usize] = stamp;
                links.push(l.0);
            }
        }
    }

    /// Recomputes the rates the changes since the last settle move.
    ///
    /// Max-min fairness has a local test (Bertsekas & Gallager, "Data Networks", 2nd ed.,
    /// §6.5.2): rates are max-min fair iff they fit every link and each flow has a bottleneck,
    /// either its own cap or a full link on which no flow gets more. So the changed flows are
    /// solved with every other flow's rate held, and the test is then made only where it can
    /// fail: on the links the solved flows cross. A flow left out joins the solved region if the
    /// link it was bound at no longer binds it (it has room, or a solved flow now gets more
    /// there), if a solved flow bound at one of its links gets less than it does there, or if a
    /// link it crosses is over capacity. The region is solved again until every flow passes;
    /// a flow that passes keeps its rate, which a solve of the whole network would give it.
    /// The work is the flows whose rates move and their neighbours, not the whole set of
    /// flows that full links couple.
    fn recompute_touched(&mut self) {
        self.stamp += 1;
        let stamp = self.stamp;
        let mut links: Vec<u32> = Vec::new();
        let mut flows: Vec<u32> = Vec::new();
        for l in std::mem::take(&mut self.dirty_links) {
            if self.link_seen[l as usize] != stamp {
                self.link_seen[l as usize] = stamp;
                links.push(l);
            }
        }
        for id in std::mem::take(&mut self.dirty_flows) {
            self.enter_region(id, stamp, &mut flows, &mut links);
        }
        let mut joining: Vec<u32> = Vec::new();
        loop {
            links.sort_unstable();
            flows.sort_unstable();
            self.solve_region(&links, &flows, stamp);
            joining.clear();
            for (k, &l) in links.iter().enumerate() {
                let sc = &self.scratch;
                let cap = self.links[l as usize].capacity.as_bytes_per_sec();
                let test = LinkTest {
                    full: sc.used[k] >= cap * (1.0 - FULL_TOLERANCE),
                    over: sc.used[k] > cap * (1.0 + FULL_TOLERANCE),
                    most: sc.most[k],
                    least_bound: sc.least_bound[k],
                };
                // The flows left out here, summed up when the region was solved: a link passes
                // if its extremes do, without visiting its flows one by one.
                let (out_most, out_bound_least) = (sc.out_most[k], sc.out_bound_least[k]);
                let may_fail = (out_most >= 0.0 && test.fails(out_most, false))
                    || (out_bound_least.is_finite() && test.fails(out_bound_least, true));
                if !may_fail {
                    continue;
                }
                for &id in &self.link_flows[l as usize] {
                    if self.flow_seen[id as usize] != stamp
                        && test.fails(self.rate_of[id as usize], self.bottleneck[id as usize] == l)
                    {
                        joining.push(id);
                    }
                }
            }
            if joining.is_empty() {
                break;
            }
            joining.sort_unstable();
            joining.dedup();
            for &id in &joining {
                if self.flow_seen[id as usize] != stamp {
                    self.enter_region(id, stamp, &mut flows, &mut links);
                }
            }
        }
        for (k, &id) in flows.iter().enumerate() {
            let rate = Bandwidth::bytes_per_sec(self.scratch.rate[k]);
            self.bottleneck[id as usize] = self.scratch.bound[k];
            self.rate_of[id as usize] = rate.as_bytes_per_sec();
            let now = self.now;
            let f = self.flows[id as usize].as_mut().expect("live flow");
            if f.rate == rate && f.since < now {
                // Same rate: its progress and its completion stand.
                continue;
            }
            f.catch_up(now);
            self.rerated.push(FlowId(id));
            f.rate = rate;
            f.drains = f.drains_at();
            if let Some(t) = f.drains {
                self.completions.push(t, id);
            }
        }
        self.prune_completions();
    }

    /// Progressive filling over the flows of a region, with the flows left out holding their
    /// rates on the links they share: every unfrozen flow's rate rises together until a link
    /// on its path is full or the flow reaches its cap; those flows freeze and the rest keep
    /// rising. `links` and `flows` are sorted, and hold every link of every flow. Leaves in
    /// `self.scratch` each flow's rate and bottleneck (in `flows` order) and each link's load,
    /// greatest solved rate and least solved rate bound there (in `links` order). Each step
    /// costs the region's links and unfrozen flows; flows freeze in few steps, as most share a
    /// cap or a bottleneck. The working arrays are kept between calls.
    fn solve_region(&mut self, links: &[u32], flows: &[u32], stamp: u64) {
        let mut sc = std::mem::take(&mut self.scratch);
        sc.local_of.resize(self.links.len(), 0);
        sc.residual.clear();
        sc.unfrozen_on.clear();
        sc.outside.clear();
        sc.out_most.clear();
        sc.out_bound_least.clear();
        for (i, &l) in links.iter().enumerate() {
            sc.local_of[l as usize] = i as u32;
            // What the flows left out carry here, summed afresh (running sums would gather
            // rounding over millions of changes), the most one of them gets (-1 if none) and
            // the least one bound here gets (infinite if none).
            let (mut outside, mut most, mut bound_least) = (0.0, -1.0f64, f64::INFINITY);
            for &id in &self.link_flows[l as usize] {
                if self.flow_seen[id as usize] != stamp {
                    let r = self.rate_of[id as usize];
                    outside += r;
                    most = most.max(r);
                    if self.bottleneck[id as usize] == l {
                        bound_least = bound_least.min(r);
                    }
                }
            }
            sc.outside.push(outside);
            sc.out_most.push(most);
            sc.out_bound_least.push(bound_least);
            let capacity = self.links[l as usize].capacity.as_bytes_per_sec();
            sc.residual.push((capacity - outside).max(0.0));
            sc.unfrozen_on.push(0);
        }
        sc.path.clear();
        sc.path_start.clear();
        sc.caps.clear();
        for &id in flows {
            let f = self.flows[id as usize].as_ref().expect("live flow");
            sc.path_start.push(sc.path.len() as u32);
            for l in &f.links {
                let k = sc.local_of[l.0 as usize];
                sc.unfrozen_on[k as usize] += 1;
                sc.path.push(k);
            }
            sc.caps.push(f.cap.as_bytes_per_sec());
        }
        sc.path_start.push(sc.path.len() as u32);
        sc.rate.clear();
        sc.rate.resize(flows.len(), 0.0);
        sc.bound.clear();
        sc.bound.resize(flows.len(), NO_LINK);
        // A link whose flows' caps add up to no more than its room can never be a bottleneck,
        // and a flow whose links are all such runs at its cap: it is settled at once, and the
        // filling steps over the oversubscribed links only.
        sc.demand.clear();
        sc.demand.resize(links.len(), 0.0);
        for (i, &cap) in sc.caps.iter().enumerate() {
            for k in sc.path_start[i]..sc.path_start[i + 1] {
                sc.demand[sc.path[k as usize] as usize] += cap;
            }
        }
        sc.active.clear();
        for i in 0..flows.len() {
            let (a, b) = (sc.path_start[i] as usize, sc.path_start[i + 1] as usize);
            let free = a < b
                && sc.path[a..b]
                    .iter()
                    .all(|&l| sc.demand[l as usize] <= sc.residual[l as usize]);
            if free {
                sc.rate[i] = sc.caps[i];
                for k in a..b {
                    sc.unfrozen_on[sc.path[k] as usize] -= 1;
                }
            } else {
                sc.active.push(i as u32);
            }
        }
        for l in 0..links.len() {
            if sc.demand[l] <= sc.residual[l] {
                // Never a bottleneck: the flows still rising through it are bound elsewhere.
                sc.unfrozen_on[l] = 0;
            }
        }
        let mut level = 0.0f64;
        while !sc.active.is_empty() {
            // The next level at which some flow freezes: a link fills, or a cap is reached.
            let mut next = f64::INFINITY;
            for (l, &n) in sc.unfrozen_on.iter().enumerate() {
                if n > 0 {
                    next = next.min(level + sc.residual[l] / n as f64);
                }
            }
            for &i in &sc.active {
                next = next.min(sc.caps[i as usize]);
            }
            if !next.is_finite() {
                // Flows with no link and no cap: nothing limits them. Give them nothing rather
                // than infinity; such a flow is a modelling error caught by validation.
                break;
            }
            let delta = next - level;
            for (l, &n) in sc.unfrozen_on.iter().enumerate() {
                if n > 0 {
                    sc.residual[l] -= delta * n as f64;
                }
            }
            level = next;
            // Freeze flows at their cap or crossing a full link.
            let tol = 1e-9 * level.max(1.0);
            sc.still.clear();
            for idx in 0..sc.active.len() {
                let i = sc.active[idx] as usize;
                let (a, b) = (sc.path_start[i] as usize, sc.path_start[i + 1] as usize);
                let full = sc.path[a..b]
                    .iter()
                    .find(|&&l| sc.residual[l as usize] <= tol);
                if full.is_some() || sc.caps[i] <= level + tol {
                    sc.rate[i] = level.min(sc.caps[i]);
                    if let Some(&k) = full
                        && sc.caps[i] > level + tol
                    {
                        sc.bound[i] = links[k as usize];
                    }
                    for k in a..b {
                        let l = sc.path[k] as usize;
                        sc.unfrozen_on[l] = sc.unfrozen_on[l].saturating_sub(1);
                    }
                } else {
                    sc.still.push(i as u32);
                }
            }
            std::mem::swap(&mut sc.active, &mut sc.still);
        }
        // What each link carries now, the most a solved flow gets on it, and the least a
        // solved flow bound there gets: what the test of the flows left out compares with.
        sc.used.clear();
        sc.used.extend(sc.outside.iter().copied());
        sc.most.clear();
        sc.most.resize(links.len(), 0.0);
        sc.least_bound.clear();
        sc.least_bound.resize(links.len(), f64::INFINITY);
        for (i, &rate) in sc.rate.iter().enumerate() {
            for k in sc.path_start[i]..sc.path_start[i + 1] {
                let l = sc.path[k as usize] as usize;
                sc.used[l] += rate;
                sc.most[l] = sc.most[l].max(rate);
                if sc.bound[i] == links[l] {
                    sc.least_bound[l] = sc.least_bound[l].min(rate);
                }
            }
        }
        self.scratch = sc;
    }
}

/// A link after a region's solve, as the test of max-min fairness sees it.
struct LinkTest {
    full: bool,
    over: bool,
    /// The most a solved flow gets on the link, and the least a solved flow bound there gets.
    most: f64,
    least_bound: f64,
}

impl LinkTest {
    /// Whether a flow left out, at rate `r` and bound at this link or not, fails the test
    /// here: the link is over capacity, or it no longer binds the flow (it has room, or a
    /// solved flow gets more), or a solved flow bound here gets less than this one.
    fn fails(&self, r: f64, bound_here: bool) -> bool {
        let tol = FULL_TOLERANCE * r.max(1.0);
        self.over
            || (bound_here && (!self.full || self.most > r + tol))
            || (self.full && self.least_bound < r - tol)
    }
}

/// How close to its capacity a link's load must be for it to count as full (and how far past
/// it as over): the rounding of sums of rates, far below any rate that matters.
const FULL_TOLERANCE: f64 = 1e-9;

/// No link: a flow bound by its own cap, or by nothing.
const NO_LINK: u32 = u32::MAX;

/// Working arrays of the progressive filling, kept between re-solves.
#[derive(Debug, Clone, Default)]
pub(super) struct FillScratch {
    /// Each link's index within the component being solved.
    local_of: Vec<u32>,
    /// Of the flows left out on each link: the most one gets, and the least one bound there
    /// gets.
    out_most: Vec<f64>,
    out_bound_least: Vec<f64>,
    /// What the flows left out carry on each link, and what it carries after the solve.
    outside: Vec<f64>,
    used: Vec<f64>,
    /// The greatest rate of a solved flow on each link, and the least of those bound there.
    most: Vec<f64>,
    least_bound: Vec<f64>,
    residual: Vec<f64>,
    unfrozen_on: Vec<u32>,
    /// The flows' paths in local link indices, one after another; `path_start[i]..[i + 1]`.
    path: Vec<u32>,
    path_start: Vec<u32>,
    caps: Vec<f64>,
    /// The sum of the caps of each link's flows.
    demand: Vec<f64>,
    rate: Vec<f64>,
    /// The link each flow froze at ([`NO_LINK`] if its cap held it).
    bound: Vec<u32>,
    active: Vec<u32>,
    still: Vec<u32>,
}
