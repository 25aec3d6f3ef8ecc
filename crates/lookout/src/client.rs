//! How every command that talks to a running server finds it and its API token, in one
//! place so `incident`, `send-test-event` and later client commands agree: the flag
//! (anywhere after the command's name), then the environment, then the config file (the
//! same one `serve` reads), then the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use lookout_server::Config;
use secrecy::{ExposeSecret, SecretString};

use crate::Failure;

/// `--url` and `--token`: flattened into the top-level command and `global`, so `lookout
/// --url … incident list`, `lookout incident --url … list` and `lookout incident list
/// --url …` all work, and every subcommand's `--help` shows them.
#[derive(Args, Clone, Default)]
pub struct ServerArgs {
    /// The server's URL [default: $LOOKOUT_URL, else http:// and the config's listen
    /// address, else http://localhost:8080].
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// The API token [default: $LOOKOUT_API_TOKEN, else the config's api_token, else the
    /// api-token file in the config's data directory].
    #[arg(long, global = true, value_name = "TOKEN", value_parser = secret)]
    token: Option<SecretString>,
}

/// `--token`, kept out of Debug output.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(s.into())
}

impl ServerArgs {
    /// Whether the server was named on the command line or by `LOOKOUT_URL`, rather than
    /// left to be found in the config.
    pub fn named(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        self.url.is_some() || env("LOOKOUT_URL").is_some_and(|v| !v.trim().is_empty())
    }
}

/// A running server as found: its base URL and API token.
pub struct Server {
    /// Base URL without a trailing slash, e.g. `http://localhost:8080`.
    pub url: String,
    /// The bearer token of `/api/v1`.
    pub token: SecretString,
}

/// Finds the server: `--url`, else `LOOKOUT_URL`, else the config's `listen` (the config
/// from `--config`, `LOOKOUT_CONFIG` or `./lookout.toml`, with its `LOOKOUT_*` overrides),
/// else the default; the token likewise: `--token`, `LOOKOUT_API_TOKEN`, the config's
/// `api_token`, the data directory's `api-token` file. The config is read only when a
/// flag or variable leaves something to find.
pub fn resolve(
    args: &ServerArgs,
    config: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Server, Failure> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let url = args.url.clone().or_else(|| var("LOOKOUT_URL"));
    let token = args
        .token
        .clone()
        .or_else(|| var("LOOKOUT_API_TOKEN").map(SecretString::from));
    let (url, token) = match (url, token) {
        (Some(u), Some(t)) => (u, t),
        (url, token) => {
            let path = Config::locate(config);
            let loaded = Config::load(path.as_deref()).map_err(|e| Failure::Usage(e.into()))?;
            let url = url.unwrap_or_else(|| listen_url(&loaded.server.listen));
            let token = match token {
                Some(t) => t,
                None => config_token(&loaded, path.as_deref())?,
            };
            (url, token)
        }
    };
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Failure::Usage(anyhow!(
            "the server's URL `{url}` must start with http:// or https://, e.g. --url http://localhost:8080"
        )));
    }
    Ok(Server { url, token })
}

/// The URL a client on this machine reaches a server listening on `listen` at: an
/// unspecified address (0.0.0.0, ::) is reached on loopback.
fn listen_url(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("http://localhost:{}", addr.port()),
        Ok(addr) => format!("http://{addr}"),
        Err(_) => format!("http://{listen}"),
    }
}

/// The token the config sets, or the one the server generated in its data directory.
fn config_token(config: &Config, path: Option<&Path>) -> Result<SecretString, Failure> {
    if !config.server.api_token.expose_secret().is_empty() {
        return Ok(config.server.api_token.clone());
    }
    let file: PathBuf = config.server.data_dir.join("api-token");
    match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => Ok(SecretString::from(t.trim().to_string())),
        Ok(_) | Err(_) => {
            let origin = match path {
                Some(p) => format!("the config {}", p.display()),
                None => "the defaults (no config file found)".to_string(),
            };
            Err(Failure::Usage(anyhow!(
                "no API token: pass --token, set LOOKOUT_API_TOKEN, or run where {origin} points to the server's data directory ({} is not readable; the server writes it at its first start)",
                file.display()
            )))
        }
    }
}

