//! A generic HTTP endpoint, per the Standard Webhooks spec (standardwebhooks.com): a JSON
//! body `{type, timestamp, data}` and, when a secret is set, the `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` headers that its libraries verify. The
//! notification id is the `webhook-id`, the same on every retry, so receivers can drop
//! duplicates.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{classify, Poster};
use crate::text::rfc3339;
use crate::{Channel, Delivery, Notification, SecretUrl};

/// The prefix of Standard Webhooks secrets; base64 of the key follows.
const SECRET_PREFIX: &str = "whsec_";

/// Headers lookout sets itself and a config may not replace.
const RESERVED: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// `kind = "webhook"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: SecretUrl,
    /// `whsec_` followed by base64 of 24 to 64 random bytes (`echo whsec_$(openssl rand
    /// -base64 32)`); signs every request when set.
    #[serde(
        default,
        serialize_with = "crate::secret::expose_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret: Option<SecretString>,
    /// Extra request headers, e.g. `{ authorization = "Bearer ${TOKEN}" }`; values are secret.
    #[serde(
        default,
        serialize_with = "crate::secret::expose_values",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// How long one delivery may take (default 10s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl WebhookConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        self.url.validate().map_err(|m| ("url", m))?;
        if let Some(secret) = &self.secret {
            signing_key(secret).map_err(|m| ("secret", m))?;
        }
        for (name, value) in self.headers.iter().flatten() {
            if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(("headers", format!("`{name}` is not a valid header name")));
            }
            if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                return Err((
                    "headers",
                    format!("`{name}` is set by lookout itself; remove it"),
                ));
            }
            if ureq::http::HeaderValue::from_str(value.expose_secret()).is_err() {
                return Err((
                    "headers",
                    format!("the value of `{name}` is not a valid header value (one line of visible text)"),
                ));
            }
        }
        crate::config::validate_timeout(self.timeout)
    }
}

/// The HMAC key a `whsec_…` secret stands for.
fn signing_key(secret: &SecretString) -> Result<Vec<u8>, String> {
    let encoded = secret.expose_secret().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        format!("must start with `{SECRET_PREFIX}`, followed by base64 of 24 to 64 random bytes (echo whsec_$(openssl rand -base64 32))")
    })?;
    // Padding optional, as the reference libraries accept secrets either way.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let key = lenient
        .decode(encoded)
        .map_err(|_| format!("the part after `{SECRET_PREFIX}` is not base64"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "the key is {} bytes; Standard Webhooks keys are 24 to 64 bytes (echo whsec_$(openssl rand -base64 32))",
            key.len()
        ));
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
fn signature(key: &[u8], id: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// POSTs signed JSON to an endpoint.
pub struct Webhook {
    http: Poster,
    key: Option<Vec<u8>>,
    headers: Vec<(String, SecretString)>,
}

impl Webhook {
    /// A channel for `config`.
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let key = match &config.secret {
            Some(s) => Some(signing_key(s).map_err(|m| format!("secret: {m}"))?),
            None => None,
        };
        Ok(Webhook {
            http: Poster::new(&config.url, config.timeout),
            key,
            headers: config
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn send_one(&self, n: &Notification) -> Delivery {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let body = payload(n, now).to_string();
        let timestamp = now.to_string();
        let signed = self.key.as_ref().map(|k| signature(k, &n.id, now, &body));
        let mut headers: Vec<(&str, &str)> = vec![
            ("webhook-id", n.id.as_str()),
            ("webhook-timestamp", timestamp.as_str()),
        ];
        if let Some(s) = &signed {
            headers.push(("webhook-signature", s.as_str()));
        }
        headers.extend(
            self.headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose_secret())),
        );
        match self.http.post_json(&body, &headers) {
            Ok(a) => classify(a, &[]),
            Err(d) => d,
        }
    }
}

impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        crate::one_by_one(batch, |n| self.send_one(n))
    }
}

/// The body for one notification sent at `now` (Unix seconds).
pub fn payload(n: &Notification, now: u64) -> Value {
    json!({
        "type": format!("incident.{}", n.event.kind()),
        "timestamp": rfc3339(i64::try_from(now).unwrap_or(i64::MAX / 1000) * 1000),
        "data": n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's published example (libraries' shared test vector).
    #[test]
    fn signs_the_spec_test_vector() {
        let key = signing_key(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(signing_key(&SecretString::from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).is_err());
        assert!(signing_key(&SecretString::from("whsec_not base64!")).is_err());
        assert!(signing_key(&SecretString::from("whsec_c2hvcnQ=")).is_err());
        let unpadded = signing_key(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA",
        ))
        .unwrap();
        let padded = signing_key(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA==",
        ))
        .unwrap();
        assert_eq!(unpadded, padded);
    }
}
