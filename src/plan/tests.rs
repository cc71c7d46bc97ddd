use super::*;
use crate::engine::SimTime;
use crate::model::host::HostId;

fn scenario() -> Scenario {
    crate::scenario::load_builtin(&[]).unwrap().scenario
}

fn rec(vm: &str, src: &str, dst: &str, start: f64, dur: f64) -> MigrationRecord {
    MigrationRecord {
        vm: vm.into(),
        source: src.into(),
        destination: dst.into(),
        hypervisor: "qemu".into(),
        outcome: Outcome::Completed,
        reason: String::new(),
        start_s: start,
        total_time_s: dur,
        downtime_ms: 100.0,
        transferred_bytes: 1e9,
        rounds: 3,
        stages: Default::default(),
        max_throttle: 0.0,
        degradation_s: 0.0,
        bound_by: crate::migration::Bound::Network,
        per_round: vec![],
    }
}

fn hosts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("h{i}")).collect()
}

fn plan_of(
    sc: &Scenario,
    names: &[String],
    nic: f64,
    migs: &[MigrationRecord],
    power: &[PowerChange],
) -> ActionPlan {
    // A star: a migration occupies both hosts' NICs.
    let path = move |s: usize, d: usize| vec![(format!("nic{s}"), nic), (format!("nic{d}"), nic)];
    build(&Inputs {
        scenario: sc,
        scenario_hash: "abc".into(),
        host_names: names,
        path: &path,
        migrations: migs,
        power,
        efficacy: vec![],
        window: PlanWindow {
            from_s: 0.0,
            until_s: 1e9,
        },
    })
}

/// Runs the DAG as an executor would, as soon as parents are done, with predicted durations,
/// and returns the largest number of migrations any host took part in at once.
fn peak_per_host(plan: &ActionPlan) -> BTreeMap<String, usize> {
    let idx: BTreeMap<&str, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let mut end = vec![0.0f64; plan.actions.len()];
    let mut spans: Vec<(f64, f64, Vec<String>)> = Vec::new();
    for (i, a) in plan.actions.iter().enumerate() {
        let start = a
            .parents
            .iter()
            .map(|p| end[idx[p.as_str()]])
            .fold(0.0, f64::max);
        let dur = (a.predicted.end_s - a.predicted.start_s).max(0.0);
        end[i] = start + dur;
        if let ActionKind::Migrate(m) = &a.kind {
            spans.push((
                start,
                end[i],
                vec![m.source_node.clone(), m.destination_node.clone()],
            ));
        }
    }
    let mut peak: BTreeMap<String, usize> = BTreeMap::new();
    for (s, _, hs) in &spans {
        for h in hs {
            let n = spans
                .iter()
                .filter(|(s2, e2, h2)| s2 <= s && *s < *e2 && h2.contains(h))
                .count();
            let p = peak.entry(h.clone()).or_default();
            *p = (*p).max(n);
        }
    }
    peak
}

#[test]
fn link_and_host_caps_shape_the_dag() {
    let sc = scenario();
    let names = hosts(12);
    // Ten migrations out of h0 at once, each to its own host.
    let migs: Vec<MigrationRecord> = (0..10)
        .map(|i| {
            rec(
                &format!("vm{i}"),
                "h0",
                &format!("h{}", i + 1),
                300.0,
                20.0 + i as f64,
            )
        })
        .collect();
    let one_g = plan_of(&sc, &names, 1e9, &migs, &[]);
    one_g.check().unwrap();
    assert_eq!(one_g.actions.len(), 10);
    assert_eq!(peak_per_host(&one_g)["h0"], PER_LINK_1GBE as usize);
    // The first four start at once; the fifth waits for the one predicted to end first.
    assert!(one_g.actions[..4].iter().all(|a| a.parents.is_empty()));
    assert_eq!(one_g.actions[4].parents, vec!["a0001"]);

    let ten_g = plan_of(&sc, &names, 10e9, &migs, &[]);
    assert_eq!(peak_per_host(&ten_g)["h0"], PER_LINK_10GBE as usize);
    let mut tight = sc.clone();
    tight.migration.max_concurrent_per_host = 2;
    let two = plan_of(&tight, &names, 10e9, &migs, &[]);
    assert_eq!(peak_per_host(&two)["h0"], 2);
}

