//! Email over SMTP (lettre, rustls): STARTTLS (required, never opportunistic), implicit
//! TLS, or plain for a relay on the same machine. One message per notification with a text
//! and an HTML part; the subject starts with the severity so mail filters can route it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::text::{event_label, facts, tag, truncate};
use crate::{Channel, Delivery, Notification, NotifyEvent, Runbook};

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a relay on the same machine or network (port 25).
    None,
}

/// `kind = "email"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (also the name its certificate must carry).
    pub host: String,
    /// Default 587 for starttls, 465 for implicit, 25 for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `starttls` (default), `implicit` or `none`.
    #[serde(default)]
    pub tls: EmailTls,
    /// Login name, when the server wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for `username`.
    #[serde(
        default,
        serialize_with = "crate::secret::expose_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<SecretString>,
    /// Sender, e.g. "lookout <alerts@example.com>".
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// PEM file with extra CA certificates to trust (a private mail server's CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long connecting and each SMTP step may take (default 10s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl EmailConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.host.trim().is_empty() {
            return Err((
                "host",
                "must name the SMTP server, e.g. \"smtp.example.com\"".into(),
            ));
        }
        self.from.parse::<Mailbox>().map_err(|e| {
            (
                "from",
                format!("`{}` is not an email address: {e}", self.from),
            )
        })?;
        if self.to.is_empty() {
            return Err(("to", "list at least one recipient".into()));
        }
        for to in &self.to {
            to.parse::<Mailbox>()
                .map_err(|e| ("to", format!("`{to}` is not an email address: {e}")))?;
        }
        match (&self.username, &self.password) {
            (Some(_), None) => return Err(("password", "is needed with username".into())),
            (None, Some(_)) => return Err(("username", "is needed with password".into())),
            (Some(_), Some(_)) if self.tls == EmailTls::None => return Err((
                "tls",
                "\"none\" would send the password in clear text; use \"starttls\" or \"implicit\""
                    .into(),
            )),
            _ => {}
        }
        if let Some(ca) = &self.ca_file {
            if self.tls == EmailTls::None {
                return Err(("ca_file", "has no use with tls = \"none\"".into()));
            }
            if !ca.is_file() {
                return Err((
                    "ca_file",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        crate::config::validate_timeout(self.timeout)
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            EmailTls::Starttls => 587,
            EmailTls::Implicit => 465,
            EmailTls::None => 25,
        })
    }
}

/// Sends mail through one SMTP server.
pub struct Email {
    transport: SmtpTransport,
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    /// A channel for `config`; reads `ca_file`.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        let tls = match config.tls {
            EmailTls::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("ca_file: cannot read {}: {e}", path.display()))?;
                    let no_cert =
                        || format!("ca_file: {} holds no PEM certificate", path.display());
                    // lettre accepts a file without certificates and would trust nothing more.
                    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                        return Err(no_cert());
                    }
                    let cert =
                        Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", no_cert()))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| format!("tls: cannot set up TLS: {e}"))?;
                if mode == EmailTls::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = SmtpTransport::builder_dangerous(config.host.clone())
            .port(config.port())
            .tls(tls)
            .timeout(Some(config.timeout.unwrap_or(crate::DEFAULT_TIMEOUT)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        let parse = |key: &str, s: &str| {
            s.parse::<Mailbox>()
                .map_err(|e| format!("{key}: `{s}` is not an email address: {e}"))
        };
        Ok(Email {
            transport: builder.build(),
            server: format!("{}:{}", config.host, config.port()),
            from: parse("from", &config.from)?,
            to: config
                .to
                .iter()
                .map(|t| parse("to", t))
                .collect::<Result<_, _>>()?,
        })
    }

    fn send_one(&self, n: &Notification) -> Delivery {
        let message = match self.message(n) {
            Ok(m) => m,
            Err(e) => {
                return Delivery::Rejected {
                    reason: format!("cannot build the message: {e}"),
                }
            }
        };
        match self.transport.send(&message) {
            Ok(r) => Delivery::Delivered {
                status: r.code().to_string().parse().ok(),
                answer: truncate(
                    &r.message().collect::<Vec<_>>().join(" "),
                    crate::http::MAX_ANSWER_CHARS,
                ),
            },
            Err(e) => {
                let reason = format!("{}: {}", self.server, error_text(&e));
                if e.is_permanent() {
                    Delivery::Rejected { reason }
                } else {
                    // 4xx answers, and everything short of an answer: timeouts, refused
                    // connections, failed handshakes.
                    Delivery::Retry {
                        after: None,
                        reason,
                    }
                }
            }
        }
    }

    /// The message for one notification.
    pub fn message(&self, n: &Notification) -> Result<Message, String> {
        let subject = format!("[{}] {}", tag(n), subject_line(n));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(truncate(&subject, 200))
            // Stable across retries, so a server that saw the first attempt through can
            // recognise the second as the same message.
            .message_id(Some(format!(
                "<{}.{}.{}@lookout>",
                sanitize(&n.id),
                n.incident_id,
                n.triggered_ms
            )));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(plain_text(n), html(n)?))
            .map_err(|e| e.to_string())
    }
}

