//! Alert rules and their condition language.
//!
//! A condition is one short line, case-insensitive, spaces optional around operators:
//!
//! | condition | fires on |
//! |---|---|
//! | `errors > 50 in 5m [where environment = "production" and release = "x" and level = error]` | a project's error count over the window (`>` or `>=`) |
//! | `errors after deploy > 2x in 15m` | the error rate after a deploy against the rate before (deploy capability) |
//! | `new issue`, `regression` (`regressed issue`), `unhandled` (`unhandled exception`) | ingest signals, one incident per issue |
//! | `monitor down`, `monitor degraded`, `heartbeat missed`, `heartbeat failed` | monitor signals, one incident per monitor |
//! | `tls expires within 7d` (`certificate expires within 7d`) | a certificate warning with at most that many days left |
//! | `health memory.percentage > 90`, `health database.latency > 100ms`, `health memory > 90%` | a health document field read by a health monitor (`<`, `<=` too) |
//! | `p95 > 2s in 5m` (`>=` too) | a project's p95 latency over the window |
//! | `slo burn rate > 14.4 [for "uptime"] [over 1h]` | an SLO's burn rate (SLO capability) |
//!
//! Durations are whole numbers with a unit, `ms`, `s`, `m`, `h` or `d`, and may be
//! chained (`1h30m`). [`Condition`]'s `Display` prints the canonical form, which parses
//! back to the same condition.

use std::fmt;

use lookout_sentry::event::Level;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Severity;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How a measured value is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }

    /// Whether `value` is on the alerting side of `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
        }
    }

    /// Whether larger values are worse (`>`, `>=`).
    pub fn rising(self) -> bool {
        matches!(self, Cmp::Gt | Cmp::Ge)
    }

    fn from_inclusive(inclusive: bool) -> Cmp {
        if inclusive {
            Cmp::Ge
        } else {
            Cmp::Gt
        }
    }
}

/// Which errors an error count includes; every part that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFilter {
    /// Only events of this environment.
    pub environment: Option<String>,
    /// Only events of this release.
    pub release: Option<String>,
    /// Only events of exactly this level.
    pub level: Option<Level>,
}

impl ErrorFilter {
    /// True when the filter lets every error through.
    pub fn is_empty(&self) -> bool {
        self.environment.is_none() && self.release.is_none() && self.level.is_none()
    }

    /// Whether an event with these attributes is counted.
    pub fn matches(&self, environment: Option<&str>, release: Option<&str>, level: Level) -> bool {
        self.environment
            .as_deref()
            .is_none_or(|e| environment == Some(e))
            && self.release.as_deref().is_none_or(|r| release == Some(r))
            && self.level.is_none_or(|l| l == level)
    }
}

/// What a rule watches. See the module documentation for the grammar.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A project's error count over a window exceeds a threshold.
    ErrorCount {
        /// The count to exceed.
        threshold: u64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the server counts over.
        window_ms: i64,
        /// Which errors count.
        filter: ErrorFilter,
    },
    /// The error rate after a deploy is more than `factor` times the rate before it;
    /// evaluated by the deploy capability, which feeds the ratio as a measure.
    ErrorRateAfterDeploy {
        /// The ratio to exceed.
        factor: f64,
        /// How long after the deploy to watch.
        window_ms: i64,
    },
    /// The first event of a new issue.
    NewIssue,
    /// An event for a resolved issue.
    Regression,
    /// An unhandled exception.
    Unhandled,
    /// A monitor's failure was confirmed.
    MonitorDown,
    /// A monitor answers but reports a problem.
    MonitorDegraded,
    /// A heartbeat or cron monitor did not ping in time.
    HeartbeatMissed,
    /// A heartbeat or cron monitor reported a failed run.
    HeartbeatFailed,
    /// A certificate has at most `within_days` days left.
    TlsExpiring {
        /// Days left at or below which the rule fires.
        within_days: u32,
    },
    /// A numeric field of a health document, as health monitors read it.
    HealthField {
        /// Dotted path below `checks` (`memory.percentage`, `database.latency`).
        path: String,
        /// The comparison.
        op: Cmp,
        /// The threshold; durations are in ms, percentages in percent.
        threshold: f64,
    },
    /// A project's p95 latency over a window exceeds a threshold.
    LatencyP95 {
        /// The latency to exceed, in ms.
        threshold_ms: i64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the server measures over.
        window_ms: i64,
    },
    /// An SLO's error budget burns faster than `threshold` times the sustainable rate;
    /// evaluated by the SLO capability, which feeds the rate as a measure.
    SloBurnRate {
        /// Which SLO; `None` means every SLO the rule is scoped to.
        slo: Option<String>,
        /// The burn rate to exceed.
        threshold: f64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the burn rate is computed over; `None` leaves it to the SLO.
        over_ms: Option<i64>,
    },
}

