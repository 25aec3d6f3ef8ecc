//! The configuration file: TOML with `${ENV}` interpolation, unknown keys rejected with
//! their key path, defaults in code, paths relative to the file, `LOOKOUT_*` environment
//! overrides for the server keys, and [`warnings`] about what loads but is probably not
//! what was meant. Its `[deploy]` section belongs to `lookout deploy`, which reads it with
//! [`interpolate`] too; the server leaves it alone.

mod warnings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lookout_core::interpolate::{expand, InterpolateError};
use lookout_core::settings::{ProjectSettings, ScrubSettings};
use lookout_core::slug::is_slug;
use lookout_sentry::limits::Limits;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::alerts::config::{AlertsConfig, RuleConfig, SeverityConfig};
use crate::monitors::config::{MaintenanceConfig, UptimeConfig};
use crate::monitors::spec::MonitorConfig;
use crate::status::config::StatusPageConfig;
pub use warnings::ConfigWarning;

/// A configuration error that names the key and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file {} does not exist: pass --config with its path, or write one with `lookout init`", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (not a `source`: the message already says it, and would say it twice).
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key is unknown, missing or of the wrong type.
    #[error("{path}: {key}: {message}")]
    Key {
        /// The file.
        path: String,
        /// Key path such as `projects[1].public_key`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The whole configuration, but for `[deploy]` other than `[deploy.watch]` (the deploy
/// command's section, skipped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[ingest]`.
    pub ingest: IngestConfig,
    /// `[defaults]`: settings of projects that do not set their own.
    pub defaults: ProjectDefaults,
    /// `[[projects]]`.
    pub projects: Vec<ProjectConfig>,
    /// `[uptime]`: how monitors run and how long their history is kept.
    pub uptime: UptimeConfig,
    /// `[[monitors]]`.
    pub monitors: Vec<MonitorConfig>,
    /// `[[maintenance]]`: windows in which monitors are checked but never alert.
    pub maintenance: Vec<MaintenanceConfig>,
    /// [channels.NAME]: where notifications go.
    pub channels: BTreeMap<String, lookout_notify::ChannelConfig>,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// `[severities.NAME]`: response windows and routes.
    pub severities: BTreeMap<String, SeverityConfig>,
    /// `[[rules]]`.
    pub rules: Vec<RuleConfig>,
    /// `[[status_pages]]`: public pages showing some monitors.
    pub status_pages: Vec<StatusPageConfig>,
    /// `[[slos]]`: service level objectives.
    pub slos: Vec<crate::slo::SloConfig>,
    /// `[deploy]`: the server reads only `[deploy.watch]`; the rest is `lookout deploy`'s.
    pub deploy: crate::deploys::config::ServerDeploySection,
    /// `[sourcemaps]`: limits and retention of uploaded artifact bundles.
    pub sourcemaps: SourcemapsConfig,
    /// `[releases]`: what `sentry-cli releases` is told about the organisation.
    pub releases: ReleasesConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[cluster]`: several instances on one PostgreSQL database.
    pub cluster: ClusterConfig,
    /// The config file's directory, which its paths (data directory, runbooks, CA files)
    /// are relative to.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// What loads but is probably not what was meant: severities that notify nobody,
    /// `${VAR:-default}` that fell back to the default.
    #[serde(skip)]
    pub warnings: Vec<ConfigWarning>,
}

/// `[cluster]`: how instances sharing one database find each other and share the work.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This instance's name in `/api/health`, the logs and the dashboard; the host name
    /// when empty.
    pub instance_name: Option<String>,
    /// An instance whose heartbeat is older than this is dead: its duties and monitors
    /// move to the others.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: std::time::Duration,
    /// How often monitors, rules and maintenance windows created through another
    /// instance's API are read from the database.
    #[serde(with = "humantime_serde")]
    pub sync_every: std::time::Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            instance_name: None,
            lease_ttl: std::time::Duration::from_secs(15),
            sync_every: std::time::Duration::from_secs(5),
        }
    }
}

/// `[releases]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleasesConfig {
    /// Repositories (`owner/name`) that `sentry-cli releases set-commits --commit
    /// REPO@FROM..TO` may name: sentry-cli checks the name against the organisation's
    /// repositories first, and with none listed it ignores `--commit` and reads commits
    /// from the local checkout instead.
    pub repositories: Vec<String>,
}

/// `[sourcemaps]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcemapsConfig {
    /// Largest artifact bundle, bytes (also the largest file inside one, unpacked).
    pub max_bundle_bytes: u64,
    /// Bundles kept per project; uploading more removes the oldest.
    pub max_bundles_per_project: u32,
    /// Bundles older than this are removed, unless bound to one of the project's newest
    /// `keep_releases` releases.
    #[serde(with = "humantime_serde")]
    pub retention: std::time::Duration,
    /// Releases whose bundles are kept whatever their age.
    pub keep_releases: u32,
    /// Events received this long before a bundle arrives are regrouped through it.
    #[serde(with = "humantime_serde")]
    pub regroup_window: std::time::Duration,
    /// At most this many events are looked at per bundle when regrouping.
    pub regroup_max_events: u64,
}

