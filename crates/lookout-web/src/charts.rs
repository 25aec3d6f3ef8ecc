//! Chart geometry for inline SVG: the templates draw shapes from these numbers, so a
//! chart is plain markup that needs no script and prints as it looks.

/// One bar of a bar chart, in the chart's own units (a 0..width × 0..height box).
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// The figure, for the tooltip.
    pub label: String,
    /// Over the target.
    pub over: bool,
}

/// A bar chart with an optional target line.
pub struct BarChart {
    /// The bars, left to right.
    pub bars: Vec<Bar>,
    /// Where the target line is drawn (its y), when there is one.
    pub target_y: Option<f64>,
}

/// Chart boxes are drawn in this coordinate system and scaled by the browser.
pub const WIDTH: f64 = 480.0;
/// See [`WIDTH`].
pub const HEIGHT: f64 = 80.0;

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Bars for `values` with a target line at `target`, each bar labelled by `label(i, v)`.
pub fn bars(values: &[u64], target: Option<u64>, label: impl Fn(usize, u64) -> String) -> BarChart {
    let max = values
        .iter()
        .copied()
        .chain(target)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / values.len().max(1) as f64;
    let scale = |v: u64| HEIGHT * v as f64 / max as f64;
    BarChart {
        bars: values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let h = scale(v).max(if v > 0 { 1.0 } else { 0.0 });
                Bar {
                    x: round(i as f64 * slot + slot * 0.1),
                    y: round(HEIGHT - h),
                    w: round(slot * 0.8),
                    h: round(h),
                    label: label(i, v),
                    over: target.is_some_and(|t| v > t),
                }
            })
            .collect(),
        target_y: target.map(|t| round(HEIGHT - scale(t))),
    }
}

/// The `points` of a polyline through `values`, scaled to a `w` × `h` box; `None`
/// values break nothing (they are drawn as zero).
pub fn polyline(values: &[Option<u64>], max: u64, w: f64, h: f64) -> String {
    let n = values.len().max(2) - 1;
    let max = max.max(1) as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = round(w * i as f64 / n as f64);
            let y = round(h - h * v.unwrap_or(0) as f64 / max);
            format!("{x},{y}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A day of an uptime bar chart.
pub struct Day {
    /// Left edge.
    pub x: f64,
    /// `up`, `partial`, `down` or `none` (no checks that day).
    pub class: &'static str,
    /// The date and figure, for the tooltip.
    pub label: String,
}

/// The class of a day's uptime ratio.
pub fn day_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "none",
        Some(u) if u >= 0.999 => "up",
        Some(u) if u >= 0.99 => "partial",
        Some(_) => "down",
    }
}

/// Bars for 90 days of uptime, oldest first, each `(date, ratio)`.
pub fn uptime_days(days: &[(String, Option<f64>)]) -> Vec<Day> {
    let slot = WIDTH / days.len().max(1) as f64;
    days.iter()
        .enumerate()
        .map(|(i, (date, u))| Day {
            x: round(i as f64 * slot),
            class: day_class(*u),
            label: match u {
                Some(u) => format!("{date}: {:.2} % up", u * 100.0),
                None => format!("{date}: no checks"),
            },
        })
        .collect()
}

/// A vertical line on a time chart (a deploy) with its tooltip.
pub struct Marker {
    /// Where, in chart units.
    pub x: f64,
    /// What, for the tooltip.
    pub label: String,
}

/// Markers for `(time, label)` pairs on a chart spanning `[from_ms, to_ms)` across
/// [`WIDTH`]; times outside the span are left out.
pub fn markers(
    items: impl IntoIterator<Item = (i64, String)>,
    from_ms: i64,
    to_ms: i64,
) -> Vec<Marker> {
    let span = (to_ms - from_ms).max(1) as f64;
    items
        .into_iter()
        .filter(|(t, _)| (from_ms..to_ms).contains(t))
        .map(|(t, label)| Marker {
            x: round(WIDTH * (t - from_ms) as f64 / span),
            label,
        })
        .collect()
}

/// A line through `values` (oldest first) across the [`WIDTH`] × [`HEIGHT`] box, its
/// scale covering `lo..hi` widened to every value; returns the points and the y of zero.
pub fn signed_line(values: &[f64], lo: f64, hi: f64) -> (String, f64) {
    let lo = values.iter().copied().fold(lo, f64::min);
    let hi = values.iter().copied().fold(hi, f64::max);
    let span = (hi - lo).max(f64::EPSILON);
    let y = |v: f64| round(HEIGHT - HEIGHT * (v - lo) / span);
    let n = values.len().max(2) - 1;
    let points = values
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{},{}", round(WIDTH * i as f64 / n as f64), y(v)))
        .collect::<Vec<_>>()
        .join(" ");
    (points, y(0.0))
}

/// One part of a stacked bar.
pub struct Segment {
    /// Which series (1-based, for the CSS class).
    pub series: usize,
    /// Top edge.
    pub y: f64,
    /// Height.
    pub h: f64,
}

