//! Config values that must not leak into logs: passwords, keys, and hook URLs, which are
//! credentials themselves (anyone holding a Slack hook URL can post to the channel).
//! Serialize writes the real value so a config round-trips; only Debug hides it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that never shows up in Debug output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret value; call only where it is needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// A URL whose path and query are secret; Debug shows only scheme and host.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(s: impl Into<String>) -> Self {
        SecretUrl(s.into())
    }

    /// The whole URL; call only where it is needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`, safe to print; "(not a URL)" when it is none.
    pub fn redacted(&self) -> String {
        match self.0.parse::<ureq::http::Uri>() {
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
        let u: ureq::http::Uri = self.0.parse().map_err(|_| bad())?;
        match (u.scheme_str(), u.host()) {
            (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(()),
            _ => Err(bad()),
        }
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
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "\"***\"");
    }
}
