//! Several lookout instances on one database, with PostgreSQL as the only coordinator.
//!
//! Each instance registers a row (random id, name, host, version, config hash) and
//! heartbeats it every third of the lease TTL. Work that must run once (the alert loop,
//! the outbox dispatcher, jobs, deploy watches) is a duty: a lease row taken or renewed
//! in the same heartbeat; the others stand by and take an expired lease over, so a dead
//! holder's duties move within about two TTLs. Monitors are spread over the live
//! instances by rendezvous hashing (`monitors` asks [`owner`]); when the live set
//! changes, an instance that gains monitors reloads their state from the store, so an
//! outage that began before the failover is still confirmed once. An instance whose
//! last successful heartbeat is older than the TTL is fenced: it holds no duty and
//! checks nothing until it heartbeats again, then takes its monitors back like gained
//! ones (the others ran them meanwhile).
//!
//! On SQLite (one instance) the same code runs: the one instance holds every lease and
//! owns every monitor.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_core::clock::{Clock, SystemClock};
use lookout_store::{Duty, Fence, InstanceRow, Store};
use parking_lot::RwLock;
use serde::Serialize;

/// The alert loop: signals, windowed rules, escalation timers, SLO burn rates.
pub const ALERTS: &str = "alerts";
/// The outbox dispatcher.
pub const OUTBOX: &str = "outbox";
/// Retention, roll-ups and pruning.
pub const JOBS: &str = "jobs";
/// Judging deploys once their watch window has passed.
pub const DEPLOYS: &str = "deploys";
/// Every duty, in the order they are claimed.
pub const DUTIES: &[&str] = &[ALERTS, OUTBOX, JOBS, DEPLOYS];

/// Dead instances' rows are forgotten after this many TTLs (they stay listed as dead
/// until then, which is what the dashboard shows after a crash).
const FORGET_AFTER_TTLS: i64 = 40;

/// Who this instance is, as registered.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `[cluster] instance_name`, else the host name.
    pub name: String,
    /// The config's hash and what it covers.
    pub config: ConfigDigest,
    /// The lease TTL.
    pub lease_ttl: Duration,
}

/// A hash of what must be the same on every instance (rules, monitors, channels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigDigest {
    /// Hex, 16 characters.
    pub hash: String,
    /// "3 monitors, 2 rules, 1 channel".
    pub summary: String,
}

impl ConfigDigest {
    /// Digests the parts of `config` that instances must agree on.
    pub fn of(config: &crate::Config) -> ConfigDigest {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        // Serialised, not Debug: the key order of the TOML file does not matter, and
        // secrets (which serialise redacted or not at all) never reach the hash.
        for part in [
            serde_json::to_string(&config.rules),
            serde_json::to_string(&config.monitors),
            serde_json::to_string(&config.channels),
        ] {
            h.update(part.unwrap_or_default().as_bytes());
            h.update([0]);
        }
        let hash: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        ConfigDigest {
            hash,
            summary: format!(
                "{}, {}, {}",
                plural(config.monitors.len(), "monitor"),
                plural(config.rules.len(), "rule"),
                plural(config.channels.len(), "channel")
            ),
        }
    }
}

/// What this instance knows of the fleet since its last heartbeat.
#[derive(Debug, Clone, Default)]
struct View {
    held: BTreeSet<String>,
    /// Until when the leases held are valid, by this process's monotonic clock (from the
    /// start of the heartbeat that renewed them, so never later than the stored expiry).
    held_until: Option<Instant>,
    live: Vec<InstanceRow>,
    duties: Vec<Duty>,
}

/// What changed in one heartbeat.
#[derive(Debug, Default)]
pub struct Change {
    /// Duties taken.
    pub gained: Vec<String>,
    /// Duties lost.
    pub lost: Vec<String>,
    /// The live instances changed (monitors move).
    pub members: bool,
    /// The previous heartbeat's lease had run out before this one (the database was
    /// unreachable, or the process stalled): meanwhile the others may have taken this
    /// instance's monitors over, so it takes them back as if newly gained.
    pub lapsed: bool,
}

