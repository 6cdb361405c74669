//! A [`Figure`] to SVG text with plotters' SVG backend: a header (title, what ran), then
//! each panel as a chart (lines, steps, stacked areas) or, for a panel of [`Markers`](super::Markers), a
//! strip with one row of ticks per kind. Panels on the time axis share one extent, so
//! their instants line up. A panel with nothing to draw keeps its frame and says so.
//!
//! The plotted values go into the SVG as JSON in `<metadata id="listenlab-plot">` (the
//! [`Figure`] as serde writes it), so a test or a user can read back what was drawn.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::axis::{percentile_label, percentile_ticks};
use super::{Figure, Panel, SeriesKind, XAxis};

/// The `id` of the `<metadata>` element that holds the figure's JSON.
pub const METADATA_ID: &str = "listenlab-plot";

const WIDTH: u32 = 1200;
const HEADER: u32 = 88;
const CHART_HEIGHT: u32 = 280;
const STRIP_BASE: u32 = 80;
const STRIP_ROW: u32 = 30;
/// The subtitle's line length (about the header's width at 14 px); two lines at most.
const SUBTITLE_CHARS: usize = 160;
/// The width of every chart's y labels, the same for all so that time axes line up.
const Y_LABELS: u32 = 120;
const FONT: &str = "sans-serif";

/// Tableau's ten colours (matplotlib's default cycle): distinct and readable on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Why a figure could not be drawn (plotters' backend error, as text).
#[derive(Debug, thiserror::Error)]
#[error("drawing the picture: {0}")]
pub struct PlotError(String);

fn drawing<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// Draws `figure` and returns the SVG document, the plotted points embedded.
pub fn render(figure: &Figure) -> Result<String, PlotError> {
    let heights: Vec<u32> = figure.panels.iter().map(panel_height).collect();
    let height = HEADER + heights.iter().sum::<u32>().max(CHART_HEIGHT);
    let time_top = time_extent(figure);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (header, body) = root.split_vertically(HEADER);
        header
            .draw_text(
                &figure.title,
                &(FONT, 22).into_font().color(&BLACK),
                (20, 12),
            )
            .map_err(drawing)?;
        let style = (FONT, 14).into_font().color(&RGBColor(80, 80, 80));
        for (i, line) in wrap(&figure.subtitle, SUBTITLE_CHARS).iter().enumerate() {
            header
                .draw_text(line, &style, (20, 42 + 20 * i as i32))
                .map_err(drawing)?;
        }
        let mut rest = body;
        for (panel, h) in figure.panels.iter().zip(&heights) {
            let (area, below) = rest.split_vertically(*h);
            draw_panel(&area, panel, time_top)?;
            rest = below;
        }
        root.present().map_err(drawing)?;
    }
    let json = serde_json::to_string(figure).map_err(drawing)?;
    Ok(embed_metadata(svg, &json))
}

fn panel_height(panel: &Panel) -> u32 {
    if panel.markers.is_empty() {
        CHART_HEIGHT
    } else {
        STRIP_BASE + STRIP_ROW * panel.markers.len() as u32
    }
}

/// The right end of every time axis: the latest instant of any time panel, plus a little.
fn time_extent(figure: &Figure) -> f64 {
    let latest = figure
        .panels
        .iter()
        .filter(|p| p.x == XAxis::Time)
        .flat_map(|p| {
            let series = p
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|pt| pt[0]));
            let marks = p.markers.iter().flat_map(|m| m.at.iter().copied());
            series.chain(marks)
        })
        .fold(0.0f64, f64::max);
    if latest > 0.0 { latest * 1.02 } else { 1.0 }
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel,
    time_top: f64,
) -> Result<(), PlotError> {
    if panel.is_empty() {
        return draw_empty(area, panel);
    }
    match panel.x {
        XAxis::Time => draw_chart(area, panel, 0.0..time_top, &|x: &f64| trim(*x)),
        XAxis::Percentile { top } => draw_chart(
            area,
            panel,
            (1.0..top)
                .log_scale()
                .with_key_points(percentile_ticks(top)),
            &move |x: &f64| percentile_label(*x, top),
        ),
    }
}

