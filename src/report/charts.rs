//! Line charts drawn as SVG on the server (no script, no chart CDN): pure functions from series
//! of dated values to markup, so a page, a print view or a test gets the same drawing.
//!
//! Every chart carries `<title>` and `<desc>` for screen readers, and the page shows its
//! numbers as a table too ([`Chart::table`]). Label widths are estimated (1 em per CJK
//! character, 0.6 em per ASCII one) since the server has no font metrics.

use std::fmt::Write as _;

use time::Date;

/// The font the labels ask for; CJK first so Chinese names render alike everywhere.
pub const FONT_FAMILY: &str = "'Noto Sans CJK SC', sans-serif";

/// The drawing's size in SVG units (it scales to the page width).
pub const WIDTH: f64 = 720.0;
/// The plot area's height.
pub const PLOT_HEIGHT: f64 = 260.0;
/// Room around the plot: left for the y labels, bottom for the dates.
pub const MARGIN_LEFT: f64 = 56.0;
pub const MARGIN_RIGHT: f64 = 16.0;
pub const MARGIN_TOP: f64 = 16.0;
pub const MARGIN_BOTTOM: f64 = 32.0;
const FONT_SIZE: f64 = 14.0;
/// Narrower than this the drawing scrolls inside its box rather than shrinking its labels.
pub const MIN_WIDTH_PX: u32 = 600;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_SWATCH: f64 = 18.0;

/// Distinct colours (Okabe–Ito and friends); past them, dash patterns tell lines apart.
const PALETTE: [&str; 10] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f3c8d", "#3a7d44",
    "#a0522d", "#555555",
];
const DASHES: [&str; 3] = ["", "6 3", "2 3"];

/// One line of a chart: a name for the legend and its values by day (days ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Identifies the line in the markup (`data-key`), e.g. a department id.
    pub key: String,
    pub name: String,
    pub points: Vec<(Date, f64)>,
}

/// What the y axis shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YAxis {
    /// 0–100 %.
    Percent,
    /// 0 to at least this many entities (rounded up to a tidy number).
    Count(f64),
}

/// A chart to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Unique on the page: the ids of `<title>` and `<desc>` derive from it.
    pub id: String,
    pub title: String,
    pub desc: String,
    pub y: YAxis,
    pub series: Vec<Series>,
    /// A dashed reference line (the target), drawn under the series and named in the legend.
    pub target: Option<Series>,
}

/// A drawn chart and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub svg: String,
    pub table: Table,
}

/// The data table under a chart: a header row, then one row per day.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Maps days and values to SVG coordinates; tests use it to predict where points land.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub first: Date,
    pub last: Date,
    pub y_max: f64,
}

impl Scale {
    /// The scale of `chart`: its first and last days, and the top of its y axis.
    pub fn of(chart: &LineChart) -> Option<Scale> {
        let all = chart
            .series
            .iter()
            .chain(chart.target.iter())
            .flat_map(|s| s.points.iter());
        let first = all.clone().map(|(d, _)| *d).min()?;
        let last = all.clone().map(|(d, _)| *d).max()?;
        let y_max = match chart.y {
            YAxis::Percent => 100.0,
            YAxis::Count(at_least) => nice_ceiling(all.map(|(_, v)| *v).fold(at_least, f64::max)),
        };
        Some(Scale { first, last, y_max })
    }

    /// The x of a day: days spread evenly by date (gaps between snapshots show), a lone day in
    /// the middle.
    pub fn x(&self, day: Date) -> f64 {
        let width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
        let span = (self.last - self.first).whole_days();
        if span <= 0 {
            return round(MARGIN_LEFT + width / 2.0);
        }
        let at = (day - self.first).whole_days() as f64 / span as f64;
        round(MARGIN_LEFT + at * width)
    }

    /// The y of a value (0 at the bottom of the plot).
    pub fn y(&self, value: f64) -> f64 {
        let share = if self.y_max > 0.0 {
            (value / self.y_max).clamp(0.0, 1.0)
        } else {
            0.0
        };
        round(MARGIN_TOP + PLOT_HEIGHT * (1.0 - share))
    }