/// One slot of a stacked bar chart.
pub struct Stack {
    /// Left edge.
    pub x: f64,
    /// Width.
    pub w: f64,
    /// The slot and its figures, for the tooltip.
    pub label: String,
    /// Its parts, bottom up; an absent figure has none.
    pub parts: Vec<Segment>,
}

/// Stacked bars for slots of figures (each slot: its label and one value per series),
/// scaled so the tallest stack fills [`HEIGHT`]; also returns that tallest total.
pub fn stacked<const N: usize>(
    slots: &[(String, [Option<u32>; N])],
    names: &[&str; N],
    unit: &str,
) -> (Vec<Stack>, u64) {
    let total = |v: &[Option<u32>; N]| v.iter().flatten().map(|&x| u64::from(x)).sum::<u64>();
    let max = slots
        .iter()
        .map(|(_, v)| total(v))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / slots.len().max(1) as f64;
    let stacks = slots
        .iter()
        .enumerate()
        .map(|(i, (when, values))| {
            let mut base = 0u64;
            let mut parts = Vec::new();
            let mut words = Vec::new();
            for (k, v) in values.iter().enumerate() {
                let Some(v) = *v else { continue };
                words.push(format!("{} {v} {unit}", names[k]));
                let top = base + u64::from(v);
                let y = HEIGHT - HEIGHT * top as f64 / max as f64;
                let h = HEIGHT * f64::from(v) / max as f64;
                parts.push(Segment {
                    series: k + 1,
                    y: round(y),
                    h: round(h),
                });
                base = top;
            }
            Stack {
                x: round(i as f64 * slot + slot * 0.1),
                w: round(slot * 0.8),
                label: if words.is_empty() {
                    format!("{when}: no figures")
                } else {
                    format!("{when}: {}", words.join(", "))
                },
                parts,
            }
        })
        .collect();
    (stacks, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_pile_up_and_scale_to_the_tallest() {
        let slots = vec![
            ("a".to_string(), [Some(10), Some(30)]),
            ("b".to_string(), [None, None]),
            ("c".to_string(), [Some(5), None]),
        ];
        let (stacks, max) = stacked(&slots, &["DNS", "TLS"], "ms");
        assert_eq!(max, 40);
        assert_eq!(stacks[0].parts.len(), 2);
        assert_eq!(stacks[0].parts[0].h, HEIGHT / 4.0);
        assert_eq!(
            stacks[0].parts[1].y, 0.0,
            "the tallest stack reaches the top"
        );
        assert_eq!(stacks[0].label, "a: DNS 10 ms, TLS 30 ms");
        assert!(stacks[1].parts.is_empty());
        assert_eq!(stacks[1].label, "b: no figures");
        assert_eq!(stacks[2].parts[0].series, 1);
    }

    #[test]
    fn signed_line_widens_to_negative_values() {
        let (points, zero) = signed_line(&[100.0, 50.0, -100.0], 0.0, 100.0);
        assert_eq!(
            points,
            format!("0,0 {},{} {},{}", WIDTH / 2.0, HEIGHT / 4.0, WIDTH, HEIGHT)
        );
        assert_eq!(zero, HEIGHT / 2.0);
        let (_, zero) = signed_line(&[100.0, 80.0], 0.0, 100.0);
        assert_eq!(zero, HEIGHT, "zero at the bottom while the budget lasts");
    }

    #[test]
    fn markers_inside_the_span_only() {
        let m = markers(
            vec![
                (50, "mid".to_string()),
                (100, "after".to_string()),
                (-1, "before".to_string()),
            ],
            0,
            100,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].x, WIDTH / 2.0);
        assert_eq!(m[0].label, "mid");
    }

    #[test]
    fn bars_scale_to_the_larger_of_figures_and_target() {
        let c = bars(&[0, 5, 20], Some(10), |i, v| format!("{i}:{v}"));
        assert_eq!(c.bars[0].h, 0.0);
        assert_eq!(c.bars[2].h, HEIGHT);
        assert_eq!(c.target_y, Some(HEIGHT / 2.0));
        assert!(c.bars[2].over && !c.bars[1].over);
        let quiet = bars(&[1, 2], Some(10), |_, _| String::new());
        assert_eq!(
            quiet.target_y,
            Some(0.0),
            "the target line fits when figures are low"
        );
    }

    #[test]
    fn polyline_spans_the_box() {
        assert_eq!(
            polyline(&[Some(0), Some(4), None], 4, 10.0, 4.0),
            "0,4 5,0 10,4"
        );
    }

    #[test]
    fn day_classes() {
        assert_eq!(day_class(Some(1.0)), "up");
        assert_eq!(day_class(Some(0.995)), "partial");
        assert_eq!(day_class(Some(0.5)), "down");
        assert_eq!(day_class(None), "none");
    }
}
