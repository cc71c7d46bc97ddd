//! Links, paths and flows, with max-min fair bandwidth sharing.
//!
//! Every transfer (a pre-copy round, a VM's own traffic, background load on an uplink) is a flow
//! on a path of directed links. Whenever a flow starts or ends, all rates are recomputed by
//! progressive filling: every unfrozen flow's rate rises together until a link on its path is
//! full or the flow reaches its own cap (a rate limit such as QEMU's `max-bandwidth`); those
//! flows freeze and the rest keep rising. The result is the max-min fair allocation, the
//! flow-level model SimGrid uses for migration traffic (Hirofuchi et al., CloudCom 2013). It is
//! what makes two concurrent migrations, or a migration and the VM's own clients, slow each other.
//!
//! Links are directed: a full-duplex NIC is a `tx` and an `rx` link, so a migration leaving a host
//! does not compete with one arriving at it.

use crate::engine::SimTime;
use crate::units::{Bandwidth, Volume};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u32);

#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub capacity: Bandwidth,
    pub latency: SimTime,
}

/// Which topology connects the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyKind {
    /// Every host's NIC on one non-blocking switch.
    Star,
    /// Hosts → top-of-rack switch → core: traffic between racks crosses both racks' uplinks.
    Tree,
}

/// Where a flow starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Host(u32),
    /// Clients outside the data centre, beyond the core.
    External,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub links: Vec<LinkId>,
    /// Still to transfer; infinite for a persistent flow (background traffic).
    pub remaining: Volume,
    /// Current max-min share.
    pub rate: Bandwidth,
    /// The flow's own rate limit ([`Bandwidth::UNLIMITED`] if none).
    pub cap: Bandwidth,
    /// Delivered so far.
    pub delivered: Volume,
    /// Propagation delay added after the last byte leaves.
    pub latency: SimTime,
}

/// Flows are done when less than this many bytes remain (rounding of rate × time).
const DONE_EPSILON: Volume = Volume::bytes(1e-3);

/// The data-centre network: links, the topology's routing and the live flows.
#[derive(Debug, Clone)]
pub struct Network {
    pub kind: TopologyKind,
    pub links: Vec<Link>,
    host_tx: Vec<LinkId>,
    host_rx: Vec<LinkId>,
    host_rack: Vec<u32>,
    rack_up: Vec<LinkId>,
    rack_down: Vec<LinkId>,
    flows: Vec<Option<Flow>>,
    free: Vec<u32>,
    last_update: SimTime,
    /// Bumped on every recomputation so that stale wake-up events can be recognised.
    generation: u64,
    /// Flows changed since the rates were last computed. Recomputation is deferred until rates
    /// are needed, so that a thousand VMs starting at the same instant cost one recomputation,
    /// not a thousand.
    dirty: bool,
    /// [`Network::next_completion`] as last computed, until flows, rates or the clock change:
    /// the simulation asks after every event, and most events leave the network as it was.
    completion: std::cell::Cell<Option<Option<SimTime>>>,
}

/// Parameters to build a topology.
#[derive(Debug, Clone)]
pub struct TopologySpec {
    pub kind: TopologyKind,
    /// NIC speed of each host.
    pub host_nic: Vec<Bandwidth>,
    pub host_names: Vec<String>,
    pub host_latency: SimTime,
    /// Hosts per rack (tree only); hosts are assigned to racks in id order.
    pub rack_size: usize,
    pub uplink: Bandwidth,
    pub uplink_latency: SimTime,
}

