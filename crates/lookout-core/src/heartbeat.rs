//! Push monitors: jobs ping lookout (healthchecks.io style URLs, or Sentry cron
//! check-ins) and this state machine says when a ping is missing, a run failed or ran
//! too long, and when the job is healthy again. Pure: the clock is passed in as `now_ms`,
//! and the scheduler calls [`HeartbeatState::tick`] at [`HeartbeatState::next_deadline_ms`].
//!
//! Timeline: each expected run has a slot (a cron time, or the last ping plus the period).
//! A run attends its slot by pinging `start`, success or failure no later than slot +
//! grace; at exactly slot + grace without a ping the slot is missed. A started run must
//! end within `max_runtime`. Missed slots, failures and overlong runs all count as bad
//! runs: `failure_threshold` in a row confirm down (one event), `recovery_threshold`
//! successes in a row confirm recovery.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::monitor::State;
use crate::schedule::{parse_interval, CronSchedule};
use crate::stable::stable_names;

/// When runs are expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeartbeatSchedule {
    /// One run per period, counted from the last ping.
    Period {
        /// The time between runs.
        period_ms: i64,
    },
    /// One run per cron slot.
    Cron(CronSchedule),
}

/// How a push monitor judges its pings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatSpec {
    /// When runs are expected.
    pub schedule: HeartbeatSchedule,
    /// How late a run may ping after its expected time before it counts as missed.
    pub grace_ms: i64,
    /// How long a started run may take before it counts as failed; `None` for no limit.
    pub max_runtime_ms: Option<i64>,
    /// Bad runs in a row (missed, failed, too long) that confirm down; 1 by default.
    pub failure_threshold: u32,
    /// Successful runs in a row that confirm recovery; 1 by default.
    pub recovery_threshold: u32,
}

/// Sentry's defaults and limits for `monitor_config`, in minutes.
const SENTRY_DEFAULT_MARGIN_MIN: u64 = 1;
const SENTRY_DEFAULT_MAX_RUNTIME_MIN: u64 = 30;
const SENTRY_MAX_MINUTES: u64 = 40_320;
const SENTRY_MAX_THRESHOLD: u64 = 720;

/// A ping that arrives this much before a cron slot (bounded by the grace) is that slot's
/// run: a job host whose clock runs a little ahead, or a job that pings as it starts,
/// would otherwise ping "before" its slot and have that slot reported missed.
const EARLY_PING_TOLERANCE_MS: i64 = 10_000;

/// Misses counted one by one in a single call before the rest are skipped in one step,
/// so a scheduler that wakes after months of per-minute slots does not loop for long.
const MAX_MISSES_STEPPED: u32 = 1_000;

impl HeartbeatSpec {
    /// A spec with the default thresholds (1 and 1) and no runtime limit.
    pub fn new(schedule: HeartbeatSchedule, grace_ms: i64) -> Self {
        HeartbeatSpec {
            schedule,
            grace_ms,
            max_runtime_ms: None,
            failure_threshold: 1,
            recovery_threshold: 1,
        }
    }

    /// Reads the `monitor_config` that Sentry SDKs send with a check-in. Missing or null
    /// optional fields take Sentry's defaults (margin 1 minute, max runtime 30 minutes,
    /// thresholds 1, time zone UTC); unknown fields are ignored.
    pub fn from_sentry_monitor_config(config: &Value) -> Result<HeartbeatSpec, String> {
        let obj = config
            .as_object()
            .ok_or("monitor_config: must be a JSON object")?;
        let timezone = match obj.get("timezone") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err("monitor_config.timezone: must be a time zone name".into()),
        };
        let schedule = sentry_schedule(obj, timezone)?;
        // Sentry turns a margin of 0 into 1 for SDKs that still send it.
        let margin = match sentry_whole(obj, "checkin_margin", 0, SENTRY_MAX_MINUTES)? {
            None | Some(0) => SENTRY_DEFAULT_MARGIN_MIN,
            Some(m) => m,
        };
        let max_runtime = sentry_whole(obj, "max_runtime", 1, SENTRY_MAX_MINUTES)?
            .unwrap_or(SENTRY_DEFAULT_MAX_RUNTIME_MIN);
        let threshold =
            |key| sentry_whole(obj, key, 1, SENTRY_MAX_THRESHOLD).map(|v| v.unwrap_or(1) as u32);
        Ok(HeartbeatSpec {
            schedule,
            grace_ms: margin as i64 * 60_000,
            max_runtime_ms: Some(max_runtime as i64 * 60_000),
            failure_threshold: threshold("failure_issue_threshold")?,
            recovery_threshold: threshold("recovery_threshold")?,
        })
    }
}

