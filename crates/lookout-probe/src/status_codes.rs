//! Accepted HTTP status codes, written like `200-299,301`.

use std::fmt;

/// A set of accepted status codes: single codes and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCodes {
    ranges: Vec<(u16, u16)>,
}

impl Default for StatusCodes {
    /// 200–299, what a healthy page answers.
    fn default() -> Self {
        StatusCodes {
            ranges: vec![(200, 299)],
        }
    }
}

impl StatusCodes {
    /// Parses `200-299,301`; codes must lie in 100–599.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => (code(part)?, code(part)?),
            };
            if lo > hi {
                return Err(format!("`{part}` is an empty range"));
            }
            ranges.push((lo, hi));
        }
        if ranges.is_empty() {
            return Err("no status code given (write e.g. 200-299,301)".to_string());
        }
        Ok(StatusCodes { ranges })
    }

    /// Whether `status` is accepted.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

fn code(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(c) if (100..=599).contains(&c) => Ok(c),
        _ => Err(format!(
            "`{}` is not an HTTP status code (100-599)",
            s.trim()
        )),
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        let s = StatusCodes::parse("200-299, 301").unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(301));
        assert!(!s.contains(302) && !s.contains(500));
        assert_eq!(s.to_string(), "200-299,301");
        assert!(StatusCodes::parse("299-200").is_err());
        assert!(StatusCodes::parse("abc").is_err());
        assert!(StatusCodes::parse("").is_err());
        assert!(StatusCodes::parse("42").is_err());
    }
}
