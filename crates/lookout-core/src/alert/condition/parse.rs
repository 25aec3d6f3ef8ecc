//! The condition parser: a small lexer (atoms, quoted values, operators) and a
//! recursive-descent parser whose errors name the token at fault and what was expected.

use lookout_sentry::event::Level;

use super::{Cmp, Condition, ErrorFilter};
use crate::alert::duration::{parse_duration, DAY_MS};

/// Parses a whole condition; anything after it is an error.
pub(super) fn condition(src: &str) -> Result<Condition, String> {
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

const CONDITIONS: &str =
    "errors, errors after deploy, bad deploy, p95, new issue, regression, unhandled, \
                          monitor down, monitor degraded, monitor crash loop, heartbeat missed, \
                          heartbeat failed, \
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
            "bad" => {
                self.expect(&["deploy", "deploys", "deployment"], "\"deploy\"")?;
                Condition::DeployBad
            }
            "deploy" | "deployment" => {
                self.expect(&["bad"], "\"bad\"")?;
                Condition::DeployBad
            }
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
                } else if self.eat(&["crash"]) {
                    self.expect(&["loop", "loops", "looping"], "\"loop\"")?;
                    Condition::CrashLoop
                } else if self.eat(&["crashloop", "crash-loop"]) {
                    Condition::CrashLoop
                } else {
                    return Err(self.expected("\"down\", \"degraded\" or \"crash loop\""));
                }
            }
            "crash" => {
                self.expect(&["loop", "loops", "looping"], "\"loop\"")?;
                Condition::CrashLoop
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
    fn numbers_are_plain_decimals_only() {
        assert_eq!(number("14.4"), Some(14.4));
        assert_eq!(number("-3"), Some(-3.0));
        for bad in ["1e3", "inf", "NaN", ".5", "5.", "", "-", "1.2.3"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }
}
