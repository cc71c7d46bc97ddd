//! Line charts as PNG and SVG, drawn with plotters.
//!
//! Text is set in DejaVu Sans, embedded through the `dejavu` crate, so that a chart looks the
//! same on every machine and needs no system fonts.

use std::io;
use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Index into the palette, so that one policy keeps its colour across charts; the
    /// series' position when `None`.
    pub colour: Option<usize>,
}

/// A shaded span of x, labelled (for example a downtime).
#[derive(Debug, Clone)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    /// Top of the y axis; the data's maximum (plus 5 %) if `None`.
    pub y_max: Option<f64>,
    /// Where the legend goes: where the data leaves room.
    pub legend: Legend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Legend {
    UpperLeft,
    UpperRight,
    MiddleRight,
    #[default]
    LowerRight,
}

impl Legend {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::MiddleRight => SeriesLabelPosition::MiddleRight,
            Legend::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

const FONT: &str = "sans-serif";
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 95, 168),
    RGBColor(214, 96, 39),
    RGBColor(44, 140, 70),
    RGBColor(150, 60, 160),
    RGBColor(120, 120, 120),
    RGBColor(190, 150, 20),
    RGBColor(20, 160, 170),
    RGBColor(200, 60, 100),
    RGBColor(110, 80, 40),
    RGBColor(120, 170, 230),
];

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the dejavu crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &LineChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let x_min = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::INFINITY, f64::min);
    let x_max = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min, x_max)
    } else {
        (0.0, 1.0)
    };
    let y_max = c.y_max.unwrap_or_else(|| {
        let m = c
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        if m > 0.0 { m * 1.05 } else { 1.0 }
    });
    let axes = Axes {
        title: &c.title,
        x_label: &c.x_label,
        y_label: &c.y_label,
        y_whole: false,
    };
    let mut chart = frame(&root, &axes, x_min..x_max, 0.0..y_max)?;
    for b in &c.bands {
        // Widen very short bands so that they stay visible at chart scale.
        let min_w = (x_max - x_min) * 0.002;
        let to = b.to.max(b.from + min_w);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(b.from, 0.0), (to, y_max)],
                RGBColor(240, 170, 160).filled(),
            )))
            .map_err(err)?
            .label(b.label.clone())
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 18, y + 6)],
                    RGBColor(240, 170, 160).filled(),
                )
            });
    }
    for (i, s) in c.series.iter().enumerate() {
        let colour = COLOURS[s.colour.unwrap_or(i) % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    legend(&mut chart, c.legend.position())?;
    root.present().map_err(err)?;
    Ok(())
}

/// A chart's caption and axis titles.
struct Axes<'s> {
    title: &'s str,
    x_label: &'s str,
    y_label: &'s str,
    /// Label the y axis with whole numbers (row indices).
    y_whole: bool,
}

/// The frame every x-y chart shares: caption, margins, grid and axis labels.
fn frame<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    a: &Axes,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(root)
        .caption(a.title, (FONT, 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    let whole = a.y_whole;
    chart
        .configure_mesh()
        .x_desc(a.x_label)
        .y_desc(a.y_label)
        .label_style((FONT, 15))
        .x_label_formatter(&|v| trim(*v))
        .y_label_formatter(&|v| trim(if whole { v.floor() } else { *v }))
        .axis_desc_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The legend box, the same on every chart.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    at: SeriesLabelPosition,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(150, 150, 150))
        .label_font((FONT, 15))
        .position(at)
        .draw()
        .map_err(|e| e.to_string())
}

fn trim(v: f64) -> String {
    crate::units::trim_float(v)
}

/// Draws `c` to `png` and `svg`, each written under a temporary name and renamed when whole.
pub fn write_line_chart(c: &LineChart, png: &Path, svg: &Path) -> io::Result<()> {
    write_both(png, svg, (1000, 480), |r| draw(r, c), |r| draw(r, c))
}

