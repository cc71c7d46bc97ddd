//! RRD exports (`rrdtool xport`, XML or `--json`, with or without `--showtime`) of the CPU
//! load that older monitoring keeps per VM: collectd's virt plugin (`virt_cpu_total`, a
//! DERIVE of CPU nanoseconds, so nanoseconds per second once averaged) or Munin's libvirt
//! plugins (percent). Each exported column is one VM, named by its legend
//! (`XPORT:cpu:"web-1"`), so that the trace joins the inventory on domain names.

use std::collections::BTreeMap;
use std::path::Path;

use super::TraceError;
use super::import::{Imported, SeriesReport, VmSeries};

/// What an exported value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// CPU nanoseconds per second (collectd's `virt_cpu_total`), over the VM's vCPUs.
    NsPerSecond,
    /// Percent of the VM's vCPUs, 0–100.
    Percent,
    /// A fraction of the VM's vCPUs, 0–1.
    Fraction,
}

impl Unit {
    pub const NAMES: &'static str = "ns-per-s, percent or fraction";

    pub fn parse(s: &str) -> Option<Unit> {
        match s {
            "ns-per-s" => Some(Unit::NsPerSecond),
            "percent" => Some(Unit::Percent),
            "fraction" => Some(Unit::Fraction),
            _ => None,
        }
    }

    /// The utilisation of `vcpus` that `x` means.
    fn util(self, x: f64, vcpus: u32) -> f64 {
        match self {
            Unit::NsPerSecond => x / 1e9 / vcpus.max(1) as f64,
            Unit::Percent => x / 100.0,
            Unit::Fraction => x,
        }
    }
}

/// One export: its grid, its columns' names and rows of values (`None` for NaN/null).
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub start: f64,
    pub step: f64,
    pub legend: Vec<String>,
    /// Row times (unix seconds) and values, one per legend entry.
    pub rows: Vec<(f64, Vec<Option<f64>>)>,
}

