//! Timestamps at the API edge: the store keeps Unix milliseconds, people read RFC 3339.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix milliseconds as RFC 3339 with milliseconds, e.g. `2025-01-15T12:34:56.789Z`.
pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            let t = t
                .replace_nanosecond((ms.rem_euclid(1000) as u32) * 1_000_000)
                .ok()?;
            t.format(&Rfc3339).ok()
        })
        .unwrap_or_default()
}

/// Now, as RFC 3339.
pub fn iso_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    iso(ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_milliseconds() {
        assert_eq!(super::iso(1_736_944_496_789), "2025-01-15T12:34:56.789Z");
        assert_eq!(super::iso(1_736_944_496_000), "2025-01-15T12:34:56Z");
    }
}
