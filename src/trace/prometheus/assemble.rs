//! Prometheus answers onto the import's step grid: counter rates with resets and gaps,
//! per-VM utilisation over vCPUs, the host a VM ran on at each step, hosts' own CPU load.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{DIRTY_KEY, Series};
use crate::trace::TraceError;
use crate::trace::import::{HostSeries, Imported, SeriesReport, VmSeries};

/// Which labels name a VM and a host.
#[derive(Debug, Clone)]
pub struct Labels {
    /// The VM's name: the exporter's `domain` label (libvirt's domain name), which the
    /// inventory also uses.
    pub vm: String,
    /// The host's name: a label the scrape configuration sets (`host`); where a series lacks
    /// it, its `instance` without the port.
    pub host: String,
}

impl Default for Labels {
    fn default() -> Labels {
        Labels {
            vm: "domain".into(),
            host: "host".into(),
        }
    }
}

/// The grid: `start + k·step`, k = 0..=steps.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub start: f64,
    pub step: f64,
    pub steps: usize,
}

impl Grid {
    /// The grid from `start` to `end` (inclusive when on a step).
    pub fn new(start: f64, end: f64, step: f64) -> Result<Grid, String> {
        let steps = crate::trace::import::grid_steps(start, end, step)?;
        if steps == 0 {
            return Err(format!(
                "the range {start}..{end} holds less than one step of {step} s"
            ));
        }
        Ok(Grid { start, step, steps })
    }

    fn index(&self, t: f64) -> Option<usize> {
        let x = (t - self.start) / self.step;
        let k = x.round();
        (k >= 0.0 && k <= self.steps as f64 && (x - k).abs() < 0.01).then_some(k as usize)
    }
}

/// A series' values on the grid; points off the grid are an error (a query_range answer
/// always lands on it).
fn on_grid(g: &Grid, key: &str, i: usize, s: &Series) -> Result<Vec<Option<f64>>, TraceError> {
    let mut v = vec![None; g.steps + 1];
    for &(t, x) in &s.points {
        let k = g.index(t).ok_or_else(|| {
            TraceError::new(
                PathBuf::from(format!("{key}.json")),
                0,
                &format!("data.result[{i}]"),
                format!(
                    "a point at {t} is off the grid {} + k·{} s: was it asked with another \
                     start or step?",
                    g.start, g.step
                ),
            )
        })?;
        v[k] = Some(x);
    }
    Ok(v)
}

/// A counter's rate at each step: the increase since the step it was last seen at, over that
/// time. A decrease is a reset, whose new value is the increase (as Prometheus's `rate()`).
/// Returns the rates and the number of resets.
pub fn counter_rates(v: &[Option<f64>], step: f64) -> (Vec<Option<f64>>, usize) {
    let mut out = vec![None; v.len()];
    let mut resets = 0;
    let mut prev: Option<(usize, f64)> = None;
    for (k, x) in v.iter().enumerate() {
        let Some(x) = *x else { continue };
        if let Some((j, p)) = prev {
            let inc = if x >= p {
                x - p
            } else {
                resets += 1;
                x
            };
            out[k] = Some(inc / ((k - j) as f64 * step));
        }
        prev = Some((k, x));
    }
    (out, resets)
}

fn host_of(s: &Series, labels: &Labels) -> String {
    if let Some(h) = s.labels.get(&labels.host) {
        return h.clone();
    }
    let inst = s.labels.get("instance").map(String::as_str).unwrap_or("");
    // "10.0.0.5:9177" → "10.0.0.5"; "[::1]:9177" → "[::1]".
    match inst.rfind(':') {
        Some(i)
            if !inst[i + 1..].is_empty() && inst[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            inst[..i].to_string()
        }
        _ => inst.to_string(),
    }
}

/// The series of one answer, keyed by (VM, host), each on the grid.
type ByVm = BTreeMap<(String, String), Vec<Vec<Option<f64>>>>;

