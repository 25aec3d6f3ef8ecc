//! Slugs: the URL-safe names of projects and of Sentry cron monitors.

/// Whether `s` is a usable slug: 1 to 64 lower-case letters, digits, `-` and `_`.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::is_slug;

    #[test]
    fn slugs_are_short_lower_case_and_url_safe() {
        assert!(is_slug("web-app_2"));
        assert!(!is_slug(""));
        assert!(!is_slug("Web"));
        assert!(!is_slug("a b"));
        assert!(!is_slug(&"a".repeat(65)));
    }
}
