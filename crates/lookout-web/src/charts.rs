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

#[cfg(test)]
mod tests {
    use super::*;

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