impl Default for SourcemapsConfig {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 256 * 1024 * 1024,
            max_bundles_per_project: 500,
            retention: std::time::Duration::from_secs(90 * 86_400),
            keep_releases: 10,
            regroup_window: std::time::Duration::from_secs(14 * 86_400),
            regroup_max_events: 50_000,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`LOOKOUT_LISTEN`).
    pub listen: String,
    /// Where the SQLite database and generated secrets live (`LOOKOUT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `postgres://…` switches to PostgreSQL (`LOOKOUT_DATABASE_URL`).
    pub database_url: SecretString,
    /// Bearer token of the JSON API (`LOOKOUT_API_TOKEN`); generated and kept in the data
    /// directory when empty.
    pub api_token: SecretString,
    /// The URL SDKs and people reach this server at, used in DSNs and links
    /// (`LOOKOUT_PUBLIC_URL`); defaults to `http://localhost:PORT`.
    pub public_url: Option<String>,
    /// SQLite only. `"normal"` (the default): an acknowledged event survives any crash of
    /// the process (kill -9, OOM kill), not a power cut in the second after it was written.
    /// `"full"`: every group commit is fsynced, so it survives a power cut too, at the cost
    /// of one disk flush per commit (a few ms each, which caps throughput at roughly
    /// requests-in-flight / flush time).
    pub sqlite_synchronous: SqliteSynchronous,
    /// Addresses or networks of the reverse proxies in front of lookout (nginx, a load
    /// balancer): requests from them are taken to come from the address they append to
    /// `X-Forwarded-For`, so the sign-in limit counts each client. Empty: nobody's header
    /// is believed.
    pub trusted_proxies: Vec<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` without the API token (for a scraper on a trusted network).
    pub public: bool,
}

/// `server.sqlite_synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// fsync every commit.
    Full,
    /// Leave flushing the WAL to the OS; committed data survives a crash of the process.
    #[default]
    Normal,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".to_string(),
            data_dir: PathBuf::from("lookout-data"),
            database_url: SecretString::default(),
            api_token: SecretString::default(),
            public_url: None,
            sqlite_synchronous: SqliteSynchronous::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[ingest]`: limits and the write queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body as sent (compressed), bytes.
    pub max_envelope_bytes: usize,
    /// Largest body after decompression, bytes.
    pub max_decompressed_bytes: usize,
    /// Largest event, bytes (Sentry: 1 MiB).
    pub max_event_bytes: usize,
    /// Largest transaction, bytes.
    pub max_transaction_bytes: usize,
    /// Largest attachment kept, bytes; larger ones are counted as dropped.
    pub max_attachment_bytes: usize,
    /// Events waiting for the writer before new ones get 429.
    pub queue_capacity: usize,
    /// Events per group commit at most.
    pub batch_size: usize,
    /// Events sampled to train a project's payload compression dictionary (0 = none).
    pub dictionary_samples: usize,
    /// Age after which a project's dictionary is trained again on recent events.
    #[serde(with = "humantime_serde")]
    pub dictionary_refresh: std::time::Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            max_envelope_bytes: l.max_envelope_bytes,
            max_decompressed_bytes: l.max_decompressed_bytes,
            max_event_bytes: l.max_event_bytes,
            max_transaction_bytes: l.max_transaction_bytes,
            max_attachment_bytes: l.max_attachment_bytes,
            queue_capacity: 20_000,
            batch_size: 1_000,
            dictionary_samples: 1_000,
            dictionary_refresh: std::time::Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[defaults]`: project settings used where a project sets none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectDefaults {
    /// Events per minute per project; 0 = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Error events per UTC month per project; 0 = unlimited.
    pub monthly_quota: Option<u64>,
    /// Days events are kept; 0 = forever.
    pub retention_days: Option<u32>,
    /// Browser origins allowed to send.
    pub allowed_origins: Option<Vec<String>>,
    /// Scrubbing rules.
    pub scrubbing: Option<ScrubSettings>,
}