impl Channel for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        crate::one_by_one(batch, |n| self.send_one(n))
    }
}

/// The title, prefixed with the event unless it is the first trigger.
fn subject_line(n: &Notification) -> String {
    let title = n.title.replace(['\r', '\n'], " ");
    match n.event {
        NotifyEvent::Triggered | NotifyEvent::Resolved { .. } | NotifyEvent::Test => title,
        _ => format!("{}: {title}", event_label(&n.event)),
    }
}

/// Keeps a Message-ID's left part to characters it may hold.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn links(n: &Notification) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(u) = &n.incident_url {
        out.push(("Open incident", u.as_str()));
    }
    if let Some(u) = &n.ack_url {
        out.push(("Acknowledge", u.as_str()));
    }
    if let Some(u) = n.runbook.as_ref().and_then(|r| r.url.as_deref()) {
        out.push(("Runbook", u));
    }
    out
}

fn plain_text(n: &Notification) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} · {}", tag(n), event_label(&n.event));
    let _ = writeln!(s, "{}\n", n.title);
    let _ = writeln!(s, "{}\n", n.summary.trim_end());
    for (k, v) in facts(n) {
        let _ = writeln!(s, "{:<9} {v}", format!("{k}:"));
    }
    let links = links(n);
    if !links.is_empty() {
        s.push('\n');
        for (label, url) in links {
            let _ = writeln!(s, "{label}: {url}");
        }
    }
    if let Some(rb) = &n.runbook {
        let _ = writeln!(s, "\nRunbook: {}", rb.title);
        for line in rb.text.as_deref().unwrap_or_default().lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = write!(s, "\n-- \nSent by lookout (notification {}).\n", n.id);
    s
}

/// The HTML part, from `templates/email.html`: askama escapes every value, the one
/// escaping path lookout has for markup.
#[derive(Template)]
#[template(path = "email.html")]
struct EmailHtml<'a> {
    colour: &'static str,
    tag: String,
    event: String,
    title: &'a str,
    summary: &'a str,
    facts: Vec<(&'static str, String)>,
    links: Vec<(&'static str, &'a str)>,
    runbook: Option<&'a Runbook>,
    id: &'a str,
}

fn html(n: &Notification) -> Result<String, String> {
    EmailHtml {
        colour: n.severity.colour(),
        tag: tag(n),
        event: event_label(&n.event),
        title: &n.title,
        summary: n.summary.trim_end(),
        facts: facts(n),
        links: links(n),
        runbook: n.runbook.as_ref(),
        id: &n.id,
    }
    .render()
    .map_err(|e| format!("cannot render the HTML part: {e}"))
}

/// lettre's error with its causes: the top level alone often says only "network error".
fn error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