#[test]
fn a_shared_uplink_caps_migrations_between_racks() {
    let sc = scenario();
    let names = hosts(20);
    // Ten migrations from rack A (h0-h9) to rack B (h10-h19), one per host pair, over 10 GbE
    // NICs but one 1 Gbit/s uplink: the uplink allows 4 at once.
    let migs: Vec<MigrationRecord> = (0..10)
        .map(|i| {
            rec(
                &format!("vm{i}"),
                &format!("h{i}"),
                &format!("h{}", i + 10),
                60.0,
                30.0,
            )
        })
        .collect();
    let path = |s: usize, d: usize| {
        vec![
            (format!("nic{s}"), 10e9),
            ("rackA/up".to_string(), 1e9),
            (format!("nic{d}"), 10e9),
        ]
    };
    let p = build(&Inputs {
        scenario: &sc,
        scenario_hash: "abc".into(),
        host_names: &names,
        path: &path,
        migrations: &migs,
        power: &[],
        efficacy: vec![],
        window: PlanWindow {
            from_s: 0.0,
            until_s: 1e9,
        },
    });
    p.check().unwrap();
    let free = p.actions.iter().filter(|a| a.parents.is_empty()).count();
    assert_eq!(free, PER_LINK_1GBE as usize);
    // No host takes part in more than one, yet at most 4 run at once: the uplink binds.
    let peak = peak_per_host(&p);
    assert!(peak.values().all(|&n| n == 1), "{peak:?}");
}

#[test]
fn waves_are_separated_by_sleeps_and_power_follows_the_moves() {
    let sc = scenario();
    let names = hosts(3);
    let migs = vec![
        rec("a", "h0", "h1", 300.0, 30.0),
        rec("b", "h0", "h1", 300.0, 40.0),
        // The next tick: h2 is woken first, then "a" moves again.
        rec("a", "h1", "h2", 900.0, 30.0),
    ];
    let power = vec![
        PowerChange {
            time_s: 340.0,
            host: HostId(0),
            from: PowerState::On,
            via: PowerState::ShuttingDown,
            to: PowerState::Sleep,
            duration_s: 5.0,
        },
        PowerChange {
            time_s: 900.0,
            host: HostId(2),
            from: PowerState::Sleep,
            via: PowerState::Booting,
            to: PowerState::On,
            duration_s: 60.0,
        },
    ];
    let p = plan_of(&sc, &names, 1e9, &migs, &power);
    p.check().unwrap();
    let kinds: Vec<&str> = p.actions.iter().map(|a| a.type_name()).collect();
    assert_eq!(
        kinds,
        [
            "migrate",
            "migrate",
            "change_node_power_state",
            "sleep",
            "change_node_power_state",
            "migrate"
        ]
    );
    // Sleeping h0 waits for both moves off it.
    assert_eq!(p.actions[2].parents, ["a0001", "a0002"]);
    match &p.actions[2].kind {
        ActionKind::ChangeNodePowerState(x) => {
            assert_eq!((x.state.as_str(), x.mode.as_str()), ("off", "sleep"))
        }
        k => panic!("{k:?}"),
    }
    // The sleep covers the gap from the wave's predicted end (345 s) to the next tick; it
    // waits for the power-off, which itself waits for both moves.
    assert_eq!(p.actions[3].parents, ["a0003"]);
    match &p.actions[3].kind {
        ActionKind::Sleep(s) => assert_eq!(s.duration_s, 555.0),
        k => panic!("{k:?}"),
    }
    // The second move of "a" waits for the sleep and for h2 to be on.
    assert_eq!(p.actions[5].parents, ["a0004", "a0005"]);
}

#[test]
fn failed_migrations_are_listed_not_planned() {
    let sc = scenario();
    let names = hosts(2);
    let mut bad = rec("x", "h0", "h1", 10.0, 5.0);
    bad.outcome = Outcome::Failed;
    bad.reason = "no room on h1".into();
    let p = plan_of(
        &sc,
        &names,
        1e9,
        &[bad, rec("y", "h0", "h1", 10.0, 5.0)],
        &[],
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.not_planned.len(), 1);
    assert_eq!(p.not_planned[0].reason, "no room on h1");
}