/// Reads an export, XML or JSON by its first character. rrdtool writes XML in ISO-8859-1
/// and leaves `&` in legends unescaped; both are accepted.
pub fn parse(file: &Path, bytes: &[u8]) -> Result<Export, TraceError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    };
    match text.trim_start().chars().next() {
        Some('{') => parse_json(file, &text),
        Some('<') => parse_xml(file, &text),
        _ => Err(TraceError::new(
            file,
            1,
            "",
            "neither XML nor JSON: is this `rrdtool xport` output?",
        )),
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// The text of each `<tag>…</tag>` in `text`, with its byte offset.
fn elements<'a>(text: &'a str, tag: &str) -> Vec<(usize, &'a str)> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(&open) {
        let s = from + i + open.len();
        let Some(j) = text[s..].find(&close) else {
            break;
        };
        out.push((s, &text[s..s + j]));
        from = s + j + close.len();
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn number(file: &Path, text: &str, at: usize, field: &str, s: &str) -> Result<f64, TraceError> {
    s.trim().parse::<f64>().map_err(|_| {
        TraceError::new(
            file,
            line_of(text, at),
            field,
            format!("{:?} is not a number", s.trim()),
        )
    })
}

fn value(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn parse_xml(file: &Path, text: &str) -> Result<Export, TraceError> {
    let one = |tag: &str| -> Result<f64, TraceError> {
        let (at, s) = *elements(text, tag).first().ok_or_else(|| {
            TraceError::new(
                file,
                0,
                tag,
                format!("no <{tag}>: is this `rrdtool xport` XML?"),
            )
        })?;
        number(file, text, at, tag, s)
    };
    let (start, step) = (one("start")?, one("step")?);
    let legend: Vec<String> = elements(text, "entry")
        .into_iter()
        .map(|(_, s)| unescape(s.trim()))
        .collect();
    let mut rows = Vec::new();
    for (k, (at, row)) in elements(text, "row").into_iter().enumerate() {
        let t = match elements(row, "t").first() {
            Some(&(i, s)) => number(file, text, at + i, "t", s)?,
            None => start + k as f64 * step,
        };
        let mut vals = Vec::with_capacity(legend.len());
        for (i, s) in elements(row, "v") {
            vals.push(value(number(file, text, at + i, "v", s)?));
        }
        if vals.len() != legend.len() {
            return Err(TraceError::new(
                file,
                line_of(text, at),
                "row",
                format!("{} values for {} legend entries", vals.len(), legend.len()),
            ));
        }
        rows.push((t, vals));
    }
    Ok(Export {
        start,
        step,
        legend,
        rows,
    })
}

fn parse_json(file: &Path, text: &str) -> Result<Export, TraceError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| TraceError::new(file, e.line(), "", format!("not JSON: {e}")))?;
    let meta = &v["meta"];
    let num = |f: &str| {
        meta[f].as_f64().ok_or_else(|| {
            TraceError::new(file, 0, &format!("meta.{f}"), "missing or not a number")
        })
    };
    let (start, step) = (num("start")?, num("step")?);
    let legend: Vec<String> = meta["legend"]
        .as_array()
        .ok_or_else(|| TraceError::new(file, 0, "meta.legend", "missing"))?
        .iter()
        .map(|e| e.as_str().unwrap_or_default().to_string())
        .collect();
    let data = v["data"]
        .as_array()
        .ok_or_else(|| TraceError::new(file, 0, "data", "missing"))?;
    let mut rows = Vec::with_capacity(data.len());
    for (k, row) in data.iter().enumerate() {
        let field = format!("data[{k}]");
        let cells = row
            .as_array()
            .ok_or_else(|| TraceError::new(file, 0, &field, "not a list"))?;
        // With --showtime each row starts with its time, as a string.
        let (t, cells) = match cells.first() {
            Some(serde_json::Value::String(s)) if cells.len() == legend.len() + 1 => (
                s.parse::<f64>().map_err(|_| {
                    TraceError::new(file, 0, &field, format!("time {s:?} is not a number"))
                })?,
                &cells[1..],
            ),
            _ => (start + k as f64 * step, &cells[..]),
        };
        if cells.len() != legend.len() {
            return Err(TraceError::new(
                file,
                0,
                &field,
                format!("{} values for {} legend entries", cells.len(), legend.len()),
            ));
        }
        let vals = cells
            .iter()
            .map(|c| match c {
                serde_json::Value::Null => Ok(None),
                c => c.as_f64().map(value).ok_or_else(|| {
                    TraceError::new(file, 0, &field, format!("{c} is not a number"))
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        rows.push((t, vals));
    }
    Ok(Export {
        start,
        step,
        legend,
        rows,
    })
}

/// The exports as one import. Every export must have the same step; a VM named in two is an
/// error. `vcpus` gives each VM's vCPUs (`""` for the default).
pub fn assemble(
    exports: &[(String, Export)],
    unit: Unit,
    vcpus: &BTreeMap<String, u32>,
) -> Result<Imported, TraceError> {
    let Some((_, first)) = exports.first() else {
        return Err(TraceError::new("", 0, "", "no export to read"));
    };
    let step = first.step;
    let start = exports
        .iter()
        .flat_map(|(_, e)| e.rows.first().map(|r| r.0))
        .fold(f64::INFINITY, f64::min);
    let end = exports
        .iter()
        .flat_map(|(_, e)| e.rows.last().map(|r| r.0))
        .fold(f64::NEG_INFINITY, f64::max);
    if !start.is_finite() {
        return Err(TraceError::new(&exports[0].0, 0, "", "no rows"));
    }
    let steps = super::import::grid_steps(start, end, step)
        .map_err(|e| TraceError::new(&exports[0].0, 0, "step", e))?;
    let default_vcpus = vcpus.get("").copied().unwrap_or(1);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut vms = Vec::new();
    for (file, e) in exports {
        if (e.step - step).abs() > 1e-9 {
            return Err(TraceError::new(
                file,
                0,
                "step",
                format!(
                    "{} s, but {} has {step} s: export them with one --step",
                    e.step, exports[0].0
                ),
            ));
        }
        for (c, name) in e.legend.iter().enumerate() {
            if name.is_empty() {
                return Err(TraceError::new(
                    file,
                    0,
                    "legend",
                    format!("column {} has no name", c + 1),
                ));
            }
            if let Some(other) = seen.insert(name.clone(), file.clone()) {
                return Err(TraceError::new(
                    file,
                    0,
                    "legend",
                    format!("VM {name:?} is also in {other}"),
                ));
            }
            let nv = vcpus.get(name).copied().unwrap_or(default_vcpus);
            let mut cpu = vec![None; steps + 1];
            let mut clamped = 0;
            for (t, vals) in &e.rows {
                let k = ((t - start) / step).round();
                if !k.is_finite()
                    || k < 0.0
                    || k > steps as f64
                    || (t - start - k * step).abs() > 0.01 * step
                {
                    return Err(TraceError::new(
                        file,
                        0,
                        "t",
                        format!("time {t} is off the {step} s grid"),
                    ));
                }
                if let Some(x) = vals[c] {
                    let u = unit.util(x, nv);
                    if u > 1.02 {
                        clamped += 1;
                    }
                    cpu[k as usize] = Some(u.clamp(0.0, 1.0) as f32);
                }
            }
            let mut report = SeriesReport {
                clamped,
                nan: e.rows.iter().filter(|r| r.1[c].is_none()).count(),
                ..Default::default()
            };
            report.count(&cpu, step);
            vms.push(VmSeries {
                name: name.clone(),
                hosts: Vec::new(),
                vcpus: nv,
                memory: vec![None; steps + 1],
                dirty: vec![None; steps + 1],
                net: vec![None; steps + 1],
                cpu,
                report,
            });
        }
    }
    Ok(Imported {
        start,
        step,
        steps,
        source: format!("{} RRD export(s)", exports.len()),
        vms,
        hosts: Vec::new(),
        absent: vec![
            "VM memory, dirty rates and traffic (not in the exports)".into(),
            "hosts' own CPU load".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by rrdtool 1.7.2 (`rrdtool xport`), from an RRD of a DERIVE data source
    // updated with 150 s of CPU time every 300 s; the legend's `&` is as rrdtool leaves it.
    const XML: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\n<xport>\n  <meta>\n    <start>1764547500</start>\n    <end>1764549600</end>\n    <step>300</step>\n    <rows>3</rows>\n    <columns>1</columns>\n    <legend>\n      <entry>web 1 & co</entry>\n    </legend>\n  </meta>\n  <data>\n    <row><v>NaN</v></row>\n    <row><v>5.0000000000e+08</v></row>\n    <row><v>5.0000000000e+08</v></row>\n  </data>\n</xport>\n";

    const JSON_SHOWTIME: &str = "{ \"about\": \"RRDtool graph JSON output\",\n  \"meta\": {\n    \"start\": 1764547500,\n    \"end\": 1764548400,\n    \"step\": 300,\n    \"legend\": [\n      \"web1\",\n      \"db\"\n          ]\n     },\n  \"data\": [\n    [ \"1764547500\",null, null ],\n    [ \"1764547800\",5.0000000000e+08, 5.0000000000e+08 ],\n    [ \"1764548100\",5.0000000000e+08, null ],\n    [ \"1764548400\",5.0000000000e+08, 5.0000000000e+08 ]\n  ]\n}\n";

    #[test]
    fn rrdtool_xml_and_json_read_with_times_and_gaps() {
        let x = parse(Path::new("a.xml"), XML.as_bytes()).unwrap();
        assert_eq!(x.legend, vec!["web 1 & co"]);
        assert_eq!(x.rows.len(), 3);
        assert_eq!(x.rows[1], (1764547800.0, vec![Some(5e8)]));
        assert_eq!(x.rows[0].1, vec![None]);
        let j = parse(Path::new("b.json"), JSON_SHOWTIME.as_bytes()).unwrap();
        assert_eq!(j.legend, vec!["web1", "db"]);
        assert_eq!(j.rows[2], (1764548100.0, vec![Some(5e8), None]));
    }

    #[test]
    fn collectd_cpu_nanoseconds_become_utilisation_of_the_vcpus() {
        let j = parse(Path::new("b.json"), JSON_SHOWTIME.as_bytes()).unwrap();
        let vcpus: BTreeMap<String, u32> = [("db".to_string(), 2)].into();
        let imp = assemble(&[("b.json".into(), j)], Unit::NsPerSecond, &vcpus).unwrap();
        assert_eq!(imp.steps, 3);
        assert_eq!(imp.vms[0].cpu, vec![None, Some(0.5), Some(0.5), Some(0.5)]);
        assert_eq!(imp.vms[1].cpu, vec![None, Some(0.25), None, Some(0.25)]);
        assert_eq!(imp.vms[1].report.gaps, 1);
        assert_eq!(imp.vms[1].report.nan, 2);
    }

    #[test]
    fn bad_exports_name_file_line_and_field() {
        let bad = XML.replace(
            "5.0000000000e+08</v></row>\n    <row>",
            "x</v></row>\n    <row>",
        );
        let e = parse(Path::new("a.xml"), bad.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (16, "v"), "{e}");
        let e = parse(Path::new("a.txt"), b"hello").unwrap_err();
        assert!(e.to_string().contains("rrdtool xport"), "{e}");
        let twice = [
            (
                "a.xml".to_string(),
                parse(Path::new("a.xml"), XML.as_bytes()).unwrap(),
            ),
            (
                "c.xml".to_string(),
                parse(Path::new("c.xml"), XML.as_bytes()).unwrap(),
            ),
        ];
        let e = assemble(&twice, Unit::Percent, &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("is also in a.xml"), "{e}");
    }
}
