use super::*;
use crate::base::hash_text;

fn plan() -> Plan {
    Plan {
        scenario: "s".into(),
        scenario_hash: hash_text("s"),
        fixed: vec!["horizon=1h".into()],
        axes: vec![
            parse_axis("policy.name=none,thr-mmt-0.8").unwrap(),
            parse_axis("workload.cpu_scale=1,1.5,2").unwrap(),
        ],
        seeds: vec![1, 2],
    }
}

#[test]
fn axis_values_split_on_top_level_commas_only() {
    let a = parse_axis("hosts[0].power = [1,2] , {a=1,b=2}, 'x,y'").unwrap();
    assert_eq!(a.key, "hosts[0].power");
    assert_eq!(a.values, vec!["[1,2]", "{a=1,b=2}", "'x,y'"]);
    assert!(parse_axis("novalue").is_err());
    assert!(parse_axis("k=a,,b").is_err());
    assert!(parse_axis("k=a,a").is_err());
    assert!(parse_axis("=a").is_err());
    assert!(parse_axis("a,=1").is_err());
}

#[test]
fn a_linked_axis_sets_every_field_to_the_same_value() {
    let mut p = plan();
    p.axes = vec![parse_axis("host_type[0].nic, host_type[1].nic=1Gbit/s,10Gbit/s").unwrap()];
    assert_eq!(p.axes[0].key, "host_type[0].nic,host_type[1].nic");
    assert_eq!(
        p.task_sets(2),
        vec![
            "horizon=1h",
            "host_type[0].nic=10Gbit/s",
            "host_type[1].nic=10Gbit/s",
            "seed=1"
        ]
    );
    let csv = results_csv(&p, &[]);
    assert!(csv.starts_with("point,seed,\"host_type[0].nic,host_type[1].nic\",status,"));
}

#[test]
fn seeds_are_ranges_lists_or_counts() {
    assert_eq!(
        parse_seeds("1..10", 0).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(parse_seeds("3..=5", 0).unwrap(), vec![3, 4, 5]);
    assert_eq!(parse_seeds("7,3", 0).unwrap(), vec![7, 3]);
    assert_eq!(parse_seeds("3", 42).unwrap(), vec![42, 43, 44]);
    assert!(parse_seeds("0", 1).is_err());
    assert!(parse_seeds("5..2", 1).is_err());
    assert!(parse_seeds("1,1", 1).is_err());
    assert!(parse_seeds("x", 1).is_err());
}

#[test]
fn points_vary_the_last_axis_fastest_and_tasks_are_point_major() {
    let p = plan();
    assert_eq!(p.points(), 6);
    assert_eq!(p.tasks(), 12);
    assert_eq!(p.point_values(0), vec!["none", "1"]);
    assert_eq!(p.point_values(2), vec!["none", "2"]);
    assert_eq!(p.point_values(3), vec!["thr-mmt-0.8", "1"]);
    assert_eq!(p.task(7), (3, 2));
    assert_eq!(
        p.task_sets(7),
        vec![
            "horizon=1h",
            "policy.name=thr-mmt-0.8",
            "workload.cpu_scale=1",
            "seed=2"
        ]
    );
}

#[test]
fn shards_partition_the_tasks() {
    let n = 5;
    let mut seen = [0; 23];
    for i in 0..n {
        let s = Shard { index: i, count: n };
        for (t, c) in seen.iter_mut().enumerate() {
            if s.owns(t) {
                *c += 1;
            }
        }
    }
    assert!(seen.iter().all(|&c| c == 1));
    assert_eq!(parse_shard("2/4").unwrap(), Shard { index: 2, count: 4 });
    assert!(parse_shard("4/4").is_err());
    assert!(parse_shard("1/0").is_err());
    assert!(parse_shard("a/b").is_err());
}

#[test]
fn slurm_array_variables_give_the_shard() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(slurm_shard(env(&[])).unwrap(), None);
    assert_eq!(
        slurm_shard(env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "3")
        ]))
        .unwrap(),
        Some(Shard { index: 2, count: 4 })
    );
    assert!(
        slurm_shard(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4")
        ]))
        .is_err()
    );
}

