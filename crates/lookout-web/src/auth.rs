//! Passwords (argon2id), sessions in cookies, CSRF tokens bound to the session, sign-in
//! rate limiting, and the hashes and scopes of API tokens.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_store::{NewSession, User};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Web;

/// The session cookie.
pub const SESSION_COOKIE: &str = "lookout_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub const LOGIN_COOKIE: &str = "lookout_login";
/// How long a session lasts.
pub const SESSION_MS: i64 = 14 * 24 * 3600 * 1000;
/// Failed sign-ins allowed per account and per address in [`FAILURE_WINDOW_MS`]; the next
/// is refused with 429.
pub const MAX_FAILURES: i64 = 5;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW_MS: i64 = 60_000;

/// A random secret: 32 bytes as 64 hex digits.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The stored form of a session id or API token: SHA-256, hex. These are random 256-bit
/// secrets, so a fast hash is enough (unlike passwords).
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An argon2id hash of `password` in PHC string form.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new password; the message says what to change.
pub fn check_new_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 10 {
        return Err("the password needs at least 10 characters");
    }
    Ok(())
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every read (GET) of the JSON API.
    Read,
    /// Every request of the JSON API.
    Write,
    /// Releases of projects (sentry-cli uploads), and reads.
    ProjectReleases,
}

