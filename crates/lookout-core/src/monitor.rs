//! The per-monitor state machine: it turns a stream of check outcomes into confirmed
//! states and transitions (signals for the alert engine), and says when the next check is
//! due. Pure: the clock is passed in as `now_ms`.

use serde::{Deserialize, Serialize};

/// The kinds of monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorKind {
    /// An HTTP(S) request with assertions on status, body and time.
    Http,
    /// An http monitor that requires `keyword` (or `keyword_absent`).
    Keyword,
    /// An http monitor that requires `json_condition`.
    Json,
    /// An http monitor that reads a health document (reference format or health+json).
    Health,
    /// A TCP connect to `host:port`.
    Tcp,
    /// A TLS handshake: certificate validity, host name and expiry.
    Tls,
    /// Pings pushed by a cron job or worker (or Sentry cron check-ins).
    Heartbeat,
    /// A PM2 app on lookout's host: online, restarts, memory and CPU.
    Pm2,
}

impl MonitorKind {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Http => "http",
            MonitorKind::Keyword => "keyword",
            MonitorKind::Json => "json",
            MonitorKind::Health => "health",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Tls => "tls",
            MonitorKind::Heartbeat => "heartbeat",
            MonitorKind::Pm2 => "pm2",
        }
    }

    /// Parses [`MonitorKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "http" => MonitorKind::Http,
            "keyword" => MonitorKind::Keyword,
            "json" => MonitorKind::Json,
            "health" => MonitorKind::Health,
            "tcp" => MonitorKind::Tcp,
            "tls" => MonitorKind::Tls,
            "heartbeat" => MonitorKind::Heartbeat,
            "pm2" => MonitorKind::Pm2,
            _ => return None,
        })
    }

    /// Whether it makes an HTTP request (http, keyword, json and health monitors).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            MonitorKind::Http | MonitorKind::Keyword | MonitorKind::Json | MonitorKind::Health
        )
    }
}

impl std::fmt::Display for MonitorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a monitor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No check has run yet (or since resuming).
    Unknown,
    /// Confirmed up.
    Up,
    /// Confirmed degraded: answering, but reporting a problem.
    Degraded,
    /// Confirmed down.
    Down,
    /// Paused by a user: no checks.
    Paused,
    /// In a maintenance window: checked, but no transitions and no downtime.
    Maintenance,
}

impl State {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Paused => "paused",
            State::Maintenance => "maintenance",
        }
    }

    /// Parses [`State::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => State::Unknown,
            "up" => State::Up,
            "degraded" => State::Degraded,
            "down" => State::Down,
            "paused" => State::Paused,
            "maintenance" => State::Maintenance,
            _ => return None,
        })
    }
}

/// The outcome of one check, as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything held.
    Up,
    /// Answering, with a problem.
    Degraded {
        /// Why, in plain words.
        reason: String,
    },
    /// Failed.
    Down {
        /// Why, in plain words.
        reason: String,
    },
}

/// A confirmed change of state: a fact for the alert engine, not a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transition {
    /// Down confirmed; `since_ms` is when the first failing check of the streak ran.
    WentDown {
        /// The latest failure's reason.
        reason: String,
        /// When the outage began.
        since_ms: i64,
    },
    /// Up again after being down.
    Recovered {
        /// How long the outage lasted, from its first failing check.
        down_for_ms: i64,
    },
    /// Degraded confirmed.
    Degraded {
        /// The latest degraded check's reason.
        reason: String,
    },
    /// No longer degraded.
    Undegraded,
}

/// How a monitor confirms changes and how often it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Time between checks while nothing is changing.
    pub interval_ms: i64,
    /// Time before re-checking a result that, if repeated, would change the state.
    pub retry_interval_ms: i64,
    /// Consecutive failures (or degraded results) that confirm down (or degraded).
    pub alert_after: u32,
    /// Consecutive successes that confirm recovery.
    pub recover_after: u32,
}

impl Default for MonitorSettings {
    /// 60 s interval, 20 s retry, 2 failures to alert, 1 success to recover.
    fn default() -> Self {
        MonitorSettings {
            interval_ms: 60_000,
            retry_interval_ms: 20_000,
            alert_after: 2,
            recover_after: 1,
        }
    }
}