#[test]
fn plans_round_trip_through_json_and_bad_plans_are_refused_with_their_place() {
    let sc = scenario();
    let names = hosts(3);
    let migs = vec![
        rec("a", "h0", "h1", 300.0, 30.0),
        rec("b", "h1", "h2", 300.0, 30.0),
    ];
    let p = plan_of(&sc, &names, 1e9, &migs, &[]);
    let text = p.to_json();
    assert_eq!(ActionPlan::parse("plan.json", &text).unwrap(), p);
    let again = plan_of(&sc, &names, 1e9, &migs, &[]);
    assert_eq!(again.plan_id, p.plan_id, "plan ids are deterministic");

    let bad = text.replacen(
        "\"downtime_limit_ms\": 300",
        "\"downtime_limit_ms\": \"x\"",
        1,
    );
    let e = ActionPlan::parse("plan.json", &bad).unwrap_err();
    assert!(e.starts_with("plan.json:"), "{e}");
    assert!(
        e.contains("actions[0].params.downtime_limit_ms") || e.contains("actions[0]"),
        "{e}"
    );

    let mut cyc = p.clone();
    cyc.actions[0].parents = vec![cyc.actions[1].id.clone()];
    assert!(cyc.check().unwrap_err().contains("not an earlier action"));
    let mut dup = p.clone();
    dup.actions[1].id = dup.actions[0].id.clone();
    assert!(dup.check().unwrap_err().contains("used twice"));
}

#[test]
fn migration_parameters_follow_the_scenarios_migration_settings() {
    let mut sc = scenario();
    sc.migration.timeout = Some(crate::units::Duration(SimTime::from_secs(90)));
    sc.migration.on_timeout = OnTimeoutSpec::Postcopy;
    sc.migration.auto_converge = true;
    let m = migrate_params(&sc, &rec("a", "h0", "h1", 0.0, 1.0));
    assert_eq!(m.bandwidth_mib_s, Some(128));
    assert_eq!(m.downtime_limit_ms, 300);
    assert_eq!(m.timeout_s, Some(90));
    assert_eq!(m.on_timeout, Some(OnTimeout::Postcopy));
    assert!(m.auto_converge && !m.postcopy);
    sc.migration.hypervisor = Hypervisor::Cold;
    assert_eq!(
        migrate_params(&sc, &rec("a", "h0", "h1", 0.0, 1.0)).migration_type,
        MigrationType::Cold
    );
}

mod executor {
    use super::*;
    use crate::plan::execute::mock::MockCluster;
    use crate::plan::execute::{self, Options, Status};

    const GIB: f64 = 1073741824.0;

    /// h0 holds a, b, c; a and b go to h1, then a goes on to h2 at the next tick, and h0
    /// sleeps once a and b have left it.
    fn setup() -> (ActionPlan, MockCluster) {
        let sc = scenario();
        let names = hosts(3);
        let migs = vec![
            rec("a", "h0", "h1", 300.0, 30.0),
            rec("b", "h0", "h1", 300.0, 40.0),
            rec("c", "h0", "h2", 300.0, 20.0),
            rec("a", "h1", "h2", 900.0, 30.0),
        ];
        let power = vec![PowerChange {
            time_s: 345.0,
            host: HostId(0),
            from: PowerState::On,
            via: PowerState::ShuttingDown,
            to: PowerState::Sleep,
            duration_s: 5.0,
        }];
        let plan = plan_of(&sc, &names, 1e9, &migs, &power);
        let m =
            MockCluster::with_hosts(&[("h0", 16.0 * GIB), ("h1", 16.0 * GIB), ("h2", 4.0 * GIB)]);
        for v in ["a", "b", "c"] {
            m.add_domain("h0", v, 2.0 * GIB);
        }
        (plan, m)
    }

    fn opts() -> Options {
        Options {
            parallel: 4,
            skip_waits: true,
            power_cmd: None,
        }
    }

