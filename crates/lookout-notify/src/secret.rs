//! Config values that must not leak into logs: passwords, keys, and hook URLs, which are
//! credentials themselves (anyone holding a Slack hook URL can post to the channel).
//! Secrets are `secrecy::SecretString`s. Serialize writes the real value so a config
//! round-trips; only Debug hides it.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// `serialize_with` for a secret: writes its value.
pub(crate) fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// `serialize_with` for an optional secret: writes its value.
pub(crate) fn expose_option<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for an optional map of secrets: writes their values.
pub(crate) fn expose_values<S: Serializer>(
    map: &Option<BTreeMap<String, SecretString>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match map {
        Some(m) => s.serialize_some(
            &m.iter()
                .map(|(k, v)| (k, v.expose_secret()))
                .collect::<BTreeMap<_, _>>(),
        ),
        None => s.serialize_none(),
    }
}

/// A URL whose path and query are secret; Debug shows only scheme and host.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(SecretString);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(s: impl Into<String>) -> Self {
        SecretUrl(SecretString::from(s.into()))
    }

    /// The whole URL; call only where it is needed.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// `scheme://host[:port]`, safe to print; "(not a URL)" when it is none.
    pub fn redacted(&self) -> String {
        match self.expose().parse::<ureq::http::Uri>() {
            Ok(u) => match (u.scheme_str(), u.authority()) {
                (Some(scheme), Some(auth)) => {
                    // The authority may hold user:password@; keep only host and port.
                    let host_port = auth.as_str().rsplit('@').next().unwrap_or_default();
                    format!("{scheme}://{host_port}")
                }
                _ => "(not a URL)".into(),
            },
            Err(_) => "(not a URL)".into(),
        }
    }

    /// Checks that this is an absolute http(s) URL with a host.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let bad = || {
            format!(
                "`{}` is not an http(s) URL; write the whole URL, starting with https://",
                self.redacted()
            )
        };
        let u: ureq::http::Uri = self.expose().parse().map_err(|_| bad())?;
        match (u.scheme_str(), u.host()) {
            (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        expose(&self.0, s)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}/***\"", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_only_scheme_and_host() {
        let u = SecretUrl::new("https://user:pw@hooks.slack.com:443/services/T0/B0/XXXX?x=1");
        assert_eq!(u.redacted(), "https://hooks.slack.com:443");
        assert_eq!(format!("{u:?}"), "\"https://hooks.slack.com:443/***\"");
        assert!(u.validate().is_ok());
        assert!(SecretUrl::new("hooks.slack.com/services/x")
            .validate()
            .is_err());
        assert!(SecretUrl::new("ftp://x.test/a").validate().is_err());
        assert!(SecretUrl::new("").validate().is_err());
        let d = format!("{:?}", SecretString::from("hunter2"));
        assert!(!d.contains("hunter2") && d.contains("REDACTED"), "{d}");
    }
}
