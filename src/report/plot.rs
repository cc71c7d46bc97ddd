//! Line charts as PNG and SVG, drawn with plotters.
//!
//! Text is set in DejaVu Sans, embedded through the `dejavu` crate, so that a chart looks the
//! same on every machine and needs no system fonts.

use std::io;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
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
}

const FONT: &str = "sans-serif";
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 95, 168),
    RGBColor(214, 96, 39),
    RGBColor(44, 140, 70),
    RGBColor(150, 60, 160),
    RGBColor(120, 120, 120),
    RGBColor(190, 150, 20),
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
    let mut chart = ChartBuilder::on(&root)
        .caption(&c.title, (FONT, 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .label_style((FONT, 15))
        .x_label_formatter(&|v| trim(*v))
        .y_label_formatter(&|v| trim(*v))
        .axis_desc_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
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
        let colour = COLOURS[i % COLOURS.len()];
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
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(150, 150, 150))
        .label_font((FONT, 15))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn trim(v: f64) -> String {
    crate::units::trim_float(v)
}

/// Draws `c` to `png` and `svg`, each written under a temporary name and renamed when whole.
pub fn write_line_chart(c: &LineChart, png: &Path, svg: &Path) -> io::Result<()> {
    register_fonts();
    let size = (1000, 480);
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
        draw(BitMapBackend::new(&png_tmp, size).into_drawing_area(), c)?;
        draw(SVGBackend::new(&svg_tmp, size).into_drawing_area(), c)?;
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
