//! lookout's server: Sentry ingest, the JSON API, `/api/health`, background jobs.
//!
//! [`start`] opens the store, loads projects, starts the writer and binds the listener;
//! tests call it with port 0 and talk HTTP to the address it returns.
//!
//! This file is the edge: it builds each part (ingest, writer, monitors, alerts, jobs)
//! from explicit handles and connects them with the one-way channels of [`bus`]. The
//! parts never import one another's internals, nor the handlers' [`state::AppState`].

pub mod alerts;
pub mod api;
pub mod bus;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod deploys;
pub mod error;
pub mod fleet;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod monitors;
pub mod payload;
pub mod ping;
pub mod projects;
pub mod scrape;
pub mod sentry_api;
pub mod slo;
pub mod sourcemaps;
pub mod state;
pub mod status;
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
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{oneshot, Notify};

use alerts::channels::Channels;
use alerts::links::AckLinks;
use alerts::Alerts;
pub use config::Config;
pub use lookout_store::files;
use state::AppState;

/// A running server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The API handlers' shared state (store, projects, token…).
    pub state: Arc<AppState>,
    /// The dashboard (its first-user setup token, while no user exists).
    pub web: Arc<lookout_web::Web>,
    /// The router as served, kept so tests can walk every route it holds.
    router: Router,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: writer::Writer,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// Jobs, the scheduler, the check-in consumer, the alert loop and the dispatcher:
    /// stopped by aborting them.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    recorder: tokio::task::JoinHandle<()>,
    stop_recorder: Option<oneshot::Sender<()>>,
}

impl Running {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The router as served: every route of ingest, the API, the dashboard, status pages
    /// and `/metrics`. Tests walk its paths so that a new route cannot miss the auth check.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The batching writer every ingest write goes through.
    pub fn writer(&self) -> &writer::Writer {
        &self.writer
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
        for t in &self.tasks {
            t.abort();
        }
        let cluster = self.state.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.leave()).await?;
        if let Some(tx) = self.stop_recorder.take() {
            let _ = tx.send(());
        }
        (&mut self.recorder).await?;
        self.writer.stop();
        if let Some(w) = self.writer_thread.take() {
            tokio::task::spawn_blocking(move || w.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
        }
        // Aborted tasks let go of their handles once they have ended.
        for t in std::mem::take(&mut self.tasks) {
            if let Err(e) = t.await {
                if !e.is_cancelled() {
                    tracing::warn!(error = %e, "a background task failed while stopping");
                }
            }
        }
        // Closing database connections blocks (a PostgreSQL client winds down its own
        // runtime): the last handles on the store are dropped on a blocking thread, not on
        // one of the runtime's workers.
        tokio::task::spawn_blocking(move || drop(self)).await?;
        Ok(())
    }
}

