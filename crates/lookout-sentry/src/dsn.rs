//! The DSN an SDK is configured with: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}/{project_id}`.

use std::fmt;

/// A parsed Sentry DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `http` or `https`.
    pub scheme: String,
    /// The public key (the user part of the URL).
    pub public_key: String,
    /// The legacy secret key (the password part), when present.
    pub secret_key: Option<String>,
    /// Host name or IP literal (IPv6 keeps its brackets).
    pub host: String,
    /// Explicit port, when given.
    pub port: Option<u16>,
    /// Path prefix before the project id, without a trailing slash; usually empty.
    pub path: String,
    /// The project id (last path segment).
    pub project_id: String,
}

/// Why a DSN could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    /// The string has no `scheme://`.
    #[error("DSN has no scheme: expected it to start with `https://` or `http://`")]
    MissingScheme,
    /// A scheme other than http/https.
    #[error("DSN scheme `{0}` is not supported: use `https` or `http`")]
    BadScheme(String),
    /// No `key@` before the host.
    #[error("DSN has no public key: expected `scheme://PUBLIC_KEY@host/PROJECT_ID`")]
    MissingPublicKey,
    /// Empty host.
    #[error("DSN has no host")]
    MissingHost,
    /// The port is not a number in 1..=65535.
    #[error("DSN port `{0}` is not a valid port number")]
    BadPort(String),
    /// No project id as the last path segment.
    #[error(
        "DSN has no project id: expected it as the last path segment, e.g. `https://key@host/42`"
    )]
    MissingProjectId,
}

impl Dsn {
    /// Parses a DSN string; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Dsn, DsnError> {
        let s = s.trim();
        let (scheme, rest) = s.split_once("://").ok_or(DsnError::MissingScheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(DsnError::BadScheme(scheme));
        }
        // Query strings and fragments carry nothing lookout needs.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or(DsnError::MissingPublicKey)?;
        let (public_key, secret_key) = match userinfo.split_once(':') {
            Some((p, s)) => (p, (!s.is_empty()).then(|| s.to_string())),
            None => (userinfo, None),
        };
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(DsnError::MissingHost);
        }
        let path = path.trim_end_matches('/');
        let (prefix, project_id) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        if project_id.is_empty() {
            return Err(DsnError::MissingProjectId);
        }
        Ok(Dsn {
            scheme,
            public_key: public_key.to_string(),
            secret_key,
            host: host.to_string(),
            port,
            path: prefix.to_string(),
            project_id: project_id.to_string(),
        })
    }

    /// `scheme://host[:port]{path}`: where the SDK sends its requests.
    pub fn base_url(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{}{}", self.scheme, self.host, p, self.path),
            None => format!("{}://{}{}", self.scheme, self.host, self.path),
        }
    }

    /// The envelope endpoint modern SDKs post to.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base_url(), self.project_id)
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), DsnError> {
    // An IPv6 literal contains colons itself, so only a colon after `]` starts a port.
    let colon = if hostport.starts_with('[') {
        hostport
            .find(']')
            .and_then(|end| hostport[end..].find(':').map(|c| end + c))
    } else {
        hostport.rfind(':')
    };
    match colon {
        Some(i) => {
            let port = &hostport[i + 1..];
            let n: u16 = port
                .parse()
                .ok()
                .filter(|&n| n != 0)
                .ok_or_else(|| DsnError::BadPort(port.to_string()))?;
            Ok((&hostport[..i], Some(n)))
        }
        None => Ok((hostport, None)),
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.public_key)?;
        if let Some(secret) = &self.secret_key {
            write!(f, ":{secret}")?;
        }
        write!(f, "@{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}/{}", self.path, self.project_id)
    }
}

impl std::str::FromStr for Dsn {
    type Err = DsnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dsn::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_dsn() {
        let d = Dsn::parse("https://abc123@o1.ingest.sentry.io/4505").unwrap();
        assert_eq!(d.scheme, "https");
        assert_eq!(d.public_key, "abc123");
        assert_eq!(d.secret_key, None);
        assert_eq!(d.host, "o1.ingest.sentry.io");
        assert_eq!(d.port, None);
        assert_eq!(d.path, "");
        assert_eq!(d.project_id, "4505");
        assert_eq!(
            d.envelope_url(),
            "https://o1.ingest.sentry.io/api/4505/envelope/"
        );
    }

    #[test]
    fn parses_secret_port_and_path_prefix() {
        let d = Dsn::parse("http://pub:sec@localhost:9000/lookout/sub/7/").unwrap();
        assert_eq!(d.secret_key.as_deref(), Some("sec"));
        assert_eq!(d.port, Some(9000));
        assert_eq!(d.path, "/lookout/sub");
        assert_eq!(d.project_id, "7");
        assert_eq!(d.base_url(), "http://localhost:9000/lookout/sub");
        assert_eq!(
            d.envelope_url(),
            "http://localhost:9000/lookout/sub/api/7/envelope/"
        );
    }

    #[test]
    fn ipv6_host_keeps_brackets() {
        let d = Dsn::parse("http://k@[::1]:8000/3").unwrap();
        assert_eq!(d.host, "[::1]");
        assert_eq!(d.port, Some(8000));
        let d = Dsn::parse("http://k@[::1]/3").unwrap();
        assert_eq!(d.host, "[::1]");
        assert_eq!(d.port, None);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "https://abc@example.com/1",
            "http://pub:sec@localhost:9000/lookout/7",
            "https://k@[::1]:443/x/y/99",
        ] {
            let d = Dsn::parse(s).unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(Dsn::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            Dsn::parse("example.com/1").unwrap_err(),
            DsnError::MissingScheme
        );
        assert_eq!(
            Dsn::parse("ftp://k@example.com/1").unwrap_err(),
            DsnError::BadScheme("ftp".into())
        );
        assert_eq!(
            Dsn::parse("https://example.com/1").unwrap_err(),
            DsnError::MissingPublicKey
        );
        assert_eq!(
            Dsn::parse("https://:secret@example.com/1").unwrap_err(),
            DsnError::MissingPublicKey
        );
        assert_eq!(
            Dsn::parse("https://k@example.com").unwrap_err(),
            DsnError::MissingProjectId
        );
        assert_eq!(
            Dsn::parse("https://k@example.com/").unwrap_err(),
            DsnError::MissingProjectId
        );
        assert_eq!(
            Dsn::parse("https://k@/1").unwrap_err(),
            DsnError::MissingHost
        );
        assert_eq!(
            Dsn::parse("https://k@h:99999/1").unwrap_err(),
            DsnError::BadPort("99999".into())
        );
        assert!(Dsn::parse("https://k@example.com")
            .unwrap_err()
            .to_string()
            .contains("project id"));
    }
}