impl MonitorSettings {
    /// No check runs more often than this: a small team's sites deserve care, not load.
    pub const MIN_INTERVAL_MS: i64 = 10_000;
    /// The retry interval may be shorter than the interval, but not absurdly short.
    pub const MIN_RETRY_INTERVAL_MS: i64 = 5_000;
    /// The most consecutive results that may be asked for to confirm a change.
    pub const MAX_STREAK: u32 = 100;
}

/// What a monitor's unset keys mean, wherever it is defined (config file, API, Sentry
/// check-in): the one place these values are written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorDefaults {
    /// Intervals and confirmation thresholds of outbound checks.
    pub settings: MonitorSettings,
    /// How long one check may take; never more than the interval.
    pub timeout_ms: i64,
    /// Days before a certificate expires at which to warn.
    pub tls_expiry_days: Vec<u32>,
    /// How late a heartbeat's ping may be before its run counts as missed.
    pub heartbeat_grace_ms: i64,
}

impl Default for MonitorDefaults {
    /// The [`MonitorSettings`] defaults, a 10 s timeout, warnings 30, 14, 7 and 1 days
    /// before expiry, 1 minute of grace for heartbeats.
    fn default() -> Self {
        MonitorDefaults {
            settings: MonitorSettings::default(),
            timeout_ms: 10_000,
            tls_expiry_days: DEFAULT_TLS_THRESHOLDS.to_vec(),
            heartbeat_grace_ms: 60_000,
        }
    }
}

impl MonitorDefaults {
    /// A target slower than a minute is down for anyone using it; the limit also bounds
    /// how late a result can be written (roll-ups wait that long).
    pub const MAX_TIMEOUT_MS: i64 = 60_000;
    /// Heartbeats expect a run at most this often.
    pub const MIN_HEARTBEAT_PERIOD_MS: i64 = 60_000;
}

/// The state of one monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorState {
    settings: MonitorSettings,
    /// The confirmed health: Unknown, Up, Degraded or Down.
    confirmed: State,
    paused: bool,
    maintenance_until_ms: Option<i64>,
    /// Consecutive Down outcomes.
    down_streak: u32,
    /// Consecutive Down-or-Degraded outcomes.
    bad_streak: u32,
    /// Consecutive Up-or-Degraded outcomes (answers), for recovery from Down.
    answer_streak: u32,
    /// Consecutive Up outcomes, for leaving Degraded.
    up_streak: u32,
    /// When the current Down streak's first check ran.
    streak_start_ms: Option<i64>,
    /// When the confirmed outage began.
    down_since_ms: Option<i64>,
    last_check_ms: Option<i64>,
    last_outcome: Option<Outcome>,
    /// Set by `resume`: check at once.
    due_override_ms: Option<i64>,
}

impl MonitorState {
    /// A monitor that has not been checked yet.
    pub fn new(settings: MonitorSettings) -> Self {
        MonitorState {
            settings,
            confirmed: State::Unknown,
            paused: false,
            maintenance_until_ms: None,
            down_streak: 0,
            bad_streak: 0,
            answer_streak: 0,
            up_streak: 0,
            streak_start_ms: None,
            down_since_ms: None,
            last_check_ms: None,
            last_outcome: None,
            due_override_ms: None,
        }
    }

    /// A monitor as it was before a restart or a handover to another instance: its
    /// confirmed health, the start of an ongoing outage and its last check. Streaks start
    /// over unless [`MonitorState::continue_streaks`] is given the results that built them.
    pub fn restore(
        settings: MonitorSettings,
        confirmed: State,
        down_since_ms: Option<i64>,
        last_check_ms: Option<i64>,
    ) -> Self {
        let confirmed = match confirmed {
            State::Up | State::Degraded | State::Down => confirmed,
            _ => State::Unknown,
        };
        MonitorState {
            confirmed,
            down_since_ms: down_since_ms.filter(|_| confirmed == State::Down),
            last_check_ms,
            ..MonitorState::new(settings)
        }
    }