/// Opens the store the config names: PostgreSQL for a `postgres://` URL, else SQLite in
/// the data directory.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.server.database_url.expose_secret();
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
    files::create_private_dir(&config.server.data_dir).with_context(|| {
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
    let loaded = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || load(store, &config, now)).await??
    };
    let (projects, payloads) = (Arc::new(loaded.projects), Arc::new(loaded.payloads));
    let symbolicator = Arc::new(loaded.symbolicator);
    let api_token = match config.server.api_token.expose_secret().is_empty() {
        false => config.server.api_token.clone(),
        true => load_or_create_secret(&config.server.data_dir.join("api-token"), "lk_")?,
    };
    let alert_secret = match config.alerts.secret.expose_secret().is_empty() {
        false => config.alerts.secret.clone(),
        true => load_or_create_secret(&config.server.data_dir.join("alert-secret"), "")?,
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

    let cluster = {
        let identity = cluster::Identity {
            name: config
                .cluster
                .instance_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(cluster::default_name),
            config: cluster::ConfigDigest::of(&config),
            lease_ttl: config.cluster.lease_ttl,
        };
        let c = Arc::new(cluster::Cluster::new(
            identity,
            addr.to_string(),
            store.clone(),
        ));
        // Joined before any part starts, so the duties this instance takes (all of them
        // on its own) run from the first moment.
        let joined = c.clone();
        let change = tokio::task::spawn_blocking(move || joined.beat())
            .await?
            .context("cannot register this instance in the database")?;
        tracing::info!(instance = %c.id(), duties = ?change.gained, instances = c.members().len(), "joined");
        if let Some(m) = c.mismatch() {
            tracing::warn!(mismatch = %m, "configuration mismatch between instances");
        }
        c
    };
    payloads.train_in(cluster.clone());

    // The one-way channels between the parts.
    let signals = bus::signals();
    let (check_ins, check_ins_rx) = bus::check_ins();
    let (facts, facts_rx) = bus::monitor_facts();
    let (records, records_rx) = tokio::sync::mpsc::channel(monitors::recorder::QUEUE);
    let outbox = Arc::new(Notify::new());

    let (writer, writer_thread) = writer::Writer::start(
        store.clone(),
        config.ingest.queue_capacity,
        config.ingest.batch_size,
        writer::GATHER,
        signals.clone(),
    );
    let monitors = Arc::new(monitors::Monitors::new(
        clock.clone(),
        records,
        facts,
        config.uptime.max_concurrent_checks,
    ));
    monitors.set_windows(
        monitors::maintenance::config_windows(&config.maintenance, &loaded.monitors),
        loaded.api_windows,
    );
    let n_monitors = loaded.monitors.len();
    for (m, def) in loaded.monitors {
        // A failure streak begun before a restart goes on (an outage dated from its start).
        let recent = monitors::sync::recent_outcomes(store.as_ref(), &m, &def);
        monitors.upsert_restored(m, def, &recent);
    }
    // Just loaded from the store: nothing gained needs loading again. But joining a live
    // fleet, this instance's share was run by the others until now, and they see it only
    // at their next heartbeat: its monitors wait for the handover like any taken over.
    let _ = monitors.set_members(&cluster.id(), cluster.members(), false);
    if cluster.members().len() > 1 {
        fleet::take_over(&monitors, &cluster, monitors.owned_ids());
    }
    if let Some(until) = cluster.lease_until() {
        monitors.renew_lease(until);
    }
    let channels = Arc::new(Channels::from_config(&config.channels)?);
    let links = Arc::new(AckLinks::new(
        alert_secret.expose_secret().as_bytes().to_vec(),
        &public_url,
    ));
    let slos = slo::Slos::new(
        config
            .slos()
            .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?,
    );
    let alerts = {
        let config = config.clone();
        let handles = alerts::Handles {
            slos: slos.clone(),
            store: store.clone(),
            clock: clock.clone(),
            projects: projects.clone(),
            channels: channels.clone(),
            outbox: outbox.clone(),
            cluster: cluster.clone(),
        };
        Arc::new(
            tokio::task::spawn_blocking(move || {
                let setup = alerts::Setup {
                    rules: &config.rules,
                    severities: &config.severities,
                    runbook_dir: config.base_dir.as_deref(),
                    evaluate_every: config.alerts.evaluate_every,
                };
                Alerts::new(setup, handles)
            })
            .await??,
        )
    };

    let recorder_sink = monitors::recorder::Sink {
        store: store.clone(),
        signals: signals.clone(),
    };
    let (stop_recorder, stopped) = oneshot::channel();
    let recorder = tokio::spawn(monitors::recorder::run(recorder_sink, records_rx, stopped));
    let dispatcher = alerts::dispatch::Dispatcher {
        store: store.clone(),
        clock: clock.clone(),
        channels: channels.clone(),
        links: links.clone(),
        queued: outbox,
        cluster: cluster.clone(),
    };
    let regrouper = Arc::new(sourcemaps::regroup::Regrouper {
        store: store.clone(),
        symbolicator: symbolicator.clone(),
        payloads: payloads.clone(),
        clock: clock.clone(),
        window: config.sourcemaps.regroup_window,
        max_events: config.sourcemaps.regroup_max_events,
        wake: tokio::sync::Notify::new(),
        cluster: cluster.clone(),
        poll: config.cluster.sync_every,
    });
    let tasks = vec![
        tokio::spawn(sourcemaps::regroup::run(regrouper.clone())),
        jobs::spawn(jobs::Jobs {
            store: store.clone(),
            clock: clock.clone(),
            projects: projects.clone(),
            retention: config.uptime.retention(),
            artifact_retention: config.sourcemaps.retention,
            keep_releases: config.sourcemaps.keep_releases,
            symbolicator: symbolicator.clone(),
            cluster: cluster.clone(),
        }),
        tokio::spawn(monitors::scheduler::run(monitors.clone())),
        tokio::spawn(monitors::checkin::run(
            check_ins_rx,
            store.clone(),
            monitors.clone(),
        )),
        tokio::spawn(alerts::run(alerts.clone(), signals.subscribe(), facts_rx)),
        tokio::spawn(alerts::dispatch::run(Arc::new(dispatcher))),
        tokio::spawn(deploys::watch::run(Arc::new(deploys::watch::Watcher {
            store: store.clone(),
            clock: clock.clone(),
            config: config.deploy.watch.clone(),
            cluster: cluster.clone(),
            signals: signals.clone(),
        }))),
        tokio::spawn(fleet::run(Arc::new(fleet::Members {
            cluster: cluster.clone(),
            monitors: monitors.clone(),
            alerts: alerts.clone(),
            projects: projects.clone(),
            payloads: payloads.clone(),
            sync_every: config.cluster.sync_every,
        }))),
    ];

    let ingest = Arc::new(ingest::Ingest {
        projects: projects.clone(),
        writer: writer.clone(),
        limits: config.limits(),
        clock: clock.clone(),
        payloads: payloads.clone(),
        check_ins,
        store: store.clone(),
        public_url: public_url.clone(),
        symbolicator: symbolicator.clone(),
    });
    let status_pages = Arc::new(status::Pages::new(
        store.clone(),
        monitors.clone(),
        clock.clone(),
        public_url.clone(),
        &loaded.status_pages,
    ));
    let backend = Arc::new(dashboard::ServerBackend {
        store: store.clone(),
        clock: clock.clone(),
        monitors: monitors.clone(),
        alerts: alerts.clone(),
        payloads: payloads.clone(),
        ingest: ingest.clone(),
        slos: slos.clone(),
        slo_cache: Default::default(),
        public_url: public_url.clone(),
        cluster: cluster.clone(),
        runtime: tokio::runtime::Handle::current(),
    });
    let web = {
        let (store, clock, url) = (store.clone(), clock.clone(), public_url.clone());
        let proxies = lookout_web::auth::TrustedProxies::parse(&config.server.trusted_proxies)
            .map_err(|why| anyhow::anyhow!("server.trusted_proxies: {why}"))?;
        Arc::new(
            tokio::task::spawn_blocking(move || lookout_web::Web::new(store, clock, backend, &url))
                .await??
                .with_trusted_proxies(proxies),
        )
    };
    let state = Arc::new(AppState {
        status_pages,
        store,
        projects,
        monitors: monitors.clone(),
        alerts,
        channels,
        links,
        payloads,
        clock,
        api_token,
        public_url,
        started: Instant::now(),
        max_lateness: config.uptime.max_lateness,
        slos,
        deploy_watch: Arc::new(config.deploy.watch.clone()),
        symbolicator,
        regrouper,
        sourcemaps: config.sourcemaps.clone(),
        releases: config.releases.clone(),
        writer: writer.clone(),
        metrics_public: config.metrics.public,
        cluster,
    });
    let app = router(state.clone(), ingest, monitors, web.clone());
    let served = app.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // The client address keys the sign-in rate limit.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        })
        .await
    });
    tracing::info!(%addr, store = state.store.kind(), monitors = n_monitors, "lookout is listening");
    Ok(Running {
        addr,
        state,
        web,
        router: served,
        shutdown: Some(tx),
        server,
        writer,
        writer_thread: Some(writer_thread),
        tasks,
        recorder,
        stop_recorder: Some(stop_recorder),
    })
}

