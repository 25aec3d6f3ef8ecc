//! `lookout check` as a user runs it: the real binary against servers on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// Serves every connection on 127.0.0.1 with the same raw HTTP response.
fn serve(status: &str, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

/// `lookout check ARGS`: the exit code, stdout and stderr.
fn run_check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn lookout_check(args: &[&str]) -> (i32, String) {
    let (code, stdout, _) = run_check(args);
    (code, stdout)
}

#[test]
fn up_prints_the_phases_and_exits_0() {
    let port = serve("200 OK", "{\n  \"status\": \"ok\"\n}");
    let url = format!("http://127.0.0.1:{port}/api/health");
    let (code, out) = lookout_check(&[&url, "--json", "$.status == \"ok\"", "--timeout", "5s"]);
    assert_eq!(code, 0, "{out}");
    for phase in [
        "DNS",
        "connect",
        "first byte",
        "total",
        "HTTP status 200",
        "verdict: UP",
    ] {
        assert!(out.contains(phase), "missing {phase:?} in:\n{out}");
    }
}

#[test]
fn degraded_health_exits_1() {
    let port = serve(
        "200 OK",
        r#"{"status":"degraded","checks":{"database":{"status":"degraded","latency":900}}}"#,
    );
    let url = format!("http://127.0.0.1:{port}/api/health");
    let (code, out) = lookout_check(&[&url, "--health"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: DEGRADED: health is degraded: database"),
        "{out}"
    );
}

#[test]
fn down_exits_2_and_says_why() {
    let port = serve("500 Internal Server Error", "oops");
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out) = lookout_check(&[&url]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unexpected HTTP status 500 (expected 200-299)"),
        "{out}"
    );

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out) = lookout_check(&[&format!("tcp://127.0.0.1:{closed}")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("connect") && out.contains("refused"), "{out}");
}

#[test]
fn invalid_arguments_exit_3() {
    let (code, _) = lookout_check(&["http://127.0.0.1:1/", "--json", "status == ok"]);
    assert_eq!(code, 3);
    // A typo is never "down" (2): a script must tell it from an outage.
    for (args, says) in [
        (&["ftp://x"][..], "must start with http:// or https://"),
        (&["http://exa mple.org/"], "is not a URL"),
        (&["example.org"], "is not a target"),
        (&["tcp://example.org"], "port"),
        (&[], "TARGET"),
        (&["http://127.0.0.1:1/", "--keywrd", "x"], "--keywrd"),
        (&["http://127.0.0.1:1/", "--timeout"], "--timeout"),
    ] {
        let (code, stdout, stderr) = run_check(args);
        assert_eq!(code, 3, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            !stdout.contains("verdict"),
            "{args:?} was checked: {stdout}"
        );
    }
}

#[test]
fn durations_take_units_and_a_bad_one_names_its_flag() {
    let port = serve("200 OK", "{}");
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out) = lookout_check(&[&url, "--timeout", "1m 30s", "--max-response-time", "1h"]);
    assert_eq!(code, 0, "{out}");

    for (flag, value) in [("--timeout", "5x"), ("--max-response-time", "fast")] {
        let (code, _, stderr) = run_check(&[&url, flag, value]);
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(
            stderr.contains(&format!("`{value}` is not a duration")),
            "{stderr}"
        );
        assert!(stderr.contains("e.g. 500ms, 10s, 2m or 1h 30m"), "{stderr}");
    }
}
