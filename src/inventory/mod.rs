//! A scenario from a real cluster: hosts and their domains, read from saved `virsh` outputs
//! or (with the `libvirt` feature) from live connections, so that a planner can plan on
//! today's cluster.
//!
//! Saved outputs are one folder per host, named after the host, holding:
//! - `nodeinfo.txt`: `virsh nodeinfo` (CPU(s), CPU frequency, Memory size);
//! - `domstats.txt`: `virsh domstats --raw` (every domain: state, vCPUs, balloon memory);
//! - optionally `dominfo*.txt`: `virsh dominfo DOMAIN` outputs, which fill in what domstats
//!   lacks (a domain without balloon figures, say).
//!
//! What libvirt cannot tell (power draw, NIC speed, CPU load, dirty rates) comes from options
//! and is written into the scenario as commented assumptions.

#[cfg(feature = "libvirt")]
pub mod live;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct HostInv {
    pub name: String,
    pub cpus: u32,
    pub mhz: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainInv {
    pub name: String,
    pub host: String,
    pub vcpus: u32,
    pub memory_bytes: u64,
    pub running: bool,
    /// libvirt's measurement of its dirty-page rate, when one was made.
    pub dirty: Option<DirtyRate>,
}

/// A dirty-page rate libvirt measured (`virDomainStartDirtyRateCalc`, read back as the
/// `dirtyrate.*` domain stats; `virsh domdirtyrate-calc`, `virsh domstats --dirtyrate`).
#[derive(Debug, Clone, PartialEq)]
pub struct DirtyRate {
    /// `dirtyrate.megabytes_per_second`: MiB/s (QEMU's calc-dirty-rate unit).
    pub mib_per_s: f64,
    /// `dirtyrate.calc_period`, seconds.
    pub period_s: u64,
    /// `dirtyrate.calc_start_time`, seconds since the host booted (QEMU's clock).
    pub start_time: i64,
    /// `dirtyrate.calc_mode`: page-sampling, dirty-bitmap or dirty-ring.
    pub mode: String,
}

impl DirtyRate {
    /// Reads the `dirtyrate.*` fields of one domain's stats, if a measurement is complete
    /// (`calc_status` 2, `VIR_DOMAIN_DIRTYRATE_MEASURED`).
    pub fn from_stats(get: impl Fn(&str) -> Option<String>) -> Result<Option<DirtyRate>, String> {
        let num = |k: &str| -> Result<Option<f64>, String> {
            get(k)
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| format!("{k}={v:?} is not a number"))
                })
                .transpose()
        };
        if num("dirtyrate.calc_status")? != Some(2.0) {
            return Ok(None);
        }
        let Some(rate) = num("dirtyrate.megabytes_per_second")? else {
            return Ok(None);
        };
        Ok(Some(DirtyRate {
            mib_per_s: rate,
            period_s: num("dirtyrate.calc_period")?.unwrap_or(0.0) as u64,
            start_time: num("dirtyrate.calc_start_time")?.unwrap_or(0.0) as i64,
            mode: get("dirtyrate.calc_mode").unwrap_or_else(|| "page-sampling".into()),
        }))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub hosts: Vec<HostInv>,
    pub domains: Vec<DomainInv>,
    /// Where it came from, for the scenario's header.
    pub source: String,
}

/// `key: value` lines (`virsh nodeinfo`, `virsh dominfo`).
fn colon_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// "24683844 KiB" → bytes; "2445 MHz" → 2445.
fn number_with_unit(file: &str, field: &str, v: &str) -> Result<u64, String> {
    let mut it = v.split_whitespace();
    let n: u64 = it
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{file}: field {field:?}: {v:?} is not a number"))?;
    Ok(match it.next() {
        Some("KiB") => n * 1024,
        Some("MiB") => n * 1024 * 1024,
        Some("GiB") => n * 1024 * 1024 * 1024,
        _ => n,
    })
}