/// Routes outside the dashboard and `/api/v1` that answer without a user's credential,
/// each for its reason: Sentry ingest (the DSN's key), pings and check-ins (the monitor's
/// token), acknowledge links (their signature), `/api/health` (uptime monitors of lookout
/// itself), public status pages with their feeds and badges (public by design: they show
/// only what their config names). The auth test walks every other route and expects a
/// refusal.
pub const PUBLIC_ROUTES: &[&str] = &[
    "/api/health",
    "/api/{project_id}/envelope/",
    "/api/{project_id}/envelope",
    "/api/{project_id}/store/",
    "/api/{project_id}/store",
    "/api/{project_id}/events/{event_id}/",
    "/ping/{token}",
    "/ping/{token}/{what}",
    "/ack/{id}/{sig}",
    "/api/v1/openapi.json",
    "/status/{slug}",
    "/status/{slug}/",
    "/status/{slug}/summary.json",
    "/status/{slug}/feed.atom",
    "/badge/{slug}/{file}",
];

/// All routes: ingest, pings and status pages with their own state, the API and health
/// with the handlers' shared state, and the dashboard at `/`; around them all, the layer
/// that serves a status page at `/` of its own domain (and passes every other request on).
pub fn router(
    state: Arc<AppState>,
    ingest: Arc<ingest::Ingest>,
    monitors: Arc<monitors::Monitors>,
    web: Arc<lookout_web::Web>,
) -> Router {
    let pages = state.status_pages.clone();
    Router::new()
        .route("/api/health", get(health::handler))
        .route("/metrics", get(scrape::handler))
        .merge(ingest::routes(ingest))
        .merge(ping::routes(monitors))
        .merge(status::routes(pages.clone()))
        .merge(api::ack_routes())
        .merge(api::routes(state.clone()))
        .merge(lookout_web::routes(web))
        .merge(sentry_api::routes(state.clone()))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(pages, status::by_host))
}