/// Renders one chart to PNG and SVG with the same drawing code, written atomically. Two
/// closures because the backends are different types.
fn write_both(
    png: &Path,
    svg: &Path,
    size: (u32, u32),
    to_png: impl Fn(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
    to_svg: impl Fn(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> io::Result<()> {
    register_fonts();
    let tmp = |p: &Path| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Keep the extension last: the PNG encoder picks the format from it.
        p.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
    };
    let (png_tmp, svg_tmp) = (tmp(png), tmp(svg));
    let result = (|| -> Result<(), String> {
        to_png(BitMapBackend::new(&png_tmp, size).into_drawing_area())?;
        to_svg(SVGBackend::new(&svg_tmp, size).into_drawing_area())?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            std::fs::rename(&png_tmp, png)?;
            std::fs::rename(&svg_tmp, svg)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&png_tmp);
            let _ = std::fs::remove_file(&svg_tmp);
            Err(io::Error::other(e))
        }
    }
}

/// One migration on a timeline.
#[derive(Debug, Clone)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    /// Where the guest was paused (the stop-and-copy), if it was.
    pub mark: Option<f64>,
    /// Completed spans are drawn solid, others hatched in a second colour.
    pub ok: bool,
}

/// Horizontal bars on a time axis, one row per span, for the migrations of one run.
#[derive(Debug, Clone)]
pub struct SpanChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub spans: Vec<Span>,
    /// The x axis runs from 0 to this (the horizon), so charts of one scenario line up.
    pub x_max: f64,
    pub ok_label: String,
    pub failed_label: String,
    pub mark_label: String,
}

