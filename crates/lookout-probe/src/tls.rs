//! TLS: the handshake with a verifier that remembers the leaf certificate and why it was
//! rejected, so an expired or wrong-host certificate still reports its expiry date.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::der::cert_facts;
use crate::net::{ms_since, open, Deadline};
use crate::{CheckError, CheckResult, Phase, Status, Timings, TlsErrorKind};

/// What the server's certificate says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsInfo {
    /// The leaf's notAfter, Unix seconds.
    pub not_after_unix: i64,
    /// Whole days until notAfter (negative once expired).
    pub days_left: i64,
    /// The leaf's issuer (`CN=…, O=…`).
    pub issuer: String,
    /// The leaf's subject.
    pub subject: String,
    /// Whether the chain, validity period and host name all check out.
    pub valid: bool,
    /// Why it is not valid.
    pub error: Option<String>,
    /// The classification of `error`.
    pub error_kind: Option<TlsErrorKind>,
}

/// Which roots a TLS connection trusts. Cheap to clone: the verifier is shared.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl Default for TlsOptions {
    /// The Mozilla roots of `webpki-roots`. Built once and shared: each build holds its
    /// own parsed copy of the roots (about 8 KiB), which 10,000 monitors would multiply.
    fn default() -> Self {
        static SHARED: std::sync::OnceLock<TlsOptions> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                Self::with_extra_roots(Vec::new()).expect("the bundled roots are valid")
            })
            .clone()
    }
}

impl TlsOptions {
    /// The Mozilla roots plus `extra` (DER), e.g. a private CA.
    pub fn with_extra_roots(extra: Vec<CertificateDer<'static>>) -> Result<Self, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| format!("cannot trust the extra root certificate: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        Ok(TlsOptions { provider, verifier })
    }

    /// The Mozilla roots plus every certificate in a PEM bundle.
    pub fn with_extra_roots_pem(pem: &[u8]) -> Result<Self, String> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot read the PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate found in the PEM data".to_string());
        }
        Self::with_extra_roots(certs)
    }

    fn connector(&self, alpn: &[&[u8]], recorder: Arc<RecordingVerifier>) -> TlsConnector {
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(recorder)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
struct Seen {
    leaf: Option<Vec<u8>>,
    error: Option<rustls::Error>,
}

/// Delegates to webpki (so a bad certificate still aborts the handshake) but keeps the
/// leaf and the verdict, which a plain handshake error would lose. Validity is judged at
/// the caller's time, like the days left, so one clock decides both.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    now: UnixTime,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _rustls_now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            self.now,
        );
        let mut seen = self.seen.lock();
        seen.leaf = Some(end_entity.to_vec());
        seen.error = verdict.as_ref().err().cloned();
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn classify(err: &rustls::Error, facts_self_signed: bool) -> TlsErrorKind {
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsErrorKind::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsErrorKind::NotYetValid
            }
            // webpki names a self-signed leaf UnknownIssuer, or CaUsedAsEndEntity when it
            // carries CA:TRUE (as `openssl req -x509` makes them).
            CertificateError::UnknownIssuer | CertificateError::Other(_) if facts_self_signed => {
                TlsErrorKind::SelfSigned
            }
            CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::HostnameMismatch
            }
            _ => TlsErrorKind::Other,
        },
        _ => TlsErrorKind::Other,
    }
}

/// Builds the certificate report from what the verifier saw, counting days left from
/// `now_ms` (Unix milliseconds).
fn tls_info(seen: &Seen, now_ms: i64) -> Option<(TlsInfo, Option<TlsErrorKind>)> {
    let facts = cert_facts(seen.leaf.as_deref()?)?;
    let kind = seen
        .error
        .as_ref()
        .map(|e| classify(e, facts.issuer == facts.subject));
    let info = TlsInfo {
        not_after_unix: facts.not_after_unix,
        days_left: (facts.not_after_unix - now_ms.div_euclid(1000)).div_euclid(86_400),
        issuer: facts.issuer,
        subject: facts.subject,
        valid: seen.error.is_none(),
        error: seen.error.as_ref().map(|e| e.to_string()),
        error_kind: kind,
    };
    Some((info, kind))
}

/// Runs a TLS handshake over `tcp` for `host`. Returns the stream (or the classified
/// error) and, whenever the server sent a certificate, its report. The certificate is
/// judged at `now_ms` (Unix milliseconds): its validity and its days left.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
    alpn: &[&[u8]],
    now_ms: i64,
) -> (Result<TlsStream<TcpStream>, CheckError>, Option<TlsInfo>) {
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => {
            return (
                Err(CheckError::Invalid {
                    reason: format!("`{host}` cannot be a TLS server name: {e}"),
                }),
                None,
            )
        }
    };
    let recorder = Arc::new(RecordingVerifier {
        inner: opts.verifier.clone(),
        now: UnixTime::since_unix_epoch(Duration::from_millis(u64::try_from(now_ms).unwrap_or(0))),
        seen: Mutex::new(Seen::default()),
    });
    let result = opts
        .connector(alpn, recorder.clone())
        .connect(name, tcp)
        .await;
    let seen = recorder.seen.lock();
    let (info, kind) = match tls_info(&seen, now_ms) {
        Some((info, kind)) => (Some(info), kind),
        None => (None, None),
    };
    let result = result.map_err(|e| {
        let detail = match (&seen.error, e.get_ref()) {
            (Some(err), _) => err.to_string(),
            (None, Some(inner)) => inner.to_string(),
            (None, None) => e.to_string(),
        };
        CheckError::Tls {
            kind: kind.unwrap_or(TlsErrorKind::Other),
            detail,
        }
    });
    (result, info)
}

/// Connect and inspect the server certificate: validity, host name, days until expiry.
#[derive(Debug, Clone)]
pub struct TlsCheck {
    /// Host name to connect to and to verify the certificate for.
    pub host: String,
    /// Port (443 usually).
    pub port: u16,
    /// Overall timeout.
    pub timeout: Duration,
    /// Trusted roots.
    pub tls: TlsOptions,
}

impl TlsCheck {
    /// Runs the check once. An invalid certificate is Down with a TLS error; how soon a
    /// valid one expires is reported in `tls.days_left` for the caller's warnings, since
    /// expiry is its own signal, not an outage. The certificate is judged at `now_ms`
    /// (Unix milliseconds, from the caller's clock).
    pub async fn run(&self, now_ms: i64) -> CheckResult {
        let deadline = Deadline::after(self.timeout);
        let mut timings = Timings::default();
        let mut tls = None;
        let start = Instant::now();
        let outcome = async {
            let tcp = open(&self.host, self.port, &deadline, &mut timings).await?;
            let t = Instant::now();
            let (stream, info) = deadline
                .run(Phase::Tls, async {
                    Ok(handshake(tcp, &self.host, &self.tls, &[], now_ms).await)
                })
                .await?;
            tls = info;
            stream?;
            timings.tls_ms = Some(ms_since(t));
            Ok::<(), CheckError>(())
        }
        .await;
        timings.total_ms = Some(ms_since(start));
        let mut result = CheckResult::new(timings);
        result.detail = tls
            .as_ref()
            .map(|i| format!("certificate expires in {} days", i.days_left));
        result.tls = tls;
        match outcome {
            Ok(()) => result,
            Err(e) => result.fail(Status::Down, e),
        }
    }
}
