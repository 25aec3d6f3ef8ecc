//! Reading PM2's process list (`pm2 jlist`) and judging an app from it: is every instance
//! online, and does its restart count stay put between two reads (a climbing count is a
//! crash loop that `online` alone hides).
//!
//! The list holds each app's whole environment, secrets included, in `pm2_env` and
//! `pm2_env.env`. Only the fields below are parsed; the parser skips everything else
//! without keeping it, and neither the raw output nor any part of it is ever put in an
//! error or a result.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{self, Exit, ShellCommand, Stream};

/// One PM2 process (an app has several in cluster mode), with only the fields lookout uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pm2Process {
    /// The app's name.
    pub name: String,
    /// PM2's id of this process.
    pub pm_id: u64,
    /// The OS process id; 0 when not running.
    pub pid: u64,
    /// `online`, `launching`, `stopping`, `stopped`, `errored`, `waiting restart`,
    /// `one-launch-status`.
    pub status: String,
    /// Restarts since the app was started (PM2's `↺`).
    pub restarts: u64,
    /// Restarts that came sooner than `min_uptime` after a start.
    pub unstable_restarts: u64,
    /// When the process last started, Unix milliseconds.
    pub started_at_ms: Option<i64>,
    /// Resident memory, bytes.
    pub memory_bytes: u64,
    /// CPU use, percent of one core.
    pub cpu_percent: f64,
}

#[derive(Deserialize)]
struct RawProcess {
    name: String,
    pm_id: u64,
    #[serde(default)]
    pid: Option<u64>,
    pm2_env: RawEnv,
    #[serde(default)]
    monit: Option<RawMonit>,
}

#[derive(Deserialize)]
struct RawEnv {
    status: String,
    #[serde(default)]
    restart_time: u64,
    #[serde(default)]
    unstable_restarts: u64,
    #[serde(default)]
    pm_uptime: Option<f64>,
}

#[derive(Deserialize)]
struct RawMonit {
    #[serde(default)]
    memory: Option<f64>,
    #[serde(default)]
    cpu: Option<f64>,
}

impl From<RawProcess> for Pm2Process {
    fn from(p: RawProcess) -> Self {
        let monit = p.monit.unwrap_or(RawMonit {
            memory: None,
            cpu: None,
        });
        Pm2Process {
            name: p.name,
            pm_id: p.pm_id,
            pid: p.pid.unwrap_or(0),
            status: p.pm2_env.status,
            restarts: p.pm2_env.restart_time,
            unstable_restarts: p.pm2_env.unstable_restarts,
            started_at_ms: p.pm2_env.pm_uptime.map(|ms| ms as i64),
            memory_bytes: monit.memory.unwrap_or(0.0) as u64,
            cpu_percent: monit.cpu.unwrap_or(0.0),
        }
    }
}

/// Why the process list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pm2Error {
    /// The command did not run to a successful end.
    #[error("`{command}` {exit}{}", stderr_note(.stderr))]
    Command {
        /// The command line.
        command: String,
        /// How it ended.
        exit: String,
        /// Its last line on standard error.
        stderr: Option<String>,
    },
    /// The output holds no JSON array.
    #[error("`{command}` printed no process list ({bytes} bytes of output, none of it a JSON array of processes)")]
    NoList {
        /// The command line.
        command: String,
        /// How much it printed.
        bytes: usize,
    },
    /// The array is not shaped like PM2's process list.
    #[error("`{command}` printed a process list lookout cannot read: {reason}")]
    Unreadable {
        /// The command line.
        command: String,
        /// The parser's complaint (names fields and positions, never values of the
        /// environment, which is skipped unparsed).
        reason: String,
    },
}

