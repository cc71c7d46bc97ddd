//! A workload trace from a cluster's own monitoring: Prometheus `query_range` answers of the
//! libvirt exporter (per domain) and the node exporter (per host), turned into a trace that
//! the simulation replays.
//!
//! The importer asks for raw counters and gauges, not for PromQL's `rate()`, so that what a
//! counter reset, a gap or a stale series did to a VM's samples is decided here, counted and
//! reported, and so that a saved answer replays exactly as the server gave it. Each query's
//! answer is one JSON file (`cpu_time.json`, `vcpus.json`, …, see [`QUERIES`]); `--save`
//! keeps them, `--files` reads them back without a server.
//!
//! What each sample means: the CPU utilisation at step `t` is the domain's CPU seconds
//! between the previous step it was seen at and `t`, over that time, over its vCPUs (the
//! exporters' `libvirt_domain_info_cpu_time_seconds_total` and
//! `libvirt_domain_info_virtual_cpus`, as documented by kumina/libvirt_exporter, which
//! Debian ships as `prometheus-libvirt-exporter`). A counter that went down was reset (the
//! domain restarted): as Prometheus's own `rate()` does, its new value is taken as the
//! increase since the reset.

pub mod assemble;
pub mod client;

use std::collections::BTreeMap;
use std::path::Path;

use super::TraceError;

pub use assemble::{Grid, Labels, assemble, counter_rates};

/// One query the importer asks: the file its answer is saved in, the PromQL, and what the
/// values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The answer's file name without `.json`.
    pub key: &'static str,
    /// The PromQL expression (a metric selector).
    pub promql: &'static str,
    /// A trace cannot be made without it.
    pub required: bool,
}

/// What the importer asks for. Metric names are those of kumina/libvirt_exporter (Debian's
/// `prometheus-libvirt-exporter`, also the base of its forks) and of the node exporter.
pub const QUERIES: [Query; 7] = [
    Query {
        key: "cpu_time",
        promql: "libvirt_domain_info_cpu_time_seconds_total",
        required: true,
    },
    Query {
        key: "vcpus",
        promql: "libvirt_domain_info_virtual_cpus",
        required: true,
    },
    Query {
        key: "memory",
        promql: "libvirt_domain_info_memory_usage_bytes",
        required: false,
    },
    Query {
        key: "rx",
        promql: "libvirt_domain_interface_stats_receive_bytes_total",
        required: false,
    },
    Query {
        key: "tx",
        promql: "libvirt_domain_interface_stats_transmit_bytes_total",
        required: false,
    },
    Query {
        key: "node_idle",
        promql: "node_cpu_seconds_total{mode=\"idle\"}",
        required: false,
    },
    Query {
        key: "node_memory",
        promql: "node_memory_MemTotal_bytes",
        required: false,
    },
];

/// The answer for a dirty-rate gauge (`--dirty-metric`): libvirt measures it
/// (`virDomainGetJobStats`' `dirtyrate.megabytes_per_second`, in MiB/s) but no common
/// exporter names it the same way, so the metric is the user's to give.
pub const DIRTY_KEY: &str = "dirty";

/// One time series of an answer: its labels and its (unix time, value) points in time order.
/// Values Prometheus writes as `NaN` (a staleness marker, in raw answers) are left out and
/// counted in `nan`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
    pub nan: usize,
}

