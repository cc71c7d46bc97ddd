//! Flows on the network: starting and stopping them, max-min fair rates by component, and when
//! they drain.
//!
//! Max-min fair rates of flows that share no full link, directly or through other flows, do
//! not depend on each other. So a change (a flow starting, ending or changing its cap, a link
//! failing) recomputes only the flows it reaches by a walk over the flows of full links, the
//! rest held fixed (see [`Network::recompute_touched`]). A flow's progress is rate × time: it is written down only
//! when its rate changes or it ends, and when it drains is kept in a heap, so an event costs
//! the component it touches, not the network.

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
                (self.flows.len() - 1) as u32
            }
        };
        for l in &flow.links {
            self.link_flows[l.0 as usize].push(id);
            self.dirty_links.insert(l.0);
        }
        self.flows[id as usize] = Some(flow);
        self.dirty_flows.insert(id);
        FlowId(id)
    }

    /// Ends a flow (finished or cancelled) and returns it, brought up to now; the rates of the
    /// flows it shared links with are recomputed.
    pub fn stop_flow(&mut self, now: SimTime, id: FlowId) -> Option<Flow> {
        self.advance(now);
        let mut f = self.flows.get_mut(id.0 as usize)?.take()?;
        f.catch_up(self.now);
        if let Some(t) = f.drains {
            self.completions.remove(&(t, id.0));
        }
        for l in &f.links {
            self.link_load[l.0 as usize] -= f.rate.as_bytes_per_sec();
            let on = &mut self.link_flows[l.0 as usize];
            if let Some(i) = on.iter().position(|&x| x == id.0) {
                on.swap_remove(i);
            }
            self.dirty_links.insert(l.0);
        }
        self.dirty_flows.remove(&id.0);
        self.free.push(id.0);
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
        if let Some(t) = f.drains.take() {
            self.completions.remove(&(t, id.0));
        }
        let cap = cap.unwrap_or(Bandwidth::UNLIMITED);
        if f.cap != cap {
            f.cap = cap;
            self.dirty_flows.insert(id.0);
        } else {
            f.drains = f.drains_at();
            if let Some(t) = f.drains {
                self.completions.insert((t, id.0));
            }
        }
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
        // Its flows may all have to change: walk through it.
        self.link_full[link.0 as usize] = true;
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
        self.completions.first().map(|&(t, _)| t)
    }

    /// Flows whose bytes have all been sent by `now`, in id order. They stay in the table until
    /// stopped, and are reported once for their current rate.
    pub fn drained(&mut self, now: SimTime) -> Vec<FlowId> {
        self.advance(now);
        self.settle();
        let mut out = Vec::new();
        while let Some(&(t, id)) = self.completions.first() {
            if t > now {
                break;
            }
            self.completions.pop_first();
            if let Some(Some(f)) = self.flows.get_mut(id as usize) {
                f.drains = None;
            }
            out.push(FlowId(id));
        }
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

    /// Queues the links of flow `id` not yet seen in this walk (the fields it needs, so that
    /// a walk over a link's flows can call it).
    fn queue_links_of(
        flows: &[Option<Flow>],
        link_seen: &mut [u64],
        id: u32,
        stamp: u64,
        queue: &mut Vec<u32>,
    ) {
        for l in &flows[id as usize].as_ref().expect("live flow").links {
            if link_seen[l.0 as usize] != stamp {
                link_seen[l.0 as usize] = stamp;
                queue.push(l.0);
            }
        }
    }

    /// Recomputes the flows the changes since the last settle can reach.
    ///
    /// Flows are coupled only through full links: a link with room to spare binds none of its
    /// flows, so a change on it moves no other flow's rate unless it fills the link. The walk
    /// from the changed flows and links crosses only links that were full at the last solve;
    /// the flows reached are solved with the rates of the flows left out held fixed on the
    /// links they share. If that solve fills a link the walk did not cross, the walk goes on
    /// through it and the larger set is solved again, until no such link fills. The rates are
    /// then those of a solve of the whole network: every flow left out keeps its bottleneck.
    fn recompute_touched(&mut self) {
        self.stamp += 1;
        let stamp = self.stamp;
        let mut links: Vec<u32> = Vec::new();
        let mut flows: Vec<u32> = Vec::new();
        let mut queue: Vec<u32> = Vec::new();
        let dirty_links = std::mem::take(&mut self.dirty_links);
        let dirty_flows = std::mem::take(&mut self.dirty_flows);
        for l in dirty_links {
            if self.link_seen[l as usize] != stamp {
                self.link_seen[l as usize] = stamp;
                queue.push(l);
            }
        }
        // A changed flow is re-solved whatever its links, and its links are walked from.
        for id in dirty_flows {
            self.flow_seen[id as usize] = stamp;
            flows.push(id);
            Self::queue_links_of(&self.flows, &mut self.link_seen, id, stamp, &mut queue);
        }
        loop {
            // Walk link → flows → links through the links that were full.
            while let Some(l) = queue.pop() {
                links.push(l);
                if !self.link_full[l as usize] {
                    continue;
                }
                self.link_crossed[l as usize] = stamp;
                for &id in &self.link_flows[l as usize] {
                    if self.flow_seen[id as usize] == stamp {
                        continue;
                    }
                    self.flow_seen[id as usize] = stamp;
                    flows.push(id);
                    Self::queue_links_of(&self.flows, &mut self.link_seen, id, stamp, &mut queue);
                }
            }
            links.sort_unstable();
            flows.sort_unstable();
            self.solve_with_rest_fixed(&links, &flows, stamp);
            // A link not crossed that the solve filled binds flows left out: cross it.
            let mut grew = false;
            for (k, &l) in links.iter().enumerate() {
                let l = l as usize;
                if self.link_crossed[l] != stamp && self.scratch.fills(k) {
                    self.link_full[l] = true;
                    queue.push(l as u32);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
            // The links are walked again from the ones that filled; those already listed stay.
            links.retain(|l| !queue.contains(l));
        }
        for (k, &l) in links.iter().enumerate() {
            self.link_full[l as usize] = self.scratch.fills(k);
        }
        for (k, &id) in flows.iter().enumerate() {
            let rate = Bandwidth::bytes_per_sec(self.scratch.rate[k]);
            let now = self.now;
            let f = self.flows[id as usize].as_mut().expect("live flow");
            if f.rate == rate && f.since < now {
                // Same rate: its progress and its completion stand.
                continue;
            }
            f.catch_up(now);
            self.rerated.push(FlowId(id));
            let delta = rate.as_bytes_per_sec() - f.rate.as_bytes_per_sec();
            for l in &f.links {
                self.link_load[l.0 as usize] += delta;
            }
            f.rate = rate;
            if let Some(t) = f.drains.take() {
                self.completions.remove(&(t, id));
            }
            f.drains = f.drains_at();
            if let Some(t) = f.drains {
                self.completions.insert((t, id));
            }
        }
        // A crossed link's flows were all solved: its load is their sum, free of the rounding
        // the running sums gather.
        for (k, &l) in links.iter().enumerate() {
            if self.link_crossed[l as usize] == stamp {
                self.link_load[l as usize] = self.scratch.used[k];
            }
        }
    }

    /// Progressive filling over a set of flows, with the flows left out holding their rates on
    /// the links they share: every unfrozen flow's rate rises
    /// together until a link on its path is full or the flow reaches its cap; those flows
    /// freeze and the rest keep rising. `links` and `flows` are sorted, and hold every link of
    /// every flow. Leaves the rates in `self.scratch.rate`, in `flows` order. Each step costs
    /// the component's links and unfrozen flows; flows freeze in few steps, as most share a cap
    /// or a bottleneck. The working arrays are kept between calls: a large component is
    /// re-solved thousands of times a run.
    fn solve_with_rest_fixed(&mut self, links: &[u32], flows: &[u32], stamp: u64) {
        let mut sc = std::mem::take(&mut self.scratch);
        sc.local_of.resize(self.links.len(), 0);
        sc.residual.clear();
        sc.unfrozen_on.clear();
        sc.capacity.clear();
        sc.outside.clear();
        for (i, &l) in links.iter().enumerate() {
            sc.local_of[l as usize] = i as u32;
            sc.capacity
                .push(self.links[l as usize].capacity.as_bytes_per_sec());
            // What the flows left out carry on this link: none on a crossed link.
            sc.outside.push(if self.link_crossed[l as usize] == stamp {
                0.0
            } else {
                self.link_load[l as usize]
            });
            sc.unfrozen_on.push(0);
        }
        for &id in flows {
            let f = self.flows[id as usize].as_ref().expect("live flow");
            for l in &f.links {
                if self.link_crossed[l.0 as usize] != stamp {
                    sc.outside[sc.local_of[l.0 as usize] as usize] -= f.rate.as_bytes_per_sec();
                }
            }
        }
        for i in 0..links.len() {
            sc.residual
                .push((sc.capacity[i] - sc.outside[i].max(0.0)).max(0.0));
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
        // A link whose flows' caps add up to no more than its capacity can never be a
        // bottleneck, and a flow whose links are all such runs at its cap: it is settled at
        // once, and the filling steps over the oversubscribed links only.
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
                let saturated = sc.path[a..b]
                    .iter()
                    .any(|&l| sc.residual[l as usize] <= tol);
                if saturated || sc.caps[i] <= level + tol {
                    sc.rate[i] = level.min(sc.caps[i]);
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
        // What each link carries now, for the check whether the solve filled it.
        sc.used.clear();
        sc.used.extend(sc.outside.iter().map(|o| o.max(0.0)));
        for (i, &rate) in sc.rate.iter().enumerate() {
            for k in sc.path_start[i]..sc.path_start[i + 1] {
                sc.used[sc.path[k as usize] as usize] += rate;
            }
        }
        self.scratch = sc;
    }
}

impl FillScratch {
    /// Whether local link `k` is full after the last solve (within rounding).
    fn fills(&self, k: usize) -> bool {
        self.used[k] >= self.capacity[k] * (1.0 - 1e-9)
    }
}

/// Working arrays of the progressive filling, kept between re-solves.
#[derive(Debug, Clone, Default)]
pub(super) struct FillScratch {
    /// Each link's index within the component being solved.
    local_of: Vec<u32>,
    /// Each link's capacity, what the flows left out carry on it, and what it carries after
    /// the solve.
    capacity: Vec<f64>,
    outside: Vec<f64>,
    used: Vec<f64>,
    residual: Vec<f64>,
    unfrozen_on: Vec<u32>,
    /// The flows' paths in local link indices, one after another; `path_start[i]..[i + 1]`.
    path: Vec<u32>,
    path_start: Vec<u32>,
    caps: Vec<f64>,
    /// The sum of the caps of each link's flows.
    demand: Vec<f64>,
    rate: Vec<f64>,
    active: Vec<u32>,
    still: Vec<u32>,
}