    /// The `points` attribute of a polyline through `points`.
    pub fn polyline(&self, points: &[(Date, f64)]) -> String {
        points
            .iter()
            .map(|(d, v)| format!("{},{}", self.x(*d), self.y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Two decimals: enough for a drawing, short in the markup, and reproducible in tests.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The smallest of 1, 2, 2.5 or 5 × 10ⁿ at or above `v` (at least 10), so ticks are round.
pub fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 10.0 {
        return 10.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// Estimated width of `text` at `font_size`: 1 em per CJK (any non-ASCII) character, 0.6 em per
/// ASCII one.
pub fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum::<f64>()
        * font_size
}

/// Escapes text for SVG/XML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Legend entries laid out in rows that fit the width: (x, row) of each entry.
fn legend_layout(names: &[&str]) -> Vec<(f64, usize)> {
    let right = WIDTH - MARGIN_RIGHT;
    let mut x = MARGIN_LEFT;
    let mut row = 0;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let w = LEGEND_SWATCH + 6.0 + text_width(name, FONT_SIZE) + 16.0;
        if x > MARGIN_LEFT && x + w > right {
            row += 1;
            x = MARGIN_LEFT;
        }
        out.push((x, row));
        x += w;
    }
    out
}

/// The label of a value on the y axis.
fn y_label(y: YAxis, value: f64) -> String {
    match y {
        YAxis::Percent => format!("{value:.0}%"),
        YAxis::Count(_) => format!("{value:.0}"),
    }
}

/// Up to `n` days spread over the axis for date labels, first and last always included.
fn label_days(days: &[Date], n: usize) -> Vec<Date> {
    if days.len() <= n {
        return days.to_vec();
    }
    let step = (days.len() - 1) as f64 / (n - 1) as f64;
    let mut picked: Vec<Date> = (0..n)
        .map(|i| days[((i as f64 * step).round() as usize).min(days.len() - 1)])
        .collect();
    picked.dedup();
    picked
}

/// Draws `chart`; `None` when it has no point at all (the page says so instead).
pub fn line_chart(chart: &LineChart) -> Option<Chart> {
    let scale = Scale::of(chart)?;
    let mut days: Vec<Date> = chart
        .series
        .iter()
        .chain(chart.target.iter())
        .flat_map(|s| s.points.iter().map(|(d, _)| *d))
        .collect();
    days.sort();
    days.dedup();

    let mut names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    if let Some(t) = &chart.target {
        names.push(&t.name);
    }
    let legend = legend_layout(&names);
    let legend_rows = legend.last().map_or(0, |(_, row)| row + 1);
    let plot_bottom = MARGIN_TOP + PLOT_HEIGHT;
    let legend_top = plot_bottom + MARGIN_BOTTOM + 8.0;
    let height = round(legend_top + legend_rows as f64 * LEGEND_ROW + 8.0);

    let id = escape(&chart.id);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" style="width:100%;min-width:{MIN_WIDTH_PX}px;height:auto" role="img" aria-labelledby="{id}-title {id}-desc" font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}">"#
    );
    let _ = write!(
        svg,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&chart.title),
        escape(&chart.desc)
    );
    // Grid and y labels: five ticks from 0 to the top.
    svg.push_str(r##"<g class="y-axis" fill="#59636e" text-anchor="end">"##);
    for i in 0..=4 {
        let value = scale.y_max * f64::from(i) / 4.0;
        let y = scale.y(value);
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{}">{}</text>"##,
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            round(y + FONT_SIZE * 0.35),
            y_label(chart.y, value)
        );
    }
    svg.push_str("</g>");
    // Date labels, centred under their day (the ends kept inside the drawing).
    svg.push_str(r##"<g class="x-axis" fill="#59636e" text-anchor="middle">"##);
    for day in label_days(&days, 6) {
        let label = format!("{:02}-{:02}", u8::from(day.month()), day.day());
        let half = text_width(&label, FONT_SIZE) / 2.0;
        let x = scale.x(day).clamp(half, WIDTH - half);
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{}" data-day="{day}">{label}</text>"#,
            round(plot_bottom + FONT_SIZE + 8.0)
        );
    }
    svg.push_str("</g>");
    if let Some(target) = &chart.target {
        let _ = write!(
            svg,
            r##"<polyline class="target" data-key="{}" fill="none" stroke="#cf222e" stroke-width="2" stroke-dasharray="8 4" points="{}"><title>{}</title></polyline>"##,
            escape(&target.key),
            scale.polyline(&target.points),
            escape(&target.name)
        );
        // Marked too: the target may be known on a single day only (a new month's first).
        for (d, v) in &target.points {
            let _ = write!(
                svg,
                r##"<circle class="target-point" cx="{}" cy="{}" r="3" fill="#cf222e"/>"##,
                scale.x(*d),
                scale.y(*v)
            );
        }
    }
    for (i, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dash = DASHES[(i / PALETTE.len()) % DASHES.len()];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let _ = write!(
            svg,
            r#"<polyline class="series" data-key="{}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr} points="{}"><title>{}</title></polyline>"#,
            escape(&s.key),
            scale.polyline(&s.points),
            escape(&s.name)
        );
        // A lone point would be invisible as a line: mark every point.
        if s.points.len() == 1 {
            for (d, v) in &s.points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{}" cy="{}" r="3" fill="{colour}"/>"#,
                    scale.x(*d),
                    scale.y(*v)
                );
            }
        }
    }
    // The legend under the plot.
    svg.push_str(r##"<g class="legend" fill="#1f2328">"##);
    for (i, ((x, row), name)) in legend.iter().zip(&names).enumerate() {
        let y = round(legend_top + *row as f64 * LEGEND_ROW);
        let (colour, dash) = if i < chart.series.len() {
            (
                PALETTE[i % PALETTE.len()],
                DASHES[(i / PALETTE.len()) % DASHES.len()],
            )
        } else {
            ("#cf222e", "8 4")
        };
        let _ = write!(
            svg,
            r#"<line x1="{x}" x2="{}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{}" y="{}">{}</text>"#,
            round(x + LEGEND_SWATCH),
            round(x + LEGEND_SWATCH + 6.0),
            round(y + FONT_SIZE * 0.35),
            escape(name)
        );
    }
    svg.push_str("</g></svg>");
    Some(Chart {
        svg,
        table: table(chart, &days),
    })
}