/// Parses a `query_range` answer (`resultType` `matrix`). An error names the file and, for a
/// bad point, the series and point (`data.result[2].values[17]`).
pub fn parse_matrix(file: &Path, text: &str) -> Result<Vec<Series>, TraceError> {
    let err = |line: usize, field: &str, msg: String| TraceError::new(file, line, field, msg);
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err(e.line(), "", format!("not JSON: {e}")))?;
    let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("");
    if status != "success" {
        let why = v
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no error given");
        return Err(err(
            0,
            "status",
            format!("the query failed ({status:?}): {why}"),
        ));
    }
    let data = v
        .get("data")
        .ok_or_else(|| err(0, "data", "missing; is this a query_range answer?".into()))?;
    let kind = data
        .get("resultType")
        .and_then(|s| s.as_str())
        .unwrap_or("");
    if kind != "matrix" {
        return Err(err(
            0,
            "data.resultType",
            format!("{kind:?}: expected \"matrix\" (a query_range answer, not an instant query)"),
        ));
    }
    let result = data
        .get("result")
        .and_then(|r| r.as_array())
        .ok_or_else(|| err(0, "data.result", "missing or not a list".into()))?;
    let mut out = Vec::with_capacity(result.len());
    for (i, s) in result.iter().enumerate() {
        let field = format!("data.result[{i}]");
        let labels = s
            .get("metric")
            .and_then(|m| m.as_object())
            .ok_or_else(|| err(0, &format!("{field}.metric"), "missing".into()))?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let values = s.get("values").and_then(|m| m.as_array()).ok_or_else(|| {
            err(
                0,
                &format!("{field}.values"),
                "missing or not a list".into(),
            )
        })?;
        let mut series = Series {
            labels,
            points: Vec::with_capacity(values.len()),
            nan: 0,
        };
        for (j, p) in values.iter().enumerate() {
            let at = || format!("{field}.values[{j}]");
            let pair = p.as_array().filter(|a| a.len() == 2);
            let t = pair.and_then(|a| a[0].as_f64());
            let val = pair.and_then(|a| a[1].as_str());
            let (Some(t), Some(val)) = (t, val) else {
                return Err(err(
                    0,
                    &at(),
                    format!("expected [time, \"value\"]; got {p}"),
                ));
            };
            let x: f64 = match val {
                "NaN" => f64::NAN,
                "+Inf" | "-Inf" => {
                    return Err(err(0, &at(), format!("{val}: not a measurement")));
                }
                s => s
                    .parse()
                    .map_err(|_| err(0, &at(), format!("{s:?} is not a number")))?,
            };
            if series.points.last().is_some_and(|&(last, _)| t <= last) {
                return Err(err(
                    0,
                    &at(),
                    format!("time {t} does not follow the previous"),
                ));
            }
            if x.is_nan() {
                series.nan += 1;
            } else {
                series.points.push((t, x));
            }
        }
        out.push(series);
    }
    Ok(out)
}

/// Reads the answers saved in `dir`, one `KEY.json` per query; a required answer that is
/// missing is an error, an optional one is `None`.
pub fn read_saved(
    dir: &Path,
    dirty: bool,
) -> Result<BTreeMap<&'static str, Option<Vec<Series>>>, TraceError> {
    let mut out = BTreeMap::new();
    let keys = QUERIES
        .iter()
        .map(|q| (q.key, q.required))
        .chain(dirty.then_some((DIRTY_KEY, true)));
    for (key, required) in keys {
        let p = dir.join(format!("{key}.json"));
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                out.insert(key, Some(parse_matrix(&p, &text)?));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                out.insert(key, None);
            }
            Err(e) => {
                return Err(TraceError::new(&p, 0, "", format!("cannot read: {e}")));
            }
        }
    }
    Ok(out)
}

/// A time the importer accepts: unix seconds, RFC 3339 (`2026-11-30T00:00:00Z`, or with an
/// offset), `now`, or `now-7d` (any duration migsim reads). `now` is given, so that a test
/// can fix it.
pub fn parse_time(s: &str, now: f64) -> Result<f64, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let (sign, d) = match rest.split_at(1) {
            ("-", d) => (-1.0, d),
            ("+", d) => (1.0, d),
            _ => return Err(format!("{s:?}: expected now, now-DURATION or now+DURATION")),
        };
        let d = crate::units::parse_duration(d).map_err(|e| format!("{s:?}: {e}"))?;
        return Ok(now + sign * d.as_secs_f64());
    }
    if let Ok(x) = s.parse::<f64>() {
        return Ok(x);
    }
    rfc3339(s).ok_or_else(|| {
        format!("{s:?}: expected unix seconds, an RFC 3339 time (2026-11-30T00:00:00Z) or now-7d")
    })
}

fn rfc3339(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (c, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut c = clock.splitn(3, ':');
    let hh: i64 = c.next()?.parse().ok()?;
    let mm: i64 = c.next()?.parse().ok()?;
    let ss: f64 = c.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss >= 61.0 {
        return None;
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 - offset) as f64 + ss)
}

#[cfg(test)]
mod tests;