fn stderr_note(stderr: &Option<String>) -> String {
    stderr
        .as_deref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

/// Parses `pm2 jlist` output. The first call after the PM2 daemon starts prints its start
/// lines (`[PM2] Spawning PM2 daemon…`) before the JSON, so the list is looked for at each
/// line that opens an array of objects (or an empty one); arrays inside the list never
/// start a line, since PM2 prints it on one.
pub fn parse_jlist(output: &[u8]) -> Result<Vec<Pm2Process>, ParseError> {
    let mut first_error = None;
    let mut start = 0;
    while start < output.len() {
        let end = output[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(output.len(), |i| start + i + 1);
        let line = &output[start..];
        let opens_list = line
            .trim_ascii_start()
            .strip_prefix(b"[")
            .is_some_and(|rest| matches!(rest.trim_ascii_start().first(), Some(b'{') | Some(b']')));
        if opens_list {
            let mut de = serde_json::Deserializer::from_slice(line);
            match Vec::<RawProcess>::deserialize(&mut de) {
                Ok(list) => return Ok(list.into_iter().map(Pm2Process::from).collect()),
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        start = end;
    }
    Err(match first_error {
        Some(reason) => ParseError::Unreadable(reason),
        None => ParseError::NoList,
    })
}

/// Why [`parse_jlist`] found no process list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// There is no JSON array of objects in the output.
    NoList,
    /// There is one, but not shaped like PM2's list; the parser's message.
    Unreadable(String),
}

/// Runs `PROGRAM jlist` and reads its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pm2Reader {
    /// How PM2 is invoked, through `sh -c`: `pm2`, a path, or e.g. `ssh deploy@host pm2`.
    pub program: String,
    /// How long one `jlist` may take.
    pub timeout: Duration,
}

impl Pm2Reader {
    /// Reads the process list once.
    pub async fn list(&self) -> Result<Vec<Pm2Process>, Pm2Error> {
        let script = format!("{} jlist", self.program);
        let cmd = ShellCommand {
            script: script.clone(),
            dir: None,
            timeout: self.timeout,
        };
        let mut stdout = Vec::new();
        let mut last_stderr = None;
        let exit = command::run(&cmd, |stream, line| match stream {
            Stream::Stdout => {
                stdout.extend_from_slice(line);
                stdout.push(b'\n');
            }
            Stream::Stderr if !line.is_empty() => {
                let text = String::from_utf8_lossy(line);
                last_stderr = Some(text.chars().take(300).collect::<String>());
            }
            Stream::Stderr => {}
        })
        .await;
        if !exit.success() {
            let exit = match exit {
                Exit::Code(127) => {
                    "exited with 127 (command not found: is PM2 installed and on PATH?)".to_string()
                }
                other => other.to_string(),
            };
            return Err(Pm2Error::Command {
                command: script,
                exit,
                stderr: last_stderr,
            });
        }
        let parsed = parse_jlist(&stdout);
        let bytes = stdout.len();
        drop(stdout);
        parsed.map_err(|e| match e {
            ParseError::NoList => Pm2Error::NoList {
                command: script,
                bytes,
            },
            ParseError::Unreadable(reason) => Pm2Error::Unreadable {
                command: script,
                reason,
            },
        })
    }
}

/// What is wrong with an app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppProblem {
    /// No process has that name.
    #[error("PM2 has no app named {name:?} (apps: {})", list_or_none(known))]
    Missing {
        /// The name asked for.
        name: String,
        /// The apps PM2 does have.
        known: Vec<String>,
    },
    /// An instance is not online.
    #[error("{name} (pm_id {pm_id}) is {status}, restarted {}", times(*restarts))]
    NotOnline {
        /// The app.
        name: String,
        /// The instance.
        pm_id: u64,
        /// Its PM2 status.
        status: String,
        /// Its restart count.
        restarts: u64,
    },
    /// An instance restarted between two reads.
    #[error("{name} (pm_id {pm_id}) restarted {} in {watched:?} (restart count {from} -> {to}): a crash loop?", times(to - from))]
    Restarting {
        /// The app.
        name: String,
        /// The instance.
        pm_id: u64,
        /// Its restart count at the first read.
        from: u64,
        /// Its restart count at the second read.
        to: u64,
        /// The time between the reads.
        watched: Duration,
    },
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".to_string()
    } else {
        format!("{n} times")
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// An app that is online.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppHealth {
    /// Its instances.
    pub instances: usize,
    /// Their restart counts, summed.
    pub restarts: u64,
    /// Their memory, summed, bytes.
    pub memory_bytes: u64,
    /// Their CPU use, summed, percent of one core.
    pub cpu_percent: f64,
}

impl fmt::Display for AppHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "online ({} instance{}), {} restarts in all, {:.0} MB, {:.1} % CPU",
            self.instances,
            if self.instances == 1 { "" } else { "s" },
            self.restarts,
            self.memory_bytes as f64 / 1_048_576.0,
            self.cpu_percent
        )
    }
}

/// Whether every instance of `app` in `list` is online.
pub fn online(list: &[Pm2Process], app: &str) -> Result<AppHealth, AppProblem> {
    let instances: Vec<&Pm2Process> = list.iter().filter(|p| p.name == app).collect();
    if instances.is_empty() {
        let mut known: Vec<String> = list.iter().map(|p| p.name.clone()).collect();
        known.dedup();
        return Err(AppProblem::Missing {
            name: app.to_string(),
            known,
        });
    }
    if let Some(p) = instances.iter().find(|p| p.status != "online") {
        return Err(AppProblem::NotOnline {
            name: app.to_string(),
            pm_id: p.pm_id,
            status: p.status.clone(),
            restarts: p.restarts,
        });
    }
    Ok(AppHealth {
        instances: instances.len(),
        restarts: instances.iter().map(|p| p.restarts).sum(),
        memory_bytes: instances.iter().map(|p| p.memory_bytes).sum(),
        cpu_percent: instances.iter().map(|p| p.cpu_percent).sum(),
    })
}

