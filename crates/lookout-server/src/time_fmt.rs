//! Timestamps at the edges: the store keeps Unix milliseconds, people read and write
//! RFC 3339.

/// Unix milliseconds as RFC 3339 with milliseconds, e.g. `2025-01-15T12:34:56.789Z`
/// (no fraction when it is zero); empty when out of range.
pub fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// An RFC 3339 time (`2026-12-01T02:00:00Z`, `…+02:00`) as Unix milliseconds; the error
/// says why it is not one.
pub fn parse(s: &str) -> Result<i64, String> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_milliseconds() {
        assert_eq!(super::iso(1_736_944_496_789), "2025-01-15T12:34:56.789Z");
        assert_eq!(super::iso(1_736_944_496_000), "2025-01-15T12:34:56Z");
        assert_eq!(super::iso(1_736_944_496_500), "2025-01-15T12:34:56.5Z");
        assert_eq!(super::iso(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        assert_eq!(
            super::parse("2025-01-15T12:34:56.789Z"),
            Ok(1_736_944_496_789)
        );
        assert_eq!(
            super::parse("2025-01-15T14:34:56+02:00"),
            Ok(1_736_944_496_000)
        );
        assert!(super::parse("yesterday").is_err());
        assert!(super::parse("2025-01-15T12:34:56").is_err(), "no offset");
    }
}
