//! The network's max-min sharing, paths and completions.

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
    assert!((net.delivered(b).unwrap().as_bytes() - 300.0).abs() < 1e-6);
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

#[test]
fn flows_on_links_with_room_for_every_cap_run_at_their_caps_beside_a_bottleneck() {
    // Two racks; four capped flows leave rack 0 through a 1 Gbit/s uplink (a bottleneck: their
    // caps add up to 1.6 Gbit/s), one capped flow stays inside rack 1 (no bottleneck anywhere).
    let mut net = tree(8, 4, Bandwidth::gbit(10.0), Bandwidth::gbit(1.0));
    let cap = Some(Bandwidth::mbit(400.0));
    let inter: Vec<_> = (0..4)
        .map(|h| {
            let p = net.path(Endpoint::Host(h), Endpoint::Host(4 + h));
            net.start_flow(SimTime::ZERO, p, None, cap)
        })
        .collect();
    let p = net.path(Endpoint::Host(5), Endpoint::Host(6));
    let local = net.start_flow(SimTime::ZERO, p, None, cap);
    net.settle();
    for f in &inter {
        assert!((mbit(net.flow(*f).unwrap()) - 250.0).abs() < 1e-6);
    }
    assert_eq!(mbit(net.flow(local).unwrap()), 400.0);
}

#[test]
fn a_flow_that_fills_a_link_with_room_re_solves_the_flows_already_on_it() {
    // h1's NIC carries 6 + 3 Gbit/s of capped flows: room to spare, so they are not coupled.
    let mut net = star(4, Bandwidth::gbit(10.0));
    let to_h1 = |net: &Network, h: u32| net.path(Endpoint::Host(h), Endpoint::Host(1));
    let a = net.start_flow(
        SimTime::ZERO,
        to_h1(&net, 0),
        None,
        Some(Bandwidth::gbit(6.0)),
    );
    let b = net.start_flow(
        SimTime::ZERO,
        to_h1(&net, 2),
        None,
        Some(Bandwidth::gbit(3.0)),
    );
    net.settle();
    let gbit = |net: &Network, f| net.flow(f).unwrap().rate.as_mbit() / 1000.0;
    assert_eq!((gbit(&net, a), gbit(&net, b)), (6.0, 3.0));
    // A third flow fills the NIC: the first one must give way although the walk from the new
    // flow did not cross a full link.
    let c = net.start_flow(
        SimTime::ZERO,
        to_h1(&net, 3),
        None,
        Some(Bandwidth::gbit(5.0)),
    );
    net.settle();
    let near = |x: f64, y: f64| (x - y).abs() < 1e-9;
    assert!(near(gbit(&net, a), 3.5) && near(gbit(&net, b), 3.0) && near(gbit(&net, c), 3.5));
    // The first ends: the link is full, so the others are re-solved and reach their caps.
    net.stop_flow(SimTime::from_secs(1), a);
    net.settle();
    assert!(near(gbit(&net, b), 3.0) && near(gbit(&net, c), 5.0));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// However the flows came and went, the rates are those of one solve of the flows live.
    #[test]
    fn rates_after_any_history_equal_a_solve_from_scratch(
        ops in proptest::collection::vec((0u32..16, 0u32..16, 0u8..4, 1u32..40), 1..60)
    ) {
        let build = || tree(16, 4, Bandwidth::gbit(10.0), Bandwidth::gbit(20.0));
        let mut net = build();
        let mut live: Vec<(FlowId, u32, u32, Option<Bandwidth>)> = Vec::new();
        for (i, &(src, dst, kind, cap)) in ops.iter().enumerate() {
            let now = SimTime::from_millis(i as u64);
            let cap = (cap < 35).then(|| Bandwidth::gbit(cap as f64 / 4.0));
            match kind {
                0 | 1 if src != dst => {
                    let p = net.path(Endpoint::Host(src), Endpoint::Host(dst));
                    live.push((net.start_flow(now, p, None, cap), src, dst, cap));
                }
                2 if !live.is_empty() => {
                    let (f, ..) = live.remove(src as usize % live.len());
                    net.stop_flow(now, f);
                }
                3 if !live.is_empty() => {
                    let k = dst as usize % live.len();
                    net.set_cap(now, live[k].0, cap);
                    live[k].3 = cap;
                }
                _ => {}
            }
            if i % 3 == 0 {
                net.settle();
            }
        }
        net.settle();
        proptest::prop_assert!(net.gap_to_full_solve() <= 1e-9);
        let mut fresh = build();
        let again: Vec<FlowId> = live
            .iter()
            .map(|&(_, s, d, cap)| {
                let p = fresh.path(Endpoint::Host(s), Endpoint::Host(d));
                fresh.start_flow(SimTime::ZERO, p, None, cap)
            })
            .collect();
        fresh.settle();
        for (&(f, ..), &g) in live.iter().zip(&again) {
            let (x, y) = (net.flow(f).unwrap().rate, fresh.flow(g).unwrap().rate);
            let (x, y) = (x.as_bytes_per_sec(), y.as_bytes_per_sec());
            proptest::prop_assert!((x - y).abs() <= 1e-6 * y.max(1.0), "{x} vs {y}");
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// After every settle of a busy tree (racks of 4 under thin uplinks, so that uplinks and
    /// downlinks fill and couple flows across racks), links failing and coming back among the
    /// starts, stops and cap changes: the incremental rates are those of a solve of every flow.
    #[test]
    fn every_settle_equals_a_solve_of_every_flow(
        ops in proptest::collection::vec((0u32..32, 0u32..32, 0u8..6, 1u32..40), 1..120)
    ) {
        let mut net = tree(32, 4, Bandwidth::gbit(10.0), Bandwidth::gbit(12.0));
        let mut live: Vec<FlowId> = Vec::new();
        for (i, &(src, dst, kind, cap)) in ops.iter().enumerate() {
            let now = SimTime::from_millis(i as u64);
            let cap = (cap < 35).then(|| Bandwidth::gbit(cap as f64 / 4.0));
            match kind {
                0..=2 if src != dst => {
                    let p = net.path(Endpoint::Host(src), Endpoint::Host(dst));
                    live.push(net.start_flow(now, p, None, cap));
                }
                3 if !live.is_empty() => {
                    let f = live.remove(src as usize % live.len());
                    net.stop_flow(now, f);
                }
                4 if !live.is_empty() => {
                    let k = dst as usize % live.len();
                    net.set_cap(now, live[k], cap);
                }
                5 => {
                    // A link fails, is degraded or comes back.
                    let l = LinkId(src % net.links.len() as u32);
                    let c = Bandwidth::gbit([0.0, 2.5, 10.0, 12.0][dst as usize % 4]);
                    net.set_link_capacity(now, l, c);
                }
                _ => {}
            }
            if i % 2 == 0 {
                net.settle();
                let gap = net.gap_to_full_solve();
                proptest::prop_assert!(gap <= 1e-9, "step {i}: gap {gap:e}");
            }
        }
    }
}