impl Network {
    pub fn build(spec: &TopologySpec) -> Network {
        let n = spec.host_nic.len();
        let mut links = Vec::with_capacity(2 * n + 8);
        let mut host_tx = Vec::with_capacity(n);
        let mut host_rx = Vec::with_capacity(n);
        let mut host_rack = Vec::with_capacity(n);
        for (i, nic) in spec.host_nic.iter().enumerate() {
            let cap = *nic;
            host_tx.push(LinkId(links.len() as u32));
            links.push(Link {
                name: format!("{}/tx", spec.host_names[i]),
                capacity: cap,
                latency: spec.host_latency,
            });
            host_rx.push(LinkId(links.len() as u32));
            links.push(Link {
                name: format!("{}/rx", spec.host_names[i]),
                capacity: cap,
                latency: spec.host_latency,
            });
            host_rack.push(match spec.kind {
                TopologyKind::Star => 0,
                TopologyKind::Tree => (i / spec.rack_size.max(1)) as u32,
            });
        }
        let mut rack_up = Vec::new();
        let mut rack_down = Vec::new();
        if spec.kind == TopologyKind::Tree {
            let racks = host_rack.last().map(|&r| r as usize + 1).unwrap_or(0);
            for r in 0..racks {
                rack_up.push(LinkId(links.len() as u32));
                links.push(Link {
                    name: format!("rack{r}/up"),
                    capacity: spec.uplink,
                    latency: spec.uplink_latency,
                });
                rack_down.push(LinkId(links.len() as u32));
                links.push(Link {
                    name: format!("rack{r}/down"),
                    capacity: spec.uplink,
                    latency: spec.uplink_latency,
                });
            }
        }
        Network {
            kind: spec.kind,
            links,
            host_tx,
            host_rx,
            host_rack,
            rack_up,
            rack_down,
            flows: Vec::new(),
            completion: std::cell::Cell::new(None),
            free: Vec::new(),
            last_update: SimTime::ZERO,
            generation: 0,
            dirty: false,
        }
    }

    pub fn link_by_name(&self, name: &str) -> Option<LinkId> {
        self.links
            .iter()
            .position(|l| l.name == name)
            .map(|i| LinkId(i as u32))
    }

    pub fn rack_of(&self, host: u32) -> u32 {
        self.host_rack[host as usize]
    }

    pub fn racks(&self) -> usize {
        self.rack_up.len().max(1)
    }

    /// The directed links from `src` to `dst`.
    pub fn path(&self, src: Endpoint, dst: Endpoint) -> Vec<LinkId> {
        let mut p = Vec::with_capacity(4);
        let src_rack = match src {
            Endpoint::Host(h) => {
                p.push(self.host_tx[h as usize]);
                Some(self.host_rack[h as usize])
            }
            Endpoint::External => None,
        };
        let dst_rack = match dst {
            Endpoint::Host(h) => Some(self.host_rack[h as usize]),
            Endpoint::External => None,
        };
        if self.kind == TopologyKind::Tree && src_rack != dst_rack {
            if let Some(r) = src_rack {
                p.push(self.rack_up[r as usize]);
            }
            if let Some(r) = dst_rack {
                p.push(self.rack_down[r as usize]);
            }
        }
        if let Endpoint::Host(h) = dst {
            p.push(self.host_rx[h as usize]);
        }
        p
    }

    pub fn path_latency(&self, links: &[LinkId]) -> SimTime {
        links.iter().fold(SimTime::ZERO, |acc, l| {
            acc + self.links[l.0 as usize].latency
        })
    }