    /// Continues the streaks the last results built before a restart or a handover, so
    /// the new run confirms an outage that began before it (dated from its first failure)
    /// rather than starting the count again. `recent` are the monitor's latest results,
    /// newest first, `(when the check ran, outcome)`: only those since its last
    /// redefinition, resume or maintenance window, which each restart the streaks. The
    /// confirmed health is kept as restored: those results already made it.
    pub fn continue_streaks(&mut self, recent: &[(i64, Outcome)]) {
        let run = |f: fn(&Outcome) -> bool| -> u32 {
            recent.iter().take_while(|(_, o)| f(o)).count() as u32
        };
        self.down_streak = run(|o| matches!(o, Outcome::Down { .. }));
        self.bad_streak = run(|o| !matches!(o, Outcome::Up));
        self.answer_streak = run(|o| !matches!(o, Outcome::Down { .. }));
        self.up_streak = run(|o| matches!(o, Outcome::Up));
        self.streak_start_ms = match self.down_streak {
            0 => None,
            n => Some(recent[n as usize - 1].0),
        };
        if let Some((_, o)) = recent.first() {
            self.last_outcome = Some(o.clone());
        }
    }

    /// What the monitor shows: Paused and Maintenance take precedence over health.
    pub fn state(&self) -> State {
        if self.paused {
            State::Paused
        } else if self.maintenance_until_ms.is_some() {
            State::Maintenance
        } else {
            self.confirmed
        }
    }

    /// The confirmed health, regardless of pause or maintenance.
    pub fn health(&self) -> State {
        self.confirmed
    }

    /// The settings in force.
    pub fn settings(&self) -> &MonitorSettings {
        &self.settings
    }

    /// The most recent outcome recorded.
    pub fn last_outcome(&self) -> Option<&Outcome> {
        self.last_outcome.as_ref()
    }

    /// When the current outage began, while down.
    pub fn down_since_ms(&self) -> Option<i64> {
        self.down_since_ms
    }

    /// Records one check's outcome and returns the transitions it confirms. While paused
    /// the result is ignored; in maintenance it is recorded, but streaks and state are
    /// frozen so nothing is alerted or counted as downtime.
    pub fn record(&mut self, now_ms: i64, outcome: Outcome) -> Vec<Transition> {
        if self.paused {
            return Vec::new();
        }
        if self
            .maintenance_until_ms
            .is_some_and(|until| now_ms >= until)
        {
            self.exit_maintenance();
        }
        self.last_check_ms = Some(now_ms);
        self.due_override_ms = None;
        if self.maintenance_until_ms.is_some() {
            self.last_outcome = Some(outcome);
            return Vec::new();
        }
        let transitions = self.advance(now_ms, &outcome);
        self.last_outcome = Some(outcome);
        transitions
    }

    fn advance(&mut self, now_ms: i64, outcome: &Outcome) -> Vec<Transition> {
        let s = self.settings;
        let mut out = Vec::new();
        match outcome {
            Outcome::Down { reason } => {
                if self.down_streak == 0 {
                    self.streak_start_ms = Some(now_ms);
                }
                self.down_streak += 1;
                self.bad_streak += 1;
                self.answer_streak = 0;
                self.up_streak = 0;
                if self.confirmed != State::Down && self.down_streak >= s.alert_after.max(1) {
                    let since_ms = self.streak_start_ms.unwrap_or(now_ms);
                    self.confirmed = State::Down;
                    self.down_since_ms = Some(since_ms);
                    out.push(Transition::WentDown {
                        reason: reason.clone(),
                        since_ms,
                    });
                }
            }
            Outcome::Degraded { reason } => {
                self.down_streak = 0;
                self.bad_streak += 1;
                self.answer_streak += 1;
                self.up_streak = 0;
                match self.confirmed {
                    State::Down => {
                        if self.answer_streak >= s.recover_after.max(1) {
                            out.push(self.recover(now_ms));
                            // It answers but is impaired: say so now rather than after
                            // another round of confirmations.
                            self.confirmed = State::Degraded;
                            out.push(Transition::Degraded {
                                reason: reason.clone(),
                            });
                        }
                    }
                    State::Degraded => {}
                    _ => {
                        if self.bad_streak >= s.alert_after.max(1) {
                            self.confirmed = State::Degraded;
                            out.push(Transition::Degraded {
                                reason: reason.clone(),
                            });
                        }
                    }
                }
            }
            Outcome::Up => {
                self.down_streak = 0;
                self.bad_streak = 0;
                self.answer_streak += 1;
                self.up_streak += 1;
                match self.confirmed {
                    State::Down if self.answer_streak >= s.recover_after.max(1) => {
                        out.push(self.recover(now_ms));
                        self.confirmed = State::Up;
                    }
                    State::Degraded if self.up_streak >= s.recover_after.max(1) => {
                        self.confirmed = State::Up;
                        out.push(Transition::Undegraded);
                    }
                    // The first result of a new monitor needs no confirmation.
                    State::Unknown => self.confirmed = State::Up,
                    _ => {}
                }
            }
        }
        out
    }

