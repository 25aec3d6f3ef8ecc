//! Durations in the condition language: whole numbers with a unit (`ms`, `s`, `m`, `h`,
//! `d`), chained as in `1h30m`, printed in the largest unit that divides them.

pub(crate) const SECOND_MS: i64 = 1_000;
pub(crate) const MINUTE_MS: i64 = 60 * SECOND_MS;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Prints a duration in the largest unit that divides it (`90m`, `2s`, `1500ms`).
pub fn format_duration(ms: i64) -> String {
    for (unit, size) in [
        ("d", DAY_MS),
        ("h", HOUR_MS),
        ("m", MINUTE_MS),
        ("s", SECOND_MS),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses `5m`, `500ms`, `1h30m`; `None` if it is not a duration.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.to_ascii_lowercase();
    let mut rest = s.as_str();
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (size, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.as_bytes().first()? {
                b's' => (SECOND_MS, 1),
                b'm' => (MINUTE_MS, 1),
                b'h' => (HOUR_MS, 1),
                b'd' => (DAY_MS, 1),
                _ => return None,
            }
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(size)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_their_largest_unit() {
        assert_eq!(parse_duration("5m"), Some(5 * MINUTE_MS));
        assert_eq!(parse_duration("500MS"), Some(500));
        assert_eq!(parse_duration("1h30m"), Some(90 * MINUTE_MS));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5minutes"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
        assert_eq!(format_duration(90 * MINUTE_MS), "90m");
        assert_eq!(format_duration(DAY_MS), "1d");
        assert_eq!(format_duration(1_500), "1500ms");
        assert_eq!(format_duration(0), "0ms");
    }
}
