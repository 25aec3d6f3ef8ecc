//! Client authentication: the `X-Sentry-Auth` header (or `Authorization: Sentry …`) and the
//! `sentry_key` query parameter browsers use because they cannot set custom headers cheaply.

/// The credentials an SDK presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    /// `sentry_key`: the DSN's public key.
    pub public_key: String,
    /// `sentry_secret`, sent by old SDKs only.
    pub secret_key: Option<String>,
    /// `sentry_version`: the protocol version (7 for current SDKs).
    pub version: Option<String>,
    /// `sentry_client`: SDK name and version, e.g. `sentry.python/2.19.0`.
    pub client: Option<String>,
}

/// Why an auth header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header carries no `sentry_key`.
    #[error("auth header has no `sentry_key`: expected `Sentry sentry_key=<public key>, sentry_version=7`")]
    MissingKey,
}

/// Parses `Sentry sentry_key=abc, sentry_version=7, sentry_client=x/1.0`.
///
/// The `Sentry` prefix is optional and case-insensitive, whitespace around `,` and `=` is
/// tolerated and unknown parameters are ignored, as Relay does.
pub fn parse_auth_header(value: &str) -> Result<SentryAuth, AuthError> {
    let mut rest = value.trim();
    if rest.len() >= 6 && rest.as_bytes()[..6].eq_ignore_ascii_case(b"sentry") {
        let after = &rest[6..];
        // Only strip a scheme word, not the start of `sentry_key=`.
        if after.is_empty() || after.starts_with(char::is_whitespace) {
            rest = after.trim_start();
        }
    }
    let mut auth = SentryAuth {
        public_key: String::new(),
        secret_key: None,
        version: None,
        client: None,
    };
    for pair in rest.split(',') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        if v.is_empty() {
            continue;
        }
        match k.trim().to_ascii_lowercase().as_str() {
            "sentry_key" => auth.public_key = v.to_string(),
            "sentry_secret" => auth.secret_key = Some(v.to_string()),
            "sentry_version" => auth.version = Some(v.to_string()),
            "sentry_client" => auth.client = Some(v.to_string()),
            _ => {}
        }
    }
    if auth.public_key.is_empty() {
        return Err(AuthError::MissingKey);
    }
    Ok(auth)
}

/// Extracts `sentry_key` from a raw URL query string (without the leading `?`), decoded as
/// `application/x-www-form-urlencoded` (invalid UTF-8 becomes U+FFFD, a stray `%` stays).
pub fn key_from_query(query: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find_map(|(k, v)| (k == "sentry_key" && !v.is_empty()).then(|| v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_sdk_header() {
        let a = parse_auth_header(
            "Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/2.19.0",
        )
        .unwrap();
        assert_eq!(a.public_key, "abc123");
        assert_eq!(a.version.as_deref(), Some("7"));
        assert_eq!(a.client.as_deref(), Some("sentry.python/2.19.0"));
        assert_eq!(a.secret_key, None);
    }

    #[test]
    fn tolerates_case_spacing_prefix_and_unknown_params() {
        let a = parse_auth_header(
            "  sentry sentry_version = 5 ,sentry_timestamp=1700000000,  sentry_key = k ,sentry_secret=s,foo",
        )
        .unwrap();
        assert_eq!(a.public_key, "k");
        assert_eq!(a.secret_key.as_deref(), Some("s"));
        assert_eq!(a.version.as_deref(), Some("5"));
        let a = parse_auth_header("sentry_key=k2,sentry_version=7").unwrap();
        assert_eq!(a.public_key, "k2");
        let a = parse_auth_header("SENTRY sentry_key=k3").unwrap();
        assert_eq!(a.public_key, "k3");
    }

    #[test]
    fn missing_key_is_an_error() {
        assert_eq!(
            parse_auth_header("Sentry sentry_version=7").unwrap_err(),
            AuthError::MissingKey
        );
        assert_eq!(
            parse_auth_header("Sentry sentry_key=, sentry_version=7").unwrap_err(),
            AuthError::MissingKey
        );
        assert_eq!(parse_auth_header("").unwrap_err(), AuthError::MissingKey);
    }

    #[test]
    fn key_from_query_decodes() {
        assert_eq!(
            key_from_query(
                "sentry_version=7&sentry_key=abc&sentry_client=sentry.javascript.browser%2F8.0.0"
            )
            .as_deref(),
            Some("abc")
        );
        assert_eq!(key_from_query("?sentry_key=a%62c").as_deref(), Some("abc"));
        assert_eq!(key_from_query("sentry%5Fkey=xyz").as_deref(), Some("xyz"));
        assert_eq!(
            key_from_query("sentry_key=bad%zz").as_deref(),
            Some("bad%zz")
        );
        assert_eq!(
            key_from_query("sentry_key=trail%4").as_deref(),
            Some("trail%4")
        );
        assert_eq!(key_from_query("sentry_key="), None);
        assert_eq!(
            key_from_query("sentry_key=&sentry_key=k+1").as_deref(),
            Some("k 1")
        );
        assert_eq!(key_from_query("other=1"), None);
        assert_eq!(key_from_query(""), None);
    }
}
