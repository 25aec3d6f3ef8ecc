//! Signed acknowledge links: every notification carries a link that acknowledges its
//! incident without the API token. The signature (HMAC-SHA256 of the incident id under a
//! secret kept by the server) makes the link unguessable; opening it shows a page whose
//! button acknowledges, because chat apps fetch links to preview them and must not
//! acknowledge by doing so.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature of incident `id`: 32 hex digits (128 bits).
pub fn sign(secret: &[u8], id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("lookout-ack:{id}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// Whether `sig` is incident `id`'s signature, compared in constant time.
pub fn verify(secret: &[u8], id: i64, sig: &str) -> bool {
    let expected = sign(secret, id);
    expected.len() == sig.len()
        && expected
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The acknowledge link of incident `id`.
pub fn ack_url(public_url: &str, secret: &[u8], id: i64) -> String {
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
    }
}
