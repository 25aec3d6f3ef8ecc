//! The issue lifecycle: what status an issue is in, and how arriving events and people
//! change it. The store records the decisions; it does not make them.

use serde::{Deserialize, Serialize};

/// Issue status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    /// Open (new, ongoing or regressed: see [`Substatus`]).
    Unresolved,
    /// Marked fixed; the next event reopens it as regressed.
    Resolved,
    /// Muted; events are still counted, no signals are raised.
    Ignored,
}

impl IssueStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    /// Parses [`IssueStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unresolved" => IssueStatus::Unresolved,
            "resolved" => IssueStatus::Resolved,
            "ignored" => IssueStatus::Ignored,
            _ => return None,
        })
    }
}

/// Why an unresolved issue is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Substatus {
    /// Created by the latest events.
    New,
    /// Seen again while open.
    Ongoing,
    /// Reopened by an event after being resolved (until a person changes its status).
    Regressed,
}

impl Substatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Substatus::New => "new",
            Substatus::Ongoing => "ongoing",
            Substatus::Regressed => "regressed",
        }
    }

    /// Parses [`Substatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Substatus::New,
            "ongoing" => Substatus::Ongoing,
            "regressed" => Substatus::Regressed,
            _ => return None,
        })
    }
}

/// What new events do to an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The status afterwards.
    pub status: IssueStatus,
    /// The substatus afterwards.
    pub substatus: Option<Substatus>,
    /// The events reopened a resolved issue.
    pub regressed: bool,
    /// Signals (new issue, regression, unhandled) are raised for the events.
    pub signals: bool,
}

/// Events arrived for an issue: `None` when they created it, else its status and
/// substatus before.
pub fn on_events(before: Option<(IssueStatus, Option<Substatus>)>) -> Arrival {
    let (status, substatus, regressed) = match before {
        None => (IssueStatus::Unresolved, Some(Substatus::New), false),
        Some((IssueStatus::Resolved, _)) => {
            (IssueStatus::Unresolved, Some(Substatus::Regressed), true)
        }
        Some((IssueStatus::Ignored, _)) => (IssueStatus::Ignored, None, false),
        Some((IssueStatus::Unresolved, Some(Substatus::Regressed))) => {
            (IssueStatus::Unresolved, Some(Substatus::Regressed), false)
        }
        Some((IssueStatus::Unresolved, _)) => {
            (IssueStatus::Unresolved, Some(Substatus::Ongoing), false)
        }
    };
    Arrival {
        status,
        substatus,
        regressed,
        signals: status != IssueStatus::Ignored,
    }
}

/// A person set an issue's status at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The status afterwards.
    pub status: IssueStatus,
    /// The substatus afterwards: a reopened issue is ongoing, others have none.
    pub substatus: Option<Substatus>,
    /// When resolved: the new resolution time (else the last one stays).
    pub resolved_ms: Option<i64>,
}

/// A person sets an issue's status.
pub fn set_status(status: IssueStatus, now_ms: i64) -> StatusChange {
    StatusChange {
        status,
        substatus: (status == IssueStatus::Unresolved).then_some(Substatus::Ongoing),
        resolved_ms: (status == IssueStatus::Resolved).then_some(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssueStatus::*;

    #[test]
    fn names_round_trip() {
        for s in [Unresolved, Resolved, Ignored] {
            assert_eq!(IssueStatus::parse(s.as_str()), Some(s));
        }
        for s in [Substatus::New, Substatus::Ongoing, Substatus::Regressed] {
            assert_eq!(Substatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(IssueStatus::parse("open"), None);
        assert_eq!(Substatus::parse(""), None);
    }

    #[test]
    fn first_events_create_a_new_issue() {
        let a = on_events(None);
        assert_eq!((a.status, a.substatus), (Unresolved, Some(Substatus::New)));
        assert!(!a.regressed);
        assert!(a.signals);
    }

    #[test]
    fn open_issues_go_on_and_regressions_stay_regressed() {
        for before in [None, Some(Substatus::New), Some(Substatus::Ongoing)] {
            let a = on_events(Some((Unresolved, before)));
            assert_eq!(
                (a.status, a.substatus),
                (Unresolved, Some(Substatus::Ongoing))
            );
            assert!(!a.regressed);
        }
        let a = on_events(Some((Unresolved, Some(Substatus::Regressed))));
        assert_eq!(a.substatus, Some(Substatus::Regressed));
        assert!(!a.regressed, "a regression is reported once");
    }

    #[test]
    fn resolved_issues_regress() {
        let a = on_events(Some((Resolved, None)));
        assert_eq!(
            (a.status, a.substatus),
            (Unresolved, Some(Substatus::Regressed))
        );
        assert!(a.regressed);
        assert!(a.signals);
    }

    #[test]
    fn ignored_issues_stay_ignored_and_silent() {
        let a = on_events(Some((Ignored, None)));
        assert_eq!((a.status, a.substatus), (Ignored, None));
        assert!(!a.regressed);
        assert!(!a.signals);
    }

    #[test]
    fn people_set_statuses() {
        assert_eq!(
            set_status(Resolved, 5),
            StatusChange {
                status: Resolved,
                substatus: None,
                resolved_ms: Some(5)
            }
        );
        assert_eq!(
            set_status(Unresolved, 5).substatus,
            Some(Substatus::Ongoing)
        );
        assert_eq!(set_status(Ignored, 5).resolved_ms, None);
    }
}
