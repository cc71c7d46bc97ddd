//! Links, paths and flows, with max-min fair bandwidth sharing.
//!
//! Every transfer (a pre-copy round, a VM's own traffic, background load on an uplink) is a flow
//! on a path of directed links. Whenever a flow starts or ends, the rates it can move are
//! recomputed by progressive filling: every unfrozen flow's rate rises together until a link on
//! its path is full or the flow reaches its own cap (a rate limit such as QEMU's
//! `max-bandwidth`); those flows freeze and the rest keep rising. The result is the max-min fair allocation, the
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
    /// Still to transfer at [`Flow::since`]; infinite for a persistent flow (background
    /// traffic).
    pub remaining: Volume,
    /// Current max-min share.
    pub rate: Bandwidth,
    /// The flow's own rate limit ([`Bandwidth::UNLIMITED`] if none).
    pub cap: Bandwidth,
    /// Delivered by [`Flow::since`]; [`Network::delivered`] gives it now.
    pub delivered: Volume,
    /// Propagation delay added after the last byte leaves.
    pub latency: SimTime,
    /// When `remaining` and `delivered` were brought up to date. A flow moves forward only when
    /// its rate changes or it ends: between those its progress is rate × time, and moving every
    /// flow at every event would cost the whole network per event.
    pub since: SimTime,
    /// When it drains at its current rate, as entered in the network's completion index.
    drains: Option<SimTime>,
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
    /// The flows on each link, to find the flows a change reaches.
    link_flows: Vec<Vec<u32>>,
    /// The network's clock: flows are rated as of this instant.
    now: SimTime,
    /// Bumped on every recomputation so that stale wake-up events can be recognised.
    generation: u64,
    /// Links and flows changed since the rates were last computed. Recomputation is deferred
    /// until rates are needed, so that a thousand VMs starting at the same instant cost one
    /// recomputation, not a thousand; and it covers only the components they touch.
    dirty_links: std::collections::BTreeSet<u32>,
    dirty_flows: std::collections::BTreeSet<u32>,
    /// When each finite, moving flow drains at its current rate, in time order.
    completions: completions::Completions,
    /// Scratch marks for finding components, stamped to avoid clearing.
    link_seen: Vec<u64>,
    flow_seen: Vec<u64>,
    /// The link each flow was bound at when last solved (`u32::MAX`: its cap, or nothing).
    bottleneck: Vec<u32>,
    /// Each flow's rate, beside the flows so that the test of a busy link's flows reads a
    /// dense array.
    rate_of: Vec<f64>,
    stamp: u64,
    scratch: flows::FillScratch,
    /// Flows whose rate a solve changed, since [`Network::take_rerated`] last took them: what
    /// depends on rates (a host's migration CPU) follows these instead of every flow.
    rerated: Vec<FlowId>,
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
            host_tx,
            host_rx,
            host_rack,
            rack_up,
            rack_down,
            link_flows: vec![Vec::new(); links.len()],
            link_seen: vec![0; links.len()],
            links,
            flows: Vec::new(),
            free: Vec::new(),
            now: SimTime::ZERO,
            generation: 0,
            dirty_links: Default::default(),
            dirty_flows: Default::default(),
            completions: Default::default(),
            flow_seen: Vec::new(),
            bottleneck: Vec::new(),
            rate_of: Vec::new(),
            stamp: 0,
            scratch: Default::default(),
            rerated: Vec::new(),
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
}

mod completions;
mod flows;
#[cfg(test)]
mod tests;