/// Parses `virsh nodeinfo` of host `name`.
pub fn parse_nodeinfo(file: &str, name: &str, text: &str) -> Result<HostInv, String> {
    let f = colon_fields(text);
    let get = |k: &str| {
        f.get(k)
            .ok_or_else(|| format!("{file}: no {k:?} line; is this `virsh nodeinfo` output?"))
    };
    Ok(HostInv {
        name: name.to_string(),
        cpus: number_with_unit(file, "CPU(s)", get("CPU(s)")?)? as u32,
        mhz: number_with_unit(file, "CPU frequency", get("CPU frequency")?)? as u32,
        memory_bytes: number_with_unit(file, "Memory size", get("Memory size")?)?,
    })
}

/// Parses `virsh domstats --raw`: `Domain: 'NAME'` headers, then `key=value` lines. Errors
/// name the file and line.
pub fn parse_domstats(file: &str, host: &str, text: &str) -> Result<Vec<DomainInv>, String> {
    let mut out: Vec<DomainInv> = Vec::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, usize)> = None;
    let finish = |cur: Option<(String, usize)>,
                  fields: &mut BTreeMap<String, String>,
                  out: &mut Vec<DomainInv>|
     -> Result<(), String> {
        let Some((name, line)) = cur else {
            return Ok(());
        };
        let num = |k: &str| -> Result<Option<u64>, String> {
            fields
                .get(k)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        format!("{file}: domain {name:?} (line {line}): {k}={v:?} is not a number")
                    })
                })
                .transpose()
        };
        let state = num("state.state")?;
        let dirty = DirtyRate::from_stats(|k| fields.get(k).cloned())
            .map_err(|e| format!("{file}: domain {name:?} (line {line}): {e}"))?;
        let memory_kib = num("balloon.maximum")?.or(num("balloon.current")?);
        out.push(DomainInv {
            name: name.clone(),
            host: host.to_string(),
            vcpus: num("vcpu.current")?.or(num("vcpu.maximum")?).unwrap_or(0) as u32,
            memory_bytes: memory_kib.unwrap_or(0) * 1024,
            // virDomainState: 1 running, 3 paused.
            running: state == Some(1),
            dirty,
        });
        fields.clear();
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if let Some(rest) = line.strip_prefix("Domain: ") {
            finish(current.take(), &mut fields, &mut out)?;
            let name = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .ok_or_else(|| {
                    format!("{file}:{}: expected Domain: 'NAME', found {line:?}", i + 1)
                })?;
            current = Some((name.to_string(), i + 1));
        } else if line.trim().is_empty() {
            continue;
        } else if let Some((k, v)) = line.trim().split_once('=') {
            if current.is_none() {
                return Err(format!(
                    "{file}:{}: {k}= before any Domain: line; is this `virsh domstats --raw`?",
                    i + 1
                ));
            }
            fields.insert(k.to_string(), v.to_string());
        } else {
            return Err(format!(
                "{file}:{}: expected key=value or Domain: 'NAME', found {line:?}",
                i + 1
            ));
        }
    }
    finish(current.take(), &mut fields, &mut out)?;
    Ok(out)
}

/// Fills a domain's vCPUs, memory and state from `virsh dominfo`.
pub fn apply_dominfo(file: &str, text: &str, doms: &mut [DomainInv]) -> Result<(), String> {
    let f = colon_fields(text);
    let name = f
        .get("Name")
        .ok_or_else(|| format!("{file}: no Name line; is this `virsh dominfo` output?"))?;
    let Some(d) = doms.iter_mut().find(|d| &d.name == name) else {
        return Err(format!(
            "{file}: domain {name:?} is not in the host's domstats.txt"
        ));
    };
    if let Some(v) = f.get("CPU(s)") {
        d.vcpus = number_with_unit(file, "CPU(s)", v)? as u32;
    }
    if let Some(v) = f.get("Max memory") {
        d.memory_bytes = number_with_unit(file, "Max memory", v)?;
    }
    if let Some(v) = f.get("State") {
        d.running = v == "running";
    }
    Ok(())
}

