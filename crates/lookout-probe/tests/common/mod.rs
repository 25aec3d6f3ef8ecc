//! Real servers on loopback for the probe tests: an HTTP target whose behaviour can be
//! switched, and TLS servers with certificates generated here.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the target answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200 with a pretty-printed `{"status": "ok"}` document.
    Up,
    /// Sleeps this long, then answers like `Up`.
    Slow(Duration),
    /// This status with a short text body.
    Status(u16),
    /// 200 with this body.
    Body(&'static str),
    /// This status with this body (health documents).
    Respond(u16, &'static str),
}

/// The body of `Mode::Up`: pretty-printed, as many frameworks send it.
pub const UP_BODY: &str = "{\n  \"status\": \"ok\",\n  \"checks\": {\n    \"database\": { \"status\": \"ok\", \"latency\": 3 }\n  }\n}\n";

/// An HTTP target on 127.0.0.1. `/redirect/N` redirects N times before answering.
pub struct Target {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    task: JoinHandle<()>,
}

impl Target {
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let mode = shared.clone();
                tokio::spawn(serve(stream, move |req| answer(req, mode.clone())));
            }
        });
        Target { addr, mode, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Stops listening: the port then refuses connections.
    pub async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    mode: Arc<Mutex<Mode>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if let Some(n) = path.strip_prefix("/redirect/") {
        let n: u32 = n.parse().unwrap_or(0);
        if n > 0 {
            let next = if n == 1 {
                "/final".to_string()
            } else {
                format!("/redirect/{}", n - 1)
            };
            return Ok(Response::builder()
                .status(302)
                .header("location", next)
                .body(Full::new(Bytes::new()))
                .unwrap());
        }
    }
    let mode = mode.lock().unwrap().clone();
    let (status, body) = match mode {
        Mode::Up => (200, UP_BODY),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            (200, UP_BODY)
        }
        Mode::Status(code) => (code, "something went wrong"),
        Mode::Body(b) => (200, b),
        Mode::Respond(code, b) => (code, b),
    };
    Ok(Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap())
}

async fn serve<S, F, Fut>(stream: S, handler: F)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(handler))
        .await;
}

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The system time in Unix milliseconds, as the server's clock gives it to checks.
pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A test CA whose certificate the probe is told to trust.
pub struct TestCa {
    pub cert: CertificateDer<'static>,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "lookout test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid from `from_days` to `to_days` relative to now.
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64) -> Leaf {
        let now = now_ms() / 1000;
        self.leaf_between(names, now + from_days * DAY, now + to_days * DAY)
    }

    /// A leaf for `names`, valid between two Unix times (seconds, at or after 1970).
    pub fn leaf_between(&self, names: &[&str], not_before: i64, not_after: i64) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let unix = |secs: i64| {
            rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(u64::try_from(secs).unwrap())
        };
        params.not_before = unix(not_before);
        params.not_after = unix(not_after);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }
}

/// A self-signed leaf no one trusts.
pub fn self_signed(name: &str) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Leaf {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

/// A certificate chain and its private key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
}

/// An HTTPS server on 127.0.0.1 presenting `leaf`, answering like `Mode::Up`.
pub async fn tls_server(leaf: Leaf) -> (SocketAddr, JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Handshakes the client rejects end here; that is the point of some tests.
                if let Ok(tls) = acceptor.accept(stream).await {
                    let mode = Arc::new(Mutex::new(Mode::Up));
                    serve(tls, move |req| answer(req, mode.clone())).await;
                }
            });
        }
    });
    (addr, task)
}

/// A port on 127.0.0.1 with nothing listening.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}