    fn recover(&mut self, now_ms: i64) -> Transition {
        let since = self.down_since_ms.take().unwrap_or(now_ms);
        Transition::Recovered {
            down_for_ms: now_ms - since,
        }
    }

    /// Whether the last result, if repeated, would change the confirmed state: then the
    /// next check comes after the retry interval.
    fn change_pending(&self) -> bool {
        match self.confirmed {
            State::Down => self.answer_streak > 0,
            State::Degraded => self.up_streak > 0 || self.down_streak > 0,
            _ => self.bad_streak > 0,
        }
    }

    /// When the next check should run: at once before the first check (the scheduler
    /// adds [`spread_offset_ms`]), `i64::MAX` while paused.
    pub fn next_due_ms(&self) -> i64 {
        if self.paused {
            return i64::MAX;
        }
        if let Some(due) = self.due_override_ms {
            return due;
        }
        let Some(last) = self.last_check_ms else {
            return 0;
        };
        let in_maintenance = self.maintenance_until_ms.is_some();
        let wait = if !in_maintenance && self.change_pending() {
            self.settings.retry_interval_ms
        } else {
            self.settings.interval_ms
        };
        last.saturating_add(wait)
    }

    /// Stops checking. No transition: a user's action is not an incident.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Checks again from a clean slate, the first check due at `now_ms`.
    pub fn resume(&mut self, now_ms: i64) {
        if !self.paused {
            return;
        }
        *self = MonitorState {
            maintenance_until_ms: self.maintenance_until_ms,
            due_override_ms: Some(now_ms),
            ..MonitorState::new(self.settings)
        };
    }

    /// Enters a maintenance window ending at `until_ms`. Streaks restart afterwards so a
    /// failure seen during the window never counts toward an alert.
    pub fn enter_maintenance(&mut self, until_ms: i64) {
        self.maintenance_until_ms = Some(until_ms);
    }

    /// Leaves the maintenance window (also done by the first record at or after its end).
    pub fn exit_maintenance(&mut self) {
        if self.maintenance_until_ms.take().is_some() {
            self.down_streak = 0;
            self.bad_streak = 0;
            self.answer_streak = 0;
            self.up_streak = 0;
            self.streak_start_ms = None;
        }
    }

    /// When the maintenance window ends, while in one.
    pub fn maintenance_until_ms(&self) -> Option<i64> {
        self.maintenance_until_ms
    }
}

/// The default TLS expiry warning thresholds, in days.
pub const DEFAULT_TLS_THRESHOLDS: [u32; 4] = [30, 14, 7, 1];

/// Which expiry warning to send now, if any: the smallest threshold that `days_left` has
/// reached and that is below the last one warned about. `Some(0)` means expired. The
/// caller clears `already_warned` when a renewed certificate is seen (`days_left` above
/// every threshold).
pub fn tls_warning(days_left: i64, thresholds: &[u32], already_warned: Option<u32>) -> Option<u32> {
    let crossed = if days_left < 0 {
        Some(0)
    } else {
        thresholds
            .iter()
            .copied()
            .filter(|&t| days_left <= i64::from(t))
            .min()
    }?;
    match already_warned {
        Some(prev) if crossed >= prev => None,
        _ => Some(crossed),
    }
}

