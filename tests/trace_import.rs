//! `migsim trace import` on recorded answers, and the join of an inventory with the import.
//!
//! `tests/data/prometheus-test-bed/` holds the answers a real Prometheus 2.42 gave
//! `contrib/prometheus/test-scrape.sh` (two libvirtd hosts, Debian's libvirt and node
//! exporters, scraping every second): guest "square" spins 20 s and halts 20 s, "quiet"
//! halts; host1's exporter was stopped for 12 s (a gap) and "quiet" was restarted (a
//! counter reset).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{migsim, stderr, stdout};

fn recorded() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/prometheus-test-bed")
}

fn rows(path: &Path) -> Vec<(f64, String, f64)> {
    let mut rd = csv::Reader::from_path(path).unwrap();
    rd.records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[1].to_string(),
                r[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn recorded_answers_import_with_the_gap_and_the_reset_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = recorded();
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            files.to_str().unwrap(),
            "--out",
            "a",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("2 VMs, 2 hosts, 26 steps of 5 s"), "{out}");
    assert!(out.contains("vm \"quiet\" on \"host1\": 1 vCPU"), "{out}");
    assert!(out.contains("1 counter reset(s)"), "{out}");
    assert!(out.contains("missing (interpolated)"), "{out}");
    assert!(out.contains("not measured: dirty-page rates"), "{out}");

    let r = rows(&d.join("a/trace.csv"));
    let square: Vec<f64> = r.iter().filter(|x| x.1 == "square").map(|x| x.2).collect();
    let quiet: Vec<f64> = r.iter().filter(|x| x.1 == "quiet").map(|x| x.2).collect();
    // A 20 s / 20 s square wave sampled every 5 s: whole steps near 0 and near 1, mean near
    // one half; the halted guest near 0.
    let mean = square.iter().sum::<f64>() / square.len() as f64;
    assert!((0.45..=0.65).contains(&mean), "square mean {mean}");
    assert!(
        square.iter().filter(|&&u| u >= 0.9).count() >= 6,
        "{square:?}"
    );
    assert!(
        square.iter().filter(|&&u| u <= 0.1).count() >= 6,
        "{square:?}"
    );
    let quiet_mean = quiet.iter().sum::<f64>() / quiet.len() as f64;
    assert!(quiet_mean < 0.05, "quiet mean {quiet_mean}");
    // The trace replays as a csv trace.
    let t = migsim::trace::csv_long::read(&d.join("a/trace.csv")).unwrap();
    assert_eq!(t.vms.len(), 2);
    assert!(t.vms[0].memory.is_some());

    // The same answers, the same files, byte for byte.
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            files.to_str().unwrap(),
            "--out",
            "b",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["trace.csv", "hosts.csv", "import.json"] {
        assert_eq!(
            fs::read(d.join("a").join(f)).unwrap(),
            fs::read(d.join("b").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn bad_saved_answers_are_refused_with_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("ans")).unwrap();
    for f in ["cpu_time.json", "vcpus.json", "range.json"] {
        fs::copy(recorded().join(f), d.join("ans").join(f)).unwrap();
    }
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            "ans",
            "--out",
            "ok",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("not measured: VM network traffic"),
        "{}",
        stdout(&o)
    );

    let text = fs::read_to_string(d.join("ans/cpu_time.json")).unwrap();
    fs::write(
        d.join("ans/cpu_time.json"),
        text.replacen("\"3.15\"", "\"3,15\"", 1),
    )
    .unwrap();
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            "ans",
            "--out",
            "bad",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("cpu_time.json") && e.contains("values[1]") && e.contains("\"3,15\""),
        "{e}"
    );
    assert!(!d.join("bad").exists());

    fs::remove_file(d.join("ans/range.json")).unwrap();
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            "ans",
            "--out",
            "bad",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("range.json"), "{}", stderr(&o));

    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--url",
            "https://prom:9090",
            "--out",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--files"), "{}", stderr(&o));
}