    /// Starts a flow of `bytes` (or a persistent one if `None`) on `links`, capped at `cap`.
    /// Rates of all flows are recomputed.
    pub fn start_flow(
        &mut self,
        now: SimTime,
        links: Vec<LinkId>,
        bytes: Option<Volume>,
        cap: Option<Bandwidth>,
    ) -> FlowId {
        self.advance(now);
        self.completion.set(None);
        let latency = self.path_latency(&links);
        let flow = Flow {
            links,
            remaining: bytes.unwrap_or(Volume::bytes(f64::INFINITY)),
            rate: Bandwidth::ZERO,
            cap: cap.unwrap_or(Bandwidth::UNLIMITED),
            delivered: Volume::ZERO,
            latency,
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.flows[i as usize] = Some(flow);
                i
            }
            None => {
                self.flows.push(Some(flow));
                (self.flows.len() - 1) as u32
            }
        };
        self.dirty = true;
        FlowId(id)
    }

    /// Ends a flow (finished or cancelled) and returns it; rates are recomputed.
    pub fn stop_flow(&mut self, now: SimTime, id: FlowId) -> Option<Flow> {
        self.advance(now);
        self.completion.set(None);
        let f = self.flows.get_mut(id.0 as usize)?.take()?;
        self.free.push(id.0);
        self.dirty = true;
        Some(f)
    }

    /// Changes a flow's cap (for example a new round's rate limit).
    pub fn set_cap(&mut self, now: SimTime, id: FlowId, cap: Option<Bandwidth>) {
        self.advance(now);
        self.completion.set(None);
        if let Some(Some(f)) = self.flows.get_mut(id.0 as usize) {
            f.cap = cap.unwrap_or(Bandwidth::UNLIMITED);
        }
        self.dirty = true;
    }

    /// Changes a link's capacity (a failure sets it to 0, a repair restores it).
    pub fn set_link_capacity(&mut self, now: SimTime, link: LinkId, capacity: Bandwidth) {
        self.advance(now);
        self.completion.set(None);
        self.links[link.0 as usize].capacity = capacity.max(Bandwidth::ZERO);
        self.dirty = true;
    }

    /// Brings the rates up to date after flows changed. Rates read through [`Network::flow`],
    /// [`Network::flows`], [`Network::link_load`] and [`Network::next_completion`] are those of
    /// the last settle.
    pub fn settle(&mut self) {
        if self.dirty {
            self.completion.set(None);
            self.recompute();
            self.dirty = false;
        }
    }

    /// Whether flows changed since the last [`Network::settle`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn flow(&self, id: FlowId) -> Option<&Flow> {
        self.flows.get(id.0 as usize).and_then(|f| f.as_ref())
    }

    pub fn flows(&self) -> impl Iterator<Item = (FlowId, &Flow)> {
        self.flows
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (FlowId(i as u32), f)))
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Moves every flow forward to `now` at its current rate.
    pub fn advance(&mut self, now: SimTime) {
        if now <= self.last_update {
            return;
        }
        // Changes made at `last_update` hold from then on: rate them before moving on.
        self.settle();
        self.completion.set(None);
        let dt = now - self.last_update;
        for f in self.flows.iter_mut().flatten() {
            let sent = (f.rate * dt).min(f.remaining);
            f.remaining -= sent;
            f.delivered += sent;
        }
        self.last_update = now;
    }

    /// When the next finite flow drains at current rates, if any.
    pub fn next_completion(&self) -> Option<SimTime> {
        debug_assert!(!self.dirty, "settle() before reading rates");
        if let Some(known) = self.completion.get() {
            return known;
        }
        let next = self
            .flows
            .iter()
            .flatten()
            .filter(|f| f.remaining.as_bytes().is_finite())
            .filter_map(|f| {
                if f.remaining <= DONE_EPSILON {
                    Some(self.last_update)
                } else if f.rate.is_positive() {
                    Some(self.last_update + f.remaining.time_at(f.rate))
                } else {
                    None
                }
            })
            .min();
        self.completion.set(Some(next));
        next
    }

    /// Flows whose bytes have all been sent by `now`. They stay in the table until stopped.
    pub fn drained(&mut self, now: SimTime) -> Vec<FlowId> {
        self.advance(now);
        self.settle();
        self.flows()
            .filter(|(_, f)| f.remaining <= DONE_EPSILON)
            .map(|(id, _)| id)
            .collect()
    }

    /// The rate currently allocated on each link.
    pub fn link_load(&self) -> Vec<Bandwidth> {
        debug_assert!(!self.dirty, "settle() before reading rates");
        let mut load = vec![Bandwidth::ZERO; self.links.len()];
        for f in self.flows.iter().flatten() {
            for l in &f.links {
                load[l.0 as usize] += f.rate;
            }
        }
        load
    }

    /// Progressive filling: the max-min fair rates of all live flows.
    fn recompute(&mut self) {
        self.generation += 1;
        let nl = self.links.len();
        let mut residual: Vec<f64> = self
            .links
            .iter()
            .map(|l| l.capacity.as_bytes_per_sec())
            .collect();
        let mut unfrozen_on: Vec<u32> = vec![0; nl];
        let mut active: Vec<u32> = Vec::new();
        for (i, f) in self.flows.iter_mut().enumerate() {
            if let Some(f) = f {
                f.rate = Bandwidth::ZERO;
                active.push(i as u32);
                for l in &f.links {
                    unfrozen_on[l.0 as usize] += 1;
                }
            }
        }
        let mut level = 0.0f64;
        while !active.is_empty() {
            // The next level at which some flow freezes: a link fills, or a cap is reached.
            let mut next = f64::INFINITY;
            for (l, &n) in unfrozen_on.iter().enumerate() {
                if n > 0 {
                    next = next.min(level + residual[l] / n as f64);
                }
            }
            for &i in &active {
                let f = self.flows[i as usize].as_ref().expect("active flow");
                next = next.min(f.cap.as_bytes_per_sec());
            }
            if !next.is_finite() {
                // Flows with no link and no cap: nothing limits them. Give them nothing rather
                // than infinity; such a flow is a modelling error caught by validation.
                break;
            }
            let delta = next - level;
            for (l, &n) in unfrozen_on.iter().enumerate() {
                if n > 0 {
                    residual[l] -= delta * n as f64;
                }
            }
            level = next;
            // Freeze flows at their cap or crossing a full link.
            let tol = 1e-9 * level.max(1.0);
            let mut still = Vec::with_capacity(active.len());
            for &i in &active {
                let f = self.flows[i as usize].as_mut().expect("active flow");
                let saturated = f.links.iter().any(|l| residual[l.0 as usize] <= tol);
                let cap = f.cap.as_bytes_per_sec();
                if saturated || cap <= level + tol {
                    f.rate = Bandwidth::bytes_per_sec(level.min(cap));
                    for l in &f.links {
                        unfrozen_on[l.0 as usize] -= 1;
                    }
                } else {
                    still.push(i);
                }
            }
            active = still;
        }
        for r in residual.iter_mut() {
            if *r < 0.0 {
                *r = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn star(n: usize, nic: Bandwidth) -> Network {
        Network::build(&TopologySpec {
            kind: TopologyKind::Star,
            host_nic: vec![nic; n],
            host_names: (0..n).map(|i| format!("h{i}")).collect(),
            host_latency: SimTime::ZERO,
            rack_size: n,
            uplink: nic,
            uplink_latency: SimTime::ZERO,
        })
    }

    fn tree(n: usize, rack: usize, nic: Bandwidth, up: Bandwidth) -> Network {
        Network::build(&TopologySpec {
            kind: TopologyKind::Tree,
            host_nic: vec![nic; n],
            host_names: (0..n).map(|i| format!("h{i}")).collect(),
            host_latency: SimTime::from_micros(50),
            rack_size: rack,
            uplink: up,
            uplink_latency: SimTime::from_micros(5),
        })
    }

    fn mbit(f: &Flow) -> f64 {
        f.rate.as_mbit()
    }

    #[test]
    fn two_flows_out_of_one_nic_share_it_equally() {
        let mut net = star(3, Bandwidth::mbit(1000.0));
        let p1 = net.path(Endpoint::Host(0), Endpoint::Host(1));
        let p2 = net.path(Endpoint::Host(0), Endpoint::Host(2));
        let a = net.start_flow(SimTime::ZERO, p1, Some(Volume::bytes(1e9)), None);
        let b = net.start_flow(SimTime::ZERO, p2, Some(Volume::bytes(1e9)), None);
        net.settle();
        assert!((mbit(net.flow(a).unwrap()) - 500.0).abs() < 1e-6);
        assert!((mbit(net.flow(b).unwrap()) - 500.0).abs() < 1e-6);
    }

    #[test]
    fn a_capped_flow_leaves_the_rest_to_the_other() {
        // Clark et al.: a 100 Mbit/s rate-limited first pre-copy round beside the web server's
        // own traffic on a gigabit NIC: the server keeps the other 900 Mbit/s.
        let mut net = star(2, Bandwidth::mbit(1000.0));
        let mig = net.path(Endpoint::Host(0), Endpoint::Host(1));
        let web = net.path(Endpoint::Host(0), Endpoint::External);
        let m = net.start_flow(
            SimTime::ZERO,
            mig,
            Some(Volume::bytes(1e9)),
            Some(Bandwidth::mbit(100.0)),
        );
        let w = net.start_flow(SimTime::ZERO, web, None, None);
        net.settle();
        assert!((mbit(net.flow(m).unwrap()) - 100.0).abs() < 1e-6);
        assert!((mbit(net.flow(w).unwrap()) - 900.0).abs() < 1e-6);
    }

    #[test]
    fn textbook_max_min_example() {
        // Three flows on two 10-unit links: A crosses both, B uses link 1, C uses link 2 and is
        // capped at 2. Max-min: C = 2, A = B = 5 on link 1; link 2 carries A + C = 7.
        let mut net = tree(
            4,
            2,
            Bandwidth::bytes_per_sec(10.0),
            Bandwidth::bytes_per_sec(10.0),
        );
        let up0 = net.link_by_name("rack0/up").unwrap();
        let down1 = net.link_by_name("rack1/down").unwrap();
        let a = net.start_flow(SimTime::ZERO, vec![up0, down1], None, None);
        let b = net.start_flow(SimTime::ZERO, vec![up0], None, None);
        let c = net.start_flow(
            SimTime::ZERO,
            vec![down1],
            None,
            Some(Bandwidth::bytes_per_sec(2.0)),
        );
        net.settle();
        let r = |id| net.flow(id).unwrap().rate.as_bytes_per_sec();
        assert!((r(a) - 5.0).abs() < 1e-9);
        assert!((r(b) - 5.0).abs() < 1e-9);
        assert!((r(c) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn bottleneck_elsewhere_frees_capacity() {
        // Rack uplink of 1 Gbit/s shared by 4 inter-rack flows from 4 hosts with 10 Gbit/s NICs,
        // plus one intra-rack flow that only crosses NICs: it gets its full NIC minus nothing.
        let mut net = tree(8, 4, Bandwidth::gbit(10.0), Bandwidth::gbit(1.0));
        let inter: Vec<_> = (0..4)
            .map(|h| {
                let p = net.path(Endpoint::Host(h), Endpoint::Host(4 + h));
                net.start_flow(SimTime::ZERO, p, None, None)
            })
            .collect();
        let p = net.path(Endpoint::Host(0), Endpoint::Host(1));
        let intra = net.start_flow(SimTime::ZERO, p, None, None);
        net.settle();
        for f in &inter {
            assert!(
                (net.flow(*f).unwrap().rate - Bandwidth::mbit(250.0))
                    .as_bytes_per_sec()
                    .abs()
                    < 1.0
            );
        }
        // Host 0's NIC carries 250 Mbit/s inter-rack, so the intra-rack flow gets 9.75 Gbit/s.
        assert!(
            (net.flow(intra).unwrap().rate - Bandwidth::mbit(9750.0))
                .as_bytes_per_sec()
                .abs()
                < 1.0
        );
    }

    #[test]
    fn flows_complete_when_their_bytes_drain() {
        let mut net = star(2, Bandwidth::bytes_per_sec(100.0));
        let p = net.path(Endpoint::Host(0), Endpoint::Host(1));
        let a = net.start_flow(SimTime::ZERO, p.clone(), Some(Volume::bytes(100.0)), None);
        let b = net.start_flow(SimTime::ZERO, p, Some(Volume::bytes(300.0)), None);
        net.settle();
        // Both at 50 B/s: a drains at t = 2 s.
        assert_eq!(net.next_completion(), Some(SimTime::from_secs(2)));
        assert_eq!(net.drained(SimTime::from_secs(2)), vec![a]);
        net.stop_flow(SimTime::from_secs(2), a);
        net.settle();
        // b has 200 B left, alone at 100 B/s: done at t = 4 s.
        assert_eq!(net.next_completion(), Some(SimTime::from_secs(4)));
        assert_eq!(net.drained(SimTime::from_secs(4)), vec![b]);
        assert!((net.flow(b).unwrap().delivered.as_bytes() - 300.0).abs() < 1e-6);
    }

    #[test]
    fn paths_follow_the_tree() {
        let net = tree(8, 4, Bandwidth::gbit(10.0), Bandwidth::gbit(40.0));
        let names = |p: Vec<LinkId>| -> Vec<String> {
            p.iter()
                .map(|l| net.links[l.0 as usize].name.clone())
                .collect()
        };
        assert_eq!(
            names(net.path(Endpoint::Host(0), Endpoint::Host(1))),
            ["h0/tx", "h1/rx"]
        );
        assert_eq!(
            names(net.path(Endpoint::Host(0), Endpoint::Host(5))),
            ["h0/tx", "rack0/up", "rack1/down", "h5/rx"]
        );
        assert_eq!(
            names(net.path(Endpoint::Host(6), Endpoint::External)),
            ["h6/tx", "rack1/up"]
        );
        let p = net.path(Endpoint::Host(0), Endpoint::Host(5));
        assert_eq!(net.path_latency(&p), SimTime::from_micros(110));
    }
}