/// Whether `app` was online at both reads, `watched` apart, and no instance restarted in
/// between. Instances that appear only in one read (scaled, or recreated) are not compared.
pub fn steady(
    before: &[Pm2Process],
    after: &[Pm2Process],
    app: &str,
    watched: Duration,
) -> Result<AppHealth, AppProblem> {
    online(before, app)?;
    let health = online(after, app)?;
    for now in after.iter().filter(|p| p.name == app) {
        let then = before
            .iter()
            .find(|p| p.name == app && p.pm_id == now.pm_id);
        if let Some(then) = then.filter(|then| now.restarts > then.restarts) {
            return Err(AppProblem::Restarting {
                name: app.to_string(),
                pm_id: now.pm_id,
                from: then.restarts,
                to: now.restarts,
                watched,
            });
        }
    }
    Ok(health)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk_live_51TopSecretValue";

    /// A list in `pm2 jlist`'s shape: the environment flattened into `pm2_env` and again
    /// under `pm2_env.env`, as PM2 5 prints it.
    fn jlist(status: &str, restarts: u64) -> String {
        format!(
            r#"[{{"pid":4242,"name":"web","pm2_env":{{"STRIPE_SECRET_KEY":"{SECRET}","PATH":"/usr/bin","kill_retry_time":100,"windowsHide":true,"username":"app","treekill":true,"automation":true,"pmx":true,"instance_var":"NODE_APP_INSTANCE","exec_mode":"fork_mode","watch":false,"autorestart":true,"vizion":true,"name":"web","pm_exec_path":"/srv/web/node_modules/next/dist/bin/next","pm_cwd":"/srv/web","exec_interpreter":"node","pm_out_log_path":"/home/app/.pm2/logs/web-out.log","pm_err_log_path":"/home/app/.pm2/logs/web-error.log","pm_pid_path":"/home/app/.pm2/pids/web-0.pid","namespace":"default","env":{{"STRIPE_SECRET_KEY":"{SECRET}","NODE_ENV":"production","web":"{{}}"}},"pm_id":0,"unique_id":"ead2ad4f-a167-48b6-8187-816132671347","status":"{status}","pm_uptime":1711217167223,"axm_actions":[],"axm_monitor":{{"Heap Size":{{"value":"52.61","type":"internal/v8/heap/total","unit":"MiB"}}}},"axm_options":{{}},"axm_dynamic":{{}},"created_at":1694539167612,"restart_time":{restarts},"unstable_restarts":0,"_pm2_version":"5.3.0","versioning":null,"node_version":"18.15.0"}},"pm_id":0,"monit":{{"memory":125829120,"cpu":1.3}}}}]"#
        )
    }

    #[test]
    fn reads_the_list_after_daemon_lines_and_keeps_no_secret() {
        let out = format!(
            "[PM2] Spawning PM2 daemon with pm2_home=/home/app/.pm2\n[PM2] PM2 Successfully daemonized\n{}",
            jlist("online", 3)
        );
        let list = parse_jlist(out.as_bytes()).unwrap();
        assert_eq!(list.len(), 1);
        let p = &list[0];
        assert_eq!(
            (
                p.name.as_str(),
                p.pm_id,
                p.pid,
                p.status.as_str(),
                p.restarts
            ),
            ("web", 0, 4242, "online", 3)
        );
        assert_eq!(p.memory_bytes, 125_829_120);
        assert_eq!(p.started_at_ms, Some(1_711_217_167_223));
        assert!(!format!("{list:?}").contains(SECRET));
        assert!(!serde_json::to_string(&list).unwrap().contains(SECRET));
        let health = online(&list, "web").unwrap();
        assert_eq!(
            health.to_string(),
            "online (1 instance), 3 restarts in all, 120 MB, 1.3 % CPU"
        );
    }

    #[test]
    fn an_empty_list_and_garbage_are_told_apart() {
        assert_eq!(parse_jlist(b"[PM2] Spawning\n[]").unwrap(), vec![]);
        assert_eq!(
            parse_jlist(b"[PM2][ERROR] Daemon not launched").unwrap_err(),
            ParseError::NoList
        );
        let e = parse_jlist(br#"[{"name":"web"}]"#).unwrap_err();
        assert!(
            matches!(&e, ParseError::Unreadable(m) if m.contains("missing field")),
            "{e:?}"
        );
    }

    #[test]
    fn errors_name_fields_and_never_the_environment() {
        // The environment is skipped unparsed; an error in lookout's own fields names the
        // field and its position.
        let out = jlist("online", 1).replace(r#""restart_time":1"#, r#""restart_time":"x""#);
        let e = parse_jlist(out.as_bytes()).unwrap_err();
        assert!(!format!("{e:?}").contains(SECRET), "{e:?}");
        assert!(format!("{e:?}").contains("expected u64"), "{e:?}");
        let truncated = &out[..out.find(SECRET).unwrap() + 4];
        let e = parse_jlist(truncated.as_bytes()).unwrap_err();
        assert!(!format!("{e:?}").contains("sk_l"), "{e:?}");
    }

    fn parsed(status: &str, restarts: u64) -> Vec<Pm2Process> {
        parse_jlist(jlist(status, restarts).as_bytes()).unwrap()
    }

    #[test]
    fn judges_missing_offline_and_restarting_apps() {
        let e = online(&parsed("online", 0), "api").unwrap_err();
        assert_eq!(e.to_string(), "PM2 has no app named \"api\" (apps: web)");
        let e = online(&parsed("errored", 15), "web").unwrap_err();
        assert_eq!(
            e.to_string(),
            "web (pm_id 0) is errored, restarted 15 times"
        );
        let watched = Duration::from_secs(5);
        let e = steady(&parsed("online", 2), &parsed("online", 4), "web", watched).unwrap_err();
        assert_eq!(
            e.to_string(),
            "web (pm_id 0) restarted 2 times in 5s (restart count 2 -> 4): a crash loop?"
        );
        let ok = steady(&parsed("online", 2), &parsed("online", 2), "web", watched).unwrap();
        assert_eq!(ok.restarts, 2);
    }
}

/// A PM2 app's figures at one check, kept as the monitor's: what `pm2 monit` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pm2Figures {
    /// Instances running.
    pub instances: usize,
    /// Their restart counts, summed.
    pub restarts: u64,
    /// Restarts since the previous check (0 at the first).
    pub restarted: u64,
    /// Memory, summed, bytes.
    pub memory_bytes: u64,
    /// CPU, summed, percent of one core.
    pub cpu_percent: f64,
}

/// The `pm2` monitor's check: reads `PROGRAM jlist` and judges one app. Down when PM2
/// cannot be read or the app is missing or not online; degraded when an instance restarted
/// since the previous check (a crash loop looks online most of the time).
#[derive(Debug)]
pub struct Pm2Check {
    /// How PM2 is read.
    pub reader: Pm2Reader,
    /// The app's name.
    pub app: String,
    /// Each instance's restart count at the previous check, by `pm_id`.
    last: std::sync::Mutex<Option<Vec<(u64, u64)>>>,
}

impl Pm2Check {
    /// A check of `app` read with `reader`.
    pub fn new(reader: Pm2Reader, app: String) -> Self {
        Pm2Check {
            reader,
            app,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Reads PM2 once and judges the app.
    pub async fn run(&self) -> crate::CheckResult {
        let started = std::time::Instant::now();
        let list = self.reader.list().await;
        let timings = crate::Timings {
            total_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            ..crate::Timings::default()
        };
        let result = crate::CheckResult::new(timings);
        let down = |reason: String| {
            crate::CheckResult::new(timings)
                .fail(crate::Status::Down, crate::CheckError::Pm2 { reason })
        };
        let list = match list {
            Ok(l) => l,
            Err(e) => return down(e.to_string()),
        };
        let health = match online(&list, &self.app) {
            Ok(h) => h,
            Err(e) => {
                // An app that went down starts a fresh count when it is back.
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return down(e.to_string());
            }
        };
        let now: Vec<(u64, u64)> = list
            .iter()
            .filter(|p| p.name == self.app)
            .map(|p| (p.pm_id, p.restarts))
            .collect();
        let previous = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(now.clone());
        let restarted: u64 = previous.map_or(0, |before| {
            now.iter()
                .filter_map(|(id, n)| {
                    before
                        .iter()
                        .find(|(b, _)| b == id)
                        .map(|(_, m)| n.saturating_sub(*m))
                })
                .sum()
        });
        let mut result = if restarted > 0 {
            result.fail(
                crate::Status::Degraded,
                crate::CheckError::Pm2 {
                    reason: format!(
                        "{} restarted {} since the last check: a crash loop?",
                        self.app,
                        times(restarted)
                    ),
                },
            )
        } else {
            result
        };
        result.detail = Some(health.to_string());
        result.pm2 = Some(Pm2Figures {
            instances: health.instances,
            restarts: health.restarts,
            restarted,
            memory_bytes: health.memory_bytes,
            cpu_percent: health.cpu_percent,
        });
        result
    }
}