/// The schedule in any of the shapes Sentry accepts: `{"type", "value", "unit"}`, or
/// the older `schedule_type` beside a crontab string or a `[value, unit]` pair.
fn sentry_schedule(
    obj: &serde_json::Map<String, Value>,
    timezone: Option<&str>,
) -> Result<HeartbeatSchedule, String> {
    let schedule = match obj.get("schedule") {
        None | Some(Value::Null) => return Err("monitor_config.schedule: is missing".into()),
        Some(s) => s,
    };
    let (kind, value, unit, at) = match schedule {
        Value::Object(s) => (
            s.get("type").and_then(Value::as_str),
            s.get("value"),
            s.get("unit"),
            "monitor_config.schedule",
        ),
        Value::Array(pair) => (
            obj.get("schedule_type")
                .and_then(Value::as_str)
                .or(Some("interval")),
            pair.first(),
            pair.get(1),
            "monitor_config.schedule",
        ),
        Value::String(_) => (
            obj.get("schedule_type")
                .and_then(Value::as_str)
                .or(Some("crontab")),
            Some(schedule),
            None,
            "monitor_config.schedule",
        ),
        _ => {
            return Err(
                "monitor_config.schedule: must be an object such as {\"type\": \"crontab\", \"value\": \"0 * * * *\"}"
                    .into(),
            )
        }
    };
    match kind {
        Some("crontab") => {
            let expr = value.and_then(Value::as_str).ok_or_else(|| {
                format!("{at}.value: a crontab schedule needs a cron expression string")
            })?;
            let cron = CronSchedule::parse(expr, timezone).map_err(|e| {
                if e.starts_with("unknown time zone") {
                    format!("monitor_config.timezone: {e}")
                } else {
                    format!("{at}.value: {e}")
                }
            })?;
            Ok(HeartbeatSchedule::Cron(cron))
        }
        Some("interval") => {
            let count = value
                .and_then(whole_number)
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    format!("{at}.value: an interval needs a whole number of at least 1")
                })?;
            let unit = unit.and_then(Value::as_str).ok_or_else(|| {
                format!(
                    "{at}.unit: an interval needs a unit (minute, hour, day, week, month or year)"
                )
            })?;
            let period_ms = parse_interval(count, unit).map_err(|e| format!("{at}.unit: {e}"))?;
            Ok(HeartbeatSchedule::Period { period_ms })
        }
        Some(other) => Err(format!(
            "{at}.type: \"{other}\" is not a schedule type; use \"crontab\" or \"interval\""
        )),
        None => Err(format!(
            "{at}.type: is missing; use \"crontab\" or \"interval\""
        )),
    }
}

/// A whole number, also from an integral float or a numeric string (some SDKs and
/// hand-written `curl` calls send those).
fn whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An optional whole-number field within `min..=max`; null and "" count as absent.
fn sentry_whole(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => whole_number(v)
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                format!("monitor_config.{key}: must be a whole number from {min} to {max}, not {v}")
            }),
    }
}

/// A ping from a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ping {
    /// The run started.
    Start,
    /// The run succeeded.
    Success {
        /// How long it ran, when the job says (Sentry check-ins do).
        duration_ms: Option<i64>,
    },
    /// The run failed.
    Fail {
        /// The job's exit code, when known.
        exit_code: Option<i32>,
        /// How long it ran, when the job says.
        duration_ms: Option<i64>,
    },
}

impl Ping {
    /// The ping for a job's exit code (`/ping/{token}/{exit_code}`): 0 is success.
    pub fn from_exit_code(exit_code: i32) -> Ping {
        if exit_code == 0 {
            Ping::Success { duration_ms: None }
        } else {
            Ping::Fail {
                exit_code: Some(exit_code),
                duration_ms: None,
            }
        }
    }

