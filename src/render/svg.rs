//! Hand-written SVG (no fonts, scripts or fetches: it opens from a file): a plot area with
//! labelled axes and the few marks the charts need. Not plotters: a chart is a dozen marks,
//! and its SVG backend without font features cannot measure text to place labels either.

use std::fmt::Write as _;

/// Width and height of every chart, px.
pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 300.0;
/// Room for tick labels and axis titles: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (112.0, 16.0, 44.0, 44.0);
/// Width of the plot area inside the margins, px.
pub const PLOT_WIDTH: f64 = WIDTH - MARGIN.0 - MARGIN.1;

/// One axis: its title (with the unit), its range, and how it maps and ticks its values.
#[derive(Debug, Clone)]
pub struct Axis {
    pub title: String,
    pub min: f64,
    pub max: f64,
    pub scale: Scale,
}

/// How an axis places its values and ticks them.
#[derive(Debug, Clone)]
pub enum Scale {
    /// Ticks at 1, 2 or 5 × 10^k.
    Linear,
    /// Whole decades, a tick each.
    Log,
    /// Hours of day (UTC, fractional): ticks at whole minutes or hours, labelled `HH:MM`.
    HoursOfDay,
    /// Names for the whole values 0, 1, …: rows of bars, the first at the top.
    Categories(Vec<String>),
}

impl Axis {
    pub fn linear(title: impl Into<String>, min: f64, max: f64) -> Axis {
        let max = if max > min { max } else { min + 1.0 };
        Axis {
            title: title.into(),
            min,
            max,
            scale: Scale::Linear,
        }
    }

    /// Hours of day (UTC, fractional) from `min` to `max`, ticked `HH:MM`.
    pub fn hours_of_day(title: impl Into<String>, min: f64, max: f64) -> Axis {
        Axis {
            scale: Scale::HoursOfDay,
            ..Axis::linear(title, min, max)
        }
    }

    /// One row per name, the first at the top; room for at least four rows, so that one
    /// row is a bar, not a block.
    pub fn categories(title: impl Into<String>, names: Vec<String>) -> Axis {
        Axis {
            title: title.into(),
            min: -0.5,
            max: names.len().max(4) as f64 - 0.5,
            scale: Scale::Categories(names),
        }
    }

    /// A log axis over whole decades around `min..max` (both above 0).
    pub fn log(title: impl Into<String>, min: f64, max: f64) -> Axis {
        let low = 10f64.powf(min.max(f64::MIN_POSITIVE).log10().floor());
        let high = 10f64.powf(max.max(low * 10.0).log10().ceil());
        Axis {
            title: title.into(),
            min: low,
            max: high,
            scale: Scale::Log,
        }
    }

    /// Where `v` falls between the axis' ends, 0..1 (outside when `v` is out of range); a
    /// category axis runs top down.
    fn fraction(&self, v: f64) -> f64 {
        let up = (v - self.min) / (self.max - self.min);
        match self.scale {
            Scale::Linear | Scale::HoursOfDay => up,
            Scale::Categories(_) => 1.0 - up,
            Scale::Log => {
                (v.max(f64::MIN_POSITIVE).log10() - self.min.log10())
                    / (self.max.log10() - self.min.log10())
            }
        }
    }

    /// A tick's text: its category's name, the time of day, or the value.
    fn tick_label(&self, t: f64) -> String {
        match &self.scale {
            Scale::Categories(names) if t >= 0.0 => names
                .get(t as usize)
                .map_or_else(|| number(t), |name| escape(name)),
            Scale::HoursOfDay => {
                // A day's axis ends at 24:00, not at a second 00:00.
                let minutes = (t * 60.0).round() as i64;
                format!(
                    "{:02}:{:02}",
                    minutes.div_euclid(60),
                    minutes.rem_euclid(60)
                )
            }
            _ => number(t),
        }
    }