/// `[[projects]]`: a project known before start, so its DSN is stable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// URL-safe name.
    pub slug: String,
    /// Display name; defaults to the slug.
    pub name: Option<String>,
    /// Numeric id, as in the DSN path.
    pub id: i64,
    /// 32 hex digits.
    pub public_key: String,
    /// Overrides `[defaults]`.
    pub rate_limit_per_minute: Option<u32>,
    /// Overrides `[defaults]`.
    pub monthly_quota: Option<u64>,
    /// Overrides `[defaults]`.
    pub retention_days: Option<u32>,
    /// Overrides `[defaults]`.
    pub allowed_origins: Option<Vec<String>>,
    /// Overrides `[defaults]`.
    pub scrubbing: Option<ScrubSettings>,
}

impl ProjectDefaults {
    /// The settings a project gets from these defaults.
    pub fn settings(&self) -> ProjectSettings {
        let base = ProjectSettings::default();
        ProjectSettings {
            rate_limit_per_minute: self
                .rate_limit_per_minute
                .unwrap_or(base.rate_limit_per_minute),
            monthly_quota: self.monthly_quota.unwrap_or(base.monthly_quota),
            retention_days: self.retention_days.unwrap_or(base.retention_days),
            allowed_origins: self.allowed_origins.clone().unwrap_or(base.allowed_origins),
            scrubbing: self.scrubbing.clone().unwrap_or(base.scrubbing),
        }
    }
}

impl ProjectConfig {
    /// This project's settings over `defaults`.
    pub fn settings(&self, defaults: &ProjectDefaults) -> ProjectSettings {
        let mut s = defaults.settings();
        if let Some(v) = self.rate_limit_per_minute {
            s.rate_limit_per_minute = v;
        }
        if let Some(v) = self.monthly_quota {
            s.monthly_quota = v;
        }
        if let Some(v) = self.retention_days {
            s.retention_days = v;
        }
        if let Some(v) = &self.allowed_origins {
            s.allowed_origins = v.clone();
        }
        if let Some(v) = &self.scrubbing {
            s.scrubbing = v.clone();
        }
        s
    }
}

impl Config {
    /// Where the config comes from: `--config`, else `LOOKOUT_CONFIG`, else `./lookout.toml`
    /// if it exists, else none (defaults).
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("LOOKOUT_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let local = PathBuf::from("lookout.toml");
        local.exists().then_some(local)
    }