    /// The ping for a Sentry check-in's `status` and `duration` (seconds). `None` for
    /// `missed`, `timeout` and `unknown`, which Sentry's server derives itself and never
    /// takes from an SDK: the check-in is dropped.
    pub fn from_sentry_check_in(status: CheckInStatus, duration_secs: Option<f64>) -> Option<Ping> {
        let duration_ms = duration_secs
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| (d * 1000.0).round().min(i64::MAX as f64) as i64);
        match status {
            CheckInStatus::InProgress => Some(Ping::Start),
            CheckInStatus::Ok => Some(Ping::Success { duration_ms }),
            CheckInStatus::Error => Some(Ping::Fail {
                exit_code: None,
                duration_ms,
            }),
            CheckInStatus::Missed | CheckInStatus::Timeout | CheckInStatus::Unknown => None,
        }
    }
}

stable_names! {
    /// A Sentry cron check-in's `status`: Sentry's words, as stored.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum CheckInStatus ("check-in status") {
        /// The job started.
        InProgress = "in_progress",
        /// The job succeeded.
        Ok = "ok",
        /// The job failed.
        Error = "error",
        /// Sentry's server found a run missing.
        Missed = "missed",
        /// Sentry's server found a run too long.
        Timeout = "timeout",
        /// A status Sentry does not define.
        Unknown = "unknown",
    }
}

impl CheckInStatus {
    /// A status as an SDK sent it, read as Sentry's Relay reads it: a word Sentry does
    /// not define is `Unknown`, so the check-in is kept and only its ping is dropped.
    pub fn from_sent(status: &str) -> CheckInStatus {
        status.parse().unwrap_or(CheckInStatus::Unknown)
    }
}

/// A confirmed change, for the alert engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeartbeatEvent {
    /// Down confirmed by a run that did not ping by its expected time plus grace.
    Missed {
        /// When the run was expected (a cron slot, or last ping plus period).
        expected_ms: i64,
    },
    /// Down confirmed by a run that reported failure.
    Failed {
        /// Its exit code, when known.
        exit_code: Option<i32>,
    },
    /// Down confirmed by a run that started and did not end within the max runtime.
    TooLong {
        /// When it started.
        started_ms: i64,
    },
    /// Up again after being down.
    Recovered {
        /// How long it was down, from the first bad run of the streak.
        down_for_ms: i64,
    },
}

/// The state of one push monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatState {
    spec: HeartbeatSpec,
    created_ms: i64,
    /// Unknown, Up or Down.
    state: State,
    last_ping_ms: Option<i64>,
    last_success_ms: Option<i64>,
    running_since_ms: Option<i64>,
    last_duration_ms: Option<i64>,
    /// The slot the next run should attend; `None` once the schedule has no more runs.
    expected_ms: Option<i64>,
    bad_streak: u32,
    good_streak: u32,
    /// When the current bad streak's first bad run was seen.
    streak_start_ms: Option<i64>,
    down_since_ms: Option<i64>,
}

impl HeartbeatState {
    /// A monitor created at `created_ms` that has not been pinged: the first run is due
    /// one period (or the first cron slot) after creation.
    pub fn new(spec: HeartbeatSpec, created_ms: i64) -> Self {
        let mut s = HeartbeatState {
            spec,
            created_ms,
            state: State::Unknown,
            last_ping_ms: None,
            last_success_ms: None,
            running_since_ms: None,
            last_duration_ms: None,
            expected_ms: None,
            bad_streak: 0,
            good_streak: 0,
            streak_start_ms: None,
            down_since_ms: None,
        };
        s.expected_ms = s.slot_after_ping(created_ms);
        s
    }

    /// Rebuilds the state after a restart from what was stored: the shown state (Down
    /// stays down, Up or Degraded is up, anything else unknown), the last ping that
    /// attended a run (a success, or any ping) and the start of a run still going. The
    /// schedule resumes from that ping, so runs missed while lookout was stopped are
    /// noticed at the next tick. The outage is taken to have begun at the first deadline
    /// after that ping.
    pub fn restore(
        spec: HeartbeatSpec,
        created_ms: i64,
        state: State,
        last_ping_ms: Option<i64>,
        running_since_ms: Option<i64>,
    ) -> Self {
        let mut s = HeartbeatState::new(spec, created_ms);
        let anchor = last_ping_ms.into_iter().chain(running_since_ms).max();
        if let Some(at) = anchor {
            s.expected_ms = s.slot_after_ping(at);
        }
        s.last_ping_ms = anchor;
        s.last_success_ms = last_ping_ms;
        s.running_since_ms = running_since_ms;
        s.state = match state {
            State::Down => State::Down,
            State::Up | State::Degraded => State::Up,
            _ => State::Unknown,
        };
        if s.state == State::Down {
            let first_deadline = s.slot_deadline().unwrap_or(anchor.unwrap_or(created_ms));
            s.down_since_ms = Some(first_deadline);
            s.streak_start_ms = Some(first_deadline);
            s.bad_streak = s.spec.failure_threshold.max(1);
        }
        s
    }