/// A stable phase within the interval for a monitor, so checks of many monitors spread
/// evenly instead of firing together at each interval boundary.
pub fn spread_offset_ms(monitor_id: u64, interval_ms: i64) -> i64 {
    if interval_ms <= 0 {
        return 0;
    }
    // splitmix64: cheap, and consecutive ids land far apart.
    let mut z = monitor_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % interval_ms as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn down() -> Outcome {
        Outcome::Down {
            reason: "connection refused".into(),
        }
    }

    fn degraded() -> Outcome {
        Outcome::Degraded {
            reason: "database slow".into(),
        }
    }

    fn monitor() -> MonitorState {
        MonitorState::new(MonitorSettings::default())
    }

    #[test]
    fn kinds_are_stored_and_written_by_one_name() {
        use MonitorKind::*;
        for k in [Http, Keyword, Json, Health, Tcp, Tls, Heartbeat] {
            assert_eq!(MonitorKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(MonitorKind::parse("ping"), None);
    }

    #[test]
    fn first_check_is_due_at_once_and_up_needs_no_confirmation() {
        let mut m = monitor();
        assert_eq!(m.state(), State::Unknown);
        assert_eq!(m.next_due_ms(), 0);
        assert!(m.record(1_000, Outcome::Up).is_empty());
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.next_due_ms(), 1_000 + MIN);
    }

    #[test]
    fn two_consecutive_failures_confirm_down_with_retry_in_between() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        assert!(m.record(MIN, down()).is_empty());
        assert_eq!(m.state(), State::Up);
        assert_eq!(
            m.next_due_ms(),
            MIN + 20_000,
            "retry interval after a first failure"
        );
        let t = m.record(MIN + 20_000, down());
        assert_eq!(
            t,
            vec![Transition::WentDown {
                reason: "connection refused".into(),
                since_ms: MIN
            }]
        );
        assert_eq!(m.state(), State::Down);
        assert_eq!(m.down_since_ms(), Some(MIN));
        assert_eq!(
            m.next_due_ms(),
            2 * MIN + 20_000,
            "confirmed: back to the interval"
        );
        assert!(m.record(2 * MIN + 20_000, down()).is_empty(), "no repeat");
    }

    #[test]
    fn single_failure_then_success_is_no_alert() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        m.record(MIN, down());
        assert!(m.record(MIN + 20_000, Outcome::Up).is_empty());
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.next_due_ms(), 2 * MIN + 20_000);
    }

    #[test]
    fn recovery_reports_the_outage_length() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        m.record(MIN, down());
        m.record(MIN + 20_000, down());
        let t = m.record(3 * MIN, Outcome::Up);
        assert_eq!(
            t,
            vec![Transition::Recovered {
                down_for_ms: 2 * MIN
            }]
        );
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.down_since_ms(), None);
    }

    #[test]
    fn recover_after_needs_that_many_successes_and_retries_between() {
        let mut m = MonitorState::new(MonitorSettings {
            recover_after: 2,
            ..MonitorSettings::default()
        });
        m.record(0, down());
        m.record(20_000, down());
        assert_eq!(m.state(), State::Down);
        assert!(m.record(80_000, Outcome::Up).is_empty());
        assert_eq!(m.next_due_ms(), 100_000);
        let t = m.record(100_000, Outcome::Up);
        assert_eq!(
            t,
            vec![Transition::Recovered {
                down_for_ms: 100_000
            }]
        );
    }

    #[test]
    fn flapping_gives_each_transition_once() {
        let mut m = monitor();
        let mut all = Vec::new();
        let seq = [
            Outcome::Up,
            down(),
            down(),
            Outcome::Up,
            down(),
            Outcome::Up,
            down(),
            down(),
            down(),
            Outcome::Up,
        ];
        for (i, o) in seq.into_iter().enumerate() {
            all.extend(m.record(i as i64 * 1_000, o));
        }
        assert_eq!(
            all,
            vec![
                Transition::WentDown {
                    reason: "connection refused".into(),
                    since_ms: 1_000
                },
                Transition::Recovered { down_for_ms: 2_000 },
                Transition::WentDown {
                    reason: "connection refused".into(),
                    since_ms: 6_000
                },
                Transition::Recovered { down_for_ms: 3_000 },
            ]
        );
    }

    #[test]
    fn degraded_is_not_down() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        assert!(m.record(MIN, degraded()).is_empty());
        assert_eq!(m.next_due_ms(), MIN + 20_000);
        let t = m.record(MIN + 20_000, degraded());
        assert_eq!(
            t,
            vec![Transition::Degraded {
                reason: "database slow".into()
            }]
        );
        assert_eq!(m.state(), State::Degraded);
        assert_eq!(m.down_since_ms(), None);
        assert_eq!(m.record(2 * MIN, Outcome::Up), vec![Transition::Undegraded]);
        assert_eq!(m.state(), State::Up);
    }

    #[test]
    fn degraded_then_down_goes_down() {
        let mut m = monitor();
        m.record(0, degraded());
        m.record(1, degraded());
        assert_eq!(m.state(), State::Degraded);
        assert!(m.record(2, down()).is_empty());
        assert_eq!(m.next_due_ms(), 2 + 20_000);
        let t = m.record(3, down());
        assert!(matches!(
            t.as_slice(),
            [Transition::WentDown { since_ms: 2, .. }]
        ));
    }

    #[test]
    fn recovering_into_degraded_says_both() {
        let mut m = monitor();
        m.record(0, down());
        m.record(1, down());
        let t = m.record(10, degraded());
        assert_eq!(
            t,
            vec![
                Transition::Recovered { down_for_ms: 10 },
                Transition::Degraded {
                    reason: "database slow".into()
                }
            ]
        );
        assert_eq!(m.state(), State::Degraded);
    }

    #[test]
    fn maintenance_suppresses_transitions_and_streaks() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        m.enter_maintenance(5 * MIN);
        assert_eq!(m.state(), State::Maintenance);
        assert!(m.record(MIN, down()).is_empty());
        assert_eq!(m.next_due_ms(), 2 * MIN, "no retry in maintenance");
        assert!(m.record(2 * MIN, down()).is_empty());
        assert!(m.record(3 * MIN, down()).is_empty());
        assert_eq!(m.last_outcome(), Some(&down()));
        assert_eq!(m.health(), State::Up);
        // The window ends: failures inside it do not count toward the alert.
        assert!(m.record(5 * MIN, down()).is_empty());
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.maintenance_until_ms(), None);
        let t = m.record(5 * MIN + 20_000, down());
        assert!(
            matches!(t.as_slice(), [Transition::WentDown { since_ms, .. }] if *since_ms == 5 * MIN)
        );
    }

    #[test]
    fn maintenance_can_end_early() {
        let mut m = monitor();
        m.record(0, Outcome::Up);
        m.enter_maintenance(i64::MAX);
        m.record(1, down());
        m.exit_maintenance();
        assert_eq!(m.state(), State::Up);
        assert!(
            m.record(2, down()).is_empty(),
            "the failure in the window did not count"
        );
    }

    #[test]
    fn pause_ignores_results_and_resume_starts_over() {
        let mut m = monitor();
        m.record(0, down());
        m.pause();
        assert_eq!(m.state(), State::Paused);
        assert_eq!(m.next_due_ms(), i64::MAX);
        assert!(m.record(1_000, down()).is_empty());
        m.resume(50_000);
        assert_eq!(m.state(), State::Unknown);
        assert_eq!(m.next_due_ms(), 50_000);
        assert!(m.record(50_000, down()).is_empty(), "the streak restarted");
        assert_eq!(m.next_due_ms(), 70_000);
    }

    #[test]
    fn restore_keeps_the_outage_and_the_schedule() {
        let mut m = MonitorState::restore(
            MonitorSettings::default(),
            State::Down,
            Some(1_000),
            Some(5 * MIN),
        );
        assert_eq!(m.state(), State::Down);
        assert_eq!(m.next_due_ms(), 6 * MIN);
        let t = m.record(6 * MIN, Outcome::Up);
        assert_eq!(
            t,
            vec![Transition::Recovered {
                down_for_ms: 6 * MIN - 1_000
            }]
        );
        let m = MonitorState::restore(MonitorSettings::default(), State::Paused, Some(1), None);
        assert_eq!(m.state(), State::Unknown);
        assert_eq!(m.down_since_ms(), None);
    }

    #[test]
    fn a_partial_failure_streak_is_continued_after_a_handover() {
        let settings = MonitorSettings {
            alert_after: 3,
            ..MonitorSettings::default()
        };
        // Up, then two failures of three: the last owner died before the third.
        let recent = [
            (2 * MIN + 20_000, down()),
            (2 * MIN, down()),
            (MIN, Outcome::Up),
        ];
        let mut m = MonitorState::restore(settings, State::Up, None, Some(2 * MIN + 20_000));
        m.continue_streaks(&recent);
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.last_outcome(), Some(&down()));
        assert_eq!(
            m.next_due_ms(),
            2 * MIN + 40_000,
            "a failure pending confirmation: retried, not a whole interval later"
        );
        let t = m.record(2 * MIN + 40_000, down());
        assert_eq!(
            t,
            vec![Transition::WentDown {
                reason: "connection refused".into(),
                since_ms: 2 * MIN
            }],
            "the third failure confirms, dated from the first before the handover"
        );

        // Without the results, the count starts again (what a restore alone does).
        let mut fresh = MonitorState::restore(settings, State::Up, None, Some(2 * MIN + 20_000));
        assert!(fresh.record(2 * MIN + 40_000, down()).is_empty());

        // A partial recovery continues too: down, one success of two.
        let settings = MonitorSettings {
            recover_after: 2,
            ..MonitorSettings::default()
        };
        let mut m = MonitorState::restore(settings, State::Down, Some(0), Some(MIN));
        m.continue_streaks(&[(MIN, Outcome::Up), (0, down())]);
        assert_eq!(m.next_due_ms(), MIN + 20_000);
        assert_eq!(
            m.record(MIN + 20_000, Outcome::Up),
            vec![Transition::Recovered {
                down_for_ms: MIN + 20_000
            }]
        );

        // No failing results: nothing pending, the interval's pace.
        let mut m = MonitorState::restore(settings, State::Up, None, Some(MIN));
        m.continue_streaks(&[(MIN, Outcome::Up), (0, down())]);
        assert_eq!(m.next_due_ms(), 2 * MIN);
        assert!(m.record(2 * MIN, down()).is_empty());
    }

    #[test]
    fn tls_warnings_step_down_the_thresholds() {
        let th = DEFAULT_TLS_THRESHOLDS;
        assert_eq!(tls_warning(90, &th, None), None);
        assert_eq!(tls_warning(30, &th, None), Some(30));
        assert_eq!(tls_warning(20, &th, Some(30)), None);
        assert_eq!(tls_warning(5, &th, Some(30)), Some(7));
        assert_eq!(tls_warning(5, &th, None), Some(7));
        assert_eq!(tls_warning(5, &th, Some(7)), None);
        assert_eq!(tls_warning(0, &th, Some(7)), Some(1));
        assert_eq!(tls_warning(-1, &th, Some(1)), Some(0));
        assert_eq!(tls_warning(-3, &th, Some(0)), None);
        assert_eq!(tls_warning(10, &[], None), None);
    }

    #[test]
    fn spread_is_stable_in_range_and_even() {
        let interval = 60_000;
        assert_eq!(spread_offset_ms(7, interval), spread_offset_ms(7, interval));
        assert_eq!(spread_offset_ms(7, 0), 0);
        let mut buckets = [0u32; 60];
        for id in 0..10_000u64 {
            let off = spread_offset_ms(id, interval);
            assert!((0..interval).contains(&off));
            buckets[(off / 1_000) as usize] += 1;
        }
        // 10,000 monitors over 60 one-second buckets: ~167 each, none bursting.
        assert!(
            buckets.iter().all(|&b| (100..250).contains(&b)),
            "{buckets:?}"
        );
    }
}