fn draw_spans<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &SpanChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let n = c.spans.len().max(1) as f64;
    let x_max = if c.x_max > 0.0 { c.x_max } else { 1.0 };
    let axes = Axes {
        title: &c.title,
        x_label: &c.x_label,
        y_label: &c.y_label,
        y_whole: true,
    };
    let mut chart = frame(&root, &axes, 0.0..x_max, 0.0..n)?;
    let ok = COLOURS[0];
    let bad = COLOURS[1];
    let mark = RGBColor(200, 30, 30);
    // Short spans are widened to a minimum width so that every migration shows.
    let min_w = x_max * 0.005;
    let bar = |i: usize, s: &Span| {
        let to = s.to.max(s.from + min_w);
        let colour = if s.ok { ok } else { bad };
        Rectangle::new(
            [(s.from, i as f64 + 0.15), (to, i as f64 + 0.85)],
            colour.filled(),
        )
    };
    chart
        .draw_series(
            c.spans
                .iter()
                .enumerate()
                .filter(|(_, s)| s.ok)
                .map(|(i, s)| bar(i, s)),
        )
        .map_err(err)?
        .label(c.ok_label.clone())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], ok.filled()));
    if c.spans.iter().any(|s| !s.ok) {
        chart
            .draw_series(
                c.spans
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.ok)
                    .map(|(i, s)| bar(i, s)),
            )
            .map_err(err)?
            .label(c.failed_label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], bad.filled()));
    }
    if c.spans.iter().any(|s| s.mark.is_some()) {
        let size = if c.spans.len() > 40 { 2 } else { 3 };
        chart
            .draw_series(c.spans.iter().enumerate().filter_map(|(i, s)| {
                s.mark
                    .map(|m| Circle::new((m, i as f64 + 0.5), size, mark.filled()))
            }))
            .map_err(err)?
            .label(c.mark_label.clone())
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, mark.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Draws a span chart; its height grows with the number of spans, up to a limit.
pub fn write_span_chart(c: &SpanChart, png: &Path, svg: &Path) -> io::Result<()> {
    let h = (200 + 6 * c.spans.len() as u32).clamp(360, 900);
    write_both(
        png,
        svg,
        (1000, h),
        |r| draw_spans(r, c),
        |r| draw_spans(r, c),
    )
}

/// One small bar chart: a metric across the policies.
#[derive(Debug, Clone)]
pub struct BarPanel {
    pub title: String,
    pub values: Vec<(String, f64)>,
}

/// Several bar charts side by side on one image.
#[derive(Debug, Clone)]
pub struct BarPanels {
    pub title: String,
    pub panels: Vec<BarPanel>,
    pub columns: usize,
}

fn draw_panels<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &BarPanels,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(&c.title, (FONT, 22)).map_err(err)?;
    let cols = c.columns.max(1);
    let rows = c.panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for (area, p) in areas.iter().zip(&c.panels) {
        let n = p.values.len().max(1);
        let lo = p.values.iter().map(|v| v.1).fold(0.0, f64::min);
        let hi = p.values.iter().map(|v| v.1).fold(0.0, f64::max);
        let (lo, hi) = if hi > lo { (lo, hi) } else { (0.0, 1.0) };
        let pad = (hi - lo) * 0.08;
        let y0 = if lo < 0.0 { lo - pad } else { 0.0 };
        let labels: Vec<String> = p.values.iter().map(|v| v.0.clone()).collect();
        // Horizontal bars: the policy names stay level and readable however many there are.
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, (FONT, 16))
            .margin(8)
            .margin_right(18)
            .x_label_area_size(28)
            .y_label_area_size(110)
            .build_cartesian_2d(y0..hi + pad, (0..n).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .label_style((FONT, 12))
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_labels(5)
            .x_label_formatter(&|v| trim(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(p.values.iter().enumerate().map(|(i, (_, v))| {
                let colour = COLOURS[i % COLOURS.len()];
                let (a, b) = if *v >= 0.0 { (0.0, *v) } else { (*v, 0.0) };
                let mut r = Rectangle::new(
                    [(a, SegmentValue::Exact(i)), (b, SegmentValue::Exact(i + 1))],
                    colour.filled(),
                );
                r.set_margin(4, 4, 0, 0);
                r
            }))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Draws the bar panels; each row of panels is 300 px high.
pub fn write_bar_panels(c: &BarPanels, png: &Path, svg: &Path) -> io::Result<()> {
    let rows = c.panels.len().div_ceil(c.columns.max(1)).max(1) as u32;
    write_both(
        png,
        svg,
        (1200, 40 + 320 * rows),
        |r| draw_panels(r, c),
        |r| draw_panels(r, c),
    )
}

/// One row of a dot panel: a label, the values of each group, and a reference value marked.
#[derive(Debug, Clone)]
pub struct DotRow {
    pub label: String,
    pub groups: Vec<Vec<f64>>,
    pub mark: f64,
}

/// Values as dots, one row per label and one colour per group, with a reference marked by a
/// bar: how spread several runs are and where a published figure falls among them.
#[derive(Debug, Clone)]
pub struct DotPanel {
    pub title: String,
    pub rows: Vec<DotRow>,
}

/// Several dot panels side by side on one image.
#[derive(Debug, Clone)]
pub struct DotPanels {
    pub title: String,
    /// The groups' names, in colour order.
    pub groups: Vec<String>,
    pub panels: Vec<DotPanel>,
    pub columns: usize,
}

fn draw_dots<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &DotPanels,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(&c.title, (FONT, 18)).map_err(err)?;
    let cols = c.columns.max(1);
    let rows = c.panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for (area, p) in areas.iter().zip(&c.panels) {
        let n = p.rows.len().max(1);
        let values = p
            .rows
            .iter()
            .flat_map(|r| r.groups.iter().flatten().copied().chain([r.mark]))
            .filter(|v| v.is_finite());
        let hi = values.fold(0.0, f64::max);
        let hi = if hi > 0.0 { hi * 1.08 } else { 1.0 };
        // The first row at the top, as a table reads.
        let labels: Vec<String> = p.rows.iter().rev().map(|r| r.label.clone()).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, (FONT, 15))
            .margin(8)
            .margin_right(18)
            .x_label_area_size(26)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..hi, 0.0..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .label_style((FONT, 11))
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|v| {
                let i = (v - 0.5).round();
                if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_labels(5)
            .x_label_formatter(&|v| trim(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, r) in p.rows.iter().rev().enumerate() {
            let centre = i as f64 + 0.5;
            let k = r.groups.len().max(1) as f64;
            for (g, vals) in r.groups.iter().enumerate() {
                // Groups one under the other within the row, the first on top, so that no dot
                // hides another's.
                let y = centre - (g as f64 - (k - 1.0) / 2.0) * 0.28;
                let colour = COLOURS[g % COLOURS.len()];
                chart
                    .draw_series(
                        vals.iter()
                            .filter(|v| v.is_finite())
                            .map(|&v| Circle::new((v, y), 3, colour.filled())),
                    )
                    .map_err(err)?;
            }
            if r.mark.is_finite() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(r.mark, centre - 0.42), (r.mark, centre + 0.42)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Draws the dot panels; each row of panels is 360 px high.
pub fn write_dot_panels(c: &DotPanels, png: &Path, svg: &Path) -> io::Result<()> {
    let rows = c.panels.len().div_ceil(c.columns.max(1)).max(1) as u32;
    write_both(
        png,
        svg,
        (1400, 40 + 360 * rows),
        |r| draw_dots(r, c),
        |r| draw_dots(r, c),
    )
}