    /// Records a ping at `now_ms` and returns the changes it confirms. Deadlines that
    /// passed before `now_ms` and were not ticked yet are settled first; a ping exactly at
    /// a deadline is in time.
    pub fn ping(&mut self, now_ms: i64, ping: Ping) -> Vec<HeartbeatEvent> {
        let mut events = Vec::new();
        self.advance(now_ms, false, &mut events);
        self.last_ping_ms = Some(now_ms);
        self.expected_ms = self.slot_after_ping(now_ms);
        let started = self.running_since_ms.take();
        let ran_for = |duration_ms: Option<i64>| duration_ms.or(started.map(|s| now_ms - s));
        match ping {
            Ping::Start => self.running_since_ms = Some(now_ms),
            Ping::Success { duration_ms } => {
                self.last_duration_ms = ran_for(duration_ms);
                self.last_success_ms = Some(now_ms);
                self.good_run(now_ms, &mut events);
            }
            Ping::Fail {
                exit_code,
                duration_ms,
            } => {
                self.last_duration_ms = ran_for(duration_ms);
                self.bad_run(now_ms, HeartbeatEvent::Failed { exit_code }, &mut events);
            }
        }
        events
    }

    /// Settles every deadline at or before `now_ms` and returns the changes confirmed.
    pub fn tick(&mut self, now_ms: i64) -> Vec<HeartbeatEvent> {
        let mut events = Vec::new();
        self.advance(now_ms, true, &mut events);
        events
    }

    /// When [`HeartbeatState::tick`] next has something to settle: the expected run's
    /// deadline (slot + grace) or the running run's (start + max runtime), the earlier.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        match (self.slot_deadline(), self.runtime_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The confirmed state: Unknown (no run judged yet), Up or Down.
    pub fn state(&self) -> State {
        self.state
    }

    /// The spec in force.
    pub fn spec(&self) -> &HeartbeatSpec {
        &self.spec
    }

    /// When the monitor was created.
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// The last ping of any kind.
    pub fn last_ping_ms(&self) -> Option<i64> {
        self.last_ping_ms
    }

    /// The last successful run's ping.
    pub fn last_success_ms(&self) -> Option<i64> {
        self.last_success_ms
    }

    /// When the run in progress started, while one is.
    pub fn running_since_ms(&self) -> Option<i64> {
        self.running_since_ms
    }

    /// How long the last finished run took: as reported, or from its start ping.
    pub fn last_duration_ms(&self) -> Option<i64> {
        self.last_duration_ms
    }

    /// When the next run is expected (before grace).
    pub fn expected_ms(&self) -> Option<i64> {
        self.expected_ms
    }

    /// When the current outage began, while down.
    pub fn down_since_ms(&self) -> Option<i64> {
        self.down_since_ms
    }

    fn slot_deadline(&self) -> Option<i64> {
        self.expected_ms
            .map(|e| e.saturating_add(self.spec.grace_ms.max(0)))
    }

    fn runtime_deadline(&self) -> Option<i64> {
        let limit = self.spec.max_runtime_ms?;
        self.running_since_ms
            .map(|s| s.saturating_add(limit.max(0)))
    }

    /// The slot after the one a ping at `at_ms` attended.
    fn slot_after_ping(&self, at_ms: i64) -> Option<i64> {
        match &self.spec.schedule {
            HeartbeatSchedule::Period { period_ms } => {
                Some(at_ms.saturating_add((*period_ms).max(1)))
            }
            HeartbeatSchedule::Cron(cron) => {
                let early = EARLY_PING_TOLERANCE_MS.min(self.spec.grace_ms.max(0));
                cron.next_after(at_ms.saturating_add(early))
            }
        }
    }

