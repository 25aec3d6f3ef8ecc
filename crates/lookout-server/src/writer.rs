//! The batching writer: every write of ingest goes through one thread that merges what is
//! queued into one transaction (group commit) and only then acknowledges. A bounded count
//! of queued events keeps memory flat: past it, ingest answers 429 instead of queueing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lookout_core::signal::Signal;
use lookout_store::{BatchResult, EventOutcome, Store, WriteBatch};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The writer's answer to one submission.
pub type WriteReply = Result<Vec<EventOutcome>, String>;

struct Request {
    batch: WriteBatch,
    weight: usize,
    reply: Option<oneshot::Sender<WriteReply>>,
}

enum Msg {
    Write(Request),
    /// Write what is queued, then stop.
    Stop,
}

/// The queue is full; try again shortly.
#[derive(Debug, Clone, Copy)]
pub struct QueueFull;

/// Counters the writer keeps, for `/metrics` and the health check.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Events (and other rows) waiting to be written.
    pub queued: AtomicUsize,
    /// Transactions committed.
    pub batches: AtomicUsize,
    /// Events written (duplicates included).
    pub events: AtomicUsize,
    /// Failed transactions.
    pub failures: AtomicUsize,
}

/// A handle to submit writes. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<WriterStats>,
    capacity: usize,
}

impl Writer {
    /// Starts the writer thread. `signals` receives every signal the store records.
    pub fn start(
        store: Arc<dyn Store>,
        capacity: usize,
        batch_size: usize,
        signals: broadcast::Sender<Signal>,
    ) -> (Writer, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("lookout-writer".into())
            .spawn(move || run(store, rx, batch_size.max(1), thread_stats, signals))
            .expect("spawning the writer thread");
        (
            Writer {
                tx,
                stats,
                capacity,
            },
            handle,
        )
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Queues a batch and returns a receiver that yields once it is durable.
    pub fn submit(&self, batch: WriteBatch) -> Result<oneshot::Receiver<WriteReply>, QueueFull> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(batch, Some(reply))?;
        Ok(rx)
    }

    /// Asks the writer thread to commit everything queued so far and stop.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }

    /// Queues a batch nobody waits for (counters of rejected data); dropped when full.
    pub fn submit_detached(&self, batch: WriteBatch) {
        let _ = self.enqueue(batch, None);
    }

    fn enqueue(
        &self,
        batch: WriteBatch,
        reply: Option<oneshot::Sender<WriteReply>>,
    ) -> Result<(), QueueFull> {
        let weight = weight(&batch);
        let before = self.stats.queued.fetch_add(weight, Ordering::AcqRel);
        if before + weight > self.capacity && before > 0 {
            self.stats.queued.fetch_sub(weight, Ordering::AcqRel);
            return Err(QueueFull);
        }
        self.tx
            .send(Msg::Write(Request {
                batch,
                weight,
                reply,
            }))
            .map_err(|_| {
                self.stats.queued.fetch_sub(weight, Ordering::AcqRel);
                QueueFull
            })
    }
}

fn weight(b: &WriteBatch) -> usize {
    (b.events.len()
        + b.transactions.len()
        + b.sessions.len()
        + b.check_ins.len()
        + b.attachments.len())
    .max(1)
}

fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    batch_size: usize,
    stats: Arc<WriterStats>,
    signals: broadcast::Sender<Signal>,
) {
    let mut pending: Vec<Request> = Vec::new();
    let mut stopping = false;
    loop {
        if !stopping {
            match rx.blocking_recv() {
                Some(Msg::Write(r)) => pending.push(r),
                Some(Msg::Stop) | None => stopping = true,
            }
        }
        let mut weight: usize = pending.iter().map(|r| r.weight).sum();
        while weight < batch_size {
            match rx.try_recv() {
                Ok(Msg::Write(r)) => {
                    weight += r.weight;
                    pending.push(r);
                }
                Ok(Msg::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            if stopping {
                break;
            }
            continue;
        }
        let mut merged = WriteBatch::default();
        let mut spans = Vec::with_capacity(pending.len());
        for r in pending.iter_mut() {
            let start = merged.events.len();
            merged.events.append(&mut r.batch.events);
            merged.transactions.append(&mut r.batch.transactions);
            merged.sessions.append(&mut r.batch.sessions);
            merged.check_ins.append(&mut r.batch.check_ins);
            merged.attachments.append(&mut r.batch.attachments);
            merged.outcomes.append(&mut r.batch.outcomes);
            spans.push(start..merged.events.len());
        }
        let started = Instant::now();
        let result = write_with_retry(store.as_ref(), &merged);
        match &result {
            Ok(res) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .events
                    .fetch_add(merged.events.len(), Ordering::Relaxed);
                tracing::debug!(
                    events = merged.events.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "wrote a batch"
                );
                for s in &res.signals {
                    let _ = signals.send(s.clone());
                }
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, events = merged.events.len(), "could not write a batch; the senders are told to retry");
            }
        }
        for (r, span) in pending.drain(..).zip(spans) {
            stats.queued.fetch_sub(r.weight, Ordering::AcqRel);
            if let Some(reply) = r.reply {
                let answer = match &result {
                    Ok(res) => res.events.get(span).map(|s| s.to_vec()).ok_or_else(|| {
                        "the store answered for fewer events than it was given".to_string()
                    }),
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(answer);
            }
        }
    }
}

/// A locked or briefly unavailable database should not fail a whole batch of SDK requests.
fn write_with_retry(store: &dyn Store, batch: &WriteBatch) -> lookout_store::Result<BatchResult> {
    let mut attempt = 0;
    loop {
        match store.write_batch(batch) {
            Ok(r) => return Ok(r),
            Err(e) if attempt < 2 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "write failed; retrying");
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            Err(e) => return Err(e),
        }
    }
}
