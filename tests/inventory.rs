//! `migsim inventory` from saved virsh outputs, and planning on the result.

mod common;

use std::fs;
use std::path::Path;

use common::{migsim, stderr};
use migsim::plan::ActionPlan;

const NODEINFO: &str = "CPU model:           x86_64\nCPU(s):              16\nCPU frequency:       2400 MHz\nCPU socket(s):       1\nCore(s) per socket:  16\nThread(s) per core:  1\nNUMA cell(s):        1\nMemory size:         67108864 KiB\n";

fn domstats(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "Domain: '{n}'\n  state.state=1\n  state.reason=1\n  balloon.current=4194304\n  balloon.maximum=4194304\n  vcpu.current=2\n  vcpu.maximum=2\n\n"
            )
        })
        .collect()
}

fn save(dir: &Path, host: &str, doms: &[&str]) {
    let h = dir.join("saved").join(host);
    fs::create_dir_all(&h).unwrap();
    fs::write(h.join("nodeinfo.txt"), NODEINFO).unwrap();
    fs::write(h.join("domstats.txt"), domstats(doms)).unwrap();
}

#[test]
fn an_inventory_keeps_every_domain_on_its_host_and_can_be_planned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(d, "node-a", &["web 1", "db-1"]);
    save(d, "node-b", &["web-2"]);
    // A shut-off domain is noted and left out, never dropped silently.
    fs::write(
        d.join("saved/node-b/domstats.txt"),
        domstats(&["web-2"]) + "Domain: 'old'\n  state.state=5\n",
    )
    .unwrap();
    let o = migsim(d, &["inventory", "saved", "--out", "cluster.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 not running"), "{}", stderr(&o));
    let text = fs::read_to_string(d.join("cluster.toml")).unwrap();
    assert!(text.contains("# left out, not running: domain \"old\" on \"node-b\""));
    let o = migsim(d, &["validate", "cluster.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Empty node-a for maintenance: its two domains go to node-b.
    fs::write(
        d.join("drain.toml"),
        "include = \"cluster.toml\"\nname = \"drain\"\n[policy]\nname = \"none\"\n\
         [[maintenance]]\nhosts = [\"node-a\"]\nat = \"40min\"\nduration = \"20min\"\n",
    )
    .unwrap();
    let o = migsim(
        d,
        &["plan", "drain.toml", "--policy", "none", "--out", "p", "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = ActionPlan::parse(
        "plan.json",
        &fs::read_to_string(d.join("p/plan.json")).unwrap(),
    )
    .unwrap();
    let mut moved: Vec<(String, String, String)> = plan
        .migrations()
        .map(|(_, m)| {
            (
                m.resource_name.clone(),
                m.source_node.clone(),
                m.destination_node.clone(),
            )
        })
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        [
            ("db-1".into(), "node-a".into(), "node-b".into()),
            ("web 1".into(), "node-a".into(), "node-b".into())
        ]
    );
}

#[test]
fn broken_outputs_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(d, "h", &["a"]);
    fs::write(
        d.join("saved/h/domstats.txt"),
        "Domain: 'a'\n  state.state=1\nthis is not virsh\n",
    )
    .unwrap();
    let o = migsim(d, &["inventory", "saved"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("domstats.txt:3:"), "{}", stderr(&o));

    // The same domain on two hosts cannot be planned for.
    save(d, "h", &["a"]);
    save(d, "g", &["a"]);
    let o = migsim(d, &["inventory", "saved"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("\"a\" is on both"), "{}", stderr(&o));
}

#[cfg(not(feature = "libvirt"))]
#[test]
fn without_the_libvirt_feature_execute_and_live_inventory_say_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = migsim(
        dir.path(),
        &["plan", "--set", "horizon=1h", "--out", "p", "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = migsim(dir.path(), &["execute", "p/plan.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--features libvirt"), "{}", stderr(&o));
    let o = migsim(dir.path(), &["inventory", "--connect", "a=qemu:///system"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--features libvirt"), "{}", stderr(&o));
}

/// The live inventory through the real libvirt library, against its built-in test driver
/// (`test:///FILE`: the hosts and running domains a node file describes; no daemon needed).
#[cfg(feature = "libvirt")]
#[test]
fn live_inventory_reads_libvirts_test_driver() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node.xml");
    fs::write(
        &node,
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>\
         <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>\
         <memory>16777216</memory>\
         <domain type='test'><name>web 1</name><memory>2097152</memory>\
         <currentMemory>2097152</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os>\
         </domain></node>",
    )
    .unwrap();
    let uri = format!("n1=test://{}", node.display());
    let o = migsim(
        dir.path(),
        &["inventory", "--connect", &uri, "--out", "c.toml"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(dir.path().join("c.toml")).unwrap();
    assert!(text.contains("name = \"n1\""), "{text}");
    assert!(
        text.contains("name = \"web 1\"") && text.contains("host = \"n1\""),
        "{text}"
    );
    assert!(
        text.contains("vcpus = 2") && text.contains("ram = \"2097152KiB\""),
        "{text}"
    );
    let o = migsim(dir.path(), &["validate", "c.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A host that cannot be reached is a failure (exit 1) naming it.
    let o = migsim(
        dir.path(),
        &[
            "inventory",
            "--connect",
            "gone=test:///nonexistent-node.xml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("\"gone\""), "{}", stderr(&o));
}

#[test]
fn a_plan_that_is_not_a_plan_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bad.json"),
        "{\"schema_version\": 1,\n\"actions\": 3}",
    )
    .unwrap();
    let o = migsim(dir.path(), &["execute", "bad.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.json:"), "{}", stderr(&o));
}

#[test]
fn pinned_vms_that_do_not_fit_and_literal_names_with_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "name = \"pin\"\nseed = 1\nhorizon = \"1h\"\n\
        [[host_type]]\nname = \"t\"\ncores = 2\ncore_mips = 1000\nram = \"4GiB\"\nnic = \"1Gbit/s\"\n\
        power = { preset = \"dell-r640\" }\n\
        [[hosts]]\ntype = \"t\"\ncount = 1\nname = \"small\"\nliteral_name = true\n\
        [[hosts]]\ntype = \"t\"\ncount = 1\nname = \"other\"\nliteral_name = true\n";
    let vm = |count: u32, ram: &str, host: &str| {
        format!(
            "[[vms]]\nname = \"v\"\nliteral_name = true\ncount = {count}\nhost = \"{host}\"\n\
             vcpus = 1\nvcpu_mips = 500\nram = \"{ram}\"\ncpu = {{ model = \"constant\", util = 0.1 }}\n"
        )
    };
    let check = |body: String, field: &str| {
        fs::write(d.join("s.toml"), body).unwrap();
        let o = migsim(d, &["validate", "s.toml"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(field), "{field}: {}", stderr(&o));
    };
    check(format!("{base}{}", vm(1, "8GiB", "small")), "vms[0].host");
    check(format!("{base}{}", vm(1, "1GiB", "nowhere")), "vms[0].host");
    check(
        format!("{base}{}", vm(2, "1GiB", "small")),
        "vms[0].literal_name",
    );
    // And when it fits, the VM starts exactly there, under its exact name.
    fs::write(
        d.join("s.toml"),
        format!("{base}{}", vm(1, "1GiB", "other")),
    )
    .unwrap();
    let o = migsim(d, &["run", "s.toml", "--out", "o", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hosts = fs::read_to_string(d.join("o/hosts.csv")).unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l.contains(",other,") && l.ends_with(",1")),
        "{hosts}"
    );
}
