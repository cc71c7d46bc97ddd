//! Asking a Prometheus server: `GET /api/v1/query_range` for each of the importer's
//! queries, in pieces short enough for the server's limit of points per series, and saving
//! what it answered so that the import can be replayed without it.

use std::collections::BTreeMap;
use std::path::Path;

use super::{DIRTY_KEY, QUERIES, Series, parse_matrix};
use crate::trace::TraceError;

/// Prometheus refuses a range query of more than 11 000 points per series ("exceeded
/// maximum resolution of 11,000 points per timeseries", `web/api/v1/api.go`); a piece holds
/// at most this many steps.
pub const MAX_POINTS_PER_QUERY: usize = 10_000;

/// `range.json` beside saved answers: what range and step they were asked for.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

impl Range {
    /// Reads `dir/range.json`.
    pub fn read(dir: &Path) -> Result<Range, TraceError> {
        let p = dir.join("range.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|e| TraceError::new(&p, 0, "", format!("cannot read: {e}")))?;
        serde_json::from_str(&text).map_err(|e| {
            TraceError::new(
                &p,
                e.line(),
                "",
                format!("expected {{start, end, step}}: {e}"),
            )
        })
    }
}

/// The pieces `[start, end]` of a range of `steps` steps, each at most
/// [`MAX_POINTS_PER_QUERY`] points, meeting without overlap.
pub fn pieces(r: Range) -> Vec<(f64, f64)> {
    let steps = crate::trace::import::grid_steps(r.start, r.end, r.step).unwrap_or(0);
    let mut out = Vec::new();
    let mut k = 0usize;
    loop {
        let last = (k + MAX_POINTS_PER_QUERY - 1).min(steps);
        out.push((r.start + k as f64 * r.step, r.start + last as f64 * r.step));
        if last >= steps {
            return out;
        }
        k = last + 1;
    }
}

/// Appends one piece's series to the whole answer's, series matched by their labels.
fn merge(into: &mut Vec<Series>, piece: Vec<Series>) {
    for s in piece {
        match into.iter_mut().find(|t| t.labels == s.labels) {
            Some(t) => {
                t.points.extend(s.points);
                t.nan += s.nan;
            }
            None => into.push(s),
        }
    }
}

/// An answer in the form Prometheus gives it, for `--save`.
pub fn to_json(series: &[Series]) -> String {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|s| {
            let values: Vec<serde_json::Value> = s
                .points
                .iter()
                .map(|&(t, x)| serde_json::json!([t, format!("{x}")]))
                .collect();
            serde_json::json!({ "metric": s.labels, "values": values })
        })
        .collect();
    serde_json::to_string(&serde_json::json!({
        "status": "success",
        "data": { "resultType": "matrix", "result": result }
    }))
    .expect("serialisable")
        + "\n"
}

/// Asks `url` (the server's base, `http://host:9090`) every query of the import, and
/// `dirty_metric` if given. With `save`, each answer is written there as `KEY.json`, beside
/// `range.json`.
pub fn fetch(
    url: &str,
    r: Range,
    dirty_metric: Option<&str>,
    save: Option<&Path>,
) -> Result<BTreeMap<&'static str, Option<Vec<Series>>>, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "{url}: this build speaks plain HTTP only; save the answers with curl \
             (…/api/v1/query_range?query=…) into a folder and import it with --files"
        ));
    }
    if !url.starts_with("http://") {
        return Err(format!("{url}: expected http://HOST:PORT"));
    }
    let base = url.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut out = BTreeMap::new();
    let queries = QUERIES
        .iter()
        .map(|q| (q.key, q.promql.to_string()))
        .chain(dirty_metric.map(|m| (DIRTY_KEY, m.to_string())));
    if let Some(dir) = save {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let text = serde_json::to_string_pretty(&r).expect("serialisable") + "\n";
        crate::base::write_atomic(&dir.join("range.json"), text.as_bytes())
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for (key, promql) in queries {
        let mut all: Vec<Series> = Vec::new();
        for (s, e) in pieces(r) {
            let mut resp = agent
                .get(format!("{base}/api/v1/query_range"))
                .query("query", &promql)
                .query("start", s.to_string())
                .query("end", e.to_string())
                .query("step", r.step.to_string())
                .call()
                .map_err(|e| format!("{base}: {key} ({promql}): {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 32)
                .read_to_string()
                .map_err(|e| format!("{base}: {key}: reading the answer: {e}"))?;
            let name = Path::new(key).with_extension("json");
            let piece = parse_matrix(&name, &body)
                .map_err(|e| format!("{base}: {key} ({promql}): HTTP {status}: {}", e.message))?;
            merge(&mut all, piece);
        }
        if let Some(dir) = save {
            let p = dir.join(format!("{key}.json"));
            crate::base::write_atomic(&p, to_json(&all).as_bytes())
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        out.insert(key, Some(all));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ranges_are_asked_in_pieces_that_meet() {
        let r = Range {
            start: 0.0,
            end: 25_000.0,
            step: 1.0,
        };
        let p = pieces(r);
        assert_eq!(
            p,
            vec![(0.0, 9_999.0), (10_000.0, 19_999.0), (20_000.0, 25_000.0)]
        );
        let one = pieces(Range {
            start: 100.0,
            end: 400.0,
            step: 100.0,
        });
        assert_eq!(one, vec![(100.0, 400.0)]);
    }

    #[test]
    fn a_saved_answer_reads_back_the_same() {
        let s = Series {
            labels: [("domain".to_string(), "web \"1\"".to_string())].into(),
            points: vec![(1.0, 0.5), (2.0, 1e-7)],
            nan: 0,
        };
        let back = parse_matrix(Path::new("x.json"), &to_json(std::slice::from_ref(&s))).unwrap();
        assert_eq!(back, vec![s]);
    }
}
