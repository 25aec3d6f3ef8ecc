//! Event payloads as stored: the scrubbed JSON, compressed with zstd and a dictionary
//! trained per project on its own events.
//!
//! Events of one app repeat most of their bytes (SDK, contexts, modules, breadcrumbs,
//! the same stack frames), and zstd without a dictionary cannot use that on a 7 KB
//! document: on the Python SDK corpus a dictionary makes payloads four times smaller
//! (2.1 KB → 0.5 KB) and compression twice as fast. Smaller rows also mean fewer pages
//! for the writer and the checkpointer to copy.
//!
//! Each frame carries its dictionary's id, so a payload names what it needs; dictionaries
//! are stored before any payload uses them and are never deleted. Payloads written
//! without one (before the first dictionary, or by older versions) stay readable.
//!
//! In a fleet, training is singleton work: only the holder of the `jobs` duty samples
//! and trains; the others write with the dictionaries the store holds, read again when
//! their number changes ([`Payloads::refresh`], from the heartbeat loop's sync).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use lookout_store::{PayloadDict, Store};

use crate::cluster::{self, Cluster};
use parking_lot::{Mutex, RwLock};
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe;

/// zstd's level, without and with a dictionary: level 1 is ~3× smaller than the JSON at a
/// small share of the per-event budget; higher levels cost more than they save here.
const LEVEL: i32 = 1;
/// Dictionary size: 64 KiB did better than 16 KiB and as well as 112 KiB on the corpus.
const DICT_BYTES: usize = 64 * 1024;
/// At most this share of the samples come from one issue, so that a storm of one error
/// does not make the whole dictionary.
const MAX_SHARE_PER_ISSUE: usize = 20;
/// With fewer distinct errors than it takes to fill the sample set, training starts with
/// what an hour brought, if that is at least this many.
const MIN_SAMPLES: usize = 100;
const PARTIAL_AFTER_MS: i64 = 3_600_000;
/// After a failed or useless training, the next try waits this long.
const RETRY_AFTER_MS: i64 = 3_600_000;
/// A dictionary is kept only if it makes payloads at least this much smaller (per cent).
const MIN_GAIN_PERCENT: usize = 15;
/// Refused: a frame claiming more than this when decompressed is corrupt.
const MAX_PAYLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// `[ingest]` settings of the dictionaries.
#[derive(Debug, Clone, Copy)]
pub struct DictSettings {
    /// Events sampled to train a project's dictionary; 0 turns dictionaries off.
    pub samples: usize,
    /// Age after which a project's dictionary is trained again on recent events.
    pub refresh: Duration,
}

/// A dictionary, ready for both directions.
struct Dict {
    created_ms: i64,
    encoder: EncoderDictionary<'static>,
    decoder: DecoderDictionary<'static>,
}

impl Dict {
    fn new(d: &PayloadDict) -> Dict {
        Dict {
            created_ms: d.created_ms,
            encoder: EncoderDictionary::copy(&d.dict, LEVEL),
            decoder: DecoderDictionary::copy(&d.dict),
        }
    }
}

/// Where a project is in getting a (new) dictionary.
enum Training {
    Collecting(Samples),
    /// A thread is training on the samples.
    Running,
    /// Nothing to do before this time.
    Waiting {
        until_ms: i64,
    },
}

#[derive(Default)]
struct Samples {
    docs: Vec<Vec<u8>>,
    per_issue: HashMap<String, usize>,
    started_ms: i64,
}

/// Compresses and decompresses payloads; trains dictionaries in the background.
pub struct Payloads {
    store: Arc<dyn Store>,
    settings: DictSettings,
    /// Every known dictionary, by zstd id, for reading.
    dicts: RwLock<HashMap<u32, Arc<Dict>>>,
    /// The dictionary each project writes with: its newest.
    current: RwLock<HashMap<i64, Arc<Dict>>>,
    training: Mutex<HashMap<i64, Training>>,
    /// The fleet: training only while holding its `jobs` duty. Unset (unit tests), this
    /// instance trains.
    fleet: OnceLock<Arc<Cluster>>,
    /// How many dictionaries the store held at the last read.
    stored: AtomicU64,
}