/// What is read from the store before the parts start.
struct Loaded {
    projects: projects::Projects,
    monitors: Vec<(lookout_store::Monitor, monitors::spec::MonitorDef)>,
    api_windows: Vec<lookout_store::Maintenance>,
    status_pages: Vec<lookout_store::StatusPage>,
    payloads: payload::Payloads,
    symbolicator: sourcemaps::Symbolicator,
}

/// Makes the store's projects, config monitors and status pages match the config, then
/// loads what the parts start from. Blocking.
fn load(store: Arc<dyn Store>, config: &Config, now_ms: i64) -> anyhow::Result<Loaded> {
    sync_projects(store.as_ref(), config, now_ms)?;
    let settings = payload::DictSettings {
        samples: config.ingest.dictionary_samples,
        refresh: config.ingest.dictionary_refresh,
    };
    let prune = prune_config_monitors(store.as_ref(), config)?;
    let monitors = monitors::sync::sync_config(store.as_ref(), &config.monitors, now_ms, prune)?;
    status::config::sync_config(store.as_ref(), &config.status_pages, now_ms)?;
    Ok(Loaded {
        projects: projects::Projects::load(store.as_ref(), now_ms)?,
        monitors,
        api_windows: store.list_maintenance(now_ms)?,
        status_pages: store.list_status_pages()?,
        symbolicator: sourcemaps::Symbolicator::load(store.clone())?,
        payloads: payload::Payloads::load(store, settings)?,
    })
}

/// Whether this instance may delete the config monitors its file lacks: only when no
/// other live instance runs a different config. Otherwise a rolling config change (or
/// one forgotten file) would delete, fleet-wide, monitors the others still declare; the
/// mismatch is reported by the cluster check meanwhile. Leases are judged by the wall
/// clock (see `cluster::Cluster`), so liveness is too.
fn prune_config_monitors(store: &dyn Store, config: &Config) -> anyhow::Result<bool> {
    let mine = cluster::ConfigDigest::of(config).hash;
    let ttl_ms = config.cluster.lease_ttl.as_millis().max(1) as i64;
    let since = SystemClock.now_ms() - ttl_ms;
    let differ: Vec<String> = store
        .live_instances(since)?
        .into_iter()
        .filter(|i| i.config_hash != mine)
        .map(|i| format!("{} ({})", i.name, i.config_hash))
        .collect();
    if differ.is_empty() {
        return Ok(true);
    }
    tracing::warn!(
        others = %differ.join(", "),
        mine = %mine,
        "other live instances run a different config: monitors this file lacks are not deleted"
    );
    Ok(false)
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
fn load_or_create_secret(path: &Path, prefix: &str) -> anyhow::Result<SecretString> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim();
        if !t.is_empty() {
            return Ok(SecretString::from(t));
        }
    }
    let token = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
    files::write_private(path, &token)
        .with_context(|| format!("cannot write a generated secret to {}", path.display()))?;
    Ok(SecretString::from(token))
}
