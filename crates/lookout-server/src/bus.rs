//! The one-way channels between the server's parts. A producer holds a sender and a
//! consumer the receiver; neither knows the other:
//!
//! ```text
//! writer, monitor recorder ──signals──► alert loop          (wake-ups; the store holds them)
//! ingest ──────────────────check-ins──► monitors            (Sentry cron check-ins)
//! monitors ────────────monitor facts──► alert loop          (names, health documents)
//! ```

use lookout_core::signal::Signal;
use lookout_store::CheckInRow;
use tokio::sync::{broadcast, mpsc};

/// Signals as they are committed. The alert loop reads signals from the store by cursor,
/// so these only wake it: one that is missed or lagging loses nothing.
pub type SignalSender = broadcast::Sender<Signal>;

/// Capacity of the signal wake-ups.
const SIGNAL_WAKEUPS: usize = 1024;

/// A new signal channel.
pub fn signals() -> SignalSender {
    broadcast::channel(SIGNAL_WAKEUPS).0
}

/// Check-ins of one request, stored and handed to the monitors to apply.
pub type CheckIns = Vec<CheckInRow>;

/// Check-in batches waiting for the monitors before new ones are dropped (they stay
/// stored; only their effect on a heartbeat is lost, which is logged).
const CHECK_IN_QUEUE: usize = 10_000;

/// A new check-in channel.
pub fn check_ins() -> (mpsc::Sender<CheckIns>, mpsc::Receiver<CheckIns>) {
    mpsc::channel(CHECK_IN_QUEUE)
}

/// What the monitors tell the alert runtime about a monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorFact {
    /// A monitor was defined or redefined: its name, for notifications. It has read no
    /// health document yet.
    Defined {
        /// The monitor.
        id: i64,
        /// Its name.
        name: String,
    },
    /// A monitor was deleted.
    Removed {
        /// The monitor.
        id: i64,
    },
    /// A health monitor's latest check: the `checks` of the document it read, or `None`
    /// when it read none.
    Health {
        /// The monitor.
        id: i64,
        /// The document's `checks` object.
        checks: Option<serde_json::Value>,
    },
}

/// Facts waiting for the alert loop before new ones are dropped (the loop drains them
/// every few hundred milliseconds; a dropped health reading is replaced by the next).
const FACT_QUEUE: usize = 50_000;

/// A new monitor fact channel.
pub fn monitor_facts() -> (mpsc::Sender<MonitorFact>, mpsc::Receiver<MonitorFact>) {
    mpsc::channel(FACT_QUEUE)
}