impl Payloads {
    /// Loads the stored dictionaries.
    pub fn load(store: Arc<dyn Store>, settings: DictSettings) -> lookout_store::Result<Self> {
        let p = Payloads {
            store,
            settings,
            dicts: RwLock::default(),
            current: RwLock::default(),
            training: Mutex::default(),
            fleet: OnceLock::new(),
            stored: AtomicU64::new(0),
        };
        p.reload()?;
        Ok(p)
    }

    /// Trains only while `fleet` says this instance holds the `jobs` duty.
    pub fn train_in(&self, fleet: Arc<Cluster>) {
        let _ = self.fleet.set(fleet);
    }

    /// Whether this instance trains dictionaries now.
    fn trains(&self) -> bool {
        self.fleet.get().is_none_or(|c| c.holds(cluster::JOBS))
    }

    /// Reads the dictionaries trained by another instance, when the store holds more
    /// than were read last (one count query otherwise). Blocking.
    pub fn refresh(&self) -> lookout_store::Result<()> {
        if self.store.payload_dict_count()? != self.stored.load(Ordering::Relaxed) {
            self.reload()?;
        }
        Ok(())
    }

    fn reload(&self) -> lookout_store::Result<()> {
        let stored = self.store.payload_dicts()?;
        self.stored.store(stored.len() as u64, Ordering::Relaxed);
        let mut dicts = self.dicts.write();
        let mut current = self.current.write();
        // Oldest first: the last one of a project is its newest.
        for d in &stored {
            let dict = dicts
                .entry(d.id)
                .or_insert_with(|| Arc::new(Dict::new(d)))
                .clone();
            if current
                .get(&d.project_id)
                .is_none_or(|c| c.created_ms <= dict.created_ms)
            {
                current.insert(d.project_id, dict);
            }
        }
        Ok(())
    }

    /// The stored form of one event's JSON. `issue` (its fingerprint) spreads the samples
    /// a dictionary is trained on over many errors.
    pub fn compress(
        self: &Arc<Self>,
        project_id: i64,
        issue: &str,
        json: &[u8],
        now_ms: i64,
    ) -> Vec<u8> {
        let dict = self.current.read().get(&project_id).cloned();
        if self.settings.samples > 0
            && self.trains()
            && dict
                .as_ref()
                .is_none_or(|d| now_ms - d.created_ms >= self.settings.refresh.as_millis() as i64)
        {
            self.sample(project_id, issue, json, now_ms);
        }
        compress_with(dict.as_deref().map(|d| &d.encoder), json)
    }

