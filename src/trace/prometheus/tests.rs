use std::collections::BTreeMap;
use std::path::Path;

use super::*;

/// A query_range answer of one series per (labels, points); `None` values are left out, as
/// Prometheus leaves out steps where a series was absent or stale.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(f64, Option<&'a str>)]);

fn answer(series: &[SeriesSpec]) -> String {
    let result: Vec<String> = series
        .iter()
        .map(|(labels, points)| {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("\"{k}\":\"{v}\""))
                .collect();
            let p: Vec<String> = points
                .iter()
                .filter_map(|(t, v)| v.map(|v| format!("[{t},\"{v}\"]")))
                .collect();
            format!(
                "{{\"metric\":{{{}}},\"values\":[{}]}}",
                l.join(","),
                p.join(",")
            )
        })
        .collect();
    format!(
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[{}]}}}}",
        result.join(",")
    )
}

fn parsed(text: &str) -> Vec<Series> {
    parse_matrix(Path::new("t.json"), text).unwrap()
}

#[test]
fn answers_parse_and_bad_ones_name_the_point() {
    let a = parsed(&answer(&[(
        &[("domain", "web"), ("host", "h1")],
        &[
            (100.0, Some("1.5")),
            (105.0, Some("NaN")),
            (110.0, Some("2")),
        ],
    )]));
    assert_eq!(a[0].points, vec![(100.0, 1.5), (110.0, 2.0)]);
    assert_eq!(a[0].nan, 1);
    assert_eq!(a[0].labels["domain"], "web");

    let e = parse_matrix(
        Path::new("cpu_time.json"),
        &answer(&[(&[("domain", "a")], &[(1.0, Some("1")), (2.0, Some("x"))])]),
    )
    .unwrap_err();
    assert_eq!(e.field, "data.result[0].values[1]");
    assert!(e.to_string().starts_with("cpu_time.json: "), "{e}");
    let e = parse_matrix(
        Path::new("q.json"),
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("parse error at char 3"), "{e}");
    let e = parse_matrix(
        Path::new("q.json"),
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("instant query"), "{e}");
    let e = parse_matrix(Path::new("q.json"), "{\n\"status\": oops").unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn counter_rates_take_a_reset_as_the_new_value_and_average_over_gaps() {
    let v = [
        Some(10.0),
        Some(20.0),
        None,
        Some(40.0),
        Some(3.0),
        Some(8.0),
    ];
    let (r, resets) = counter_rates(&v, 5.0);
    assert_eq!(
        r,
        vec![None, Some(2.0), None, Some(2.0), Some(0.6), Some(1.0)]
    );
    assert_eq!(resets, 1);
}

fn answers(pairs: Vec<(&'static str, String)>) -> BTreeMap<&'static str, Option<Vec<Series>>> {
    let mut m: BTreeMap<&'static str, Option<Vec<Series>>> =
        QUERIES.iter().map(|q| (q.key, None)).collect();
    for (k, text) in pairs {
        m.insert(k, Some(parsed(&text)));
    }
    m
}

#[test]
fn a_vm_that_moves_host_keeps_one_trace_and_the_move_is_reported() {
    // "web" (2 vCPUs) runs on h1 at 1 CPU-second per second, migrates at 20 s and goes on
    // on h2, whose counter starts afresh; "db" appears at 10 s.
    let cpu = answer(&[
        (
            &[("domain", "web"), ("host", "h1")],
            &[(0.0, Some("100")), (10.0, Some("110")), (20.0, Some("120"))],
        ),
        (
            &[("domain", "web"), ("host", "h2")],
            &[
                (20.0, Some("0.5")),
                (30.0, Some("10.5")),
                (40.0, Some("25.5")),
            ],
        ),
        (
            &[("domain", "db"), ("instance", "10.0.0.7:9177")],
            &[
                (10.0, Some("0")),
                (20.0, Some("2")),
                (30.0, Some("4")),
                (40.0, Some("6")),
            ],
        ),
    ]);
    let vcpus = answer(&[
        (&[("domain", "web"), ("host", "h1")], &[(0.0, Some("2"))]),
        (&[("domain", "web"), ("host", "h2")], &[(20.0, Some("2"))]),
        (
            &[("domain", "db"), ("instance", "10.0.0.7:9177")],
            &[(10.0, Some("1"))],
        ),
    ]);
    let memory = answer(&[(
        &[("domain", "db"), ("instance", "10.0.0.7:9177")],
        &[(10.0, Some("1000")), (20.0, Some("3000"))],
    )]);
    let rx = answer(&[
        (
            &[("domain", "db"), ("target_device", "vnet0")],
            &[(10.0, Some("0")), (20.0, Some("100"))],
        ),
        (
            &[("domain", "db"), ("target_device", "vnet1")],
            &[(10.0, Some("0")), (20.0, Some("50"))],
        ),
    ]);
    let idle = answer(&[
        (
            &[("cpu", "0"), ("host", "h1")],
            &[(0.0, Some("0")), (10.0, Some("5"))],
        ),
        (
            &[("cpu", "1"), ("host", "h1")],
            &[(0.0, Some("0")), (10.0, Some("10"))],
        ),
    ]);
    let a = answers(vec![
        ("cpu_time", cpu),
        ("vcpus", vcpus),
        ("memory", memory),
        ("rx", rx),
        ("node_idle", idle),
    ]);
    let grid = Grid::new(0.0, 40.0, 10.0).unwrap();
    let imp = assemble(&a, grid, &Labels::default(), "test").unwrap();
    let names: Vec<&str> = imp.vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["db", "web"]);
    let (db, web) = (&imp.vms[0], &imp.vms[1]);
    assert_eq!(
        web.cpu,
        vec![None, Some(0.5), Some(0.5), Some(0.5), Some(0.75)]
    );
    assert_eq!(
        web.hosts,
        vec![(1, "h1".to_string()), (3, "h2".to_string())]
    );
    assert_eq!(web.vcpus, 2);
    assert_eq!(db.hosts, vec![(2, "10.0.0.7".to_string())]);
    assert_eq!(db.cpu, vec![None, None, Some(0.2), Some(0.2), Some(0.2)]);
    assert_eq!(db.memory[2], Some(3000.0));
    assert_eq!(db.net[2], Some(15.0));
    let s = imp.summary();
    assert_eq!(s.vms[1].moves[0].from, "h1");
    assert_eq!(s.vms[1].moves[0].at, 30.0);
    assert_eq!(imp.hosts[0].cpu[1], Some(0.25));
    let text = imp.report_text();
    assert!(text.contains("moved \"h1\" → \"h2\" at 30 s"), "{text}");
    assert!(text.contains("first sample at 20 s (appeared)"), "{text}");
    assert!(text.contains("not measured: dirty-page rates"), "{text}");
}

#[test]
fn cpu_time_above_the_vcpus_is_clamped_and_counted() {
    let cpu = answer(&[(&[("domain", "a")], &[(0.0, Some("0")), (10.0, Some("11"))])]);
    let vcpus = answer(&[(&[("domain", "a")], &[(0.0, Some("1"))])]);
    let a = answers(vec![("cpu_time", cpu), ("vcpus", vcpus)]);
    let imp = assemble(
        &a,
        Grid::new(0.0, 10.0, 10.0).unwrap(),
        &Labels::default(),
        "t",
    )
    .unwrap();
    assert_eq!(imp.vms[0].cpu[1], Some(1.0));
    assert_eq!(imp.vms[0].report.clamped, 1);
}

#[test]
fn what_cannot_be_assembled_is_an_error_naming_the_answer() {
    let cpu = answer(&[(&[("name", "a")], &[(0.0, Some("0"))])]);
    let vcpus = answer(&[]);
    let a = answers(vec![("cpu_time", cpu.clone()), ("vcpus", vcpus.clone())]);
    let g = Grid::new(0.0, 10.0, 10.0).unwrap();
    let e = assemble(&a, g, &Labels::default(), "t").unwrap_err();
    assert!(
        e.to_string()
            .contains("cpu_time.json: data.result[0].metric: no \"domain\" label"),
        "{e}"
    );
    let labels = Labels {
        vm: "name".into(),
        ..Labels::default()
    };
    let e = assemble(&a, g, &labels, "t").unwrap_err();
    assert!(e.to_string().contains("no vCPU count"), "{e}");
    let off = answer(&[(&[("domain", "a")], &[(3.0, Some("0"))])]);
    let a = answers(vec![("cpu_time", off), ("vcpus", vcpus)]);
    let e = assemble(&a, g, &Labels::default(), "t").unwrap_err();
    assert!(e.to_string().contains("off the grid"), "{e}");
    let mut a = answers(vec![]);
    a.insert("vcpus", None);
    let e = assemble(&a, g, &Labels::default(), "t").unwrap_err();
    assert!(e.to_string().contains("cpu_time.json"), "{e}");
    assert!(Grid::new(0.0, 5.0, 10.0).is_err());
}

#[test]
fn times_read_as_unix_rfc3339_or_relative_to_now() {
    let now = 1_800_000_000.0;
    assert_eq!(parse_time("now", now), Ok(now));
    assert_eq!(parse_time("now-7d", now), Ok(now - 7.0 * 86_400.0));
    assert_eq!(parse_time("1764547200", now), Ok(1_764_547_200.0));
    assert_eq!(parse_time("2025-12-01T00:00:00Z", now), Ok(1_764_547_200.0));
    assert_eq!(
        parse_time("2025-12-01T01:30:00+01:30", now),
        Ok(1_764_547_200.0)
    );
    assert_eq!(parse_time("1970-01-01T00:00:00.5Z", now), Ok(0.5));
    assert_eq!(parse_time("2000-02-29T12:00:00Z", now), Ok(951_825_600.0));
    assert!(parse_time("2025-13-01T00:00:00Z", now).is_err());
    assert!(
        parse_time("yesterday", now)
            .unwrap_err()
            .contains("RFC 3339")
    );
    assert!(parse_time("now*2", now).is_err());
}

#[test]
fn saved_answers_need_cpu_time_and_vcpus_only() {
    let dir = tempfile::tempdir().unwrap();
    let e = read_saved(dir.path(), false).unwrap_err();
    assert!(e.to_string().contains("cpu_time.json"), "{e}");
    let one = answer(&[(&[("domain", "a")], &[(0.0, Some("1"))])]);
    std::fs::write(dir.path().join("cpu_time.json"), &one).unwrap();
    std::fs::write(dir.path().join("vcpus.json"), &one).unwrap();
    let m = read_saved(dir.path(), false).unwrap();
    assert!(m["cpu_time"].is_some() && m["memory"].is_none());
    assert!(
        read_saved(dir.path(), true)
            .unwrap_err()
            .to_string()
            .contains("dirty.json")
    );
}