/// Reads saved outputs: one sub-folder per host.
pub fn read_saved(dir: &Path) -> Result<Inventory, String> {
    let mut inv = Inventory {
        source: format!("saved virsh outputs in {}", dir.display()),
        ..Default::default()
    };
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut host_dirs: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    host_dirs.sort();
    if host_dirs.is_empty() {
        return Err(format!(
            "{}: no host folders (expected one folder per host with nodeinfo.txt and \
             domstats.txt)",
            dir.display()
        ));
    }
    for hd in host_dirs {
        let name = hd
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = |f: &str| {
            let p = hd.join(f);
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        let (nf, nt) = read("nodeinfo.txt")?;
        inv.hosts.push(parse_nodeinfo(&nf, &name, &nt)?);
        let (df, dt) = read("domstats.txt")?;
        let mut doms = parse_domstats(&df, &name, &dt)?;
        let mut infos: Vec<_> = std::fs::read_dir(&hd)
            .map_err(|e| format!("{}: {e}", hd.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dominfo") && n.ends_with(".txt"))
            })
            .collect();
        infos.sort();
        for p in infos {
            let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            apply_dominfo(&p.display().to_string(), &t, &mut doms)?;
        }
        inv.domains.extend(doms);
    }
    check(&inv)?;
    Ok(inv)
}

/// A domain on two hosts, or one with no memory figure, cannot be planned for.
pub fn check(inv: &Inventory) -> Result<(), String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for d in &inv.domains {
        if let Some(other) = seen.insert(&d.name, &d.host) {
            return Err(format!(
                "domain {:?} is on both {other:?} and {:?}",
                d.name, d.host
            ));
        }
        if d.running && (d.memory_bytes == 0 || d.vcpus == 0) {
            return Err(format!(
                "domain {:?} on {:?}: no memory or vCPU figure (give its virsh dominfo output)",
                d.name, d.host
            ));
        }
    }
    Ok(())
}

/// Assumptions for what libvirt does not report.
#[derive(Debug, Clone)]
pub struct Assumptions {
    pub name: String,
    pub nic: String,
    pub power_preset: String,
    pub cpu_util: f64,
    pub dirty_rate: String,
    pub wws: String,
    /// Share of each guest's memory that is zero pages (sent as a few bytes each).
    pub zero_fraction: f64,
    pub horizon: String,
}

/// A trace of the same cluster (`migsim trace import`), joined to the inventory on domain
/// names: running domains it measured replay it; what it measured of them replaces the
/// placeholders.
#[derive(Debug, Clone, Default)]
pub struct TraceJoin {
    /// `trace.csv`, as the scenario should name it.
    pub path: String,
    /// Every VM of the trace, with its measured means.
    pub vms: BTreeMap<String, Measured>,
}

/// Means an import measured for one VM.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub dirty_rate: Option<f64>,
    pub traffic: Option<f64>,
}