/// The server could not be reached at all (no answer, as opposed to an error answer).
#[derive(Debug)]
pub struct Unreachable(pub String);

impl Server {
    /// Calls `/api/v1…` at `path` with the token: GET without a body, POST with one.
    /// Returns the status and the answer as JSON (`null` when it is not JSON).
    pub fn call(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), Unreachable> {
        let agent = agent();
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token.expose_secret());
        let resp = match body {
            None => agent.get(&url).header("authorization", &auth).call(),
            Some(b) => agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string()),
        };
        let mut resp =
            resp.map_err(|e| Unreachable(format!("cannot reach lookout at {}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        let v = resp
            .body_mut()
            .read_to_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        Ok((status, v))
    }
}

/// A name (a project's slug, a channel's name) as one URL path segment.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTTP agent for the API: statuses are answers, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_config(listen: &str, token_file: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lookout.toml"),
            format!("[server]\nlisten = \"{listen}\"\ndata_dir = \"data\"\n"),
        )
        .unwrap();
        if let Some(t) = token_file {
            std::fs::create_dir(dir.path().join("data")).unwrap();
            std::fs::write(dir.path().join("data/api-token"), t).unwrap();
        }
        dir
    }

    fn found(args: &ServerArgs, config: &Path, env: &[(&str, &str)]) -> (String, String) {
        let env = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let s = resolve(args, Some(config), &env).unwrap_or_else(|e| panic!("{}", e.message()));
        (s.url, s.token.expose_secret().to_string())
    }

    #[test]
    fn flags_win_then_the_environment_then_the_config() {
        let dir = dir_with_config("0.0.0.0:9123", Some("lk_file\n"));
        let config = dir.path().join("lookout.toml");
        let none = ServerArgs::default();
        assert_eq!(
            found(&none, &config, &[]),
            ("http://localhost:9123".into(), "lk_file".into()),
            "the config's listen address and the data directory's token file"
        );
        let env = [
            ("LOOKOUT_URL", "http://10.0.0.1:1/"),
            ("LOOKOUT_API_TOKEN", "lk_env"),
        ];
        assert_eq!(
            found(&none, &config, &env),
            ("http://10.0.0.1:1".into(), "lk_env".into())
        );
        let flags = ServerArgs {
            url: Some("https://lookout.example.org".into()),
            token: Some("lk_flag".into()),
        };
        assert_eq!(
            found(&flags, &config, &env),
            ("https://lookout.example.org".into(), "lk_flag".into())
        );
        let url_only = ServerArgs {
            url: Some("http://127.0.0.1:7".into()),
            token: None,
        };
        assert_eq!(
            found(&url_only, &config, &[]),
            ("http://127.0.0.1:7".into(), "lk_file".into())
        );
    }

    #[test]
    fn a_specific_listen_address_is_used_as_it_is() {
        let dir = dir_with_config("127.0.0.2:8181", Some("t"));
        let config = dir.path().join("lookout.toml");
        let (url, _) = found(&ServerArgs::default(), &config, &[]);
        assert_eq!(url, "http://127.0.0.2:8181");
        assert_eq!(listen_url("[::]:8080"), "http://localhost:8080");
        assert_eq!(listen_url("[::1]:8080"), "http://[::1]:8080");
    }

    #[test]
    fn a_missing_token_says_where_it_was_looked_for() {
        let dir = dir_with_config("127.0.0.1:8080", None);
        let config = dir.path().join("lookout.toml");
        let e = match resolve(&ServerArgs::default(), Some(&config), &|_| None) {
            Err(Failure::Usage(e)) => format!("{e:#}"),
            _ => panic!("a missing token is a usage error"),
        };
        assert!(
            e.contains("--token") && e.contains("LOOKOUT_API_TOKEN"),
            "{e}"
        );
        assert!(e.contains("api-token"), "{e}");
        let bad = ServerArgs {
            url: Some("localhost:8080".into()),
            token: Some("t".into()),
        };
        assert!(matches!(
            resolve(&bad, Some(&config), &|_| None),
            Err(Failure::Usage(_))
        ));
    }
}
