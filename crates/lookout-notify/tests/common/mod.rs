//! Real receivers on loopback for the channel tests: an HTTP server that records requests
//! and answers as told (playing Slack, Discord, Teams, PagerDuty or a webhook endpoint,
//! including their failures), and an SMTP server (plain, STARTTLS, implicit TLS) that
//! keeps what it receives. Each runs on its own runtime, so the tests call the blocking
//! channels directly, as the outbox's blocking pool does.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lookout_core::alert::Severity;
use lookout_notify::{Notification, NotifyEvent, Runbook};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[path = "../../../../tests/suite_switch.rs"]
mod switch;
#[allow(unused_imports)] // not every test binary uses it
pub use switch::suite_switch;

/// A notification with every field set.
pub fn notification(severity: Severity, event: NotifyEvent) -> Notification {
    Notification {
        id: "ntf_123".into(),
        event,
        incident_id: 42,
        dedup_key: "lookout-incident-42".into(),
        severity,
        title: "Error spike: 51 errors in 5m (project web)".into(),
        summary: "51 errors in the last 5 minutes.\nTop issue: TypeError: cannot read 'id'".into(),
        rule: "error-spike".into(),
        subject: "project web".into(),
        count: 51,
        triggered_ms: 1_772_366_400_000,
        incident_url: Some("https://lookout.example.com/incidents/42".into()),
        ack_url: Some("https://lookout.example.com/ack/42?sig=abc".into()),
        runbook: Some(Runbook {
            title: "Error spikes".into(),
            url: Some("https://wiki.example.com/runbooks/errors".into()),
            text: Some("Check the last deploy.\nRoll back if it is the cause.".into()),
        }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// How the HTTP receiver answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, headers and body.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Says nothing for this long, then answers 200.
    Hang(Duration),
}

/// `status` with `body`.
pub fn reply(status: u16, body: &str) -> Reply {
    Reply::Answer {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

/// `status` with `body` and one header.
pub fn reply_with(status: u16, header: &'static str, value: &str, body: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![(header, value.to_string())],
        body: body.into(),
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Captured {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// An HTTP receiver on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<Captured>>>,
    _rt: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start(reply: Reply) -> Self {
        let rt = runtime();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (r, q) = (reply.clone(), requests.clone());
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, q) = (r.clone(), q.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, r.clone(), q.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            reply,
            requests,
            _rt: rt,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    /// The one request received so far.
    pub fn only(&self) -> Captured {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request: {r:#?}");
        r.into_iter().next().unwrap()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<Captured>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    requests.lock().unwrap().push(Captured {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let reply = reply.lock().unwrap().clone();
    let (status, headers, body) = match reply {
        Reply::Answer {
            status,
            headers,
            body,
        } => (status, headers, body),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            (200, Vec::new(), "ok".to_string())
        }
    };
    let mut resp = Response::builder().status(status);
    for (k, v) in headers {
        resp = resp.header(k, v);
    }
    Ok(resp.body(Full::new(Bytes::from(body))).unwrap())
}

/// A test CA and a leaf it signed for 127.0.0.1.
pub struct TestTls {
    /// The CA certificate, PEM: what the client is told to trust.
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
}

impl TestTls {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "lookout test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &issuer).unwrap();
        TestTls {
            ca_pem: ca_cert.pem(),
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// How the SMTP sink secures connections.
pub enum SmtpSecurity {
    /// Plain text, no STARTTLS offered.
    Plain,
    /// Offers STARTTLS with this certificate.
    StartTls(TestTls),
    /// TLS from the first byte with this certificate.
    Implicit(TestTls),
}

/// A message the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed.
    pub data: String,
    /// Whether it arrived over TLS.
    pub tls: bool,
    /// `user:password` when the client logged in.
    pub login: Option<String>,
}

impl Mail {
    /// A header's value, unfolded (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(self.data.split("\r\n\r\n").next().unwrap_or_default(), name)
    }

    /// The decoded body of each MIME part, with its content type.
    pub fn parts(&self) -> Vec<(String, String)> {
        let ct = self.header("content-type").expect("content-type");
        let boundary = ct
            .split("boundary=")
            .nth(1)
            .expect("multipart boundary")
            .trim_matches('"')
            .to_string();
        self.data
            .split(&format!("--{boundary}"))
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|part| {
                let part = part.trim_start_matches("\r\n");
                let (head, body) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
                let ct = header_in(head, "content-type").unwrap_or_default();
                let cte = header_in(head, "content-transfer-encoding").unwrap_or_default();
                (ct, decode(&cte, body))
            })
            .collect()
    }
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn decode(cte: &str, body: &str) -> String {
    use base64::Engine;
    match cte.to_ascii_lowercase().as_str() {
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 part"),
            )
            .expect("utf-8 part")
        }
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 3 <= bytes.len() {
                    if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).expect("utf-8 part")
        }
        _ => body.to_string(),
    }
}

/// An SMTP server on 127.0.0.1 that keeps what it receives.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    rcpt_reply: Arc<Mutex<Option<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl SmtpSink {
    pub fn start(security: SmtpSecurity) -> Self {
        let rt = runtime();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let rcpt_reply = Arc::new(Mutex::new(None));
        let state = Sink {
            mails: mails.clone(),
            rcpt_reply: rcpt_reply.clone(),
        };
        let (acceptor, implicit) = match security {
            SmtpSecurity::Plain => (None, false),
            SmtpSecurity::StartTls(t) => (Some(t.acceptor()), false),
            SmtpSecurity::Implicit(t) => (Some(t.acceptor()), true),
        };
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, acceptor) = (state.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if implicit {
                        // Handshakes the client refuses end here; some tests want that.
                        let Ok(tls) = acceptor.unwrap().accept(stream).await else {
                            return;
                        };
                        let _ = session(tls, &state, true, false, true).await;
                        return;
                    }
                    let offer = acceptor.is_some();
                    if let Ok(Some(plain)) = session(stream, &state, false, offer, true).await {
                        if let Ok(tls) = acceptor.unwrap().accept(plain).await {
                            let _ = session(tls, &state, true, false, false).await;
                        }
                    }
                });
            }
        });
        SmtpSink {
            port,
            mails,
            rcpt_reply,
            _rt: rt,
        }
    }

    /// Answers every RCPT TO with this line (e.g. "451 4.3.0 try later") instead of 250.
    pub fn refuse_recipients(&self, line: &str) {
        *self.rcpt_reply.lock().unwrap() = Some(line.to_string());
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
    rcpt_reply: Arc<Mutex<Option<String>>>,
}

/// One SMTP conversation. Returns the stream when the client asked for STARTTLS, so the
/// caller can wrap it and go on over TLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    sink: &Sink,
    tls: bool,
    offer_starttls: bool,
    greet: bool,
) -> std::io::Result<Option<S>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut io = BufReader::new(stream);
    if greet {
        io.write_all(b"220 sink ESMTP ready\r\n").await?;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    let mut login = None;
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            let mut a = String::from("250-sink\r\n");
            if offer_starttls {
                a.push_str("250-STARTTLS\r\n");
            }
            a.push_str("250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n");
            a
        } else if upper.starts_with("HELO") || upper == "NOOP" || upper == "RSET" {
            "250 ok\r\n".into()
        } else if upper == "STARTTLS" && offer_starttls {
            io.write_all(b"220 go ahead\r\n").await?;
            io.flush().await?;
            return Ok(Some(io.into_inner()));
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            let encoded = if rest.trim().is_empty() {
                io.write_all(b"334 \r\n").await?;
                line.clear();
                io.read_line(&mut line).await?;
                line.trim().to_string()
            } else {
                cmd["AUTH PLAIN".len()..].trim().to_string()
            };
            let raw = b64.decode(encoded).unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            login = Some(format!(
                "{}:{}",
                parts.get(1).cloned().unwrap_or_default(),
                parts.get(2).cloned().unwrap_or_default()
            ));
            "235 2.7.0 authenticated\r\n".into()
        } else if upper.starts_with("AUTH LOGIN") {
            let mut got = Vec::new();
            for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                io.write_all(prompt.as_bytes()).await?;
                line.clear();
                io.read_line(&mut line).await?;
                got.push(
                    String::from_utf8_lossy(&b64.decode(line.trim()).unwrap_or_default())
                        .into_owned(),
                );
            }
            login = Some(got.join(":"));
            "235 2.7.0 authenticated\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_string();
            to.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            match sink.rcpt_reply.lock().unwrap().clone() {
                Some(refusal) => format!("{refusal}\r\n"),
                None => {
                    to.push(cmd[8..].trim().to_string());
                    "250 2.1.5 ok\r\n".into()
                }
            }
        } else if upper == "DATA" {
            io.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await? == 0 {
                    return Ok(None);
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let mut mails = sink.mails.lock().unwrap();
            mails.push(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
                tls,
                login: login.clone(),
            });
            format!("250 2.0.0 queued as {}\r\n", mails.len())
        } else if upper == "QUIT" {
            io.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(None);
        } else {
            "502 5.5.2 not implemented\r\n".into()
        };
        io.write_all(answer.as_bytes()).await?;
        io.flush().await?;
    }
}