    /// Loads a config file (or the defaults when `path` is `None`), then applies the
    /// `LOOKOUT_*` environment overrides and validates. Relative paths in the file are
    /// relative to the file; those in the environment to the working directory.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|error| match error.kind() {
                    std::io::ErrorKind::NotFound => ConfigError::Missing {
                        path: p.to_path_buf(),
                    },
                    _ => ConfigError::Read {
                        path: p.to_path_buf(),
                        error,
                    },
                })?;
                let base = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                Config::parse_in(&text, &p.display().to_string(), Some(&base), &env)?
            }
            None => Config::default(),
        };
        config.apply_env(&env);
        config.validate(&path.map(|p| p.display().to_string()).unwrap_or_default())?;
        Ok(config)
    }

    /// Parses TOML text. `${VAR}` (or `${VAR:-default}`) in any string is replaced from
    /// `env`; `$${` stands for a literal `${`. `[deploy]` is skipped, variables and all: a
    /// server does not fail on a setting of the deploy pipeline.
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::parse_in(text, origin, None, env)
    }

    /// [`Config::parse`] for a file in `base_dir`, which its relative paths are resolved
    /// against.
    pub fn parse_in(
        text: &str,
        origin: &str,
        base_dir: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        // The deploy command's settings are not the server's to check or interpolate;
        // only `[deploy.watch]` is.
        let watch = table.remove(DEPLOY_SECTION).and_then(|d| match d {
            toml::Value::Table(mut t) => t.remove("watch"),
            _ => None,
        });
        if let Some(watch) = watch {
            let mut deploy = toml::Table::new();
            deploy.insert("watch".into(), watch);
            table.insert(DEPLOY_SECTION.into(), toml::Value::Table(deploy));
        }
        let mut value = toml::Value::Table(table);
        let fallbacks = warnings::fallbacks(&value, env);
        interpolate(&mut value, &mut String::new(), env).map_err(|(key, e)| ConfigError::Key {
            path: origin.to_string(),
            key,
            message: e.to_string(),
        })?;
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Key {
                path: origin.to_string(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: warnings::plain_types(&e.inner().to_string()),
            }
        })?;
        if let Some(base) = base_dir {
            config.resolve_paths(base);
        }
        config.validate(origin)?;
        config.warnings = fallbacks;
        config.warnings.extend(warnings::unrouted(&config));
        Ok(config)
    }

    /// Makes the file's relative paths relative to its directory, so the same file means
    /// the same data wherever lookout is started from.
    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.server.data_dir);
        for m in &mut self.monitors {
            if let Some(ca) = &mut m.ca_file {
                resolve(ca);
            }
        }
        for c in self.channels.values_mut() {
            if let lookout_notify::ChannelConfig::Email(e) = c {
                if let Some(ca) = &mut e.ca_file {
                    resolve(ca);
                }
            }
        }
        self.base_dir = Some(base.to_path_buf());
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(v) = set("LOOKOUT_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = set("LOOKOUT_DATA_DIR") {
            self.server.data_dir = PathBuf::from(v);
        }
        if let Some(v) = set("LOOKOUT_DATABASE_URL") {
            self.server.database_url = SecretString::from(v);
        }
        if let Some(v) = set("LOOKOUT_API_TOKEN") {
            self.server.api_token = SecretString::from(v);
        }
        if let Some(v) = set("LOOKOUT_PUBLIC_URL") {
            self.server.public_url = Some(v);
        }
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let err = |key: String, message: String| ConfigError::Key {
            path: origin.to_string(),
            key,
            message,
        };
        if let Some((key, message)) = self.deploy.watch.problem() {
            return Err(err(format!("deploy.watch.{key}"), message));
        }
        if self.cluster.lease_ttl < std::time::Duration::from_millis(300) {
            return Err(err(
                "cluster.lease_ttl".into(),
                "must be at least 300ms (instances renew their leases three times per TTL); 15s suits most".into(),
            ));
        }
        for (i, r) in self.releases.repositories.iter().enumerate() {
            if r.trim().is_empty() || r.trim() != r || r.contains(char::is_whitespace) {
                return Err(err(
                    format!("releases.repositories[{i}]"),
                    format!("`{r}` is not a repository name; write it as sentry-cli's --commit names it, e.g. \"acme/web\""),
                ));
            }
            if self.releases.repositories[..i].contains(r) {
                return Err(err(
                    format!("releases.repositories[{i}]"),
                    format!("`{r}` is listed twice"),
                ));
            }
        }
        if self.cluster.sync_every.is_zero() {
            return Err(err(
                "cluster.sync_every".into(),
                "must be more than 0; 5s suits most".into(),
            ));
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return Err(err(
                "server.listen".into(),
                format!(
                    "`{}` is not an address:port; write e.g. \"0.0.0.0:8080\" or \"127.0.0.1:8080\"",
                    self.server.listen
                ),
            ));
        }
        let db = self.server.database_url.expose_secret();
        if !db.is_empty()
            && !db.starts_with("postgres://")
            && !db.starts_with("postgresql://")
            && !db.starts_with("sqlite:")
        {
            return Err(err(
                "server.database_url".into(),
                "must start with postgres:// (or be empty for the embedded SQLite database)".into(),
            ));
        }
        if let Some(url) = &self.server.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err(
                    "server.public_url".into(),
                    format!("`{url}` must start with http:// or https://"),
                ));
            }
        }
        if let Err(why) = lookout_web::auth::TrustedProxies::parse(&self.server.trusted_proxies) {
            return Err(err("server.trusted_proxies".into(), why));
        }
        if self.ingest.batch_size == 0 || self.ingest.queue_capacity == 0 {
            return Err(err(
                "ingest".into(),
                "batch_size and queue_capacity must be at least 1".into(),
            ));
        }
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_slugs = std::collections::HashSet::new();
        for (i, p) in self.projects.iter().enumerate() {
            let key = |k: &str| format!("projects[{i}].{k}");
            if p.id <= 0 {
                return Err(err(key("id"), "must be a positive integer".into()));
            }
            if !is_slug(&p.slug) {
                return Err(err(
                    key("slug"),
                    format!(
                        "`{}` is not a slug: use lower-case letters, digits, `-` and `_`",
                        p.slug
                    ),
                ));
            }
            if p.public_key.len() != 32 || !p.public_key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(
                    key("public_key"),
                    "must be 32 hex digits (generate one with `openssl rand -hex 16`)".into(),
                ));
            }
            if !seen_ids.insert(p.id) {
                return Err(err(key("id"), format!("id {} is used twice", p.id)));
            }
            if !seen_slugs.insert(p.slug.as_str()) {
                return Err(err(key("slug"), format!("slug `{}` is used twice", p.slug)));
            }
        }
        for (name, channel) in &self.channels {
            if let Err((key, message)) = channel.validate() {
                return Err(err(format!("channels.{name}.{key}"), message));
            }
        }
        crate::monitors::config::validate(&self.uptime, &self.monitors, &self.maintenance)
            .map_err(|(key, message)| err(key, message))?;
        let monitor_names = self.monitors.iter().map(|m| m.name.as_str()).collect();
        crate::status::config::validate(&self.status_pages, &monitor_names)
            .map_err(|(key, message)| err(key, message))?;
        self.validate_slos(&err)?;
        self.validate_alerts(&err)
    }

    /// The objectives of `[[slos]]`, validated; the monitors and projects they name must
    /// be in the file too (an objective on something created through the API is created
    /// through the API as well).
    pub fn slos(&self) -> Result<Vec<crate::slo::Slo>, (String, String)> {
        let mut out: Vec<crate::slo::Slo> = Vec::new();
        for (i, c) in self.slos.iter().enumerate() {
            let key = |k: &str| format!("slos[{i}].{k}");
            let slo = c
                .validate(true)
                .map_err(|(k, m)| (key(k), format!("(SLO \"{}\") {m}", c.name)))?;
            if out.iter().any(|o| o.config.name == c.name) {
                return Err((
                    key("name"),
                    format!("the name \"{}\" is used twice", c.name),
                ));
            }
            let monitors = c.monitor.iter().chain(c.group.iter().flatten());
            for m in monitors {
                if !self.monitors.iter().any(|x| &x.name == m) {
                    return Err((
                        key(if c.group.is_some() {
                            "group"
                        } else {
                            "monitor"
                        }),
                        format!(
                            "(SLO \"{}\") no monitor named \"{m}\" in [[monitors]]",
                            c.name
                        ),
                    ));
                }
            }
            if let Some(p) = &c.project {
                if !self.projects.iter().any(|x| &x.slug == p) && p != "default" {
                    return Err((
                        key("project"),
                        format!("(SLO \"{}\") no project `{p}` in [[projects]]", c.name),
                    ));
                }
            }
            out.push(slo);
        }
        Ok(out)
    }

    fn validate_slos(
        &self,
        err: &dyn Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        self.slos().map(drop).map_err(|(k, m)| err(k, m))
    }

    fn validate_alerts(
        &self,
        err: &dyn Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let known = |name: &str| self.channels.contains_key(name);
        let listed = || {
            if self.channels.is_empty() {
                "no [channels] are configured".to_string()
            } else {
                format!(
                    "the configured channels are {}",
                    self.channels.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        };
        crate::alerts::config::policies(&self.severities).map_err(|(k, m)| err(k, m))?;
        for (name, s) in &self.severities {
            for (step, channels) in s.route.iter().flatten().enumerate() {
                if let Some(c) = channels.iter().find(|c| !known(c)) {
                    return Err(err(
                        format!("severities.{name}.route[{step}]"),
                        format!("no channel `{c}`: {}", listed()),
                    ));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = |k: &str| format!("rules[{i}].{k}");
            if r.name.trim().is_empty() {
                return Err(err(key("name"), "must not be empty".into()));
            }
            if !names.insert(r.name.as_str()) {
                return Err(err(
                    key("name"),
                    format!("the name \"{}\" is used twice", r.name),
                ));
            }
            let rule = r
                .rule()
                .map_err(|(k, m)| err(key(k), format!("(rule \"{}\") {m}", r.name)))?;
            if let Some(c) = r.notify.iter().find(|c| !known(c)) {
                return Err(err(
                    key("notify"),
                    format!("(rule \"{}\") no channel `{c}`: {}", r.name, listed()),
                ));
            }
            for slug in r.projects.iter().flatten() {
                if !self.projects.iter().any(|p| &p.slug == slug) && slug != "default" {
                    return Err(err(
                        key("projects"),
                        format!("(rule \"{}\") no project `{slug}` in [[projects]]", r.name),
                    ));
                }
            }
            for m in r.monitors.iter().flatten() {
                if !self.monitors.iter().any(|x| &x.name == m) {
                    return Err(err(
                        key("monitors"),
                        format!(
                            "(rule \"{}\") no monitor named \"{m}\" in [[monitors]]",
                            r.name
                        ),
                    ));
                }
            }
            // Scope checks need ids; a placeholder id per listed name is enough here.
            let mut scoped = rule;
            scoped.projects = r.projects.as_ref().map(|v| vec![0; v.len()]);
            scoped.monitors = r.monitors.as_ref().map(|v| vec![0; v.len()]);
            scoped.validate().map_err(|m| err(key("when"), m))?;
            if let (Some(rb), Some(dir)) = (&r.runbook, &self.base_dir) {
                let path = dir.join(rb);
                if !path.is_file() {
                    return Err(err(
                        key("runbook"),
                        format!(
                            "(rule \"{}\") {} does not exist (runbooks are relative to the config file)",
                            r.name,
                            path.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The limits the Sentry protocol layer enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            max_envelope_bytes: self.ingest.max_envelope_bytes,
            max_decompressed_bytes: self.ingest.max_decompressed_bytes,
            max_event_bytes: self.ingest.max_event_bytes,
            max_transaction_bytes: self.ingest.max_transaction_bytes,
            max_attachment_bytes: self.ingest.max_attachment_bytes,
            ..Limits::default()
        }
    }
}

/// The section of the config file that `lookout deploy` reads and the server skips.
pub const DEPLOY_SECTION: &str = "deploy";

/// Applies `${ENV}` interpolation to every string under `value`, whose key path is `path`
/// (empty at the top); an error comes with the key path of its string.
pub fn interpolate(
    value: &mut toml::Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, InterpolateError)> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = expand(s, env).map_err(|e| (path.clone(), e))?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, env)?;
                path.truncate(len);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                interpolate(v, path, env)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "TOKEN" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn interpolates_env_and_defaults() {
        let c = Config::parse(
            "[server]\napi_token = \"${TOKEN}\"\nlisten = \"${LISTEN:-127.0.0.1:9000}\"\npublic_url = \"http://x/$${literal}\"\n",
            "t.toml",
            &env,
        )
        .unwrap();
        assert_eq!(c.server.api_token.expose_secret(), "s3cret");
        assert_eq!(c.server.listen, "127.0.0.1:9000");
        assert_eq!(c.server.public_url.as_deref(), Some("http://x/${literal}"));
        let shown = format!("{:?}", c.server.api_token);
        assert!(
            !shown.contains("s3cret") && shown.contains("REDACTED"),
            "{shown}"
        );
    }

    #[test]
    fn missing_env_names_the_key() {
        let e = Config::parse(
            "[[projects]]\nslug=\"a\"\nid=1\npublic_key=\"${NOPE}\"\n",
            "t.toml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("projects[0].public_key"), "{e}");
        assert!(e.contains("NOPE"), "{e}");
        assert_eq!(
            e,
            "t.toml: projects[0].public_key: environment variable NOPE is not set; set it or \
             write ${NOPE:-default}"
        );
        let e = Config::parse("[server]\npublic_url = \"${A B}\"\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml: server.public_url: `${A B}` is not a valid environment variable name"
        );
    }

    #[test]
    fn the_deploy_section_is_left_to_the_deploy_command() {
        let c = Config::parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\n[deploy]\ndir = \"${NOPE}\"\n[[deploy.checks]]\nkind = \"pm2\"\n",
            "t.toml",
            &env,
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let e = Config::parse("[server]\nlisten_on = \"x\"\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.listen_on") || e.contains("listen_on"),
            "{e}"
        );
        let e = Config::parse(
            "[[projects]]\nslug=\"a\"\nid=1\npublic_key=\"0123456789abcdef0123456789abcdef\"\n[projects.scrubbing]\nenabeld = true\n",
            "t.toml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("projects[0].scrubbing"), "{e}");
        assert!(e.contains("enabeld"), "{e}");
    }

    #[test]
    fn status_pages_name_unknown_monitors() {
        let base =
            "[[monitors]]\nname = \"Homepage\"\nkind = \"http\"\nurl = \"https://example.com/\"\n";
        let ok = format!("{base}[[status_pages]]\nslug = \"acme\"\ntitle = \"Acme\"\nmonitors = [\"Homepage\"]\n");
        let c = Config::parse(&ok, "t.toml", &env).unwrap();
        assert_eq!(c.status_pages[0].slug, "acme");
        let bad = format!("{base}[[status_pages]]\nslug = \"acme\"\ntitle = \"Acme\"\n[[status_pages.groups]]\nname = \"Web\"\nmonitors = [\"Homepage\", \"API\"]\n");
        let e = Config::parse(&bad, "t.toml", &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "t.toml: status_pages[0].groups[0].monitors[1]: no monitor named \"API\" in [[monitors]]"
        );
        let typo = format!("{base}[[status_pages]]\nslug = \"acme\"\ntitel = \"Acme\"\n");
        let e = Config::parse(&typo, "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("status_pages[0]") && e.contains("titel"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::parse(
            "[[projects]]\nslug=\"a\"\nid=1\npublic_key=\"xyz\"\n",
            "t.toml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("projects[0].public_key") && e.contains("32 hex"),
            "{e}"
        );
        let e = Config::parse("[server]\nlisten = \"nope\"\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen"), "{e}");
        let e = Config::parse("[server\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