    /// The JSON of a stored payload.
    pub fn decompress(&self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let Some(id) = zstd_safe::get_dict_id_from_frame(data).map(|id| id.get()) else {
            return decompress_with(None, data);
        };
        let find = || self.dicts.read().get(&id).cloned();
        let dict = match find() {
            Some(d) => d,
            None => {
                // Another instance on the same PostgreSQL database may have trained it.
                self.reload().map_err(std::io::Error::other)?;
                find().ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "the payload needs compression dictionary {id}, which is not stored"
                        ),
                    )
                })?
            }
        };
        decompress_with(Some(&dict.decoder), data)
    }

    /// How many dictionaries are known.
    pub fn dictionaries(&self) -> usize {
        self.dicts.read().len()
    }

    fn sample(self: &Arc<Self>, project_id: i64, issue: &str, json: &[u8], now_ms: i64) {
        let want = self.settings.samples;
        let mut training = self.training.lock();
        let state = training
            .entry(project_id)
            .or_insert_with(|| Training::Collecting(Samples::default()));
        if let Training::Waiting { until_ms } = *state {
            if now_ms < until_ms {
                return;
            }
            *state = Training::Collecting(Samples::default());
        }
        let Training::Collecting(samples) = state else {
            return; // Running
        };
        if samples.docs.is_empty() {
            samples.started_ms = now_ms;
        }
        let per_issue = samples.per_issue.entry(issue.to_string()).or_default();
        if *per_issue < (want / MAX_SHARE_PER_ISSUE).max(1) {
            *per_issue += 1;
            samples.docs.push(json.to_vec());
        }
        let n = samples.docs.len();
        let ready = n >= want
            || (n >= MIN_SAMPLES.min(want) && now_ms - samples.started_ms >= PARTIAL_AFTER_MS);
        if !ready {
            return;
        }
        let Training::Collecting(samples) = std::mem::replace(state, Training::Running) else {
            unreachable!()
        };
        drop(training);
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("lookout-dict".into())
            .spawn(move || {
                let next = match this.train(project_id, samples.docs, now_ms) {
                    Ok(()) => None,
                    Err(why) => {
                        tracing::info!(project_id, "no payload dictionary this time: {why}");
                        Some(Training::Waiting {
                            until_ms: now_ms + RETRY_AFTER_MS,
                        })
                    }
                };
                let mut t = this.training.lock();
                match next {
                    Some(s) => t.insert(project_id, s),
                    None => t.remove(&project_id),
                };
            });
        if spawned.is_err() {
            self.training.lock().insert(
                project_id,
                Training::Waiting {
                    until_ms: now_ms + RETRY_AFTER_MS,
                },
            );
        }
    }

    fn train(&self, project_id: i64, docs: Vec<Vec<u8>>, now_ms: i64) -> Result<(), String> {
        // Every tenth document is held out to check that the dictionary pays.
        let (mut train, mut check) = (Vec::new(), Vec::new());
        for (i, d) in docs.iter().enumerate() {
            if i % 10 == 9 {
                check.push(d.as_slice());
            } else {
                train.push(d.as_slice());
            }
        }
        let dict = zstd::dict::from_samples(&train, DICT_BYTES)
            .map_err(|e| format!("training on {} events failed: {e}", train.len()))?;
        let id = zstd_safe::get_dict_id_from_dict(&dict)
            .ok_or("the trainer wrote no dictionary id")?
            .get();
        let stored = PayloadDict {
            id,
            project_id,
            created_ms: now_ms,
            samples: docs.len() as i64,
            dict,
        };
        let ready = Dict::new(&stored);
        let plain: usize = check.iter().map(|d| compress_with(None, d).len()).sum();
        let with: usize = check
            .iter()
            .map(|d| compress_with(Some(&ready.encoder), d).len())
            .sum();
        if with * 100 > plain * (100 - MIN_GAIN_PERCENT) {
            return Err(format!(
                "it would store {with} bytes where plain zstd stores {plain}"
            ));
        }
        if self.dicts.read().contains_key(&id) {
            return Err(format!("dictionary id {id} is already in use"));
        }
        if !self.trains() {
            // The duty moved while training: the new holder trains its own.
            return Err("another instance trains dictionaries now".into());
        }
        // Stored before any payload uses it: a payload must never name a lost dictionary.
        self.store
            .save_payload_dict(&stored)
            .map_err(|e| format!("cannot store it: {e}"))?;
        let ready = Arc::new(ready);
        self.dicts.write().insert(id, ready.clone());
        self.current.write().insert(project_id, ready);
        tracing::info!(
            project_id,
            dictionary = id,
            samples = docs.len(),
            "trained a payload dictionary: {plain} → {with} bytes on {} held-out events",
            check.len()
        );
        Ok(())
    }
}

thread_local! {
    static CCTX: RefCell<Option<zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// One zstd frame (with content size and, if used, the dictionary's id) of `data`.
pub fn compress_with(dict: Option<&EncoderDictionary<'static>>, data: &[u8]) -> Vec<u8> {
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let cctx = c.get_or_insert_with(zstd_safe::CCtx::create);
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
        let res = match dict {
            Some(d) => cctx.compress_using_cdict(&mut out, data, d.as_cdict()),
            None => cctx.compress(&mut out, data, LEVEL),
        };
        match res {
            Ok(_) => out,
            // Only a bug gets here (the bound is always enough); the stream API has no
            // bound to get wrong.
            Err(_) => zstd::bulk::compress(data, LEVEL).unwrap_or_default(),
        }
    })
}

