//! The domain's enums as stored: each is written as its stable name and read back through
//! [`StoredName`], so that a name no variant has is one `Corrupt` error, naming the column
//! and the value, instead of a string that travels on.

use lookout_core::alert::incident::{IncidentStatus, SubjectKind};
use lookout_core::alert::notify::{NotifyKind, OutboxStatus};
use lookout_core::alert::silence::SilenceKind;
use lookout_core::alert::timeline::TimelineKind;
use lookout_core::alert::Severity;
use lookout_core::heartbeat::CheckInStatus;
use lookout_core::issue::{IssueStatus, Substatus};
use lookout_core::monitor::{MonitorKind, State};
use lookout_core::signal::SignalKind;
use lookout_sentry::event::Level;

use crate::model::MonitorSource;
use crate::sql::{Param, Row, ToParam};
use crate::{Result, StoreError};

/// An enum stored as one of its names.
pub(crate) trait StoredName: Sized {
    /// The name as written.
    fn stored(&self) -> &'static str;
    /// The variant a stored name stands for; `None` for a name no variant has.
    fn from_stored(name: &str) -> Option<Self>;
}

macro_rules! stored_names {
    ($($t:ty => $parse:expr),* $(,)?) => {$(
        impl StoredName for $t {
            fn stored(&self) -> &'static str {
                self.as_str()
            }

            fn from_stored(name: &str) -> Option<Self> {
                $parse(name)
            }
        }

        impl<'a> ToParam<'a> for &$t {
            fn param(self) -> Param<'a> {
                Param::Text(self.stored())
            }
        }
    )*};
}

/// Names parsed with the enum's `FromStr` (the core's `stable_names!` enums).
fn parsed<T: std::str::FromStr>(name: &str) -> Option<T> {
    name.parse().ok()
}

stored_names!(
    IncidentStatus => parsed,
    SubjectKind => parsed,
    Severity => Severity::parse,
    TimelineKind => parsed,
    NotifyKind => parsed,
    OutboxStatus => parsed,
    SilenceKind => parsed,
    // Versions before the typed model stored any word an SDK sent; Relay reads those as
    // `unknown`, and so do we, rather than failing every list that holds one.
    CheckInStatus => |name| Some(CheckInStatus::from_sent(name)),
    IssueStatus => IssueStatus::parse,
    Substatus => Substatus::parse,
    State => State::parse,
    MonitorKind => MonitorKind::parse,
    MonitorSource => MonitorSource::parse,
    SignalKind => SignalKind::parse,
    // Ingest stores the canonical name only, not the other spellings SDKs send.
    Level => |name| Level::parse(name).filter(|l| l.as_str() == name),
);

impl dyn Row + '_ {
    /// Column `i`, one of `T`'s stored names; `column` (`table.column`) names it in the
    /// error when the name is unknown.
    pub(crate) fn name<T: StoredName>(&self, i: usize, column: &str) -> Result<T> {
        let text: String = self.get(i)?;
        T::from_stored(&text).ok_or_else(|| unknown(column, &text))
    }

    /// [`Self::name`] for a nullable column.
    pub(crate) fn name_opt<T: StoredName>(&self, i: usize, column: &str) -> Result<Option<T>> {
        self.get::<Option<String>>(i)?
            .map(|text| T::from_stored(&text).ok_or_else(|| unknown(column, &text)))
            .transpose()
    }
}

fn unknown(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column}: unknown value {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant reads back as itself.
    fn round_trips<T: StoredName + PartialEq + std::fmt::Debug + Copy>(all: &[T]) {
        for v in all {
            assert_eq!(T::from_stored(v.stored()), Some(*v));
        }
    }

    #[test]
    fn names_read_back_and_unknown_ones_are_refused() {
        round_trips(IncidentStatus::ALL);
        round_trips(SubjectKind::ALL);
        round_trips(&Severity::ALL);
        round_trips(TimelineKind::ALL);
        round_trips(NotifyKind::ALL);
        round_trips(OutboxStatus::ALL);
        round_trips(SilenceKind::ALL);
        round_trips(CheckInStatus::ALL);
        round_trips(&[
            Level::Debug,
            Level::Info,
            Level::Warning,
            Level::Error,
            Level::Fatal,
        ]);
        assert_eq!(Level::from_stored("warn"), None);
        assert_eq!(IncidentStatus::from_stored("open"), None);
        assert_eq!(Severity::from_stored("urgent"), None);
        assert_eq!(
            CheckInStatus::from_stored("done"),
            Some(CheckInStatus::Unknown)
        );
        assert_eq!(
            unknown("incidents.status", "open").to_string(),
            "corrupt stored data: incidents.status: unknown value \"open\""
        );
    }
}
