//! The plots and the self-contained `report.html` of `migsim compare`.
//!
//! Each chart is written as PNG (for slides and notebooks) and SVG (for the report, where it
//! is inlined so that the page needs no other file). Time axes are in hours from the start of
//! the run and share the horizon, so charts of one comparison line up.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::escape_markup;
use super::plot::{self, BarPanel, BarPanels, Legend, LineChart, Series, Span, SpanChart};
use crate::metrics::{Summary, TimelineRow};
use crate::migration::{MigrationRecord, Outcome, Stage};

/// What one policy's run leaves for the report (its first seed when there are several).
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub summary: Summary,
    pub timeline: Vec<TimelineRow>,
    pub migrations: Vec<MigrationRecord>,
}

/// A chart written to `<stem>.png` and `<stem>.svg` in the plots folder.
#[derive(Debug, Clone)]
pub struct Figure {
    pub stem: String,
    pub title: String,
    pub caption: String,
}

fn hours(s: f64) -> f64 {
    s / 3600.0
}

/// A file-name-safe form of a policy name.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn series(runs: &[PolicyRun], f: impl Fn(&TimelineRow) -> f64) -> Vec<Series> {
    runs.iter()
        .enumerate()
        .filter(|(_, r)| !r.timeline.is_empty())
        .map(|(i, r)| Series {
            label: r.summary.policy.clone(),
            points: r.timeline.iter().map(|t| (hours(t.time_s), f(t))).collect(),
            colour: Some(i),
        })
        .collect()
}

/// The downtime CDF of one run: a step per completed migration.
pub fn downtime_cdf(m: &[MigrationRecord]) -> Vec<(f64, f64)> {
    let mut d: Vec<f64> = m
        .iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .map(|r| r.downtime_ms)
        .collect();
    d.sort_by(f64::total_cmp);
    let n = d.len() as f64;
    let mut pts = Vec::with_capacity(2 * d.len() + 1);
    if let Some(&first) = d.first() {
        pts.push((first, 0.0));
    }
    for (i, &x) in d.iter().enumerate() {
        pts.push((x, i as f64 / n));
        pts.push((x, (i + 1) as f64 / n));
    }
    pts
}

/// Writes every chart into `dir` and returns them in report order.
pub fn write_plots(dir: &Path, runs: &[PolicyRun]) -> io::Result<Vec<Figure>> {
    std::fs::create_dir_all(dir)?;
    let horizon_h = runs
        .iter()
        .map(|r| hours(r.summary.horizon_s))
        .fold(0.0, f64::max);
    let mut figs = Vec::new();
    let mut line =
        |stem: &str, title: &str, y: &str, caption: &str, legend: Legend, s: Vec<Series>| {
            if s.is_empty() {
                return Ok(());
            }
            let c = LineChart {
                title: title.into(),
                x_label: "time (h)".into(),
                y_label: y.into(),
                series: s,
                bands: vec![],
                y_max: None,
                legend,
            };
            plot::write_line_chart(
                &c,
                &dir.join(format!("{stem}.png")),
                &dir.join(format!("{stem}.svg")),
            )?;
            figs.push(Figure {
                stem: stem.into(),
                title: title.into(),
                caption: caption.into(),
            });
            io::Result::Ok(())
        };
    line(
        "active-hosts",
        "Active hosts over time",
        "active hosts",
        "Hosts switched on and able to run VMs, sampled at the scenario's timeline interval.",
        Legend::MiddleRight,
        series(runs, |t| t.active_hosts as f64),
    )?;
    line(
        "power",
        "Data-centre power over time",
        "power (kW)",
        "Sum of the hosts' power draw (idle, load-dependent, sleep and boot power).",
        Legend::MiddleRight,
        series(runs, |t| t.power_w / 1000.0),
    )?;
    line(
        "energy",
        "Cumulative energy",
        "energy (kWh)",
        "Energy used by all hosts since the start of the run; the gap to none is what \
         consolidation saves.",
        Legend::UpperLeft,
        series(runs, |t| t.energy_kwh),
    )?;

    let cdfs: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            label: r.summary.policy.clone(),
            points: downtime_cdf(&r.migrations),
            colour: Some(i),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !cdfs.is_empty() {
        let c = LineChart {
            title: "Downtime of completed migrations (CDF)".into(),
            x_label: "downtime (ms)".into(),
            y_label: "fraction of migrations".into(),
            series: cdfs,
            bands: vec![],
            y_max: Some(1.0),
            legend: Legend::LowerRight,
        };
        plot::write_line_chart(
            &c,
            &dir.join("downtime-cdf.png"),
            &dir.join("downtime-cdf.svg"),
        )?;
        figs.push(Figure {
            stem: "downtime-cdf".into(),
            title: c.title.clone(),
            caption: "Share of completed migrations whose stop-and-copy pause lasted at most x \
                      ms. Policies without migrations have no curve."
                .into(),
        });
    }

    let bars = summary_bars(runs);
    plot::write_bar_panels(
        &bars,
        &dir.join("summary-bars.png"),
        &dir.join("summary-bars.svg"),
    )?;
    figs.push(Figure {
        stem: "summary-bars".into(),
        title: bars.title.clone(),
        caption: "The table's main figures per policy (first seed's run when several seeds \
                  ran; the table shows means)."
            .into(),
    });

    for r in runs.iter().filter(|r| !r.migrations.is_empty()) {
        let stem = format!("migrations-{}", slug(&r.summary.policy));
        let mut spans: Vec<Span> = r
            .migrations
            .iter()
            .map(|m| Span {
                from: hours(m.start_s),
                to: hours(m.start_s + m.total_time_s),
                mark: (m.downtime_ms > 0.0)
                    .then(|| m.stages.get(Stage::StopAndCopy).map(hours))
                    .flatten(),
                ok: m.outcome == Outcome::Completed,
            })
            .collect();
        spans.sort_by(|a, b| a.from.total_cmp(&b.from).then(a.to.total_cmp(&b.to)));
        let failed = r
            .migrations
            .iter()
            .filter(|m| m.outcome != Outcome::Completed)
            .count();
        let c = SpanChart {
            title: format!(
                "Migrations under {} ({} completed, {failed} not)",
                r.summary.policy,
                r.migrations.len() - failed
            ),
            x_label: "time (h)".into(),
            y_label: "migration (by start)".into(),
            spans,
            x_max: horizon_h,
            ok_label: "completed".into(),
            failed_label: "failed, cancelled or unfinished".into(),
            mark_label: "guest paused (downtime)".into(),
        };
        plot::write_span_chart(
            &c,
            &dir.join(format!("{stem}.png")),
            &dir.join(format!("{stem}.svg")),
        )?;
        figs.push(Figure {
            stem,
            title: c.title.clone(),
            caption: "One bar per migration from its request to the activation on the \
                      destination (or its failure); the dot marks the stop-and-copy pause."
                .into(),
        });
    }
    Ok(figs)
}