    /// Tick values: each decade on a log axis, each row on a category axis; else the
    /// first step of the scale's that gives at most about five ticks.
    pub fn ticks(&self) -> Vec<f64> {
        let rough = (self.max - self.min) / 5.0;
        let steps: Vec<f64> = match &self.scale {
            Scale::Categories(names) => return (0..names.len()).map(|i| i as f64).collect(),
            Scale::Log => {
                let (low, high) = (
                    self.min.log10().round() as i32,
                    self.max.log10().round() as i32,
                );
                return (low..=high).map(|e| 10f64.powi(e)).collect();
            }
            // Minutes and hours a clock is read in, in hours.
            Scale::HoursOfDay => [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 360.0]
                .iter()
                .map(|minutes| minutes / 60.0)
                .collect(),
            Scale::Linear => {
                let magnitude = 10f64.powf(rough.log10().floor());
                [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .map(|m| m * magnitude)
                    .collect()
            }
        };
        let largest = steps[steps.len() - 1];
        let step = steps
            .into_iter()
            .find(|step| *step >= rough)
            .unwrap_or(largest);
        let first = (self.min / step).ceil() as i64;
        let last = (self.max / step).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }
}

/// A chart being drawn: a title, two axes, marks, then a legend.
pub struct Plot {
    x: Axis,
    y: Axis,
    body: String,
    legend: Vec<(String, String)>,
}

impl Plot {
    /// A plot area with its frame, grid, tick labels and axis titles.
    pub fn new(title: &str, x: Axis, y: Axis) -> Plot {
        let mut plot = Plot {
            x,
            y,
            body: String::new(),
            legend: Vec::new(),
        };
        plot.frame(title);
        plot
    }

    /// The pixel position of a data point.
    pub fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let (left, right, top, bottom) = MARGIN;
        let px = left + self.x.fraction(x) * (WIDTH - left - right);
        let py = HEIGHT - bottom - self.y.fraction(y) * (HEIGHT - top - bottom);
        (px, py)
    }

    fn frame(&mut self, title: &str) {
        let (left, right, top, bottom) = MARGIN;
        let (x0, x1, y0, y1) = (left, WIDTH - right, HEIGHT - bottom, top);
        let x_ticks: Vec<(f64, f64)> = self
            .x
            .ticks()
            .into_iter()
            .map(|t| (t, self.at(t, self.y.min).0))
            .collect();
        let y_ticks: Vec<(f64, f64)> = self
            .y
            .ticks()
            .into_iter()
            .map(|t| (t, self.at(self.x.min, t).1))
            .collect();
        let b = &mut self.body;
        let _ = writeln!(
            b,
            r#"<text x="{x0}" y="18" class="title">{}</text>"#,
            escape(title)
        );
        for (t, px) in x_ticks {
            let _ = writeln!(
                b,
                r#"<line x1="{px:.1}" y1="{y1}" x2="{px:.1}" y2="{y0}" class="grid"/><text x="{px:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
                y0 + 14.0,
                self.x.tick_label(t)
            );
        }
        for (t, py) in y_ticks {
            let _ = writeln!(
                b,
                r#"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
                x0 - 4.0,
                py + 4.0,
                self.y.tick_label(t)
            );
        }
        let _ = writeln!(
            b,
            r#"<rect x="{x0}" y="{y1}" width="{:.1}" height="{:.1}" class="frame"/>"#,
            x1 - x0,
            y0 - y1
        );
        let _ = writeln!(
            b,
            r#"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            HEIGHT - 6.0,
            escape(&self.x.title)
        );
        let middle = (y0 + y1) / 2.0;
        let _ = writeln!(
            b,
            r#"<text x="14" y="{middle:.1}" class="axis" text-anchor="middle" transform="rotate(-90 14 {middle:.1})">{}</text>"#,
            escape(&self.y.title)
        );
    }