    #[test]
    fn the_dry_run_check_finds_missing_vms_unknown_hosts_and_no_room() {
        let (plan, m) = setup();
        assert_eq!(execute::check(&plan, &m), vec![]);
        // h1 does not answer, c is elsewhere, and h2 is too small for a.
        let (plan2, m2) = setup();
        {
            let mut s = m2.0.lock().unwrap();
            let c = s.hosts.get_mut("h0").unwrap().1.remove("c").unwrap();
            s.hosts.get_mut("h1").unwrap().1.insert("c".into(), c);
            s.hosts.get_mut("h2").unwrap().0 = 1.0 * GIB;
            s.hosts.remove("h1");
        }
        let f = execute::check(&plan2, &m2);
        let text: Vec<String> = f
            .iter()
            .map(|x| format!("{}: {}", x.action, x.message))
            .collect();
        assert!(text.iter().any(|t| t.contains("host \"h1\"")), "{text:?}");
        assert!(
            text.iter().any(|t| t.contains("VM \"c\" is not on \"h0\"")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("\"h2\" has") && t.contains("needs")),
            "{text:?}"
        );
    }

    #[test]
    fn execution_follows_the_dag_and_journals_every_action() {
        let (plan, m) = setup();
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.jsonl");
        let out = execute::execute(&plan, &m, &journal, &opts(), &|_| {}).unwrap();
        assert!(
            out.iter()
                .all(|o| o.status == Status::Succeeded || o.status == Status::Noted)
        );
        assert_eq!(m.where_is("a"), Some(("h2".into(), true)));
        assert_eq!(m.where_is("b"), Some(("h1".into(), true)));
        assert_eq!(m.where_is("c"), Some(("h2".into(), true)));
        let lines = std::fs::read_to_string(&journal).unwrap();
        assert_eq!(lines.lines().count(), plan.actions.len());
        let csv = execute::execution_csv(&plan, &out);
        assert_eq!(csv.lines().count(), 1 + plan.actions.len());
        assert!(
            csv.contains(",migrate,a,h0,h1,succeeded,,30,1,100,50,1000000000,2147483648,3,2"),
            "{csv}"
        );
        // Everything done: a rerun changes nothing.
        let calls = m.0.lock().unwrap().calls.len();
        execute::execute(&plan, &m, &journal, &opts(), &|_| {}).unwrap();
        assert_eq!(m.0.lock().unwrap().calls.len(), calls);
    }

    #[test]
    fn a_failed_migration_leaves_the_vm_running_on_its_source_and_skips_its_dependants() {
        let (plan, m) = setup();
        m.0.lock().unwrap().fail.insert("a".into(), true);
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.jsonl");
        let out = execute::execute(&plan, &m, &journal, &opts(), &|_| {}).unwrap();
        let status = |id: &str| {
            let i = plan.actions.iter().position(|a| a.id == id).unwrap();
            out[i].status
        };
        // a0001 (a: h0→h1) failed; the power-off of h0 (a0004), the wait (a0005) and a's
        // second move (a0006) depend on it; b and c are unaffected.
        assert_eq!(status("a0001"), Status::Failed);
        assert_eq!(status("a0002"), Status::Succeeded);
        assert_eq!(status("a0003"), Status::Succeeded);
        assert_eq!(status("a0004"), Status::Skipped);
        assert_eq!(status("a0005"), Status::Skipped);
        assert_eq!(status("a0006"), Status::Skipped);
        assert_eq!(
            m.where_is("a"),
            Some(("h0".into(), true)),
            "running where it was"
        );

        // The operator fixes the cause; the rerun does only what is left.
        m.0.lock().unwrap().fail.clear();
        m.0.lock().unwrap().calls.clear();
        let out = execute::execute(&plan, &m, &journal, &opts(), &|_| {}).unwrap();
        assert!(
            out.iter()
                .all(|o| o.status == Status::Succeeded || o.status == Status::Noted)
        );
        assert_eq!(m.0.lock().unwrap().calls, vec!["a", "a"]);
        assert_eq!(m.where_is("a"), Some(("h2".into(), true)));
    }

    #[test]
    fn a_journal_of_another_plan_is_refused() {
        let (plan, m) = setup();
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.jsonl");
        std::fs::write(
            &journal,
            "{\"plan_id\":\"other\",\"action\":\"a0001\",\"status\":\"succeeded\"}\n",
        )
        .unwrap();
        let e = execute::execute(&plan, &m, &journal, &opts(), &|_| {}).unwrap_err();
        assert!(e.contains("journal is of plan other"), "{e}");
        assert!(m.0.lock().unwrap().calls.is_empty());
    }
}