impl TraceJoin {
    /// Reads an import's `import.json` (its VMs and their means).
    pub fn read(dir: &Path, path_in_scenario: String) -> Result<TraceJoin, String> {
        let p = dir.join("import.json");
        let text = std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "{}: {e} (is {} a `migsim trace import` folder?)",
                p.display(),
                dir.display()
            )
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}: {e}", p.display(), e.line()))?;
        let vms = v["vms"]
            .as_array()
            .ok_or_else(|| format!("{}: vms: missing", p.display()))?;
        let mut out = TraceJoin {
            path: path_in_scenario,
            vms: BTreeMap::new(),
        };
        for (i, vm) in vms.iter().enumerate() {
            let name = vm["name"]
                .as_str()
                .ok_or_else(|| format!("{}: vms[{i}].name: missing", p.display()))?;
            out.vms.insert(
                name.to_string(),
                Measured {
                    dirty_rate: vm["mean_dirty_rate_bytes_per_s"].as_f64(),
                    traffic: vm["mean_traffic_bytes_per_s"].as_f64(),
                },
            );
        }
        Ok(out)
    }
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Writes the scenario. Domains that are not running are listed in a comment and left out:
/// they cannot be live-migrated, and a run never drops them silently.
pub fn scenario_toml(inv: &Inventory, a: &Assumptions, trace: Option<&TraceJoin>) -> String {
    let mut o = String::new();
    let running: Vec<&DomainInv> = inv.domains.iter().filter(|d| d.running).collect();
    let measured = |d: &DomainInv| trace.and_then(|t| t.vms.get(&d.name));
    let _ = writeln!(
        o,
        "# Inventory of {} hosts and {} running domains, from {} (migsim inventory).",
        inv.hosts.len(),
        running.len(),
        inv.source.replace('\n', " ")
    );
    let _ = writeln!(
        o,
        "# Assumed, as libvirt does not report them: NICs {}, power by the {:?} SPECpower \
         preset,\n# a constant CPU load of {} and dirty pages at {} over a {} working set.\n# \
         Change them, or attach a [trace], before trusting energy or migration times.",
        a.nic, a.power_preset, a.cpu_util, a.dirty_rate, a.wws
    );
    if let Some(t) = trace {
        let joined = running.iter().filter(|d| measured(d).is_some()).count();
        let others = if joined < running.len() {
            "; the others keep the assumed constant load"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "# {joined} of the {} running domains replay their measured CPU load from {}\n# \
             (migsim trace import){others}.",
            running.len(),
            t.path
        );
    }
    for d in inv.domains.iter().filter(|d| !d.running) {
        let _ = writeln!(
            o,
            "# left out, not running: domain {} on {}",
            q(&d.name),
            q(&d.host)
        );
    }
    let _ = writeln!(
        o,
        "\nname = {}\nseed = 1\nhorizon = {}\n",
        q(&a.name),
        q(&a.horizon)
    );
    let mut types: BTreeMap<(u32, u32, u64), String> = BTreeMap::new();
    for h in &inv.hosts {
        let key = (h.cpus, h.mhz, h.memory_bytes);
        if let std::collections::btree_map::Entry::Vacant(slot) = types.entry(key) {
            let t = format!("{}cpu-{}mhz-{}mib", h.cpus, h.mhz, h.memory_bytes / 1048576);
            let _ = writeln!(
                o,
                "[[host_type]]\nname = {}\ncores = {}\n# MIPS per core taken as the clock in \
                 MHz (1 MIPS ≈ 1 MHz, as in CloudSim).\ncore_mips = {}\nram = \"{}KiB\"\nnic = \
                 {}\npower = {{ preset = {} }}\n",
                q(&t),
                h.cpus,
                h.mhz.max(1),
                h.memory_bytes / 1024,
                q(&a.nic),
                q(&a.power_preset)
            );
            slot.insert(t);
        }
    }
    for h in &inv.hosts {
        let t = &types[&(h.cpus, h.mhz, h.memory_bytes)];
        let _ = writeln!(
            o,
            "[[hosts]]\ntype = {}\ncount = 1\nname = {}\nliteral_name = true\n",
            q(t),
            q(&h.name)
        );
    }
    let mhz: BTreeMap<&str, u32> = inv
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.mhz.max(1)))
        .collect();
    for d in &running {
        let m = measured(d);
        let cpu = match m {
            Some(_) => "{ model = \"trace\" }".to_string(),
            None => format!("{{ model = \"constant\", util = {} }}", a.cpu_util),
        };
        let (dirty, dirty_note) = match (&d.dirty, m.and_then(|m| m.dirty_rate)) {
            (Some(r), _) => (
                format!("\"{}MiB/s\"", r.mib_per_s),
                format!(
                    "# dirty rate measured by libvirt ({} over {} s, calc_start_time {})\n",
                    r.mode, r.period_s, r.start_time
                ),
            ),
            (None, Some(r)) => (
                format!("\"{}B/s\"", r.round()),
                "# dirty rate: the trace's mean\n".to_string(),
            ),
            (None, None) => (q(&a.dirty_rate), String::new()),
        };
        let zero = if a.zero_fraction > 0.0 {
            format!(", zero_fraction = {}", a.zero_fraction)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "[[vms]]\nname = {}\nliteral_name = true\ncount = 1\nhost = {}\nvcpus = {}\n\
             vcpu_mips = {}\nram = \"{}KiB\"\ncpu = {cpu}\n{dirty_note}dirty = {{ rate = {dirty}, wws = {}{zero} }}",
            q(&d.name),
            q(&d.host),
            d.vcpus,
            mhz.get(d.host.as_str()).copied().unwrap_or(1),
            d.memory_bytes / 1024,
            q(&a.wws)
        );
        if let Some(t) = m.and_then(|m| m.traffic).filter(|&t| t > 0.0) {
            let _ = writeln!(
                o,
                "# measured mean network traffic, received and sent\ntraffic = \"{}B/s\"",
                t.round()
            );
        }
        o.push('\n');
    }
    if let Some(t) = trace {
        let running_names: std::collections::BTreeSet<&str> =
            running.iter().map(|d| d.name.as_str()).collect();
        let unused: Vec<String> = t
            .vms
            .keys()
            .filter(|n| !running_names.contains(n.as_str()))
            .map(|n| q(n))
            .collect();
        let _ = writeln!(
            o,
            "[trace]\nformat = \"csv\"\npath = {}\njoin = \"name\"",
            q(&t.path)
        );
        if !unused.is_empty() {
            let _ = writeln!(
                o,
                "# in the trace but not running now\nunused = [{}]",
                unused.join(", ")
            );
        }
        o.push('\n');
    }
    // Real clusters give out more vCPUs than they have cores; the scenario must hold today's
    // placement, so it allows at least the overcommit some host runs at now.
    let over = inv
        .hosts
        .iter()
        .map(|h| {
            let v: u32 = running
                .iter()
                .filter(|d| d.host == h.name)
                .map(|d| d.vcpus)
                .sum();
            v as f64 / h.cpus.max(1) as f64
        })
        .fold(1.0, f64::max);
    if over > 1.0 {
        let _ = writeln!(
            o,
            "[placement]\n# vCPUs per core on the busiest host now; a plan may not go beyond it\n\
             cpu_overcommit = {}\n",
            (over * 100.0).ceil() / 100.0
        );
    }
    // libvirt sets QEMU's max-bandwidth to its own "unlimited" unless a migration is given
    // --bandwidth (qemu_domain.c: priv->migMaxBandwidth = QEMU_DOMAIN_MIG_BANDWIDTH_MAX), so
    // QEMU's 128 MiB/s default does not apply to a libvirt cluster.
    o.push_str(
        "[migration]\n# libvirt migrates without QEMU's 128 MiB/s default cap unless given \
         --bandwidth\nmax_bandwidth = \"0B/s\"\n\n",
    );
    o.push_str("[policy]\nname = \"none\"\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODEINFO: &str = "CPU model:           x86_64\nCPU(s):              2\nCPU frequency:       2445 MHz\nCPU socket(s):       1\nCore(s) per socket:  2\nThread(s) per core:  1\nNUMA cell(s):        1\nMemory size:         24683844 KiB\n";

    const DOMSTATS: &str = "Domain: 'tiny a'\n  state.state=1\n  state.reason=1\n  cpu.time=14180813000\n  balloon.current=131072\n  balloon.maximum=131072\n  vcpu.current=1\n  vcpu.maximum=1\n\nDomain: 'it''s off'\n  state.state=5\n  state.reason=0\n\nDomain: 'b'\n  state.state=1\n  vcpu.current=2\n";

    fn assumed() -> Assumptions {
        Assumptions {
            name: "inv".into(),
            nic: "10Gbit/s".into(),
            power_preset: "dell-r640".into(),
            cpu_util: 0.2,
            dirty_rate: "1MiB/s".into(),
            wws: "16MiB".into(),
            zero_fraction: 0.0,
            horizon: "1h".into(),
        }
    }

    const DOMINFO: &str = "Id:             3\nName:           b\nUUID:           0b9f6bc8-2f7d-4f65-a1d4-4ab3d9bb5e4c\nOS Type:        hvm\nState:          running\nCPU(s):         2\nMax memory:     262144 KiB\nUsed memory:    262144 KiB\n";

    #[test]
    fn virsh_outputs_are_read_and_gaps_filled_from_dominfo() {
        let h = parse_nodeinfo("n", "host1", NODEINFO).unwrap();
        assert_eq!((h.cpus, h.mhz, h.memory_bytes), (2, 2445, 24683844 * 1024));
        let mut d = parse_domstats("d", "host1", DOMSTATS).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "tiny a");
        assert_eq!(
            (d[0].vcpus, d[0].memory_bytes, d[0].running),
            (1, 128 << 20, true)
        );
        assert_eq!(d[1].name, "it''s off");
        assert!(!d[1].running);
        assert_eq!(d[2].memory_bytes, 0);
        apply_dominfo("i", DOMINFO, &mut d).unwrap();
        assert_eq!((d[2].vcpus, d[2].memory_bytes), (2, 256 << 20));
    }

    #[test]
    fn measured_dirty_rates_and_todays_overcommit_reach_the_scenario() {
        let stats = "Domain: 'w'\n  state.state=1\n  balloon.maximum=131072\n  vcpu.current=3\n  \
                     dirtyrate.calc_status=2\n  dirtyrate.calc_start_time=8123\n  \
                     dirtyrate.calc_period=2\n  dirtyrate.megabytes_per_second=12\n  \
                     dirtyrate.calc_mode=dirty-bitmap\n\nDomain: 'v'\n  state.state=1\n  \
                     balloon.maximum=131072\n  vcpu.current=1\n  dirtyrate.calc_status=1\n";
        let d = parse_domstats("d", "host1", stats).unwrap();
        let r = d[0].dirty.as_ref().unwrap();
        assert_eq!(
            (r.mib_per_s, r.period_s, r.mode.as_str()),
            (12.0, 2, "dirty-bitmap")
        );
        // Still measuring: no figure, and the assumption stays.
        assert_eq!(d[1].dirty, None);
        let e = parse_domstats("d", "h", "Domain: 'x'\n  dirtyrate.calc_status=two\n").unwrap_err();
        assert!(e.contains("dirtyrate.calc_status"), "{e}");
        let inv = Inventory {
            hosts: vec![parse_nodeinfo("n", "host1", NODEINFO).unwrap()],
            domains: d,
            source: "test".into(),
        };
        let a = Assumptions {
            zero_fraction: 0.5,
            ..assumed()
        };
        let text = scenario_toml(&inv, &a, None);
        assert!(text.contains("# dirty rate measured by libvirt (dirty-bitmap over 2 s, calc_start_time 8123)\ndirty = { rate = \"12MiB/s\""), "{text}");
        assert!(
            text.contains("rate = \"1MiB/s\", wws = \"16MiB\", zero_fraction = 0.5"),
            "{text}"
        );
        // Four vCPUs on two cores run today: the scenario allows it.
        assert!(text.contains("cpu_overcommit = 2"), "{text}");
        assert!(text.contains("max_bandwidth = \"0B/s\""), "{text}");
        let loaded = crate::scenario::load::load_str("inv.toml", &text, None, &[]).unwrap();
        crate::sim::Simulation::build(&loaded).unwrap();
    }

    #[test]
    fn bad_outputs_name_file_and_line() {
        let e = parse_domstats("host1/domstats.txt", "h", "Domain: 'a'\n  state.state=x\n")
            .unwrap_err();
        assert!(
            e.contains("host1/domstats.txt") && e.contains("state.state"),
            "{e}"
        );
        let e = parse_domstats("f", "h", "  state.state=1\n").unwrap_err();
        assert!(e.starts_with("f:1:"), "{e}");
        let e = parse_domstats("f", "h", "Domain: 'a'\nnonsense\n").unwrap_err();
        assert!(e.starts_with("f:2:"), "{e}");
        assert!(
            parse_nodeinfo("n", "h", "CPU(s): 2\n")
                .unwrap_err()
                .contains("CPU frequency")
        );
    }

    #[test]
    fn the_scenario_keeps_real_names_and_places_each_domain_on_its_host() {
        let inv = Inventory {
            hosts: vec![
                parse_nodeinfo("n", "host1", NODEINFO).unwrap(),
                parse_nodeinfo("n", "host 2", NODEINFO).unwrap(),
            ],
            domains: vec![DomainInv {
                name: "vm \"x\"".into(),
                host: "host 2".into(),
                vcpus: 1,
                memory_bytes: 128 << 20,
                running: true,
                dirty: None,
            }],
            source: "test".into(),
        };
        let a = assumed();
        let text = scenario_toml(&inv, &a, None);
        let loaded = crate::scenario::load::load_str("inv.toml", &text, None, &[]).unwrap();
        let sim = crate::sim::Simulation::build(&loaded).unwrap();
        assert_eq!(sim.hosts.name, vec!["host1", "host 2"]);
        assert_eq!(sim.vms.name, vec!["vm \"x\""]);
        assert_eq!(sim.hosts.name[sim.vms.host[0].0 as usize], "host 2");
    }
}
