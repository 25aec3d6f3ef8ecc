//! Which keys name secrets: built-in and configured key fragments, matched against keys
//! normalised (lower case, without `-`, `_`, spaces and dots), with the keys that stay
//! verbatim for grouping and search.

/// Key fragments (lower case, without `-`, `_`, spaces and dots) whose values are hidden.
const SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "auth",
    "credential",
    "cookie",
    "session",
    "csrf",
    "xsrf",
    "privatekey",
    "creditcard",
    "cardnumber",
    "cvv",
    "cvc",
    "jwt",
];

/// Keys whose string values are identifiers or code locations that grouping and search
/// need verbatim; `key=value` and card rules do not apply inside them.
pub(super) fn is_verbatim_key(key: &[u8]) -> bool {
    matches!(
        key,
        b"event_id"
            | b"timestamp"
            | b"start_timestamp"
            | b"function"
            | b"module"
            | b"filename"
            | b"abs_path"
            | b"package"
            | b"release"
            | b"environment"
            | b"dist"
            | b"platform"
            | b"level"
            | b"fingerprint"
            | b"trace_id"
            | b"span_id"
            | b"parent_span_id"
            | b"instruction_addr"
            | b"symbol_addr"
            | b"image_addr"
    )
}

/// The key rules of one scrubber, compiled for the hot path: most keys are rejected by one
/// bit test per byte pair.
#[derive(Debug, Clone)]
pub(super) struct SensitiveKeys {
    patterns: Vec<Vec<u8>>,
    /// Pattern indices by first byte, so a key is scanned once instead of once per pattern.
    by_first: Vec<Vec<usize>>,
    /// The first two bytes of every pattern, plus `ss` (for the `ssn` rule), as a bit set
    /// over byte pairs: a key without one of them cannot match, and most keys have none.
    bigrams: Box<[u64; 1024]>,
    /// Whether a (custom) pattern is a single byte, which the pair filter cannot see.
    single_byte: bool,
    safe: Vec<Vec<u8>>,
}

impl SensitiveKeys {
    /// The built-in fragments plus `extra`; keys in `safe` are never sensitive.
    pub(super) fn new(extra: &[String], safe: &[String]) -> Self {
        let mut patterns: Vec<Vec<u8>> = SENSITIVE.iter().map(|p| p.as_bytes().to_vec()).collect();
        patterns.extend(
            extra
                .iter()
                .map(|k| normalize_key(k.as_bytes()))
                .filter(|k| !k.is_empty()),
        );
        let mut by_first = vec![Vec::new(); 256];
        for (i, p) in patterns.iter().enumerate() {
            by_first[usize::from(p[0])].push(i);
        }
        let mut bigrams = Box::new([0u64; 1024]);
        let mut single_byte = false;
        for p in patterns.iter().map(Vec::as_slice).chain([b"ss".as_slice()]) {
            match p {
                [a, b, ..] => {
                    let i = usize::from(*a) << 8 | usize::from(*b);
                    bigrams[i >> 6] |= 1 << (i & 63);
                }
                _ => single_byte = true,
            }
        }
        Self {
            patterns,
            by_first,
            bigrams,
            single_byte,
            safe: safe.iter().map(|k| normalize_key(k.as_bytes())).collect(),
        }
    }

    /// Whether a raw key (possibly with `-`/`_`/mixed case) names a sensitive value.
    pub(super) fn is_sensitive(&self, key: &[u8]) -> bool {
        if key.is_empty() {
            return false;
        }
        let mut buf = [0u8; 64];
        let heap;
        let norm: &[u8] = if key.len() <= buf.len() {
            let mut n = 0;
            for &c in key {
                if !matches!(c, b'-' | b'_' | b' ' | b'.') {
                    buf[n] = c.to_ascii_lowercase();
                    n += 1;
                }
            }
            &buf[..n]
        } else {
            heap = normalize_key(key);
            &heap
        };
        if self.safe.iter().any(|s| s.as_slice() == norm) {
            return false;
        }
        if self.single_byte {
            for (j, &c) in norm.iter().enumerate() {
                if self.matches_at(norm, j, c) {
                    return true;
                }
            }
        } else {
            // Only positions starting a known pair can start a pattern.
            let mut maybe_ssn = false;
            for (j, w) in norm.windows(2).enumerate() {
                let i = usize::from(w[0]) << 8 | usize::from(w[1]);
                if self.bigrams[i >> 6] & (1 << (i & 63)) == 0 {
                    continue;
                }
                if self.matches_at(norm, j, w[0]) {
                    return true;
                }
                maybe_ssn |= w == b"ss" && norm.get(j + 2) == Some(&b'n');
            }
            // The letters of a word "ssn" stay together (lower-cased) in the normalised key.
            if !maybe_ssn {
                return false;
            }
        }
        // "ssn" only as a word of its own: a bare substring would hit "classname".
        key.split(|c| !c.is_ascii_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case(b"ssn"))
    }

    fn matches_at(&self, norm: &[u8], j: usize, c: u8) -> bool {
        self.by_first[usize::from(c)]
            .iter()
            .any(|&pi| norm[j..].starts_with(&self.patterns[pi]))
    }
}

fn normalize_key(key: &[u8]) -> Vec<u8> {
    key.iter()
        .filter(|c| !matches!(c, b'-' | b'_' | b' ' | b'.'))
        .map(u8::to_ascii_lowercase)
        .collect()
}
