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