impl Scope {
    /// Every scope with its name, as tokens store and show them.
    pub const ALL: [(Scope, &'static str); 3] = [
        (Scope::Read, "read"),
        (Scope::Write, "write"),
        (Scope::ProjectReleases, "project:releases"),
    ];

    /// The scope named `s`.
    pub fn parse(s: &str) -> Option<Scope> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(sc, _)| *sc)
    }

    /// Whether a token with `scopes` may make a `method` request to `path`.
    pub fn allows(scopes: &[String], method: &Method, path: &str) -> bool {
        let read = matches!(*method, Method::GET | Method::HEAD);
        scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .any(|s| match s {
                Scope::Write => true,
                Scope::Read => read,
                // What release pipelines call: sentry-cli's releases, deploys and source
                // map uploads, and the deploy records `lookout deploy verify` writes.
                Scope::ProjectReleases => {
                    read || path.starts_with("/api/v1/deploys")
                        || path.split('/').any(|seg| {
                            matches!(seg, "releases" | "chunk-upload" | "artifactbundle")
                        })
                }
            })
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request came over TLS (directly or through a proxy that says so).
fn behind_tls(web: &Web, headers: &HeaderMap) -> bool {
    web.secure
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure behind TLS; `max_age` 0 deletes.
pub fn set_cookie(
    web: &Web,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_s: i64,
) -> String {
    let secure = if behind_tls(web, headers) {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// Whether `given` equals `expected`, in constant time.
pub fn same_secret(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// A signed-in user: the extractor every dashboard page but sign-in takes.
pub struct SignedIn {
    /// Who.
    pub user: User,
    /// The session's CSRF token, which every form carries.
    pub csrf: String,
}

impl SignedIn {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Response> {
        match given {
            Some(g) if same_secret(g, &self.csrf) => Ok(()),
            _ => Err(crate::pages::error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this dashboard. Reload the page and try again.",
            )),
        }
    }
}

impl FromRequestParts<Arc<Web>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        let refuse = || -> Response {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                Redirect::to(&format!("/login?next={next}")).into_response()
            } else {
                crate::pages::error_page(StatusCode::UNAUTHORIZED, "Sign in first.")
            }
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(refuse());
        };
        let now = web.clock.now_ms();
        let store = web.store.clone();
        let found = tokio::task::spawn_blocking(move || store.get_session(&token_hash(&id), now))
            .await
            .map_err(|_| crate::pages::internal("a database task failed"))?
            .map_err(|e| crate::pages::internal(&e.to_string()))?;
        match found {
            Some((session, user)) => Ok(SignedIn {
                user,
                csrf: session.csrf,
            }),
            None => Err(refuse()),
        }
    }
}

/// Starts a session for `user`: stores it and returns the `Set-Cookie` value.
pub async fn start_session(
    web: &Arc<Web>,
    headers: &HeaderMap,
    user: &User,
) -> Result<String, Response> {
    let id = new_secret();
    let now = web.clock.now_ms();
    let session = NewSession {
        id_hash: token_hash(&id),
        user_id: user.id,
        csrf: new_secret(),
        created_ms: now,
        expires_ms: now + SESSION_MS,
    };
    let (store, user_id) = (web.store.clone(), user.id);
    tokio::task::spawn_blocking(move || {
        store.create_session(&session)?;
        store.touch_login(user_id, now)
    })
    .await
    .map_err(|_| crate::pages::internal("a database task failed"))?
    .map_err(|e| crate::pages::internal(&e.to_string()))?;
    Ok(set_cookie(
        web,
        headers,
        SESSION_COOKIE,
        &id,
        SESSION_MS / 1000,
    ))
}

/// The keys failed sign-ins are counted under: the account and the client address.
pub fn failure_keys(email: &str, addr: Option<std::net::IpAddr>) -> Vec<String> {
    let mut keys = vec![format!("account:{email}")];
    if let Some(a) = addr {
        keys.push(format!("addr:{a}"));
    }
    keys
}

/// The networks of the reverse proxies in front of lookout (`server.trusted_proxies`).
///
/// Behind a proxy every request comes from the proxy's address: a limit per address would
/// then be one limit for everybody, and one person guessing passwords would lock every
/// user out. A request from a trusted proxy is taken to come from the address the proxy
/// appended to `X-Forwarded-For`; a request from anywhere else keeps its own address, so a
/// client cannot pick its address by sending the header itself.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.1`) and networks (`10.0.0.0/8`, `fd00::/8`); the error
    /// names the entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<ipnet::IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{e}` is not an IP address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer's own unless the peer is a trusted proxy; then the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its
    /// left were written by the client and prove nothing).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>().map(canonical) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// An IPv4 address carried in IPv6 (`::ffff:10.0.0.1`, as a dual-stack listener reports
/// it) as the IPv4 address, so `10.0.0.0/8` matches it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn scopes() {
        let read = vec!["read".to_string()];
        let rel = vec!["project:releases".to_string()];
        let write = vec!["write".to_string()];
        assert!(Scope::allows(&read, &Method::GET, "/api/v1/issues/1"));
        assert!(!Scope::allows(
            &read,
            &Method::POST,
            "/api/v1/issues/1/resolve"
        ));
        assert!(Scope::allows(
            &write,
            &Method::POST,
            "/api/v1/issues/1/resolve"
        ));
        assert!(Scope::allows(
            &rel,
            &Method::POST,
            "/api/0/projects/o/p/releases/"
        ));
        assert!(!Scope::allows(&rel, &Method::POST, "/api/v1/monitors"));
        assert!(!Scope::allows(&["nonsense".to_string()], &Method::GET, "/"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; lookout_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_address_it_appended() {
        let p = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // nginx on the same host appends the client's address.
        assert_eq!(
            p.client(ip("127.0.0.1"), &xff("203.0.113.7")),
            ip("203.0.113.7")
        );
        // A client's own entry, to the left of what the proxies wrote, is not believed.
        assert_eq!(
            p.client(ip("127.0.0.1"), &xff("198.51.100.1, 203.0.113.7, 10.1.2.3")),
            ip("203.0.113.7")
        );
        // From an untrusted peer, the header is the client's word and is ignored.
        assert_eq!(
            p.client(ip("203.0.113.9"), &xff("198.51.100.1")),
            ip("203.0.113.9")
        );
        // Mapped IPv4 from a dual-stack listener is the IPv4 address.
        assert_eq!(
            p.client(ip("::ffff:127.0.0.1"), &xff("203.0.113.7")),
            ip("203.0.113.7")
        );
        // No header, or garbage in it: the proxy's own address (still one key, not none).
        assert_eq!(
            p.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        assert_eq!(p.client(ip("127.0.0.1"), &xff("unknown")), ip("127.0.0.1"));
        // Nothing trusted: the peer, whatever the header says.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), &xff("203.0.113.7")),
            ip("127.0.0.1")
        );
        let e = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }
}