#[test]
fn confidence_interval_matches_students_t() {
    // t(0.975, 4) = 2.776445 (standard tables).
    let e = estimate(&[10.0, 12.0, 11.0, 13.0, 9.0]).unwrap();
    assert_eq!(e.mean, 11.0);
    let s = e.std.unwrap();
    assert!((s - 2.5f64.sqrt()).abs() < 1e-12);
    let half = e.ci95.unwrap().1 - e.mean;
    assert!((half - 2.776445 * s / 5f64.sqrt()).abs() < 1e-5, "{half}");
    let one = estimate(&[3.0]).unwrap();
    assert_eq!((one.std, one.ci95), (None, None));
    assert!(estimate(&[]).is_none());
}

fn result(p: &Plan, t: usize, energy: f64) -> TaskResult {
    let (point, seed) = p.task(t);
    let mut metrics = vec![Some(0.0); METRICS.len()];
    metrics[0] = Some(energy);
    metrics[1] = None;
    TaskResult {
        task: t,
        point,
        seed,
        error: String::new(),
        metrics,
    }
}

#[test]
fn merged_shards_equal_the_whole_and_gaps_or_mixes_are_refused() {
    let p = plan();
    let all: Vec<TaskResult> = (0..p.tasks()).map(|t| result(&p, t, t as f64)).collect();
    let shard = |i: usize| {
        let s = Shard { index: i, count: 3 };
        let rs = all.iter().filter(|r| s.owns(r.task)).cloned().collect();
        (s.file_name(), ResultFile::new(p.clone(), s, rs))
    };
    // Round trip through JSON, as collect reads files.
    let files: Vec<(String, ResultFile)> = (0..3)
        .rev()
        .map(|i| {
            let (n, f) = shard(i);
            (n.clone(), ResultFile::parse(&n, &f.to_json()).unwrap())
        })
        .collect();
    let (mp, merged) = merge(&files).unwrap();
    assert_eq!(mp, p);
    assert_eq!(merged, all);
    assert_eq!(results_csv(&p, &merged), results_csv(&p, &all));

    let err = merge(&files[..2]).unwrap_err();
    assert!(err.contains("4 of 12 tasks are missing"), "{err}");
    let mut dup = files.clone();
    dup.push(files[0].clone());
    assert!(merge(&dup).unwrap_err().contains("is in both"));
    let mut other = files.clone();
    other[1].1.plan.scenario_hash = hash_text("changed");
    assert!(merge(&other).unwrap_err().contains("hash"));
    let mut ver = files.clone();
    ver[2].1.migsim_version = "0.0.0".into();
    assert!(merge(&ver).unwrap_err().contains("version"));
}

#[test]
fn csv_files_have_a_row_per_run_and_per_point_metric() {
    let p = plan();
    let mut rs: Vec<TaskResult> = (0..p.tasks()).map(|t| result(&p, t, 1.0)).collect();
    rs[1] = TaskResult::failed(&p, 1, "no room, for VM \"a\"".into());
    let r = results_csv(&p, &rs);
    assert_eq!(r.lines().count(), 1 + 12);
    assert!(r.starts_with("point,seed,policy.name,workload.cpu_scale,status,energy_kwh,"));
    assert!(r.contains("0,2,none,1,\"error: no room, for VM \"\"a\"\"\","));
    let s = summary_csv(&p, &rs);
    assert_eq!(s.lines().count(), 1 + 6 * METRICS.len());
    // Point 0 has one good run of two: a mean, no interval; the absent metric is empty.
    assert!(s.contains("\n0,none,1,energy_kwh,1,1,1,,,\n"), "{s}");
    assert!(
        s.contains("\n0,none,1,baseline_energy_kwh,0,1,,,,\n"),
        "{s}"
    );
    assert!(s.contains("\n1,none,1.5,energy_kwh,2,0,1,0,1,1\n"), "{s}");
}
