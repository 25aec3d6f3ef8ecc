//! What to check and how to roll back: the `[deploy]` section of the config file, with the
//! command line's flags on top. Checks of a kind given by flags replace that kind's checks
//! from the file, so the same file serves a pipeline that overrides one URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use lookout_core::deploy::CheckKind;
use lookout_probe::http::Keyword;
use lookout_probe::pm2::Pm2Reader;
use lookout_probe::{HttpCheck, StatusCodes};
use lookout_server::config::{interpolate, DEPLOY_SECTION};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::checks::{Check, Probe};
use super::rollback::Step;

/// Overall deadline of a verification, unless configured.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Longest single attempt of a check, unless configured.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a PM2 app's restart count is watched, unless configured.
const DEFAULT_PM2_WATCH: Duration = Duration::from_secs(5);
/// Longest rollback step (a build), unless configured.
const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest deadline or attempt: beyond it a typo (`60d` for `60s`) is likelier than
/// intent, and clocks cannot add it.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// What `{commit}` stands for without `--to`: the reference's `git reset --hard HEAD~1`.
pub const DEFAULT_COMMIT: &str = "HEAD~1";

/// The `[deploy]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DeploySection {
    /// Overall deadline for the checks.
    #[serde(with = "humantime_serde")]
    deadline: Option<Duration>,
    /// Longest single attempt of a check.
    #[serde(with = "humantime_serde")]
    timeout: Option<Duration>,
    /// Where command checks and rollback steps run.
    dir: Option<PathBuf>,
    /// `[[deploy.checks]]`.
    checks: Vec<CheckConfig>,
    /// `[deploy.rollback]`.
    rollback: RollbackSection,
    /// The project deployed, for the deploy record.
    project: Option<String>,
    /// The environment deployed to, for the deploy record.
    environment: Option<String>,
    /// `[deploy.watch]`: the server's (the watch after a deploy runs there).
    #[allow(dead_code)] // read by `lookout serve`, only accepted here
    watch: Option<toml::Value>,
}

/// One `[[deploy.checks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum CheckConfig {
    Pm2 {
        app: String,
        #[serde(default)]
        program: Option<String>,
        #[serde(default, with = "humantime_serde")]
        watch: Option<Duration>,
    },
    Systemd {
        unit: String,
        #[serde(default)]
        user: bool,
    },
    Command {
        run: String,
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    Health {
        url: String,
        #[serde(default)]
        format: HealthFormat,
    },
    Page {
        url: String,
        #[serde(default)]
        expect: Option<String>,
        #[serde(default)]
        keyword: Option<String>,
    },
}

/// How a health endpoint is read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HealthFormat {
    /// A health document (the reference format or application/health+json): ok and
    /// degraded pass; unhealthy, 503 or a body that is not one fail.
    #[default]
    Document,
    /// Only the HTTP status (2xx passes).
    Status,
}

/// `[deploy.rollback]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RollbackSection {
    /// Where the steps run (default: `deploy.dir`).
    dir: Option<PathBuf>,
    /// Longest step, unless the step sets its own.
    #[serde(with = "humantime_serde")]
    timeout: Option<Duration>,
    /// The commands, in order.
    steps: Vec<StepConfig>,
}

/// A rollback step: a command line, or a table with `run`, `dir` and `timeout`.
#[derive(Debug)]
struct StepConfig {
    run: String,
    dir: Option<PathBuf>,
    timeout: Option<Duration>,
}

impl<'de> Deserialize<'de> for StepConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            run: String,
            #[serde(default)]
            dir: Option<PathBuf>,
            #[serde(default, with = "humantime_serde")]
            timeout: Option<Duration>,
        }
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = StepConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command, or a table with `run` (and `dir`, `timeout`)")
            }
            fn visit_str<E: de::Error>(self, run: &str) -> Result<StepConfig, E> {
                Ok(StepConfig {
                    run: run.to_string(),
                    dir: None,
                    timeout: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StepConfig, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(StepConfig {
                    run: t.run,
                    dir: t.dir,
                    timeout: t.timeout,
                })
            }
        }
        d.deserialize_any(StepVisitor)
    }
}