const NODEINFO: &str =
    "CPU(s):              2\nCPU frequency:       2445 MHz\nMemory size:         24683844 KiB\n";

fn save(d: &Path, host: &str, doms: &[&str]) {
    let h = d.join("virsh").join(host);
    fs::create_dir_all(&h).unwrap();
    fs::write(h.join("nodeinfo.txt"), NODEINFO).unwrap();
    let stats: String = doms
        .iter()
        .map(|n| {
            format!("Domain: '{n}'\n  state.state=1\n  balloon.maximum=65536\n  vcpu.current=1\n\n")
        })
        .collect();
    fs::write(h.join("domstats.txt"), stats).unwrap();
}

#[test]
fn the_inventory_joins_the_import_on_domain_names_and_the_scenario_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = recorded();
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            files.to_str().unwrap(),
            "--out",
            "week",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Today "quiet" is gone and "new" runs: "square" replays its trace, "new" keeps the
    // assumed load, and "quiet" is listed as an unused trace VM.
    save(d, "host1", &["square"]);
    save(d, "host2", &["new"]);
    fs::create_dir(d.join("sc")).unwrap();
    let o = migsim(
        d,
        &[
            "inventory",
            "virsh",
            "--trace",
            "week",
            "--out",
            "sc/cluster.toml",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(d.join("sc/cluster.toml")).unwrap();
    assert!(
        text.contains("path = \"../week/trace.csv\"\njoin = \"name\""),
        "{text}"
    );
    assert!(text.contains("unused = [\"quiet\"]"), "{text}");
    assert!(text.contains("1 of the 2 running domains replay"), "{text}");
    let square = text
        .split("[[vms]]")
        .find(|s| s.contains("\"square\""))
        .unwrap();
    assert!(square.contains("cpu = { model = \"trace\" }"), "{square}");
    let new = text
        .split("[[vms]]")
        .find(|s| s.contains("\"new\""))
        .unwrap();
    assert!(new.contains("model = \"constant\""), "{new}");
    let o = migsim(d, &["run", "sc/cluster.toml", "--out", "r", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A VM of the scenario the trace does not have, and a trace VM that drives nothing, are
    // errors that say which.
    let broken = text.replace("name = \"new\"\nliteral_name = true\ncount = 1\nhost = \"host2\"\nvcpus = 1\nvcpu_mips = 2445\nram = \"65536KiB\"\ncpu = { model = \"constant\", util = 0.2 }",
        "name = \"new\"\nliteral_name = true\ncount = 1\nhost = \"host2\"\nvcpus = 1\nvcpu_mips = 2445\nram = \"65536KiB\"\ncpu = { model = \"trace\" }");
    assert_ne!(broken, text);
    fs::write(d.join("sc/missing.toml"), &broken).unwrap();
    let o = migsim(d, &["run", "sc/missing.toml", "--out", "r2", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("VM \"new\" has no trace VM of that name"),
        "{}",
        stderr(&o)
    );
    fs::write(
        d.join("sc/unlisted.toml"),
        text.replace("unused = [\"quiet\"]", ""),
    )
    .unwrap();
    let o = migsim(d, &["run", "sc/unlisted.toml", "--out", "r3", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("trace.unused: trace VM \"quiet\" drives no VM"),
        "{}",
        stderr(&o)
    );
}

// Written by rrdtool 1.7.2 (`rrdtool xport --showtime`) from two RRDs of collectd's
// virt_cpu_total shape (a DERIVE of CPU nanoseconds), 300 s steps.
const XPORT: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\n<xport>\n  <meta>\n    <start>1764547500</start>\n    <end>1764548400</end>\n    <step>300</step>\n    <rows>4</rows>\n    <columns>2</columns>\n    <legend>\n      <entry>web1</entry>\n      <entry>db</entry>\n    </legend>\n  </meta>\n  <data>\n    <row><t>1764547500</t><v>NaN</v><v>NaN</v></row>\n    <row><t>1764547800</t><v>5.0000000000e+08</v><v>5.0000000000e+08</v></row>\n    <row><t>1764548100</t><v>5.0000000000e+08</v><v>NaN</v></row>\n    <row><t>1764548400</t><v>2.5000000000e+08</v><v>5.0000000000e+08</v></row>\n  </data>\n</xport>\n";

#[test]
fn rrd_exports_import_as_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("cpu.xml"), XPORT).unwrap();
    let o = migsim(
        d,
        &[
            "trace", "import", "rrd", "cpu.xml", "--unit", "ns-per-s", "--out", "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--vcpus"), "{}", stderr(&o));
    let o = migsim(
        d,
        &[
            "trace", "import", "rrd", "cpu.xml", "--unit", "ns-per-s", "--vcpus", "1", "--vcpus",
            "db=2", "--out", "x",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("vm \"db\""), "{}", stdout(&o));
    assert_eq!(
        fs::read_to_string(d.join("x/trace.csv")).unwrap(),
        "time,vm,cpu\n300,web1,0.5000\n300,db,0.2500\n600,web1,0.5000\n900,web1,0.2500\n900,db,0.2500\n"
    );
}

/// The README's worked example, from the answers shipped in `scenarios/replay/`: the
/// figures it quotes are the figures this prints.
#[test]
fn the_readme_worked_example_replays_last_week_and_plans_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let replay = common::scenarios().join("replay");
    let answers = replay.join("answers");
    let o = migsim(
        d,
        &[
            "trace",
            "import",
            "prometheus",
            "--files",
            answers.to_str().unwrap(),
            "--out",
            "week",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for line in out.lines().filter(|l| l.starts_with("  vm \"vm-")) {
        if ["vm-03", "vm-04", "vm-07", "vm-11", "vm-12"]
            .iter()
            .any(|v| line.contains(v))
        {
            assert!(readme.contains(line), "the README does not quote {line:?}");
        }
    }
    assert!(
        out.contains("12 VMs, 3 hosts, 2016 steps of 300 s (7d)"),
        "{out}"
    );
    let virsh = replay.join("virsh");
    let o = migsim(
        d,
        &[
            "inventory",
            virsh.to_str().unwrap(),
            "--trace",
            "week",
            "--out",
            "week/cluster.toml",
            "--name",
            "last-week",
            "--horizon",
            "7d",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        fs::read_to_string(d.join("week/cluster.toml"))
            .unwrap()
            .contains("unused = [\"vm-11\"]")
    );
    let o = migsim(
        d,
        &[
            "compare",
            "week/cluster.toml",
            "-p",
            "none,thr-mmt-0.8",
            "--csv",
            "c.csv",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rd = csv::Reader::from_path(d.join("c.csv")).unwrap();
    let head = rd.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let recs: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let thr = recs
        .iter()
        .find(|r| &r[col("policy")] == "thr-mmt-0.8")
        .unwrap();
    let none = recs.iter().find(|r| &r[col("policy")] == "none").unwrap();
    let kwh =
        |r: &csv::StringRecord| format!("{:.3}", r[col("energy_kwh")].parse::<f64>().unwrap());
    let quoted = format!(
        "takes {} kWh instead of {} kWh ({:.1} % saved)",
        kwh(thr),
        kwh(none),
        thr[col("energy_saved_pct")].parse::<f64>().unwrap()
    );
    assert!(
        readme.contains(&quoted),
        "the README does not say {quoted:?}"
    );
    assert_eq!(&thr[col("migrations")], "3");
    let moved = format!(
        "({:.2} GiB moved",
        thr[col("moved_gib")].parse::<f64>().unwrap()
    );
    assert!(readme.contains(&moved), "the README does not say {moved:?}");
    let o = migsim(
        d,
        &[
            "plan",
            "week/cluster.toml",
            "--policy",
            "thr-mmt-0.8",
            "--out",
            "plan",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = fs::read_to_string(d.join("plan/plan.json")).unwrap();
    assert_eq!(plan.matches("\"type\": \"migrate\"").count(), 3);
}