/// The fleet as `/api/health` and the dashboard show it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    /// This instance.
    pub instance: InstanceRow,
    /// The duties this instance holds.
    pub duties: Vec<String>,
    /// Every live instance with the duties it holds.
    pub instances: Vec<(InstanceRow, Vec<String>)>,
    /// Instances whose config differs, in a sentence.
    pub mismatch: Option<String>,
}

/// This instance's membership of the fleet.
///
/// Leases and heartbeats are judged by the wall clock, not the injected one that drives
/// the domain's timers: they coordinate processes, which share only real time (a test
/// that moves its clock an hour ahead must not expire its own leases).
pub struct Cluster {
    me: RwLock<InstanceRow>,
    ttl_ms: i64,
    view: RwLock<View>,
    store: Arc<dyn Store>,
    clock: SystemClock,
}

impl Cluster {
    /// A new member with a random id; it joins at its first [`Cluster::beat`].
    pub fn new(identity: Identity, addr: String, store: Arc<dyn Store>) -> Cluster {
        let clock = SystemClock;
        let now = clock.now_ms();
        let me = InstanceRow {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            name: identity.name,
            host: host_name(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            addr,
            config_hash: identity.config.hash,
            config_summary: identity.config.summary,
            started_ms: now,
            heartbeat_ms: now,
        };
        Cluster {
            me: RwLock::new(me),
            ttl_ms: identity.lease_ttl.as_millis().max(1) as i64,
            view: RwLock::new(View::default()),
            store,
            clock,
        }
    }

    /// This instance's id.
    pub fn id(&self) -> String {
        self.me.read().id.clone()
    }

    /// The lease TTL, ms.
    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// How often the heartbeat runs: three renewals per TTL, so one slow round does not
    /// lose a lease.
    pub fn beat_every(&self) -> Duration {
        Duration::from_millis((self.ttl_ms / 3).max(50) as u64)
    }

    /// Whether this instance holds `duty` now (its lease unexpired by its own clock).
    pub fn holds(&self, duty: &str) -> bool {
        let v = self.view.read();
        v.held.contains(duty) && v.held_until.is_some_and(|t| Instant::now() < t)
    }

    /// Until when this instance's last successful heartbeat keeps it a member, by this
    /// process's monotonic clock (`None` before the first). Past it, the others may have
    /// found it dead and taken its monitors and duties: it must not act on its old view.
    pub fn lease_until(&self) -> Option<Instant> {
        self.view.read().held_until
    }

    /// The fence a write on behalf of `duty` carries.
    pub fn fence(&self, duty: &str) -> Fence {
        Fence {
            duty: duty.to_string(),
            holder: self.id(),
            now_ms: self.clock.now_ms(),
        }
    }

    /// Ids of the live instances, sorted (empty before the first heartbeat).
    pub fn members(&self) -> Vec<String> {
        self.view.read().live.iter().map(|i| i.id.clone()).collect()
    }

    /// The store the fleet shares.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Whether other instances are alive.
    pub fn shared(&self) -> bool {
        self.view.read().live.len() > 1
    }

    /// Registers or renews this instance, reads the live set and claims the duties.
    /// Blocking.
    pub fn beat(&self) -> lookout_store::Result<Change> {
        let started = Instant::now();
        let now = self.clock.now_ms();
        let me = {
            let mut me = self.me.write();
            me.heartbeat_ms = now;
            me.clone()
        };
        self.store.heartbeat_instance(&me)?;
        let held: BTreeSet<String> = self
            .store
            .claim_duties(&me.id, DUTIES, now, self.ttl_ms)?
            .into_iter()
            .collect();
        let live = self.store.live_instances(now - self.ttl_ms)?;
        let duties = self.store.list_duties()?;
        let _ = self
            .store
            .prune_instances(now - FORGET_AFTER_TTLS * self.ttl_ms);
        let mut v = self.view.write();
        // After a lapse, duties held before count as held: one taken over meanwhile by
        // another instance is reported lost, one this instance got back is not news.
        let before = &v.held;
        let change = Change {
            gained: held.difference(before).cloned().collect(),
            lost: before.difference(&held).cloned().collect(),
            members: v.live.iter().map(|i| &i.id).ne(live.iter().map(|i| &i.id)),
            lapsed: v.held_until.is_some_and(|t| started >= t),
        };
        *v = View {
            held,
            held_until: Some(started + Duration::from_millis(self.ttl_ms as u64)),
            live,
            duties,
        };
        Ok(change)
    }

    /// Leaves the fleet on a clean stop: the row and the leases go, so the others take
    /// over at their next heartbeat. Blocking.
    pub fn leave(&self) {
        let id = self.id();
        self.view.write().held.clear();
        if let Err(e) = self.store.remove_instance(&id) {
            tracing::warn!(error = %e, "could not leave the fleet; the others take over when the leases run out");
        }
    }

    /// Instances whose config hash differs from the others', in a sentence.
    pub fn mismatch(&self) -> Option<String> {
        mismatch(&self.view.read().live)
    }

    /// The fleet as last seen.
    pub fn fleet(&self) -> FleetView {
        let v = self.view.read().clone();
        let mut me = self.me.read().clone();
        if let Some(row) = v.live.iter().find(|i| i.id == me.id) {
            me.heartbeat_ms = row.heartbeat_ms;
        }
        let now = self.clock.now_ms();
        let held_by = |id: &str| -> Vec<String> {
            v.duties
                .iter()
                .filter(|d| d.holder == id && d.expires_ms > now)
                .map(|d| d.name.clone())
                .collect()
        };
        FleetView {
            duties: if v.held_until.is_some_and(|t| Instant::now() < t) {
                v.held.iter().cloned().collect()
            } else {
                Vec::new()
            },
            instances: v.live.iter().map(|i| (i.clone(), held_by(&i.id))).collect(),
            mismatch: mismatch(&v.live),
            instance: me,
        }
    }
}

fn mismatch(live: &[InstanceRow]) -> Option<String> {
    let hashes: BTreeSet<&str> = live.iter().map(|i| i.config_hash.as_str()).collect();
    if hashes.len() < 2 {
        return None;
    }
    let each: Vec<String> = live
        .iter()
        .map(|i| format!("{} ({}: {})", i.name, i.config_hash, i.config_summary))
        .collect();
    Some(format!(
        "instances run different rules, monitors or channels: {}; give every instance the same config file",
        each.join(", ")
    ))
}

/// The instance of `members` (sorted ids) that owns monitor `id`: rendezvous hashing,
/// so when an instance leaves only its own monitors move, spread over the others.
pub fn owner(id: i64, members: &[String]) -> Option<&str> {
    members
        .iter()
        .max_by_key(|m| mix(seed(m) ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .map(String::as_str)
}

/// FNV-1a of an instance id.
pub fn seed(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser: every input bit moves every output bit.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The default instance name: the host name.
pub fn default_name() -> String {
    host_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|i| format!("{:012x}", mix(i as u64))).collect();
        v.sort();
        v
    }

    fn owners(members: &[String], monitors: i64) -> Vec<String> {
        (0..monitors)
            .map(|id| owner(id, members).unwrap().to_string())
            .collect()
    }

    #[test]
    fn monitors_spread_evenly_over_the_members() {
        assert_eq!(owner(1, &[]), None);
        let one = ids(1);
        assert!(owners(&one, 100).iter().all(|o| *o == one[0]));
        for n in [2, 3, 5] {
            let members = ids(n);
            let all = owners(&members, 10_000);
            for m in &members {
                let share = all.iter().filter(|o| *o == m).count();
                let fair = 10_000 / n;
                assert!(
                    share > fair * 8 / 10 && share < fair * 12 / 10,
                    "{n} members: {m} owns {share} of 10,000"
                );
            }
        }
    }

    #[test]
    fn only_a_leavers_monitors_move_and_a_joiner_takes_only_its_own() {
        let four = ids(4);
        let before = owners(&four, 5_000);
        // One leaves: only its monitors move, spread over all the others.
        let gone = &four[2];
        let three: Vec<String> = four.iter().filter(|m| *m != gone).cloned().collect();
        let after = owners(&three, 5_000);
        let mut moved_to: BTreeSet<&String> = BTreeSet::new();
        for (b, a) in before.iter().zip(&after) {
            if b == gone {
                assert_ne!(a, gone);
                moved_to.insert(a);
            } else {
                assert_eq!(a, b, "a monitor of a member that stayed moved");
            }
        }
        assert_eq!(moved_to.len(), 3, "spread over every remaining member");
        // It joins again: exactly its old monitors come back to it, none other moves.
        assert_eq!(owners(&four, 5_000), before);
        // The order members are listed in does not matter.
        let mut shuffled = four.clone();
        shuffled.reverse();
        assert_eq!(owners(&shuffled, 5_000), before);
    }

    fn row(id: &str, name: &str, hash: &str, summary: &str) -> InstanceRow {
        InstanceRow {
            id: id.into(),
            name: name.into(),
            host: "h".into(),
            version: "1".into(),
            addr: "127.0.0.1:1".into(),
            config_hash: hash.into(),
            config_summary: summary.into(),
            started_ms: 0,
            heartbeat_ms: 0,
        }
    }

    #[test]
    fn a_mismatch_names_every_instance_and_what_its_config_holds() {
        assert_eq!(mismatch(&[]), None);
        let a = row("1", "alpha", "aaaa", "1 monitor, 0 rules, 0 channels");
        let b = row("2", "beta", "aaaa", "1 monitor, 0 rules, 0 channels");
        assert_eq!(mismatch(&[a.clone(), b.clone()]), None, "same hash");
        let c = row("3", "gamma", "cccc", "2 monitors, 1 rule, 0 channels");
        let m = mismatch(&[a, b, c]).expect("a mismatch");
        for part in [
            "alpha (aaaa: 1 monitor, 0 rules, 0 channels)",
            "beta (aaaa: ",
            "gamma (cccc: 2 monitors, 1 rule, 0 channels)",
            "give every instance the same config file",
        ] {
            assert!(m.contains(part), "{part:?} not in {m:?}");
        }
    }

    fn digest(toml: &str) -> ConfigDigest {
        let config = crate::Config::parse(toml, "lookout.toml", &|_| None).unwrap();
        ConfigDigest::of(&config)
    }

    #[test]
    fn the_config_digest_covers_rules_monitors_and_channels_only() {
        let monitor =
            "[[monitors]]\nname = \"api\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n";
        let channel = "[channels.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n";
        let rule = "[[rules]]\nname = \"Down\"\nwhen = \"monitor down\"\nseverity = \"low\"\nnotify = [\"ops\"]\n";
        let base = digest(&format!("{channel}{rule}{monitor}"));
        assert_eq!(base.hash.len(), 16);
        assert!(base.hash.chars().all(|c| c.is_ascii_hexdigit()), "{base:?}");
        assert_eq!(base.summary, "1 monitor, 1 rule, 1 channel");
        // The order of the file's sections and keys is not a difference.
        let reordered = format!(
            "{}{rule}[channels.ops]\nurl = \"http://127.0.0.1:9/hook\"\nkind = \"webhook\"\n",
            "[[monitors]]\nport = 9\nhost = \"127.0.0.1\"\nkind = \"tcp\"\nname = \"api\"\n"
        );
        assert_eq!(digest(&reordered), base);
        // Settings each instance may have its own of are not either.
        assert_eq!(
            digest(&format!(
                "[cluster]\ninstance_name = \"other\"\n[ingest]\nbatch_size = 10\n{channel}{rule}{monitor}"
            )),
            base
        );
        // A monitor, a rule or a channel that differs is.
        let other_port = monitor.replace("port = 9", "port = 10");
        for changed in [
            format!("{channel}{rule}{other_port}"),
            format!("{channel}{}{monitor}", rule.replace("Down", "Gone")),
            format!("{}{rule}{monitor}", channel.replace("/hook", "/other")),
            format!("{channel}{monitor}"),
        ] {
            assert_ne!(digest(&changed).hash, base.hash, "{changed}");
        }
        assert_eq!(digest("").summary, "0 monitors, 0 rules, 0 channels");
    }
}