fn summary_bars(runs: &[PolicyRun]) -> BarPanels {
    // Each panel: its title, the catalog figure, and the scale to the title's unit.
    let panels: [(&str, &str, f64); 8] = [
        ("energy (kWh)", "energy_kwh", 1.0),
        ("energy saved vs none (%)", "energy_saved_pct", 1.0),
        ("mean active hosts", "mean_active_hosts", 1.0),
        ("migrations", "migrations", 1.0),
        ("total downtime (s)", "total_downtime_s", 1.0),
        ("downtime p95 (ms)", "downtime_p95_ms", 1.0),
        ("CPU demand unmet (%)", "cpu_unmet_fraction", 100.0),
        (
            "data moved (GiB)",
            "migrated_bytes",
            1.0 / (1u64 << 30) as f64,
        ),
    ];
    BarPanels {
        title: "Policies side by side".into(),
        columns: 4,
        panels: panels
            .iter()
            .map(|&(title, key, scale)| BarPanel {
                title: title.to_string(),
                values: runs
                    .iter()
                    .map(|r| {
                        let v = crate::metrics::catalog::scaled(&r.summary, key, scale);
                        (r.summary.policy.clone(), v)
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The report page: the heading lines, the table, and every figure with its SVG inlined, so
/// the one file can be mailed or attached to a CI run.
pub fn report_html(
    title: &str,
    facts: &[String],
    header: &[&str],
    rows: &[Vec<String>],
    plots_dir: &Path,
    figures: &[Figure],
) -> io::Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>\n\
         body {{ font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em auto; \
         max-width: 1250px; color: #222; }}\n\
         table {{ border-collapse: collapse; font-size: 13px; margin: 1em 0; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}\n\
         th:first-child, td:first-child {{ text-align: left; white-space: nowrap; }}\n\
         th {{ background: #f0f0f0; }}\n\
         figure {{ margin: 2em 0; }} figure svg {{ max-width: 100%; height: auto; }}\n\
         figcaption {{ color: #555; font-size: 14px; }}\n\
         .scroll {{ overflow-x: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>{t}</h1>\n<ul>\n",
        t = escape_markup(title)
    );
    for f in facts {
        let _ = writeln!(h, "<li>{}</li>", escape_markup(f));
    }
    h.push_str("</ul>\n<div class=\"scroll\"><table>\n<tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", escape_markup(c));
    }
    h.push_str("</tr>\n");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", escape_markup(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    for f in figures {
        let svg = std::fs::read_to_string(plots_dir.join(format!("{}.svg", f.stem)))?;
        // Drop the XML declaration: the SVG is inlined into HTML.
        let svg = match svg.find("<svg") {
            Some(i) => &svg[i..],
            None => &svg,
        };
        let _ = write!(
            h,
            "<figure id=\"{id}\">\n<h2>{t}</h2>\n{svg}\n<figcaption>{c} \
             (also <code>plots/{id}.png</code> and <code>plots/{id}.svg</code>)</figcaption>\n\
             </figure>\n",
            id = escape_markup(&f.stem),
            t = escape_markup(&f.title),
            c = escape_markup(&f.caption),
        );
    }
    let _ = write!(
        h,
        "<p><small>migsim {}</small></p>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_cdf_steps_to_one_over_completed_migrations_only() {
        let rec = |d: f64, outcome: Outcome| MigrationRecord {
            vm: "v".into(),
            source: "a".into(),
            destination: "b".into(),
            hypervisor: "qemu".into(),
            outcome,
            reason: String::new(),
            start_s: 0.0,
            total_time_s: 1.0,
            downtime_ms: d,
            transferred_bytes: 0.0,
            rounds: 1,
            stages: Default::default(),
            max_throttle: 0.0,
            degradation_s: 0.0,
            bound_by: crate::migration::Bound::Network,
            per_round: vec![],
        };
        let m = vec![
            rec(30.0, Outcome::Completed),
            rec(10.0, Outcome::Completed),
            rec(999.0, Outcome::Failed),
        ];
        let c = downtime_cdf(&m);
        assert_eq!(
            c,
            vec![
                (10.0, 0.0),
                (10.0, 0.0),
                (10.0, 0.5),
                (30.0, 0.5),
                (30.0, 1.0)
            ]
        );
        assert!(downtime_cdf(&[]).is_empty());
    }

    #[test]
    fn file_names_from_policy_names_are_safe() {
        assert_eq!(slug("thr-mmt-0.8"), "thr-mmt-0.8");
        assert_eq!(slug("a b/c"), "a_b_c");
    }
}