impl Condition {
    /// Parses a condition; the error is a sentence pointing at the bad part.
    pub fn parse(src: &str) -> Result<Condition, String> {
        let toks = lex(src)?;
        let mut p = Parser { src, toks, pos: 0 };
        let c = p.condition()?;
        if let Some(t) = p.peek() {
            return Err(format!(
                "unexpected {} after \"{}\"; the condition ends there",
                p.quote(t),
                src[..p.toks[p.pos - 1].end].trim()
            ));
        }
        Ok(c)
    }

    /// Whether the condition is fed by measures ([`super::engine::Engine::on_measure`])
    /// rather than signals.
    pub fn is_measured(&self) -> bool {
        self.compare(0.0).is_some()
    }

    /// Whether a measured `value` breaches the condition; `None` for signal conditions.
    pub fn compare(&self, value: f64) -> Option<bool> {
        Some(match self {
            Condition::ErrorCount {
                threshold,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold as f64),
            Condition::ErrorRateAfterDeploy { factor, .. } => value > *factor,
            Condition::HealthField { op, threshold, .. } => op.holds(value, *threshold),
            Condition::LatencyP95 {
                threshold_ms,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold_ms as f64),
            Condition::SloBurnRate {
                threshold,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold),
            _ => return None,
        })
    }

    /// Whether larger measured values are worse (false only for `<` health fields).
    pub fn rising(&self) -> bool {
        match self {
            Condition::HealthField { op, .. } => op.rising(),
            _ => true,
        }
    }