/// One row per day, one column per line: the numbers the drawing shows.
fn table(chart: &LineChart, days: &[Date]) -> Table {
    let lines: Vec<&Series> = chart.series.iter().chain(chart.target.iter()).collect();
    let mut head = vec!["日期".to_owned()];
    head.extend(lines.iter().map(|s| s.name.clone()));
    let rows = days
        .iter()
        .map(|day| {
            let mut row = vec![day.to_string()];
            row.extend(lines.iter().map(|s| {
                s.points
                    .iter()
                    .find(|(d, _)| d == day)
                    .map_or_else(|| "—".to_owned(), |(_, v)| value_text(chart.y, *v))
            }));
            row
        })
        .collect();
    Table { head, rows }
}

fn value_text(y: YAxis, v: f64) -> String {
    match y {
        YAxis::Percent => format!("{v:.1}%"),
        YAxis::Count(_) => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn chart() -> LineChart {
        LineChart {
            id: "rates".into(),
            title: "入驻率".into(),
            desc: "各部门".into(),
            y: YAxis::Percent,
            series: vec![
                Series {
                    key: "1".into(),
                    name: "税务局<A&B>".into(),
                    points: vec![(date!(2026 - 11 - 01), 10.0), (date!(2026 - 11 - 11), 50.0)],
                },
                Series {
                    key: "2".into(),
                    name: "商务局".into(),
                    points: vec![(date!(2026 - 11 - 01), 0.0), (date!(2026 - 11 - 11), 100.0)],
                },
            ],
            target: None,
        }
    }

    #[test]
    fn scale_maps_ends_of_the_axes() {
        let c = chart();
        let s = Scale::of(&c).unwrap();
        assert_eq!(s.x(date!(2026 - 11 - 01)), MARGIN_LEFT);
        assert_eq!(s.x(date!(2026 - 11 - 11)), WIDTH - MARGIN_RIGHT);
        assert_eq!(
            s.x(date!(2026 - 11 - 06)),
            (MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2.0
        );
        assert_eq!(s.y(0.0), MARGIN_TOP + PLOT_HEIGHT);
        assert_eq!(s.y(100.0), MARGIN_TOP);
        assert_eq!(s.y(50.0), MARGIN_TOP + PLOT_HEIGHT / 2.0);
    }

    #[test]
    fn widths_count_cjk_as_one_em() {
        assert!((text_width("税务局", 10.0) - 30.0).abs() < 1e-9);
        assert!((text_width("ab", 10.0) - 12.0).abs() < 1e-9);
    }

    #[test]
    fn nice_ceilings_are_round() {
        assert_eq!(nice_ceiling(3.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(240.0), 250.0);
        assert_eq!(nice_ceiling(251.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn names_are_escaped_and_every_series_is_drawn() {
        let drawn = line_chart(&chart()).unwrap();
        assert!(drawn.svg.contains("税务局&lt;A&amp;B&gt;"));
        assert!(!drawn.svg.contains("<A&B>"));
        assert_eq!(drawn.svg.matches(r#"class="series""#).count(), 2);
        assert_eq!(drawn.table.rows.len(), 2);
        assert_eq!(drawn.table.rows[1], vec!["2026-11-11", "50.0%", "100.0%"]);
    }

    #[test]
    fn many_legend_entries_wrap_into_rows() {
        let names: Vec<String> = (0..30).map(|i| format!("第{i}个乡镇人民政府")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let layout = legend_layout(&refs);
        assert!(layout.last().unwrap().1 > 0);
        for (x, _) in layout {
            assert!(x < WIDTH - MARGIN_RIGHT);
        }
    }

    #[test]
    fn no_points_no_chart() {
        let mut c = chart();
        c.series.clear();
        assert!(line_chart(&c).is_none());
    }
}
