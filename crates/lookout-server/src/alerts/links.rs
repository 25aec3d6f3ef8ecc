//! Signed acknowledge links: every notification carries a link that acknowledges its
//! incident without the API token. The signature (HMAC-SHA256 of the incident id under a
//! secret kept by the server) makes the link unguessable; opening it shows a page whose
//! button acknowledges, because chat apps fetch links to preview them and must not
//! acknowledge by doing so.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Signs and checks the acknowledge links of this server.
pub struct AckLinks {
    secret: SecretSlice<u8>,
    public_url: String,
}

impl AckLinks {
    /// Links under `public_url`, signed with `secret`.
    pub fn new(secret: Vec<u8>, public_url: &str) -> AckLinks {
        AckLinks {
            secret: SecretSlice::from(secret),
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The acknowledge link of incident `id`.
    pub fn url(&self, id: i64) -> String {
        ack_url(&self.public_url, self.secret.expose_secret(), id)
    }

    /// The dashboard page of incident `id` (behind sign-in; the acknowledge link is the
    /// one that works without an account).
    pub fn incident_page(&self, id: i64) -> String {
        format!("{}/incidents/{id}", self.public_url)
    }

    /// Whether `sig` is incident `id`'s signature.
    pub fn verify(&self, id: i64, sig: &str) -> bool {
        verify(self.secret.expose_secret(), id, sig)
    }
}

/// The signature of incident `id`: 32 hex digits (128 bits).
fn sign(secret: &[u8], id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("lookout-ack:{id}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// Whether `sig` is incident `id`'s signature, compared in constant time.
fn verify(secret: &[u8], id: i64, sig: &str) -> bool {
    sign(secret, id).as_bytes().ct_eq(sig.as_bytes()).into()
}

/// The acknowledge link of incident `id`.
fn ack_url(public_url: &str, secret: &[u8], id: i64) -> String {
    format!(
        "{}/ack/{id}/{}",
        public_url.trim_end_matches('/'),
        sign(secret, id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_per_incident_and_per_secret() {
        let s = sign(b"secret", 42);
        assert_eq!(s.len(), 32);
        assert!(verify(b"secret", 42, &s));
        assert!(!verify(b"secret", 43, &s));
        assert!(!verify(b"other", 42, &s));
        assert!(!verify(b"secret", 42, &s[..31]));
        assert_eq!(
            ack_url("http://x:8080/", b"secret", 42),
            format!("http://x:8080/ack/42/{s}")
        );
        let links = AckLinks::new(b"secret".to_vec(), "http://x:8080/");
        assert_eq!(links.url(42), format!("http://x:8080/ack/42/{s}"));
        assert!(links.verify(42, &s) && !links.verify(41, &s));
        assert_eq!(links.incident_page(42), "http://x:8080/incidents/42");
    }
}
