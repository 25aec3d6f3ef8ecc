//! Running a shell command as a check or a step: `sh -c` in a directory, with a timeout that
//! kills the command's whole process group (so `npm run build` does not outlive it), and its
//! output handed to the caller line by line as it comes.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

/// How long output is still read after the command exited: a background process it
/// started may hold the pipes open for good.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// A command line for `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The script, as `sh -c` takes it.
    pub script: String,
    /// The working directory; the current one when `None`.
    pub dir: Option<PathBuf>,
    /// How long it may run before its process group is killed.
    pub timeout: Duration,
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It ran out of time and was killed.
    TimedOut(Duration),
    /// It could not be started.
    CannotStart(String),
}

impl Exit {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with {c}"),
            Exit::Signal(s) => write!(f, "was ended by signal {s}"),
            Exit::TimedOut(t) => write!(f, "ran longer than {t:?} and was killed"),
            Exit::CannotStart(why) => write!(f, "could not start: {why}"),
        }
    }
}

/// Runs `cmd`, calling `on_line` with each line of output (without its line ending) as it
/// arrives, and returns how it ended.
pub async fn run(cmd: &ShellCommand, mut on_line: impl FnMut(Stream, &[u8])) -> Exit {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&cmd.script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    if let Some(dir) = &cmd.dir {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let place = cmd
                .dir
                .as_ref()
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_default();
            return Exit::CannotStart(format!("cannot run `sh -c`{place}: {e}"));
        }
    };
    let mut out = child.stdout.take().map(BufReader::new);
    let mut err = child.stderr.take().map(BufReader::new);
    let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
    let timeout = tokio::time::sleep(cmd.timeout);
    tokio::pin!(timeout);
    // Armed once the command has ended.
    let grace = tokio::time::sleep(Duration::from_secs(365 * 86_400));
    tokio::pin!(grace);
    let mut exit = None;
    while exit.is_none() || out.is_some() || err.is_some() {
        tokio::select! {
            read = next_line(out.as_mut(), &mut out_line) => {
                if deliver(read, &mut out_line, Stream::Stdout, &mut on_line) {
                    out = None;
                }
            }
            read = next_line(err.as_mut(), &mut err_line) => {
                if deliver(read, &mut err_line, Stream::Stderr, &mut on_line) {
                    err = None;
                }
            }
            status = child.wait(), if exit.is_none() => {
                exit = Some(match status {
                    Ok(s) => exit_of(s),
                    Err(e) => Exit::CannotStart(format!("cannot wait for the command: {e}")),
                });
                grace.as_mut().reset(tokio::time::Instant::now() + PIPE_GRACE);
            }
            _ = &mut timeout, if exit.is_none() => {
                kill_group(&mut child);
                let _ = child.wait().await;
                exit = Some(Exit::TimedOut(cmd.timeout));
                grace.as_mut().reset(tokio::time::Instant::now() + PIPE_GRACE);
            }
            _ = &mut grace, if exit.is_some() => break,
        }
    }
    for (line, stream) in [(out_line, Stream::Stdout), (err_line, Stream::Stderr)] {
        if !line.is_empty() {
            on_line(stream, trim_eol(&line));
        }
    }
    exit.unwrap_or(Exit::CannotStart("the command vanished".into()))
}

/// Reads into `buf` up to the next line end; never completes when the stream is closed.
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: Option<&mut R>,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read_until(b'\n', buf).await,
        None => std::future::pending().await,
    }
}

/// Hands a complete line to the caller; returns whether the stream has ended.
fn deliver(
    read: std::io::Result<usize>,
    buf: &mut Vec<u8>,
    stream: Stream,
    on_line: &mut impl FnMut(Stream, &[u8]),
) -> bool {
    match read {
        Ok(0) | Err(_) => true,
        Ok(_) => {
            on_line(stream, trim_eol(buf));
            buf.clear();
            false
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    if let Some(code) = status.code() {
        return Exit::Code(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Exit::Signal(signal);
        }
    }
    Exit::CannotStart("it ended without an exit code".into())
}

fn kill_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // The group id is the shell's pid (process_group(0)): this reaches its children too.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.start_kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> ShellCommand {
        ShellCommand {
            script: script.into(),
            dir: None,
            timeout,
        }
    }

    async fn collect(cmd: &ShellCommand) -> (Exit, Vec<(Stream, String)>) {
        let mut lines = Vec::new();
        let exit = run(cmd, |s, l| {
            lines.push((s, String::from_utf8_lossy(l).into_owned()))
        })
        .await;
        (exit, lines)
    }

    #[tokio::test]
    async fn passes_lines_and_the_exit_code() {
        let (exit, lines) = collect(&sh(
            "echo one; echo two >&2; printf 'three'; exit 3",
            Duration::from_secs(10),
        ))
        .await;
        assert_eq!(exit, Exit::Code(3));
        assert!(!exit.success());
        assert!(lines.contains(&(Stream::Stdout, "one".into())), "{lines:?}");
        assert!(lines.contains(&(Stream::Stderr, "two".into())), "{lines:?}");
        assert!(
            lines.contains(&(Stream::Stdout, "three".into())),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn runs_in_the_directory() {
        let dir = std::env::temp_dir();
        let mut cmd = sh("pwd", Duration::from_secs(10));
        cmd.dir = Some(dir.clone());
        let (exit, lines) = collect(&cmd).await;
        assert!(exit.success());
        let pwd = std::fs::canonicalize(&lines[0].1).unwrap();
        assert_eq!(pwd, std::fs::canonicalize(dir).unwrap());

        cmd.dir = Some(PathBuf::from("/nonexistent/lookout-test"));
        let (exit, _) = collect(&cmd).await;
        assert!(
            matches!(&exit, Exit::CannotStart(why) if why.contains("/nonexistent/lookout-test")),
            "{exit:?}"
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        let (exit, _) = collect(&sh(&script, Duration::from_millis(300))).await;
        assert_eq!(exit, Exit::TimedOut(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        // The background `sleep` was in the group: it must be gone (or a zombie of init).
        let alive = || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("ps -o stat= -p {} | grep -qv Z", pid.trim()))
                .status()
                .unwrap()
                .success()
        };
        let mut waited = 0;
        while alive() && waited < 40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        assert!(!alive(), "sleep {} survived the timeout", pid.trim());
    }

    #[tokio::test]
    async fn a_background_process_holding_the_pipes_does_not_block() {
        let started = std::time::Instant::now();
        let (exit, lines) = collect(&sh(
            "(sleep 5; echo late) & echo done",
            Duration::from_secs(30),
        ))
        .await;
        assert!(exit.success());
        assert_eq!(lines, vec![(Stream::Stdout, "done".to_string())]);
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
