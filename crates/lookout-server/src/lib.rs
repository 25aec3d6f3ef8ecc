//! lookout's server: Sentry ingest, the JSON API, `/api/health`, background jobs.
//!
//! [`start`] opens the store, loads projects, starts the writer and binds the listener;
//! tests call it with port 0 and talk HTTP to the address it returns.

pub mod alerts;
pub mod api;
pub mod config;
pub mod error;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod monitors;
pub mod payload;
pub mod ping;
pub mod projects;
pub mod state;
pub mod sysinfo;
pub mod time_fmt;
pub mod writer;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use lookout_core::clock::{Clock, SystemClock};
use lookout_store::{NewProject, Project, Store};
use tokio::sync::{broadcast, oneshot};

pub use config::Config;
use config::Secret;
use state::AppState;

/// A running server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Shared state (store, projects, token).
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: Option<std::thread::JoinHandle<()>>,
    jobs: tokio::task::JoinHandle<()>,
    scheduler: tokio::task::JoinHandle<()>,
    alert_tasks: Vec<tokio::task::JoinHandle<()>>,
    recorder: tokio::task::JoinHandle<()>,
    stop_recorder: Option<oneshot::Sender<()>>,
}

impl Running {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Projects with their DSNs.
    pub fn projects(&self) -> Vec<(Project, String)> {
        self.state
            .projects
            .all()
            .into_iter()
            .map(|p| {
                let dsn = self.state.dsn(&p.project.public_key, p.project.id);
                (p.project.clone(), dsn)
            })
            .collect()
    }

    /// Stops accepting requests, lets requests in flight finish, waits until the writer
    /// has committed everything queued, and closes the store's connections.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.server).await??;
        self.jobs.abort();
        self.scheduler.abort();
        for t in &self.alert_tasks {
            t.abort();
        }
        if let Some(tx) = self.stop_recorder.take() {
            let _ = tx.send(());
        }
        (&mut self.recorder).await?;
        self.state.writer.stop();
        if let Some(w) = self.writer.take() {
            tokio::task::spawn_blocking(move || w.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
        }
        // Aborted tasks let go of the state once they have ended.
        for t in [self.jobs, self.scheduler]
            .into_iter()
            .chain(self.alert_tasks)
        {
            if let Err(e) = t.await {
                if !e.is_cancelled() {
                    tracing::warn!(error = %e, "a background task failed while stopping");
                }
            }
        }
        // Closing database connections blocks (a PostgreSQL client winds down its own
        // runtime): done on a blocking thread, not on one of the runtime's workers.
        let state = self.state;
        tokio::task::spawn_blocking(move || drop(state)).await?;
        Ok(())
    }
}

/// Opens the store the config names: PostgreSQL for a `postgres://` URL, else SQLite in
/// the data directory.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.server.database_url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = lookout_store::postgres::PostgresStore::connect(url)
            .context("cannot connect to PostgreSQL (server.database_url)")?;
        Ok(Arc::new(s))
    } else {
        let dir = match url.strip_prefix("sqlite:") {
            Some(p) if !p.is_empty() => Path::new(p).to_path_buf(),
            _ => config.server.data_dir.clone(),
        };
        let durability = match config.server.sqlite_synchronous {
            config::SqliteSynchronous::Full => lookout_store::sqlite::Durability::PowerLoss,
            config::SqliteSynchronous::Normal => lookout_store::sqlite::Durability::Process,
        };
        let s =
            lookout_store::sqlite::SqliteStore::open_with(&dir, durability).with_context(|| {
                format!(
                    "cannot open the SQLite database in {} (server.data_dir)",
                    dir.display()
                )
            })?;
        Ok(Arc::new(s))
    }
}

/// Starts the server with the wall clock.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with(config, Arc::new(SystemClock)).await
}