    /// Whether incidents of this condition end by quiet time
    /// ([`Rule::resolve_after_ms`]) because nothing signals that they are over.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            Condition::NewIssue
                | Condition::Regression
                | Condition::Unhandled
                | Condition::TlsExpiring { .. }
        )
    }

    /// Whether the condition is about issues (incidents keyed by issue).
    pub fn is_issue(&self) -> bool {
        matches!(
            self,
            Condition::NewIssue | Condition::Regression | Condition::Unhandled
        )
    }

    /// Whether the condition is about monitors (incidents keyed by monitor).
    pub fn is_monitor(&self) -> bool {
        matches!(
            self,
            Condition::MonitorDown
                | Condition::MonitorDegraded
                | Condition::HeartbeatMissed
                | Condition::HeartbeatFailed
                | Condition::TlsExpiring { .. }
                | Condition::HealthField { .. }
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::ErrorCount {
                threshold,
                inclusive,
                window_ms,
                filter,
            } => {
                write!(
                    f,
                    "errors {} {threshold} in {}",
                    Cmp::from_inclusive(*inclusive).as_str(),
                    format_duration(*window_ms)
                )?;
                let mut sep = " where ";
                if let Some(e) = &filter.environment {
                    write!(f, "{sep}environment = {}", quoted(e))?;
                    sep = " and ";
                }
                if let Some(r) = &filter.release {
                    write!(f, "{sep}release = {}", quoted(r))?;
                    sep = " and ";
                }
                if let Some(l) = filter.level {
                    write!(f, "{sep}level = {}", l.as_str())?;
                }
                Ok(())
            }
            Condition::ErrorRateAfterDeploy { factor, window_ms } => write!(
                f,
                "errors after deploy > {factor}x in {}",
                format_duration(*window_ms)
            ),
            Condition::NewIssue => f.write_str("new issue"),
            Condition::Regression => f.write_str("regression"),
            Condition::Unhandled => f.write_str("unhandled"),
            Condition::MonitorDown => f.write_str("monitor down"),
            Condition::MonitorDegraded => f.write_str("monitor degraded"),
            Condition::HeartbeatMissed => f.write_str("heartbeat missed"),
            Condition::HeartbeatFailed => f.write_str("heartbeat failed"),
            Condition::TlsExpiring { within_days } => {
                write!(f, "tls expires within {within_days}d")
            }
            Condition::HealthField {
                path,
                op,
                threshold,
            } => write!(f, "health {path} {} {threshold}", op.as_str()),
            Condition::LatencyP95 {
                threshold_ms,
                inclusive,
                window_ms,
            } => write!(
                f,
                "p95 {} {} in {}",
                Cmp::from_inclusive(*inclusive).as_str(),
                format_duration(*threshold_ms),
                format_duration(*window_ms)
            ),
            Condition::SloBurnRate {
                slo,
                threshold,
                inclusive,
                over_ms,
            } => {
                write!(
                    f,
                    "slo burn rate {} {threshold}",
                    Cmp::from_inclusive(*inclusive).as_str()
                )?;
                if let Some(s) = slo {
                    write!(f, " for {}", quoted(s))?;
                }
                if let Some(o) = over_ms {
                    write!(f, " over {}", format_duration(*o))?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Condition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Condition::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An alert rule: a condition, how urgent it is, where it goes and what it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; incidents are keyed by it.
    pub name: String,
    /// What to watch.
    pub condition: Condition,
    /// How urgent its incidents are.
    pub severity: Severity,
    /// Channel names for the first notification; empty means the severity's route.
    pub notify: Vec<String>,
    /// A link or text shown next to its incidents.
    pub runbook: Option<String>,
    /// Only these projects; `None` means all.
    pub projects: Option<Vec<i64>>,
    /// Only these monitors; `None` means all.
    pub monitors: Option<Vec<i64>>,
    /// How long a measured condition must stay false before its incident auto-resolves.
    pub clear_after_ms: i64,
    /// How long an event incident (new issue, TLS…) must be quiet before it
    /// auto-resolves; `None` leaves it to a person.
    pub resolve_after_ms: Option<i64>,
}

impl Rule {
    /// The default [`Rule::clear_after_ms`]: 5 minutes.
    pub const DEFAULT_CLEAR_AFTER_MS: i64 = 5 * MINUTE_MS;
    /// The default [`Rule::resolve_after_ms`]: 24 hours.
    pub const DEFAULT_RESOLVE_AFTER_MS: i64 = DAY_MS;

    /// A rule covering everything, routed by its severity, with the default timers.
    pub fn new(name: impl Into<String>, condition: Condition, severity: Severity) -> Rule {
        Rule {
            name: name.into(),
            condition,
            severity,
            notify: Vec::new(),
            runbook: None,
            projects: None,
            monitors: None,
            clear_after_ms: Self::DEFAULT_CLEAR_AFTER_MS,
            resolve_after_ms: Some(Self::DEFAULT_RESOLVE_AFTER_MS),
        }
    }

    /// Checks what the condition language cannot: the name, the timers, and that the
    /// scope fits the condition.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a rule needs a name".into());
        }
        let named = |msg: String| format!("rule \"{}\": {msg}", self.name);
        if self.clear_after_ms < 0 {
            return Err(named("clear_after must not be negative".into()));
        }
        if self.resolve_after_ms.is_some_and(|d| d <= 0) {
            return Err(named(
                "resolve_after must be longer than 0; leave it out to resolve by hand".into(),
            ));
        }
        if self.notify.iter().any(|c| c.trim().is_empty()) {
            return Err(named("notify lists an empty channel name".into()));
        }
        let about_projects_only = !self.condition.is_monitor()
            && !matches!(self.condition, Condition::SloBurnRate { .. });
        if self.monitors.is_some() && about_projects_only {
            return Err(named(format!(
                "\"{}\" is about projects, so scope it with projects, not monitors",
                self.condition
            )));
        }
        // Health measures arrive per monitor without a project, so a project scope
        // could never match.
        if self.projects.is_some() && matches!(self.condition, Condition::HealthField { .. }) {
            return Err(named(format!(
                "\"{}\" is measured per monitor, so scope it with monitors, not projects",
                self.condition
            )));
        }
        Ok(())
    }
}

/// Prints a duration in the largest unit that divides it (`90m`, `2s`, `1500ms`).
pub fn format_duration(ms: i64) -> String {
    for (unit, size) in [
        ("d", DAY_MS),
        ("h", HOUR_MS),
        ("m", MINUTE_MS),
        ("s", SECOND_MS),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses `5m`, `500ms`, `1h30m`; `None` if it is not a duration.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.to_ascii_lowercase();
    let mut rest = s.as_str();
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (size, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.as_bytes().first()? {
                b's' => (SECOND_MS, 1),
                b'm' => (MINUTE_MS, 1),
                b'h' => (HOUR_MS, 1),
                b'd' => (DAY_MS, 1),
                _ => return None,
            }
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(size)?)?;
    }
    Some(total)
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A run of anything but spaces, operators and quotes: keywords, numbers, paths.
    Atom,
    /// A quoted value, unescaped.
    Str(String),
    /// `>`, `>=`, `<`, `<=` or `=`.
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(start, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        match c {
            '>' | '<' | '=' => {
                it.next();
                let eq = it.next_if(|&(_, n)| n == '=').is_some();
                let op = match (c, eq) {
                    ('>', false) => ">",
                    ('>', true) => ">=",
                    ('<', false) => "<",
                    ('<', true) => "<=",
                    _ => "=",
                };
                let end = it.peek().map_or(src.len(), |&(i, _)| i);
                out.push(Token {
                    tok: Tok::Op(op),
                    start,
                    end,
                });
            }
            '"' | '\'' => {
                it.next();
                let mut value = String::new();
                let end = loop {
                    match it.next() {
                        None => {
                            return Err(format!(
                                "the quoted value {} is missing its closing {c}",
                                &src[start..]
                            ))
                        }
                        Some((i, q)) if q == c => break i + q.len_utf8(),
                        Some((i, '\\')) => match it.next() {
                            Some((_, e)) if e == '"' || e == '\'' || e == '\\' => value.push(e),
                            other => {
                                let bad = other.map_or("\\".to_string(), |(_, e)| format!("\\{e}"));
                                return Err(format!(
                                    "unknown escape \"{bad}\" at byte {i} in a quoted value; \
                                     only \\\", \\' and \\\\ are allowed"
                                ));
                            }
                        },
                        Some((_, ch)) => value.push(ch),
                    }
                };
                out.push(Token {
                    tok: Tok::Str(value),
                    start,
                    end,
                });
            }
            _ => {
                let mut end = src.len();
                while let Some(&(i, ch)) = it.peek() {
                    if ch.is_whitespace() || matches!(ch, '>' | '<' | '=' | '"' | '\'') {
                        end = i;
                        break;
                    }
                    it.next();
                }
                out.push(Token {
                    tok: Tok::Atom,
                    start,
                    end,
                });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

const CONDITIONS: &str = "errors, errors after deploy, p95, new issue, regression, unhandled, \
                          monitor down, monitor degraded, heartbeat missed, heartbeat failed, \
                          tls expires within, health, slo burn rate";

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn text(&self, t: &Token) -> &str {
        &self.src[t.start..t.end]
    }

    fn quote(&self, t: &Token) -> String {
        format!("\"{}\"", self.text(t))
    }

    /// The current token as an error names it.
    fn found(&self) -> String {
        self.peek()
            .map_or("the end of the condition".into(), |t| self.quote(t))
    }

    /// The lower-cased current token, if it is an atom.
    fn word(&self) -> Option<String> {
        self.peek()
            .filter(|t| t.tok == Tok::Atom)
            .map(|t| self.text(t).to_ascii_lowercase())
    }

    fn eat(&mut self, words: &[&str]) -> bool {
        if self.word().is_some_and(|w| words.contains(&w.as_str())) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// "expected X after "prev", found Y".
    fn expected(&self, what: &str) -> String {
        self.expected_found(what, self.found())
    }

    fn expected_found(&self, what: &str, found: String) -> String {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(prev) => format!("expected {what} after {}, found {found}", self.quote(prev)),
            None => format!("expected {what}, found {found}"),
        }
    }

    fn expect(&mut self, words: &[&str], what: &str) -> Result<(), String> {
        if self.eat(words) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn op(&mut self, allowed: &[&str]) -> Result<Cmp, String> {
        let what = match allowed {
            [a, b] => format!("\"{a}\" or \"{b}\""),
            _ => allowed
                .iter()
                .map(|o| format!("\"{o}\""))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let Some(Token {
            tok: Tok::Op(op), ..
        }) = self.peek()
        else {
            return Err(self.expected(&what));
        };
        if !allowed.contains(op) {
            return Err(self.expected(&what));
        }
        let cmp = match *op {
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "<" => Cmp::Lt,
            _ => Cmp::Le,
        };
        self.pos += 1;
        Ok(cmp)
    }

    /// The current atom's text, consumed; `None` (nothing consumed) if it is not an atom.
    fn atom(&mut self) -> Option<String> {
        let t = self.peek().filter(|t| t.tok == Tok::Atom)?;
        let s = self.text(t).to_string();
        self.pos += 1;
        Some(s)
    }

    /// A duration; a bare number followed by a word ("5 minutes") is quoted whole in
    /// the error, since that is the mistake to point at.
    fn duration(&mut self, what: &str) -> Result<i64, String> {
        if let Some(d) = self.word().and_then(|w| parse_duration(&w)) {
            self.pos += 1;
            return Ok(d);
        }
        let found = match (self.peek(), self.toks.get(self.pos + 1)) {
            (Some(a), Some(b))
                if a.tok == Tok::Atom
                    && b.tok == Tok::Atom
                    && self.text(a).bytes().all(|c| c.is_ascii_digit())
                    && is_unit_word(self.text(b)) =>
            {
                format!("\"{}\"", &self.src[a.start..b.end])
            }
            _ => self.found(),
        };
        Err(self.expected_found(what, found))
    }

    fn window(&mut self) -> Result<i64, String> {
        self.expect(&["in"], "\"in\" and a window like 5m")?;
        let w = self.duration("a duration like 5m")?;
        if w == 0 {
            return Err("the window after \"in\" must be longer than 0".into());
        }
        Ok(w)
    }

    fn value(&mut self, what: &str) -> Result<String, String> {
        let v = match self.peek() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => s.clone(),
            Some(t @ Token { tok: Tok::Atom, .. }) => self.text(t).to_string(),
            _ => return Err(self.expected(what)),
        };
        if v.is_empty() {
            return Err(self.expected_found(what, "an empty value".into()));
        }
        self.pos += 1;
        Ok(v)
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let Some(first) = self.word() else {
            return Err(match self.peek() {
                None => {
                    "the condition is empty; try \"errors > 50 in 5m\" or \"monitor down\"".into()
                }
                Some(t) => format!(
                    "a condition starts with one of {CONDITIONS}; found {}",
                    self.quote(t)
                ),
            });
        };
        self.pos += 1;
        Ok(match first.as_str() {
            "errors" | "error" => self.errors()?,
            "p95" => self.p95()?,
            "new" => {
                self.expect(&["issue", "issues"], "\"issue\"")?;
                Condition::NewIssue
            }
            "regression" => Condition::Regression,
            "regressed" => {
                self.expect(&["issue", "issues"], "\"issue\"")?;
                Condition::Regression
            }
            "unhandled" => {
                self.eat(&["exception", "exceptions", "error", "errors"]);
                Condition::Unhandled
            }
            "monitor" => {
                if self.eat(&["down"]) {
                    Condition::MonitorDown
                } else if self.eat(&["degraded"]) {
                    Condition::MonitorDegraded
                } else {
                    return Err(self.expected("\"down\" or \"degraded\""));
                }
            }
            "heartbeat" => {
                if self.eat(&["missed"]) {
                    Condition::HeartbeatMissed
                } else if self.eat(&["failed"]) {
                    Condition::HeartbeatFailed
                } else {
                    return Err(self.expected("\"missed\" or \"failed\""));
                }
            }
            "tls" | "certificate" | "cert" => {
                self.expect(&["expires", "expiring"], "\"expires\"")?;
                self.expect(&["within"], "\"within\"")?;
                let at = self.pos;
                let d = self.duration("a number of days like 7d")?;
                if d % DAY_MS != 0 {
                    self.pos = at;
                    return Err(self.expected("a whole number of days like 7d"));
                }
                let within_days = u32::try_from(d / DAY_MS)
                    .map_err(|_| format!("{} days is too far ahead", d / DAY_MS))?;
                Condition::TlsExpiring { within_days }
            }
            "health" => self.health()?,
            "slo" => self.slo()?,
            other => {
                return Err(format!(
                    "unknown condition \"{other}\"; a condition starts with one of {CONDITIONS}"
                ))
            }
        })
    }

    fn errors(&mut self) -> Result<Condition, String> {
        if self.eat(&["after"]) {
            self.expect(&["deploy", "deploys", "deployment"], "\"deploy\"")?;
            self.op(&[">"])?;
            let factor = self
                .word()
                .and_then(|w| w.strip_suffix('x').and_then(number))
                .filter(|f| *f > 0.0)
                .ok_or_else(|| self.expected("a factor like 2x"))?;
            self.pos += 1;
            let window_ms = self.window()?;
            return Ok(Condition::ErrorRateAfterDeploy { factor, window_ms });
        }
        let inclusive = self.op(&[">", ">="])? == Cmp::Ge;
        let threshold = self
            .word()
            .filter(|w| w.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| self.expected("a whole number of errors"))?;
        self.pos += 1;
        let window_ms = self.window()?;
        let mut filter = ErrorFilter::default();
        if self.eat(&["where"]) {
            loop {
                let key = self
                    .word()
                    .ok_or_else(|| self.expected("environment, release or level"))?;
                let twice = |k: &str| format!("{k} is given twice after \"where\"");
                match key.as_str() {
                    "environment" | "env" => {
                        self.pos += 1;
                        self.op_eq()?;
                        let v = self.value("a quoted environment like \"production\"")?;
                        if filter.environment.replace(v).is_some() {
                            return Err(twice("environment"));
                        }
                    }
                    "release" => {
                        self.pos += 1;
                        self.op_eq()?;
                        let v = self.value("a quoted release like \"1.4.2\"")?;
                        if filter.release.replace(v).is_some() {
                            return Err(twice("release"));
                        }
                    }
                    "level" => {
                        self.pos += 1;
                        self.op_eq()?;
                        let at = self.pos;
                        let v = self.value("a level like error")?;
                        let Some(l) = Level::parse(&v) else {
                            self.pos = at;
                            return Err(
                                self.expected("a level: fatal, error, warning, info or debug")
                            );
                        };
                        if filter.level.replace(l).is_some() {
                            return Err(twice("level"));
                        }
                    }
                    _ => return Err(self.expected("environment, release or level")),
                }
                if !self.eat(&["and"]) {
                    break;
                }
            }
        }
        Ok(Condition::ErrorCount {
            threshold,
            inclusive,
            window_ms,
            filter,
        })
    }

    fn op_eq(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(Token {
                tok: Tok::Op("="), ..
            }) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.expected("\"=\"")),
        }
    }

    fn p95(&mut self) -> Result<Condition, String> {
        self.eat(&["latency"]);
        let inclusive = self.op(&[">", ">="])? == Cmp::Ge;
        let threshold_ms = self.duration("a latency like 2s or 500ms")?;
        let window_ms = self.window()?;
        Ok(Condition::LatencyP95 {
            threshold_ms,
            inclusive,
            window_ms,
        })
    }

    fn health(&mut self) -> Result<Condition, String> {
        let path = self
            .atom()
            .filter(|p| valid_path(p))
            .ok_or_else(|| self.expected("a health field like memory.percentage"))?;
        // The reference document's headline numbers: `memory` is read as its percentage
        // and `database` as its latency.
        let path = match path.as_str() {
            "memory" => "memory.percentage".to_string(),
            "database" => "database.latency".to_string(),
            _ => path,
        };
        let op = self.op(&[">", ">=", "<", "<="])?;
        let threshold = self
            .word()
            .and_then(|w| match w.strip_suffix('%') {
                Some(n) => number(n),
                None => number(&w).or_else(|| parse_duration(&w).map(|d| d as f64)),
            })
            .ok_or_else(|| self.expected("a number like 90, 90% or 100ms"))?;
        self.pos += 1;
        Ok(Condition::HealthField {
            path,
            op,
            threshold,
        })
    }

    fn slo(&mut self) -> Result<Condition, String> {
        self.expect(&["burn"], "\"burn rate\"")?;
        self.expect(&["rate"], "\"rate\"")?;
        let inclusive = self.op(&[">", ">="])? == Cmp::Ge;
        let threshold = self
            .word()
            .and_then(|w| number(w.strip_suffix('x').unwrap_or(&w)))
            .filter(|t| *t >= 0.0)
            .ok_or_else(|| self.expected("a burn rate like 14.4"))?;
        self.pos += 1;
        let (mut slo, mut over_ms) = (None, None);
        loop {
            if slo.is_none() && self.eat(&["for"]) {
                slo = Some(self.value("an SLO name like \"uptime\"")?);
            } else if over_ms.is_none() && self.eat(&["over"]) {
                let d = self.duration("a duration like 1h")?;
                if d == 0 {
                    return Err("the window after \"over\" must be longer than 0".into());
                }
                over_ms = Some(d);
            } else {
                break;
            }
        }
        Ok(Condition::SloBurnRate {
            slo,
            threshold,
            inclusive,
            over_ms,
        })
    }
}

/// A plain decimal (`90`, `14.4`, `-3`): no exponents, infinities or NaN, so that
/// every accepted number prints back the same way.
fn number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    s.parse().ok().filter(|v: &f64| v.is_finite())
}

/// A spelled-out time unit, as in the mistake "5 minutes".
fn is_unit_word(w: &str) -> bool {
    const UNITS: &[&str] = &[
        "ms",
        "msec",
        "millis",
        "millisecond",
        "milliseconds",
        "s",
        "sec",
        "secs",
        "second",
        "seconds",
        "m",
        "min",
        "mins",
        "minute",
        "minutes",
        "h",
        "hr",
        "hrs",
        "hour",
        "hours",
        "d",
        "day",
        "days",
        "w",
        "week",
        "weeks",
    ];
    UNITS.contains(&w.to_ascii_lowercase().as_str())
}

fn valid_path(p: &str) -> bool {
    p.split('.').all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    }) && !p.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_their_largest_unit() {
        assert_eq!(parse_duration("5m"), Some(5 * MINUTE_MS));
        assert_eq!(parse_duration("500MS"), Some(500));
        assert_eq!(parse_duration("1h30m"), Some(90 * MINUTE_MS));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5minutes"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
        assert_eq!(format_duration(90 * MINUTE_MS), "90m");
        assert_eq!(format_duration(DAY_MS), "1d");
        assert_eq!(format_duration(1_500), "1500ms");
        assert_eq!(format_duration(0), "0ms");
    }

    #[test]
    fn numbers_are_plain_decimals_only() {
        assert_eq!(number("14.4"), Some(14.4));
        assert_eq!(number("-3"), Some(-3.0));
        for bad in ["1e3", "inf", "NaN", ".5", "5.", "", "-", "1.2.3"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn quoted_values_escape_quotes_and_backslashes() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn error_filter_matches_only_when_every_part_matches() {
        let f = ErrorFilter {
            environment: Some("production".into()),
            release: None,
            level: Some(Level::Error),
        };
        assert!(f.matches(Some("production"), Some("1.0"), Level::Error));
        assert!(!f.matches(Some("staging"), None, Level::Error));
        assert!(!f.matches(None, None, Level::Error));
        assert!(!f.matches(Some("production"), None, Level::Fatal));
        assert!(ErrorFilter::default().matches(None, None, Level::Debug));
    }
}