/// The frame, the caption and the note, for a panel with no point.
fn draw_empty(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel) -> Result<(), PlotError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let left = 10 + Y_LABELS as i32;
    // The caption where a chart's goes: centred over the panel.
    let caption = (FONT, 18)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    area.draw_text(&panel.title, &caption, (w / 2, 8))
        .map_err(drawing)?;
    area.draw(&Rectangle::new(
        [(left, 36), (w - 30, h - 50)],
        RGBColor(180, 180, 180).stroke_width(1),
    ))
    .map_err(drawing)?;
    let note = (FONT, 20)
        .into_font()
        .color(&RGBColor(110, 110, 110))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(&panel.empty, &note, ((left + w - 30) / 2, (h - 14) / 2))
        .map_err(drawing)
}

fn draw_chart<X>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel,
    x_spec: X,
    x_format: &dyn Fn(&f64) -> String,
) -> Result<(), PlotError>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let rows = panel.markers.len();
    let y_range = if rows > 0 {
        -0.5..rows as f64 - 0.5
    } else {
        0.0..y_top(panel)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 18))
        .margin_left(10)
        .margin_right(30)
        .margin_bottom(6)
        .x_label_area_size(44)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x_spec, y_range)
        .map_err(drawing)?;
    let names: Vec<&str> = panel.markers.iter().map(|m| m.name.as_str()).collect();
    let y_format = |y: &f64| {
        if rows == 0 {
            return trim(*y);
        }
        let i = y.round();
        if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < rows {
            names[rows - 1 - i as usize].to_owned()
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x.label())
        .x_label_formatter(x_format)
        .y_label_formatter(&y_format)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235));
    if rows > 0 {
        mesh.y_labels(rows * 2 + 1).disable_y_mesh();
    } else {
        mesh.y_desc(&panel.y_label);
    }
    mesh.draw().map_err(drawing)?;
    if rows > 0 {
        // Top row first, as listed.
        for (i, m) in panel.markers.iter().enumerate() {
            let row = (rows - 1 - i) as f64;
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(m.at.iter().map(|&x| {
                    PathElement::new(
                        vec![(x, row - 0.32), (x, row + 0.32)],
                        color.stroke_width(2),
                    )
                }))
                .map_err(drawing)?;
        }
        return Ok(());
    }
    draw_stacked(&mut chart, panel)?;
    for (i, s) in panel.series.iter().enumerate() {
        if s.kind == SeriesKind::Stacked {
            continue;
        }
        let color = PALETTE[i % PALETTE.len()];
        let points = match s.kind {
            SeriesKind::Step => steps(&s.points),
            _ => s.points.iter().map(|p| (p[0], p[1])).collect(),
        };
        let single = points.len() == 1;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(drawing)?
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        if single || s.kind == SeriesKind::Line {
            // Dots show where the measured points are (and a lone point at all).
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
                .map_err(drawing)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(drawing)
}

/// The stacked series: each one's area sits on the sum of those before it; drawn top
/// layer first so that the lower ones cover it.
fn draw_stacked<DB: DrawingBackend, X: plotters::coord::ranged1d::Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    panel: &Panel,
) -> Result<(), PlotError> {
    let stacked: Vec<(usize, &super::Series)> = panel
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == SeriesKind::Stacked)
        .collect();
    let mut sums: Vec<Vec<[f64; 2]>> = Vec::new();
    for (_, s) in &stacked {
        let below = sums.last();
        let sum = s
            .points
            .iter()
            .enumerate()
            .map(|(j, p)| {
                [
                    p[0],
                    p[1] + below.and_then(|b| b.get(j)).map_or(0.0, |b| b[1]),
                ]
            })
            .collect();
        sums.push(sum);
    }
    for ((i, s), sum) in stacked.iter().zip(&sums).rev() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(AreaSeries::new(steps(sum), 0.0, color.mix(0.75)).border_style(color))
            .map_err(drawing)?
            .label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
    }
    Ok(())
}

/// A value that holds until the next point: each point, then the next x at this height.
fn steps(points: &[[f64; 2]]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, p) in points.iter().enumerate() {
        out.push((p[0], p[1]));
        if let Some(next) = points.get(i + 1) {
            out.push((next[0], p[1]));
        }
    }
    out
}