/// Starts the server with an injected clock.
pub async fn start_with(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (server.data_dir)",
            config.server.data_dir.display()
        )
    })?;
    let store = {
        let c = config.clone();
        tokio::task::spawn_blocking(move || open_store(&c)).await??
    };
    let now = clock.now_ms();
    {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || sync_projects(store.as_ref(), &config, now)).await??;
    }
    let projects = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || projects::Projects::load(store.as_ref(), now)).await??
    };
    let monitor_defs = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || monitors::sync_config(store.as_ref(), &config, now))
            .await??
    };
    let api_windows = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.list_maintenance(now)).await??
    };
    let alert_secret = match config.alerts.secret.is_empty() {
        false => config.alerts.secret.expose().as_bytes().to_vec(),
        true => load_or_create_secret(&config.server.data_dir.join("alert-secret"), "")?
            .expose()
            .as_bytes()
            .to_vec(),
    };
    let alerts = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || {
            alerts::Alerts::new(&config, store.as_ref(), alert_secret)
        })
        .await??
    };
    let payloads = {
        let store = store.clone();
        let settings = payload::DictSettings {
            samples: config.ingest.dictionary_samples,
            refresh: config.ingest.dictionary_refresh,
        };
        tokio::task::spawn_blocking(move || payload::Payloads::load(store, settings)).await??
    };
    let api_token = match config.server.api_token.is_empty() {
        false => config.server.api_token.clone(),
        true => load_or_create_secret(&config.server.data_dir.join("api-token"), "lk_")?,
    };

    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config.server.public_url.clone().unwrap_or_else(|| {
        let host = if addr.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        };
        format!("http://{host}:{}", addr.port())
    });

    let (signals, _) = broadcast::channel(1024);
    let (writer, writer_thread) = writer::Writer::start(
        store.clone(),
        config.ingest.queue_capacity,
        config.ingest.batch_size,
        writer::GATHER,
        signals.clone(),
    );
    let (records_tx, records_rx) = tokio::sync::mpsc::channel(monitors::recorder::QUEUE);
    let monitors = Arc::new(monitors::Monitors::new(
        clock.clone(),
        records_tx,
        config.uptime.max_concurrent_checks,
    ));
    monitors.set_windows(
        monitors::config_windows(&config, &monitor_defs),
        api_windows,
    );
    let n_monitors = monitor_defs.len();
    for (m, def) in monitor_defs {
        monitors.upsert(m, def);
    }
    let state = Arc::new(AppState {
        store,
        projects,
        writer,
        limits: config.limits(),
        clock,
        api_token,
        public_url,
        started: Instant::now(),
        signals,
        metrics: Default::default(),
        monitors: monitors.clone(),
        uptime: config.uptime.clone(),
        alerts: Arc::new(alerts),
        payloads: Arc::new(payloads),
    });
    let jobs = jobs::spawn(state.clone());
    let (stop_recorder, stopped) = oneshot::channel();
    let recorder = tokio::spawn(monitors::recorder::run(state.clone(), records_rx, stopped));
    let scheduler = tokio::spawn(monitors::scheduler::run(monitors));
    let alert_tasks = vec![
        tokio::spawn(alerts::run(state.clone())),
        tokio::spawn(alerts::dispatch::run(state.clone())),
    ];

    let app = router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%addr, store = state.store.kind(), monitors = n_monitors, "lookout is listening");
    Ok(Running {
        addr,
        state,
        shutdown: Some(tx),
        server,
        writer: Some(writer_thread),
        jobs,
        scheduler,
        alert_tasks,
        recorder,
        stop_recorder: Some(stop_recorder),
    })
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/health", get(health::handler))
        .merge(ingest::routes())
        .merge(ping::routes())
        .merge(api::ack_routes())
        .merge(api::routes(state.clone()))
        .with_state(state)
}

/// Makes the store's projects match the config's `[[projects]]`, and creates a default
/// project on a first start without any.
fn sync_projects(store: &dyn Store, config: &Config, now_ms: i64) -> anyhow::Result<()> {
    for (i, p) in config.projects.iter().enumerate() {
        store
            .upsert_project(&NewProject {
                id: Some(p.id),
                slug: p.slug.clone(),
                name: p.name.clone().unwrap_or_else(|| p.slug.clone()),
                public_key: Some(p.public_key.to_ascii_lowercase()),
                settings: p.settings(&config.defaults),
                now_ms,
            })
            .with_context(|| format!("projects[{i}] ({}) cannot be stored", p.slug))?;
    }
    if store.list_projects()?.is_empty() {
        store.create_project(&NewProject {
            id: None,
            slug: "default".into(),
            name: "Default".into(),
            public_key: None,
            settings: config.defaults.settings(),
            now_ms,
        })?;
    }
    Ok(())
}

/// A secret kept in the data directory (the API token, the key of acknowledge links),
/// created on first start.
fn load_or_create_secret(path: &Path, prefix: &str) -> anyhow::Result<Secret> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim();
        if !t.is_empty() {
            return Ok(Secret::new(t));
        }
    }
    let token = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
    write_private(path, &token)
        .with_context(|| format!("cannot write a generated secret to {}", path.display()))?;
    Ok(Secret::new(token))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}
