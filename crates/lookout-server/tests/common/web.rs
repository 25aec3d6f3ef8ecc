//! A signed-in dashboard client for tests: keeps cookies, does not follow redirects, and
//! reads the CSRF token from the pages it gets.

use std::collections::HashMap;
use std::time::Duration;

use super::TestApp;

pub const EMAIL: &str = "ops@example.org";
pub const PASSWORD: &str = "correct horse battery";

pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first hidden input `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&marker)? + marker.len();
        let end = self.body[at..].find('"')?;
        Some(self.body[at..at + end].to_string())
    }
}

/// A browser-like HTTP client without redirects.
pub struct WebClient {
    pub base: String,
    pub cookies: HashMap<String, String>,
    /// Sent as `X-Forwarded-For`, as a reverse proxy would.
    pub forwarded_for: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl WebClient {
    pub fn new(app: &TestApp) -> WebClient {
        WebClient {
            base: app.url.clone(),
            cookies: HashMap::new(),
            forwarded_for: None,
        }
    }

    pub fn request(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header("cookie", c.join("; "));
        }
        if let Some(xff) = &self.forwarded_for {
            b = b.header("x-forwarded-for", xff);
        }
        let body = if method == "POST" {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                s.append_pair(k, v);
            }
            s.finish().into_bytes()
        } else {
            Vec::new()
        };
        let mut resp = agent().run(b.body(body).unwrap()).expect("http request");
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_string(), value.to_string());
                    }
                }
            }
        }
        Page {
            status: resp.status().as_u16(),
            headers,
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, &[])
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.request("POST", path, form)
    }

    /// Signs in through the form: its CSRF token comes from the page and its cookie.
    pub fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let login = self.get("/login");
        let csrf = login
            .input("csrf")
            .expect("the sign-in form has a CSRF token");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/overview"),
            ],
        )
    }

    /// The session's CSRF token, read from a signed-in page.
    pub fn csrf(&mut self) -> String {
        let p = self.get("/overview");
        assert_eq!(p.status, 200, "{}", p.body);
        p.input("csrf")
            .expect("signed-in pages carry the CSRF token")
    }
}

/// Creates a user directly in the store.
pub fn create_user(app: &TestApp, email: &str, password: &str) {
    let hash = lookout_web::hash_password(password).unwrap();
    app.state().store.create_user(email, &hash, 0).unwrap();
}