/// The top of a chart's y axis: the largest value (stacked ones summed) plus headroom.
fn y_top(panel: &Panel) -> f64 {
    let mut stacked: Vec<f64> = Vec::new();
    let mut top = 0.0f64;
    for s in &panel.series {
        for (j, p) in s.points.iter().enumerate() {
            if s.kind == SeriesKind::Stacked {
                if stacked.len() <= j {
                    stacked.resize(j + 1, 0.0);
                }
                stacked[j] += p[1];
                top = top.max(stacked[j]);
            } else {
                top = top.max(p[1]);
            }
        }
    }
    if top > 0.0 { top * 1.1 } else { 1.0 }
}

/// A tick label without trailing zeros: `2`, `2.5`, `0.25`.
fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `s` in lines of at most `width` characters broken at spaces, two lines at most (the
/// second ends in `…` if cut).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for word in s.split(' ') {
        let line = lines.last_mut().expect("one line at least");
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if len > 0 {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    if lines.len() > 2 {
        lines.truncate(2);
        lines[1].push_str(" …");
    }
    for line in &mut lines {
        if line.chars().count() > width {
            *line = line.chars().take(width - 1).collect::<String>() + "…";
        }
    }
    lines
}

/// Puts `<metadata id="listenlab-plot">JSON</metadata>` right after the `<svg …>` tag.
fn embed_metadata(svg: String, json: &str) -> String {
    let escaped = json
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let at = svg
        .find("<svg")
        .and_then(|start| svg[start..].find('>').map(|end| start + end + 1))
        .unwrap_or(0);
    let mut out = String::with_capacity(svg.len() + escaped.len() + 64);
    out.push_str(&svg[..at]);
    out.push_str(&format!(
        "\n<metadata id=\"{METADATA_ID}\">{escaped}</metadata>"
    ));
    out.push_str(&svg[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Markers, Series};
    use super::*;

    fn metadata(svg: &str) -> serde_json::Value {
        let doc = roxmltree::Document::parse(svg).expect("valid XML");
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name("metadata") && n.attribute("id") == Some(METADATA_ID))
            .expect("metadata element");
        serde_json::from_str(node.text().unwrap()).unwrap()
    }

    #[test]
    fn subtitles_wrap_at_spaces_onto_two_lines() {
        assert_eq!(wrap("ab cd ef", 5), ["ab cd", "ef"]);
        assert_eq!(wrap("ab cd ef gh ij", 5), ["ab cd", "ef g…"]);
        assert_eq!(wrap("abcdefgh", 5), ["abcd…"]);
    }

    #[test]
    fn a_figure_renders_to_svg_with_its_points_and_labels() {
        let mut chart = Panel::new("queue <&>", XAxis::Time, "connections");
        chart.series = vec![
            Series::new("busy", SeriesKind::Stacked, vec![[0.0, 1.0], [1.0, 2.0]]),
            Series::new("idle", SeriesKind::Stacked, vec![[0.0, 3.0], [1.0, 0.0]]),
            Series::new("queue", SeriesKind::Step, vec![[0.5, 4.0]]),
        ];
        let mut strip = Panel::new("events", XAxis::Time, "");
        strip.markers = vec![Markers {
            name: "fork".into(),
            at: vec![0.1, 0.2],
        }];
        let mut spectrum = Panel::new("spectrum", XAxis::Percentile { top: 1000.0 }, "µs");
        spectrum.series = vec![Series::new(
            "corrected",
            SeriesKind::Line,
            vec![[1.0, 5.0], [1000.0, 9.0]],
        )];
        let figure = Figure {
            title: "t".into(),
            subtitle: "s".into(),
            panels: vec![chart, strip, spectrum, Panel::new("none", XAxis::Time, "x")],
        };
        let svg = render(&figure).unwrap();
        let meta = metadata(&svg);
        assert_eq!(meta["panels"][0]["title"], "queue <&>");
        assert_eq!(meta["panels"][0]["series"][1]["points"][0][1], 3.0);
        assert_eq!(meta["panels"][1]["markers"][0]["at"][1], 0.2);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        for want in [
            "time since start (s)",
            "connections",
            "fork",
            "99%",
            "max",
            "no data",
        ] {
            assert!(texts.iter().any(|t| t.trim() == want), "{want}: {texts:?}");
        }
    }
}