/// The flags that give or override checks (shared by `verify` and `rollback`).
#[derive(Args, Debug, Default)]
pub struct CheckFlags {
    /// A health endpoint (repeatable).
    #[arg(long, value_name = "URL")]
    health: Vec<String>,
    /// How the --health endpoints are read: `document` (ok/degraded pass; unhealthy, 503
    /// or not a health document fail) or `status` (2xx passes).
    #[arg(long, value_enum, value_name = "FORMAT", requires = "health")]
    health_format: Option<HealthFormat>,
    /// A page that must answer (repeatable).
    #[arg(long, value_name = "URL")]
    page: Vec<String>,
    /// Status codes the --page pages must answer with [default: 200-299].
    #[arg(long, value_name = "CODES", requires = "page")]
    expect: Option<String>,
    /// Text the --page pages must contain.
    #[arg(long, value_name = "TEXT", requires = "page")]
    keyword: Option<String>,
    /// A PM2 app that must be online with a steady restart count (repeatable).
    #[arg(long, value_name = "APP")]
    pm2: Vec<String>,
    /// How long the --pm2 apps' restart count is watched [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "pm2")]
    pm2_watch: Option<Duration>,
    /// A systemd unit that must be active (repeatable).
    #[arg(long, value_name = "UNIT")]
    systemd: Vec<String>,
    /// A shell command that must exit 0 (repeatable).
    #[arg(long = "command", value_name = "COMMAND")]
    commands: Vec<String>,
    /// Give up on the checks after this long [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// Longest single attempt of a check [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Where commands and rollback steps run [default: `deploy.dir`, else here].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The flags that give or override the rollback.
#[derive(Args, Debug, Default)]
pub struct RollbackFlags {
    /// A rollback step, a shell command (repeatable; replaces `[deploy.rollback]` steps).
    #[arg(long = "rollback-step", value_name = "COMMAND")]
    steps: Vec<String>,
    /// Longest rollback step [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    step_timeout: Option<Duration>,
}

/// Everything a verification or a rollback needs.
#[derive(Debug)]
pub struct Plan {
    /// The checks, in order: config first, kinds given by flags replacing the config's.
    pub checks: Vec<Check>,
    /// Overall deadline of the checks.
    pub deadline: Duration,
    /// Longest single attempt.
    pub timeout: Duration,
    /// The rollback steps.
    pub steps: Vec<Step>,
    /// Where commands run (`--dir`, `deploy.dir`).
    pub dir: Option<PathBuf>,
    /// `deploy.project` and `deploy.environment`, for the record.
    pub record: (Option<String>, Option<String>),
}

impl Plan {
    /// Reads the `[deploy]` section of the config file (if there is one) and applies the
    /// flags; `require_checks` refuses a plan with nothing to verify.
    pub fn build(
        config: Option<&Path>,
        flags: &CheckFlags,
        rollback: &RollbackFlags,
        require_checks: bool,
    ) -> anyhow::Result<Plan> {
        let (section, base) = match config {
            Some(path) => (load(path)?, base_dir(path)),
            None => (DeploySection::default(), PathBuf::new()),
        };
        let dir = flags
            .dir
            .clone()
            .or_else(|| section.dir.as_ref().map(|d| base.join(d)));
        let timeout = flags.timeout.or(section.timeout).unwrap_or(DEFAULT_TIMEOUT);
        let mut checks = Vec::new();
        for (i, c) in section.checks.into_iter().enumerate() {
            let kind = c.kind();
            if flags.replaces(kind) {
                continue;
            }
            let check = config_check(c, dir.as_deref(), &base)
                .with_context(|| format!("deploy.checks[{i}] ({})", kind.as_str()))?;
            checks.push(check);
        }
        checks.extend(flag_checks(flags, dir.as_deref())?);
        if checks.is_empty() && require_checks {
            bail!(
                "nothing to verify: give checks with --health, --page, --pm2, --systemd or \
                 --command, or as [[deploy.checks]] in the config file"
            );
        }
        let step_dir = section
            .rollback
            .dir
            .as_ref()
            .map(|d| base.join(d))
            .or_else(|| dir.clone());
        let step_timeout = rollback
            .step_timeout
            .or(section.rollback.timeout)
            .unwrap_or(DEFAULT_STEP_TIMEOUT);
        let steps = if rollback.steps.is_empty() {
            section
                .rollback
                .steps
                .into_iter()
                .map(|s| Step {
                    dir: s
                        .dir
                        .map(|d| step_dir.as_deref().unwrap_or(&base).join(d))
                        .or_else(|| step_dir.clone()),
                    run: s.run,
                    timeout: rollback.step_timeout.or(s.timeout).unwrap_or(step_timeout),
                })
                .collect()
        } else {
            rollback
                .steps
                .iter()
                .map(|run| Step {
                    run: run.clone(),
                    dir: step_dir.clone(),
                    timeout: step_timeout,
                })
                .collect()
        };
        let deadline = flags
            .deadline
            .or(section.deadline)
            .unwrap_or(DEFAULT_DEADLINE);
        for (what, wait) in [
            ("the deadline (--deadline, deploy.deadline)", deadline),
            ("the attempt timeout (--timeout, deploy.timeout)", timeout),
        ] {
            if wait > MAX_WAIT {
                bail!(
                    "{what} is {}: give at most {}",
                    humantime::format_duration(wait),
                    humantime::format_duration(MAX_WAIT)
                );
            }
        }
        Ok(Plan {
            checks,
            deadline,
            timeout,
            steps,
            dir,
            record: (section.project, section.environment),
        })
    }
}

impl CheckConfig {
    fn kind(&self) -> CheckKind {
        match self {
            CheckConfig::Pm2 { .. } => CheckKind::Pm2,
            CheckConfig::Systemd { .. } => CheckKind::Systemd,
            CheckConfig::Command { .. } => CheckKind::Command,
            CheckConfig::Health { .. } => CheckKind::Health,
            CheckConfig::Page { .. } => CheckKind::Page,
        }
    }
}

impl CheckFlags {
    /// Whether flags give checks of `kind`, which then replace the config's.
    fn replaces(&self, kind: CheckKind) -> bool {
        !match kind {
            CheckKind::Pm2 => self.pm2.is_empty(),
            CheckKind::Systemd => self.systemd.is_empty(),
            CheckKind::Command => self.commands.is_empty(),
            CheckKind::Health => self.health.is_empty(),
            CheckKind::Page => self.page.is_empty(),
        }
    }
}

fn config_check(c: CheckConfig, dir: Option<&Path>, base: &Path) -> anyhow::Result<Check> {
    Ok(match c {
        CheckConfig::Pm2 {
            app,
            program,
            watch,
        } => pm2_check(app, program, watch),
        CheckConfig::Systemd { unit, user } => Check::new(
            CheckKind::Systemd,
            unit.clone(),
            Probe::Systemd { unit, user },
        ),
        CheckConfig::Command { run, dir: own } => {
            let dir = match own {
                Some(d) => Some(dir.unwrap_or(base).join(d)),
                None => dir.map(Path::to_path_buf),
            };
            Check::new(CheckKind::Command, run.clone(), Probe::Command { run, dir })
        }
        CheckConfig::Health { url, format } => health_check(url, format)?,
        CheckConfig::Page {
            url,
            expect,
            keyword,
        } => page_check(url, expect.as_deref(), keyword)?,
    })
}

fn flag_checks(flags: &CheckFlags, dir: Option<&Path>) -> anyhow::Result<Vec<Check>> {
    let mut checks = Vec::new();
    for app in &flags.pm2 {
        checks.push(pm2_check(app.clone(), None, flags.pm2_watch));
    }
    for unit in &flags.systemd {
        let probe = Probe::Systemd {
            unit: unit.clone(),
            user: false,
        };
        checks.push(Check::new(CheckKind::Systemd, unit.clone(), probe));
    }
    for run in &flags.commands {
        let probe = Probe::Command {
            run: run.clone(),
            dir: dir.map(Path::to_path_buf),
        };
        checks.push(Check::new(CheckKind::Command, run.clone(), probe));
    }
    for url in &flags.health {
        let format = flags.health_format.unwrap_or_default();
        checks.push(health_check(url.clone(), format).context("--health")?);
    }
    for url in &flags.page {
        let check = page_check(url.clone(), flags.expect.as_deref(), flags.keyword.clone());
        checks.push(check.context("--page")?);
    }
    Ok(checks)
}

fn pm2_check(app: String, program: Option<String>, watch: Option<Duration>) -> Check {
    let reader = Pm2Reader {
        program: program.unwrap_or_else(|| "pm2".to_string()),
        timeout: DEFAULT_TIMEOUT,
    };
    let watch = watch.unwrap_or(DEFAULT_PM2_WATCH);
    Check::new(
        CheckKind::Pm2,
        app.clone(),
        Probe::Pm2 { app, reader, watch },
    )
}

fn health_check(url: String, format: HealthFormat) -> anyhow::Result<Check> {
    let mut http = http_check(&url)?;
    http.health = format == HealthFormat::Document;
    http.require_health_document = http.health;
    Ok(Check::new(
        CheckKind::Health,
        url,
        Probe::Http(Box::new(http)),
    ))
}

fn page_check(url: String, expect: Option<&str>, keyword: Option<String>) -> anyhow::Result<Check> {
    let mut http = http_check(&url)?;
    if let Some(codes) = expect {
        http.accepted = StatusCodes::parse(codes).map_err(|e| anyhow::anyhow!("expect: {e}"))?;
    }
    http.keyword = keyword.map(Keyword::Present);
    Ok(Check::new(
        CheckKind::Page,
        url,
        Probe::Http(Box::new(http)),
    ))
}

fn http_check(url: &str) -> anyhow::Result<HttpCheck> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| anyhow::anyhow!("`{url}` is not a URL (e.g. http://127.0.0.1:3000/)"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        bail!("`{url}` must be an http:// or https:// URL with a host");
    }
    Ok(HttpCheck::new(url))
}