    /// A line through `points` (data coordinates), named in the legend; `dashed` lets a line
    /// drawn over another show both.
    pub fn line(&mut self, points: &[(f64, f64)], color: &str, name: &str, dashed: bool) {
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| {
                let (px, py) = self.at(x, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for &(x, y) in points {
            let (px, py) = self.at(x, y);
            let _ = writeln!(
                self.body,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{color}"/>"#
            );
        }
        self.legend(name, color);
    }

    /// A filled rectangle between two data corners.
    pub fn rect(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: &str) {
        let (a, b) = (self.at(x0, y0), self.at(x1, y1));
        let _ = writeln!(
            self.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            a.0.min(b.0),
            a.1.min(b.1),
            (b.0 - a.0).abs().max(0.5),
            (b.1 - a.1).abs().max(0.5)
        );
    }

    /// Text at a data point, left-aligned, vertically centred.
    pub fn label(&mut self, (x, y): (f64, f64), text: &str) {
        let (px, py) = self.at(x, y);
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            px + 4.0,
            py + 4.0,
            escape(text)
        );
    }

    /// Adds `name` in `color` to the legend (once).
    pub fn legend(&mut self, name: &str, color: &str) {
        if !self.legend.iter().any(|(n, _)| n == name) {
            self.legend.push((name.to_string(), color.to_string()));
        }
    }

    /// The finished `<svg>`, with its legend and a `<desc>` holding the caption.
    pub fn finish(mut self, caption: &str) -> String {
        let mut x = MARGIN.0;
        for (name, color) in std::mem::take(&mut self.legend) {
            let _ = writeln!(
                self.body,
                r#"<rect class="key" x="{x:.1}" y="24" width="10" height="10" fill="{color}"/><text x="{:.1}" y="33" class="tick">{}</text>"#,
                x + 14.0,
                escape(&name)
            );
            x += 24.0 + 7.0 * name.chars().count() as f64;
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\">\n<desc>{}</desc>\n<style>{STYLE}</style>\n{}</svg>\n",
            escape(caption),
            self.body
        )
    }
}

/// The charts' own styles, inside each SVG so a bare SVG looks the same as in the page.
const STYLE: &str = ".title{font-size:13px;font-weight:bold}.axis{font-size:12px}\
.tick{font-size:10px;fill:#333}.grid{stroke:#ddd;stroke-width:1}\
.frame{fill:none;stroke:#888;stroke-width:1}";

/// A tick value, short: `0.5`, `20`, `1000`, `1e+06`.
fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// Text safe inside an XML element or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside_the_range() {
        assert_eq!(
            Axis::linear("t", 0.0, 2.0).ticks(),
            [0.0, 0.5, 1.0, 1.5, 2.0]
        );
        assert_eq!(
            Axis::linear("t", 0.0, 73.0).ticks(),
            [0.0, 20.0, 40.0, 60.0]
        );
        let flat = Axis::linear("t", 3.0, 3.0);
        assert!(flat.max > flat.min, "an empty range is widened");
    }

    #[test]
    fn log_axes_span_whole_decades() {
        let a = Axis::log("t", 2.0, 1000.0);
        assert_eq!((a.min, a.max), (1.0, 1000.0));
        assert_eq!(a.ticks(), [1.0, 10.0, 100.0, 1000.0]);
        assert!((a.fraction(10.0) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn points_map_into_the_plot_area_with_y_up() {
        let p = Plot::new(
            "t",
            Axis::linear("x", 0.0, 10.0),
            Axis::linear("y", 0.0, 10.0),
        );
        let (left, bottom) = p.at(0.0, 0.0);
        let (right, top) = p.at(10.0, 10.0);
        assert_eq!((left, bottom), (MARGIN.0, HEIGHT - MARGIN.3));
        assert_eq!((right, top), (WIDTH - MARGIN.1, MARGIN.2));
    }

    #[test]
    fn text_is_escaped_and_the_svg_carries_its_caption() {
        let mut p = Plot::new(
            "a < b",
            Axis::linear("x (s)", 0.0, 1.0),
            Axis::linear("y", 0.0, 1.0),
        );
        p.line(&[(0.0, 0.0), (1.0, 1.0)], "#000", "\"q\" & r", false);
        let svg = p.finish("how to read <it>");
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("&quot;q&quot; &amp; r"));
        assert!(svg.contains("<desc>how to read &lt;it&gt;</desc>"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