    /// The slot after `slot`, a slot that has been settled.
    fn slot_after_slot(&self, slot: i64) -> Option<i64> {
        match &self.spec.schedule {
            HeartbeatSchedule::Period { period_ms } => {
                Some(slot.saturating_add((*period_ms).max(1)))
            }
            HeartbeatSchedule::Cron(cron) => cron.next_after(slot),
        }
    }

    /// The last slot whose deadline is due at `now_ms`, at or after `from` (itself due);
    /// `None` when that lies past the calendar cron can represent, so every slot left is.
    fn last_due_slot(&self, from: i64, now_ms: i64, inclusive: bool) -> Option<i64> {
        let grace = self.spec.grace_ms.max(0);
        let latest = now_ms.saturating_sub(grace) - i64::from(!inclusive);
        match &self.spec.schedule {
            HeartbeatSchedule::Period { period_ms } => {
                let p = (*period_ms).max(1);
                let last = from
                    .saturating_add(latest.saturating_sub(from).div_euclid(p).saturating_mul(p));
                Some(last.max(from))
            }
            HeartbeatSchedule::Cron(cron) => cron.prev_at_or_before(latest).map(|s| s.max(from)),
        }
    }

    /// Settles the deadlines due at `now_ms`, in time order.
    fn advance(&mut self, now_ms: i64, inclusive: bool, events: &mut Vec<HeartbeatEvent>) {
        let due = |d: i64| if inclusive { d <= now_ms } else { d < now_ms };
        let mut stepped = 0u32;
        loop {
            let slot = self.slot_deadline().filter(|&d| due(d));
            let run = self.runtime_deadline().filter(|&d| due(d));
            match (slot, run) {
                (None, None) => break,
                (Some(s), Some(r)) if r <= s => self.run_too_long(r, events),
                (None, Some(r)) => self.run_too_long(r, events),
                (Some(deadline), _) => {
                    let mut expected = self.expected_ms.unwrap_or(deadline);
                    let mut next = None;
                    // Past confirmation a miss changes nothing but the streaks, so the
                    // remaining missed slots are settled in one step.
                    if self.state == State::Down || stepped >= MAX_MISSES_STEPPED {
                        match self.last_due_slot(expected, now_ms, inclusive) {
                            Some(last) => expected = last,
                            None => next = Some(None),
                        }
                    }
                    stepped += 1;
                    // A slot that does not move forward (time saturated at its end) ends
                    // the schedule rather than the loop.
                    self.expected_ms = next.unwrap_or_else(|| {
                        self.slot_after_slot(expected).filter(|&n| n > expected)
                    });
                    self.bad_run(
                        deadline,
                        HeartbeatEvent::Missed {
                            expected_ms: expected,
                        },
                        events,
                    );
                }
            }
        }
    }

    fn run_too_long(&mut self, deadline: i64, events: &mut Vec<HeartbeatEvent>) {
        if let Some(started_ms) = self.running_since_ms.take() {
            self.bad_run(deadline, HeartbeatEvent::TooLong { started_ms }, events);
        }
    }

    /// Counts a bad run seen at `at_ms`; `event` is emitted if it confirms down.
    fn bad_run(&mut self, at_ms: i64, event: HeartbeatEvent, events: &mut Vec<HeartbeatEvent>) {
        self.good_streak = 0;
        if self.bad_streak == 0 {
            self.streak_start_ms = Some(at_ms);
        }
        self.bad_streak = self.bad_streak.saturating_add(1);
        if self.state != State::Down && self.bad_streak >= self.spec.failure_threshold.max(1) {
            self.state = State::Down;
            self.down_since_ms = self.streak_start_ms.or(Some(at_ms));
            events.push(event);
        }
    }

    fn good_run(&mut self, at_ms: i64, events: &mut Vec<HeartbeatEvent>) {
        self.bad_streak = 0;
        self.streak_start_ms = None;
        self.good_streak = self.good_streak.saturating_add(1);
        match self.state {
            State::Down if self.good_streak >= self.spec.recovery_threshold.max(1) => {
                self.state = State::Up;
                let since = self.down_since_ms.take().unwrap_or(at_ms);
                events.push(HeartbeatEvent::Recovered {
                    down_for_ms: at_ms - since,
                });
            }
            State::Down => {}
            _ => self.state = State::Up,
        }
    }
}