fn base_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Reads only the `[deploy]` section: the rest of the file belongs to the server, and a
/// pipeline must not fail on a server setting (an unset `${SLACK_WEBHOOK_URL}`) it does not
/// use.
fn load(path: &Path) -> anyhow::Result<DeploySection> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    parse(&text, &path.display().to_string(), &|k| {
        std::env::var(k).ok()
    })
}

fn parse(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<DeploySection> {
    let mut doc: toml::Table = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
    let Some(mut deploy) = doc.remove(DEPLOY_SECTION) else {
        return Ok(DeploySection::default());
    };
    interpolate(&mut deploy, &mut DEPLOY_SECTION.to_string(), env)
        .map_err(|(key, e)| anyhow::anyhow!("{origin}: {key}: {e}"))?;
    serde_path_to_error::deserialize(deploy).map_err(|e| {
        let key = match e.path().to_string() {
            p if p == "." => DEPLOY_SECTION.to_string(),
            p => format!("{DEPLOY_SECTION}.{p}"),
        };
        anyhow::anyhow!("{origin}: {key}: {}", e.inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> anyhow::Result<DeploySection> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(&path, toml_text).unwrap();
        load(&path)
    }

    #[test]
    fn reads_checks_and_steps_in_both_forms() {
        let s = section(
            r#"
[server]
api_token = "${UNSET_AND_NOT_OURS}"

[deploy]
deadline = "90s"
dir = "/srv/web"

[[deploy.checks]]
kind = "pm2"
app = "web"
watch = "2s"

[[deploy.checks]]
kind = "page"
url = "http://127.0.0.1:3000/login"
expect = "200"
keyword = "Sign in"

[deploy.rollback]
steps = ["git reset --hard {commit}", { run = "npm run build", timeout = "15m" }]
"#,
        )
        .unwrap();
        assert_eq!(s.deadline, Some(Duration::from_secs(90)));
        assert_eq!(s.checks.len(), 2);
        assert!(
            matches!(&s.checks[0], CheckConfig::Pm2 { app, watch: Some(w), .. }
            if app == "web" && *w == Duration::from_secs(2))
        );
        assert_eq!(s.rollback.steps[0].run, "git reset --hard {commit}");
        assert_eq!(
            s.rollback.steps[1].timeout,
            Some(Duration::from_secs(15 * 60))
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (text, wanted) in [
            (
                "[[deploy.checks]]\nkind = \"page\"\nurl = \"http://x/\"\nexpects = \"200\"\n",
                &["deploy.checks[0]", "expects"][..],
            ),
            ("[deploy]\ndeadline = \"soon\"\n", &["deploy.deadline"]),
            ("[[deploy.checks]]\nkind = \"ping\"\n", &["ping", "pm2"]),
            (
                "[deploy.rollback]\nsteps = [\"a\", { command = \"b\" }]\n",
                &["deploy.rollback.steps[1]"],
            ),
            (
                "[deploy]\ndir = \"${LOOKOUT_TEST_SURELY_UNSET}\"\n",
                &["deploy.dir", "LOOKOUT_TEST_SURELY_UNSET"],
            ),
        ] {
            let e = section(text).unwrap_err().to_string();
            for w in wanted {
                assert!(e.contains(w), "{w:?} missing from: {e}");
            }
        }
    }

    #[test]
    fn the_documented_example_reads() {
        let env = |k: &str| match k {
            "DEPLOY_HOST" => Some("deploy@app.example.org".to_string()),
            "APP_DIR" => Some("/var/www/app".to_string()),
            "APP_URL" => Some("https://app.example.org".to_string()),
            _ => None,
        };
        let s = parse(
            include_str!("../../../../docs/examples/lookout-deploy.toml"),
            "example",
            &env,
        )
        .unwrap();
        let kinds: Vec<&str> = s.checks.iter().map(|c| c.kind().as_str()).collect();
        assert_eq!(kinds, ["pm2", "health", "page", "page", "page"]);
        assert!(
            matches!(&s.checks[0], CheckConfig::Pm2 { program: Some(p), .. }
            if p == "ssh deploy@app.example.org pm2")
        );
        assert_eq!(s.rollback.steps.len(), 3);
        assert!(s.rollback.steps[0]
            .run
            .contains("git reset --hard {commit}"));
    }

    #[test]
    fn flags_replace_the_checks_of_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            "[deploy]\n[[deploy.checks]]\nkind = \"health\"\nurl = \"http://a/health\"\n\
             [[deploy.checks]]\nkind = \"page\"\nurl = \"http://a/\"\n",
        )
        .unwrap();
        let flags = CheckFlags {
            page: vec!["http://b/".into(), "http://b/login".into()],
            ..CheckFlags::default()
        };
        let plan = Plan::build(Some(&path), &flags, &RollbackFlags::default(), true).unwrap();
        let names: Vec<String> = plan
            .checks
            .iter()
            .map(|c| format!("{} {}", c.kind.as_str(), c.target))
            .collect();
        assert_eq!(
            names,
            [
                "health http://a/health",
                "page http://b/",
                "page http://b/login"
            ]
        );
        assert_eq!(plan.deadline, DEFAULT_DEADLINE);

        let e = Plan::build(
            None,
            &CheckFlags::default(),
            &RollbackFlags::default(),
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nothing to verify"), "{e}");
        let bad = CheckFlags {
            health: vec!["localhost:3000/health".into()],
            ..CheckFlags::default()
        };
        let e = format!(
            "{:#}",
            Plan::build(None, &bad, &RollbackFlags::default(), true).unwrap_err()
        );
        assert!(e.contains("--health") && e.contains("http://"), "{e}");
        let forever = CheckFlags {
            page: vec!["http://b/".into()],
            deadline: Some(Duration::from_secs(u64::MAX / 2)),
            ..CheckFlags::default()
        };
        let e = Plan::build(None, &forever, &RollbackFlags::default(), true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--deadline") && e.contains("at most 1day"),
            "{e}"
        );
    }
}