fn by_vm(
    g: &Grid,
    key: &str,
    series: &[Series],
    labels: &Labels,
    nan: &mut BTreeMap<String, usize>,
) -> Result<ByVm, TraceError> {
    let mut out: ByVm = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        let vm = s.labels.get(&labels.vm).ok_or_else(|| {
            TraceError::new(
                PathBuf::from(format!("{key}.json")),
                0,
                &format!("data.result[{i}].metric"),
                format!(
                    "no {:?} label to name the VM (labels: {}); choose one with --vm-label",
                    labels.vm,
                    s.labels.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        *nan.entry(vm.clone()).or_default() += s.nan;
        out.entry((vm.clone(), host_of(s, labels)))
            .or_default()
            .push(on_grid(g, key, i, s)?);
    }
    Ok(out)
}

/// The entries of `m` for VM `name`, by a range over its sorted keys (an import of many VMs
/// stays linear).
fn of_vm<'a>(
    m: &'a ByVm,
    name: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Vec<Vec<Option<f64>>>)> + 'a {
    m.range((name.to_string(), String::new())..)
        .take_while(move |((vm, _), _)| vm == name)
        .map(|((_, h), ss)| (h, ss))
}

/// Per step, the largest of the series' values (gauges seen on two hosts during a move).
fn max_of(series: &[Vec<Option<f64>>], n: usize) -> Vec<Option<f64>> {
    (0..n)
        .map(|k| {
            series
                .iter()
                .filter_map(|s| s[k])
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        })
        .collect()
}

/// The answers, keyed by query, onto the grid. `cpu_time` and `vcpus` must be there.
pub fn assemble(
    answers: &BTreeMap<&'static str, Option<Vec<Series>>>,
    g: Grid,
    labels: &Labels,
    source: &str,
) -> Result<Imported, TraceError> {
    let n = g.steps + 1;
    let get = |k: &str| answers.get(k).and_then(|a| a.as_ref());
    let mut nan: BTreeMap<String, usize> = BTreeMap::new();
    let required = |k: &str| {
        get(k).ok_or_else(|| {
            TraceError::new(format!("{k}.json"), 0, "", "missing: the import needs it")
        })
    };
    let cpu = by_vm(&g, "cpu_time", required("cpu_time")?, labels, &mut nan)?;
    let vcpus = by_vm(&g, "vcpus", required("vcpus")?, labels, &mut nan)?;
    let optional = |k: &str, nan: &mut BTreeMap<String, usize>| -> Result<ByVm, TraceError> {
        get(k).map_or(Ok(ByVm::new()), |s| by_vm(&g, k, s, labels, nan))
    };
    let memory = optional("memory", &mut nan)?;
    let rx = optional("rx", &mut nan)?;
    let tx = optional("tx", &mut nan)?;
    let dirty = optional(DIRTY_KEY, &mut nan)?;
    let mut absent = Vec::new();
    for (k, what) in [
        (
            "memory",
            "VM memory (libvirt_domain_info_memory_usage_bytes)",
        ),
        (
            "rx",
            "VM network traffic (libvirt_domain_interface_stats_*_bytes_total)",
        ),
        (DIRTY_KEY, "dirty-page rates (no --dirty-metric)"),
        ("node_idle", "hosts' own CPU load (node exporter)"),
    ] {
        if get(k).is_none_or(|s| s.is_empty()) {
            absent.push(what.to_string());
        }
    }

    let names: Vec<&String> = {
        let mut v: Vec<&String> = cpu.keys().map(|(vm, _)| vm).collect();
        v.dedup();
        v
    };
    let mut vms = Vec::with_capacity(names.len());
    for name in names {
        let mut report = SeriesReport {
            nan: nan.get(name).copied().unwrap_or(0),
            ..Default::default()
        };
        // Rates of every (host, series) of this VM.
        let mut rates: Vec<(String, Vec<Option<f64>>)> = Vec::new();
        for (host, ss) in of_vm(&cpu, name) {
            for s in ss {
                let (r, resets) = counter_rates(s, g.step);
                report.resets += resets;
                rates.push((host.clone(), r));
            }
        }
        let vc: Vec<(&String, Vec<Option<f64>>)> = of_vm(&vcpus, name)
            .map(|(h, ss)| (h, max_of(ss, n)))
            .collect();
        let mut last_vcpus: Option<f64> = vc
            .iter()
            .flat_map(|(_, s)| s.iter().flatten())
            .next()
            .copied();
        if last_vcpus.is_none() {
            return Err(TraceError::new(
                "vcpus.json",
                0,
                "",
                format!("VM {name:?} has CPU time but no vCPU count"),
            ));
        }
        let mut util = vec![None; n];
        let mut hosts: Vec<(usize, String)> = Vec::new();
        for k in 0..n {
            let mut sum = 0.0;
            let mut best: Option<(f64, &String)> = None;
            let mut seen = false;
            for (h, r) in &rates {
                if let Some(x) = r[k] {
                    sum += x;
                    seen = true;
                    if best.is_none_or(|(b, _)| x > b) {
                        best = Some((x, h));
                    }
                }
            }
            if !seen {
                continue;
            }
            let (_, host) = best.expect("seen");
            if let Some(v) = vc.iter().find(|(h, _)| *h == host).and_then(|(_, s)| s[k]) {
                last_vcpus = Some(v);
            }
            let nv = last_vcpus.expect("checked").max(1.0);
            let mut u = sum / nv;
            if u > 1.02 {
                report.clamped += 1;
            }
            u = u.clamp(0.0, 1.0);
            util[k] = Some(u as f32);
            if hosts.last().is_none_or(|(_, h)| h != host) {
                hosts.push((k, host.clone()));
            }
        }
        report.count(&util, g.step);
        let gauge = |m: &ByVm, scale: f64| -> Vec<Option<f64>> {
            let ss: Vec<Vec<Option<f64>>> = of_vm(m, name)
                .flat_map(|(_, ss)| ss.iter().cloned())
                .collect();
            max_of(&ss, n)
                .into_iter()
                .map(|x| x.map(|x| x * scale))
                .collect()
        };
        let mut net = vec![None; n];
        for m in [&rx, &tx] {
            for (_, ss) in of_vm(m, name) {
                for s in ss {
                    let (r, _) = counter_rates(s, g.step);
                    for k in 0..n {
                        if let Some(x) = r[k] {
                            net[k] = Some(net[k].unwrap_or(0.0) + x);
                        }
                    }
                }
            }
        }
        vms.push(VmSeries {
            name: name.clone(),
            hosts,
            vcpus: last_vcpus.expect("checked").round().max(1.0) as u32,
            cpu: util,
            memory: gauge(&memory, 1.0),
            // libvirt's dirty rate is in MiB/s (dirtyrate.megabytes_per_second).
            dirty: gauge(&dirty, 1_048_576.0),
            net,
            report,
        });
    }
    let hosts = host_series(get("node_idle"), get("node_memory"), &g, labels)?;
    Ok(Imported {
        start: g.start,
        step: g.step,
        steps: g.steps,
        source: source.to_string(),
        vms,
        hosts,
        absent,
    })
}

/// Hosts' own CPU load from the node exporter's idle seconds per CPU: one minus the idle
/// share of the CPUs seen at that step.
fn host_series(
    idle: Option<&Vec<Series>>,
    memory: Option<&Vec<Series>>,
    g: &Grid,
    labels: &Labels,
) -> Result<Vec<HostSeries>, TraceError> {
    let n = g.steps + 1;
    // Each host's CPUs: their idle rates and counter resets.
    type Cpus = Vec<(Vec<Option<f64>>, usize)>;
    let mut per_host: BTreeMap<String, Cpus> = BTreeMap::new();
    let mut nan: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in idle.into_iter().flatten().enumerate() {
        let h = host_of(s, labels);
        *nan.entry(h.clone()).or_default() += s.nan;
        let (r, resets) = counter_rates(&on_grid(g, "node_idle", i, s)?, g.step);
        per_host.entry(h).or_default().push((r, resets));
    }
    let mut mem: BTreeMap<String, f64> = BTreeMap::new();
    for s in memory.into_iter().flatten() {
        if let Some(&(_, x)) = s.points.last() {
            mem.insert(host_of(s, labels), x);
        }
    }
    Ok(per_host
        .into_iter()
        .map(|(name, cpus)| {
            let mut report = SeriesReport {
                resets: cpus.iter().map(|c| c.1).sum(),
                nan: nan.get(&name).copied().unwrap_or(0),
                ..Default::default()
            };
            let cpu: Vec<Option<f32>> = (0..n)
                .map(|k| {
                    let seen: Vec<f64> = cpus.iter().filter_map(|(r, _)| r[k]).collect();
                    (!seen.is_empty()).then(|| {
                        (1.0 - seen.iter().sum::<f64>() / seen.len() as f64).clamp(0.0, 1.0) as f32
                    })
                })
                .collect();
            report.count(&cpu, g.step);
            HostSeries {
                memory: mem.get(&name).copied(),
                name,
                cpus: cpus.len(),
                cpu,
                report,
            }
        })
        .collect())
}