fn decompress_with(
    dict: Option<&DecoderDictionary<'static>>,
    data: &[u8],
) -> std::io::Result<Vec<u8>> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let size = match zstd_safe::get_frame_content_size(data) {
        Ok(Some(n)) if n <= MAX_PAYLOAD_BYTES => n as usize,
        Ok(Some(n)) => return Err(invalid(format!("a payload of {n} bytes is corrupt"))),
        // Frames written by other means may not say their size.
        Ok(None) if dict.is_none() => return zstd::stream::decode_all(data),
        _ => return Err(invalid("not a zstd frame".into())),
    };
    DCTX.with(|c| {
        let mut c = c.borrow_mut();
        let dctx = c.get_or_insert_with(zstd_safe::DCtx::create);
        let mut out = Vec::with_capacity(size);
        let res = match dict {
            Some(d) => dctx.decompress_using_ddict(&mut out, data, d.as_ddict()),
            None => dctx.decompress(&mut out, data),
        };
        res.map_err(|code| invalid(zstd_safe::get_error_name(code).to_string()))?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(dir: &tempfile::TempDir) -> Arc<Payloads> {
        let store = lookout_store::sqlite::SqliteStore::open(dir.path()).unwrap();
        let settings = DictSettings {
            samples: 100,
            refresh: Duration::from_secs(3600),
        };
        Arc::new(Payloads::load(Arc::new(store), settings).unwrap())
    }

    #[test]
    fn unreadable_payloads_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = payloads(&dir);
        assert!(p.decompress(b"").is_err());
        assert!(p.decompress(b"{\"not\":\"zstd\"}").is_err());
        let good = compress_with(None, b"{\"a\":1}");
        assert!(p.decompress(&good[..good.len() - 2]).is_err());
        assert_eq!(p.decompress(&good).unwrap(), b"{\"a\":1}");

        // A frame naming a dictionary this database does not have.
        let samples: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                format!("{{\"message\":\"order {i} failed\",\"level\":\"error\",\"n\":{i}}}")
                    .into_bytes()
            })
            .collect();
        let dict = zstd::dict::from_samples(&samples, 4096).unwrap();
        let id = zstd_safe::get_dict_id_from_dict(&dict).unwrap();
        let enc = EncoderDictionary::copy(&dict, LEVEL);
        let framed = compress_with(Some(&enc), &samples[3]);
        let err = p.decompress(&framed).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    }

    #[test]
    fn a_dictionary_is_trained_once_and_written_with() {
        let dir = tempfile::tempdir().unwrap();
        let p = payloads(&dir);
        let doc = |i: usize| {
            format!(
                "{{\"platform\":\"python\",\"sdk\":{{\"name\":\"sentry.python\",\"version\":\"2.19.0\"}},\
                 \"exception\":{{\"values\":[{{\"type\":\"KeyError\",\"value\":\"'sku-{i}'\"}}]}},\
                 \"modules\":{{\"django\":\"5.0.2\",\"redis\":\"5.0.1\",\"celery\":\"5.3.6\"}}}}"
            )
            .into_bytes()
        };
        // Five issues of at most 5 samples each (a 20th of 100) never reach 100.
        for i in 0..200 {
            p.compress(1, &format!("issue-{}", i % 5), &doc(i), 1_000);
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(p.dictionaries(), 0);
        // Past an hour, what was collected is enough if it reaches the minimum: it is
        // not (25 < 100), so still nothing.
        p.compress(1, "issue-0", &doc(0), 1_000 + PARTIAL_AFTER_MS);
        assert_eq!(p.dictionaries(), 0);
        // Many issues fill the sample set.
        for i in 0..200 {
            p.compress(1, &format!("other-{i}"), &doc(i), 2_000);
        }
        let start = std::time::Instant::now();
        while p.dictionaries() == 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "no dictionary");
            std::thread::sleep(Duration::from_millis(20));
        }
        let z = p.compress(1, "x", &doc(7), 3_000);
        assert!(zstd_safe::get_dict_id_from_frame(&z).is_some());
        assert_eq!(p.decompress(&z).unwrap(), doc(7));
        // Another project has none yet.
        let z = p.compress(2, "x", &doc(7), 3_000);
        assert!(zstd_safe::get_dict_id_from_frame(&z).is_none());
    }
}
