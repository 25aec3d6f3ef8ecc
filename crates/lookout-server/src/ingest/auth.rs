//! Which project key a request carries. SDKs use different places: the `X-Sentry-Auth`
//! header (server SDKs), `Authorization: Sentry …`, the `sentry_key` query parameter
//! (browser and Node SDKs), or the envelope header's `dsn`. Any of them is accepted;
//! two that disagree are refused, since one of them must be a mistake.

use axum::http::{HeaderMap, StatusCode};
use lookout_sentry::auth::{key_from_query, parse_auth_header};
use lookout_sentry::dsn::Dsn;

use crate::error::ApiError;

/// The public key the request authenticates with.
pub fn resolve_key(
    headers: &HeaderMap,
    query: Option<&str>,
    envelope_dsn: Option<&str>,
    project_id: i64,
) -> Result<String, ApiError> {
    let unauthorized = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let mut found: Vec<(&'static str, String)> = Vec::new();
    if let Some(v) = headers.get("x-sentry-auth") {
        let v = v
            .to_str()
            .map_err(|_| unauthorized("X-Sentry-Auth is not valid text".into()))?;
        let a = parse_auth_header(v).map_err(|e| unauthorized(format!("X-Sentry-Auth: {e}")))?;
        found.push(("X-Sentry-Auth", a.public_key));
    }
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        if v.trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("sentry "))
        {
            let a =
                parse_auth_header(v).map_err(|e| unauthorized(format!("Authorization: {e}")))?;
            found.push(("Authorization", a.public_key));
        }
    }
    if let Some(k) = query.and_then(key_from_query) {
        found.push(("sentry_key", k));
    }
    if let Some(dsn) = envelope_dsn.filter(|d| !d.is_empty()) {
        let dsn = Dsn::parse(dsn)
            .map_err(|e| ApiError::bad_request(format!("the envelope header's dsn: {e}")))?;
        if dsn.project_id != project_id.to_string() {
            return Err(ApiError::bad_request(format!(
                "the envelope header's dsn is for project {}, but the request went to project {project_id}",
                dsn.project_id
            )));
        }
        found.push(("the envelope dsn", dsn.public_key));
    }
    let Some((_, first)) = found.first() else {
        return Err(unauthorized(
            "missing authentication: send X-Sentry-Auth, ?sentry_key=… or a dsn in the envelope header (use the project's DSN)".into(),
        ));
    };
    if let Some((other, _)) = found.iter().find(|(_, k)| !k.eq_ignore_ascii_case(first)) {
        return Err(ApiError::bad_request(format!(
            "conflicting authentication: {} and {other} carry different keys",
            found[0].0
        )));
    }
    Ok(first.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn every_form_is_accepted() {
        let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
        assert_eq!(
            resolve_key(&headers(&[("x-sentry-auth", auth.clone())]), None, None, 1).unwrap(),
            KEY
        );
        assert_eq!(
            resolve_key(&headers(&[("authorization", auth)]), None, None, 1).unwrap(),
            KEY
        );
        let q = format!("sentry_version=7&sentry_key={KEY}");
        assert_eq!(
            resolve_key(&HeaderMap::new(), Some(&q), None, 1).unwrap(),
            KEY
        );
        let dsn = format!("http://{KEY}@localhost:8080/1");
        assert_eq!(
            resolve_key(&HeaderMap::new(), None, Some(&dsn), 1).unwrap(),
            KEY
        );
    }

    #[test]
    fn missing_conflicting_and_misdirected_are_refused() {
        let e = resolve_key(&HeaderMap::new(), None, None, 1).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        let q = "sentry_key=ffffffffffffffffffffffffffffffff".to_string();
        let auth = format!("Sentry sentry_key={KEY}");
        let e = resolve_key(&headers(&[("x-sentry-auth", auth)]), Some(&q), None, 1).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.detail.contains("conflicting"), "{}", e.detail);
        let dsn = format!("http://{KEY}@localhost:8080/2");
        let e = resolve_key(&HeaderMap::new(), None, Some(&dsn), 1).unwrap_err();
        assert!(e.detail.contains("project 2"), "{}", e.detail);
    }
}
