//! Server-side data scrubbing before anything is stored, on by default. A streaming
//! rewriter over the raw JSON bytes: it never builds a tree, copies nothing while nothing
//! is sensitive, and splices `"[Filtered]"` over the values it must hide.

use std::borrow::Cow;

use crate::settings::ScrubSettings;

/// What a scrubbed value becomes.
pub const FILTERED: &str = "[Filtered]";
const FILTERED_JSON: &[u8] = b"\"[Filtered]\"";
/// Deeper input is refused rather than risking the stack; serde_json stops at 128.
const MAX_DEPTH: usize = 512;
/// A pair's first element longer than this, or with a space, is prose, not a header name.
const MAX_PAIR_KEY_LEN: usize = 100;

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
fn is_verbatim_key(key: &[u8]) -> bool {
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

/// The scrubber could not read its input; the caller validated it, so this is a defect
/// or an attack, never a normal event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    /// The bytes are not JSON.
    #[error("invalid JSON at byte {offset}")]
    Invalid {
        /// Where reading stopped.
        offset: usize,
    },
    /// The JSON nests deeper than the scrubber follows.
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The result of scrubbing one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrubOutput<'a> {
    /// The payload, borrowed when nothing was replaced.
    pub json: Cow<'a, [u8]>,
    /// How many values (or parts of strings) were replaced.
    pub replaced: usize,
}

/// A scrubber configured from a project's settings; cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Scrubber {
    enabled: bool,
    patterns: Vec<Vec<u8>>,
    /// Pattern indices by first byte, so a key is scanned once instead of once per pattern.
    by_first: Vec<Vec<usize>>,
    /// The first two bytes of every pattern, plus `ss` (for the `ssn` rule), as a bit set
    /// over byte pairs: a key without one of them cannot match, and most keys have none.
    bigrams: Box<[u64; 1024]>,
    /// Whether a (custom) pattern is a single byte, which the pair filter cannot see.
    single_byte: bool,
    safe: Vec<Vec<u8>>,
    credit_cards: bool,
    ip_addresses: bool,
}

impl Scrubber {
    /// Builds a scrubber from `settings`.
    pub fn new(settings: &ScrubSettings) -> Self {
        let mut patterns: Vec<Vec<u8>> = SENSITIVE.iter().map(|p| p.as_bytes().to_vec()).collect();
        patterns.extend(
            settings
                .extra_keys
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
            enabled: settings.enabled,
            patterns,
            by_first,
            bigrams,
            single_byte,
            safe: settings
                .safe_keys
                .iter()
                .map(|k| normalize_key(k.as_bytes()))
                .collect(),
            credit_cards: settings.credit_cards,
            ip_addresses: settings.ip_addresses,
        }
    }

    /// Scrubs one JSON payload (an event, or any JSON item of an envelope).
    pub fn scrub<'a>(&self, json: &'a [u8]) -> Result<ScrubOutput<'a>, ScrubError> {
        if !self.enabled {
            return Ok(ScrubOutput {
                json: Cow::Borrowed(json),
                replaced: 0,
            });
        }
        if let Err(e) = std::str::from_utf8(json) {
            return Err(ScrubError::Invalid {
                offset: e.valid_up_to(),
            });
        }
        let mut w = Rewriter {
            s: self,
            src: json,
            pos: 0,
            out: Vec::new(),
            copied: 0,
            replaced: 0,
            quiet: 0,
        };
        w.ws();
        w.value(Place::Root, false, 0)?;
        w.ws();
        if w.pos != json.len() {
            return Err(w.invalid());
        }
        if w.replaced == 0 {
            return Ok(ScrubOutput {
                json: Cow::Borrowed(json),
                replaced: 0,
            });
        }
        let mut out = w.out;
        out.extend_from_slice(&json[w.copied..]);
        Ok(ScrubOutput {
            json: Cow::Owned(out),
            replaced: w.replaced,
        })
    }

    /// Whether a key (raw, possibly with `-`/`_`/mixed case) names a sensitive value.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.sensitive(key.as_bytes())
    }

    fn sensitive(&self, key: &[u8]) -> bool {
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

/// A string's content span and what the in-string rules need to know about it.
struct Str {
    start: usize,
    end: usize,
    escaped: bool,
    /// ASCII digits seen (escapes counted generously): fewer than 13 means no card.
    digits: u32,
    /// Whether a `=` or `:` may occur: without one there is no `key=value`.
    separators: bool,
}

const PLAIN: u8 = 0;
const STOP: u8 = 1;
const DIGIT: u8 = 2;
const SEPARATOR: u8 = 3;

/// Byte classes for the string scanner: one table lookup per byte on the hot path.
const CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = STOP;
        i += 1;
    }
    t[b'"' as usize] = STOP;
    t[b'\\' as usize] = STOP;
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = DIGIT;
        d += 1;
    }
    t[b'=' as usize] = SEPARATOR;
    t[b':' as usize] = SEPARATOR;
    t
};

/// Advances `p` over bytes that are neither `"`, `\\` nor control bytes, 16 at a time,
/// counting digits and noting separators as the byte loop does; stops short of the last
/// 15 bytes, which the byte loop reads.
#[cfg(target_arch = "x86_64")]
fn skip_plain(src: &[u8], mut p: usize, st: &mut Str) -> usize {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; every load reads `src[p..p + 16]`, in bounds.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let ctrl_max = _mm_set1_epi8(0x1f);
        let zero = _mm_set1_epi8(b'0' as i8);
        let nine = _mm_set1_epi8(9);
        let eq = _mm_set1_epi8(b'=' as i8);
        let colon = _mm_set1_epi8(b':' as i8);
        while p + 16 <= src.len() {
            let v = _mm_loadu_si128(src.as_ptr().add(p).cast());
            let ctrl = _mm_cmpeq_epi8(_mm_min_epu8(v, ctrl_max), v);
            let stop = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                ctrl,
            );
            let d = _mm_sub_epi8(v, zero);
            let digit = _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d);
            let sep = _mm_or_si128(_mm_cmpeq_epi8(v, eq), _mm_cmpeq_epi8(v, colon));
            let stop = _mm_movemask_epi8(stop) as u32;
            let mut digit = _mm_movemask_epi8(digit) as u32;
            let mut sep = _mm_movemask_epi8(sep) as u32;
            if stop != 0 {
                let before = (1u32 << stop.trailing_zeros()) - 1;
                digit &= before;
                sep &= before;
            }
            st.digits += digit.count_ones();
            st.separators |= sep != 0;
            if stop != 0 {
                return p + stop.trailing_zeros() as usize;
            }
            p += 16;
        }
    }
    p
}

#[cfg(not(target_arch = "x86_64"))]
fn skip_plain(_src: &[u8], p: usize, _st: &mut Str) -> usize {
    p
}

/// Which object we are in, for the few rules that depend on the path, not only the key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Request,
    RequestEnv,
    User,
    /// `modules`: package names to versions. Names like `oauthlib` or `django-csrf`
    /// would match the key rules, and versions are never secret.
    Modules,
    Other,
}

struct Rewriter<'s, 'a> {
    s: &'s Scrubber,
    src: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    copied: usize,
    replaced: usize,
    /// Above zero while reading a value only to find its end (it is about to be replaced,
    /// or looked ahead at): nothing inside may be spliced.
    quiet: u32,
}

impl Rewriter<'_, '_> {
    fn invalid(&self) -> ScrubError {
        ScrubError::Invalid { offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ScrubError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    fn splice(&mut self, start: usize, end: usize, with: &[u8], count: usize) {
        if self.quiet > 0 {
            return;
        }
        self.out.extend_from_slice(&self.src[self.copied..start]);
        self.out.extend_from_slice(with);
        self.copied = end;
        self.replaced += count;
    }

    fn value(&mut self, place: Place, verbatim: bool, depth: usize) -> Result<(), ScrubError> {
        if depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        match self.peek() {
            Some(b'{') => self.object(place, depth + 1),
            Some(b'[') => self.array(verbatim, depth + 1),
            Some(b'"') => {
                let st = self.string()?;
                if !verbatim && self.quiet == 0 {
                    self.scrub_string(&st);
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.invalid()),
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), ScrubError> {
        if self.src[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ScrubError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.invalid()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.invalid());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.invalid());
            }
        }
        Ok(())
    }

    /// Reads a string at `"`, noting on the way what the in-string rules need to know.
    fn string(&mut self) -> Result<Str, ScrubError> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut st = Str {
            start,
            end: start,
            escaped: false,
            digits: 0,
            separators: false,
        };
        let src = self.src;
        let mut p = self.pos;
        loop {
            // Plain runs 16 bytes at a time, up to the next `"`, `\\` or control byte.
            p = skip_plain(src, p, &mut st);
            let Some(&c) = src.get(p) else {
                self.pos = p;
                return Err(self.invalid());
            };
            match CLASS[usize::from(c)] {
                PLAIN => p += 1,
                DIGIT => {
                    st.digits += 1;
                    p += 1;
                }
                SEPARATOR => {
                    st.separators = true;
                    p += 1;
                }
                _ if c == b'"' => break,
                _ if c == b'\\' => {
                    st.escaped = true;
                    match src.get(p + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => p += 2,
                        Some(b'u')
                            if src
                                .get(p + 2..p + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            // An escaped `=` or `:` is invisible to the counts; assume one.
                            st.separators = true;
                            st.digits += 4;
                            p += 6
                        }
                        _ => {
                            self.pos = p;
                            return Err(self.invalid());
                        }
                    }
                }
                _ => {
                    self.pos = p;
                    return Err(self.invalid());
                }
            }
        }
        self.pos = p + 1;
        st.end = p;
        Ok(st)
    }

    fn object(&mut self, place: Place, depth: usize) -> Result<(), ScrubError> {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let Str {
                start: ks,
                end: ke,
                escaped: kesc,
                ..
            } = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            if self.quiet > 0 {
                self.value(Place::Other, true, depth)?;
            } else {
                let raw = &self.src[ks..ke];
                let key: Cow<'_, [u8]> = if kesc {
                    Cow::Owned(unescape(raw).into_bytes())
                } else {
                    Cow::Borrowed(raw)
                };
                let key = key.as_ref();
                if self.s.ip_addresses
                    && ((place == Place::User && key == b"ip_address")
                        || (place == Place::RequestEnv && key == b"REMOTE_ADDR"))
                {
                    self.replace_value(b"null", depth)?;
                } else if place != Place::Modules && self.s.sensitive(key) {
                    self.replace_value(FILTERED_JSON, depth)?;
                } else {
                    let child = match (place, key) {
                        (Place::Root, b"request") => Place::Request,
                        (Place::Root, b"user") => Place::User,
                        (Place::Root, b"modules") => Place::Modules,
                        (Place::Request, b"env") => Place::RequestEnv,
                        _ => Place::Other,
                    };
                    let verbatim = is_verbatim_key(key);
                    self.value(child, verbatim, depth)?;
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.invalid()),
            }
        }
    }

    /// Reads the value at `pos` and splices `with` over it (unless it already is that).
    fn replace_value(&mut self, with: &[u8], depth: usize) -> Result<(), ScrubError> {
        let start = self.pos;
        self.quiet += 1;
        let r = self.value(Place::Other, true, depth);
        self.quiet -= 1;
        r?;
        if &self.src[start..self.pos] != with {
            self.splice(start, self.pos, with, 1);
        }
        Ok(())
    }

    fn array(&mut self, verbatim: bool, depth: usize) -> Result<(), ScrubError> {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut first = true;
        loop {
            if first && !verbatim && self.quiet == 0 && self.peek() == Some(b'"') {
                let st = self.string()?;
                self.scrub_string(&st);
                self.pair_value(st.start, st.end, st.escaped, depth)?;
            } else {
                self.value(Place::Other, verbatim, depth)?;
            }
            first = false;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.invalid()),
            }
        }
    }

    /// Headers, cookies and query strings also come as `[name, value]` pairs: when the
    /// array's first string names a secret and exactly one value follows, hide that value.
    fn pair_value(
        &mut self,
        ks: usize,
        ke: usize,
        escaped: bool,
        depth: usize,
    ) -> Result<(), ScrubError> {
        let raw = &self.src[ks..ke];
        if raw.len() > MAX_PAIR_KEY_LEN || raw.contains(&b' ') {
            return Ok(());
        }
        let sensitive = if escaped {
            self.s.sensitive(unescape(raw).as_bytes())
        } else {
            self.s.sensitive(raw)
        };
        if !sensitive {
            return Ok(());
        }
        let after_first = self.pos;
        self.ws();
        if self.peek() != Some(b',') {
            self.pos = after_first;
            return Ok(());
        }
        self.pos += 1;
        self.ws();
        let vs = self.pos;
        self.quiet += 1;
        let r = self.value(Place::Other, true, depth);
        self.quiet -= 1;
        r?;
        let ve = self.pos;
        self.ws();
        if self.peek() == Some(b']') {
            if &self.src[vs..ve] != FILTERED_JSON {
                self.splice(vs, ve, FILTERED_JSON, 1);
            }
        } else {
            // Not a pair after all: read the second element again, scrubbing it normally.
            self.pos = after_first;
        }
        Ok(())
    }

    /// Applies the in-string rules (`key=value` secrets, card numbers) to a string value.
    fn scrub_string(&mut self, st: &Str) {
        let (start, end, escaped) = (st.start, st.end, st.escaped);
        let raw = &self.src[start..end];
        let cards = self.s.credit_cards && st.digits >= 13;
        let separators = st.separators;
        if !cards && !separators {
            return;
        }
        let text: Cow<'_, str> = if escaped {
            Cow::Owned(unescape(raw))
        } else {
            match std::str::from_utf8(raw) {
                Ok(t) => Cow::Borrowed(t),
                Err(_) => return,
            }
        };
        let mut count = 0;
        let mut current = text;
        if separators {
            if let Some(t) = scrub_pairs(self.s, &current, &mut count) {
                current = Cow::Owned(t);
            }
        }
        if cards {
            if let Some(t) = scrub_cards(&current, &mut count) {
                current = Cow::Owned(t);
            }
        }
        if count == 0 {
            return;
        }
        let bytes = if escaped {
            escape(&current)
        } else {
            current.into_owned().into_bytes()
        };
        self.splice(start, end, &bytes, count);
    }
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

fn is_value_end(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'&' | b';' | b',' | b'"' | b'\'' | b')' | b']' | b'}' | b'<' | b'>'
        )
}

/// Hides the values of `secret=…`, `token: …`, `"password": "…"` and URL passwords
/// (`scheme://user:pass@host`) inside free text.
fn scrub_pairs(s: &Scrubber, text: &str, count: &mut usize) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'=' && c != b':' {
            i += 1;
            continue;
        }
        // The key ends before the separator, possibly inside quotes.
        let mut ke = i;
        if ke > 0 && matches!(b[ke - 1], b'"' | b'\'') {
            ke -= 1;
        }
        let mut ks = ke;
        while ks > 0 && is_key_char(b[ks - 1]) {
            ks -= 1;
        }
        let url_password = c == b':' && ks >= 3 && &b[ks - 3..ks] == b"://";
        let mut vs = i + 1;
        if url_password {
            let Some(at) = b[vs..]
                .iter()
                .position(|&x| x == b'@' || x == b'/' || x.is_ascii_whitespace())
                .filter(|&n| b[vs + n] == b'@' && n > 0)
            else {
                i += 1;
                continue;
            };
            let ve = vs + at;
            if &b[vs..ve] != FILTERED.as_bytes() {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                o.push_str(&text[copied..vs]);
                o.push_str(FILTERED);
                copied = ve;
                *count += 1;
            }
            i = ve;
            continue;
        }
        if ks == ke || !s.sensitive(&b[ks..ke]) {
            i += 1;
            continue;
        }
        if c == b':' && b[vs..].starts_with(b"//") {
            i += 1;
            continue;
        }
        while vs < b.len() && b[vs] == b' ' && c == b':' {
            vs += 1;
        }
        let Some((vs, ve)) = pair_value_span(b, vs) else {
            i += 1;
            continue;
        };
        let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
        o.push_str(&text[copied..vs]);
        o.push_str(FILTERED);
        copied = ve;
        *count += 1;
        i = ve;
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// The span of the secret starting at `vs`, or `None` when there is none to hide.
fn pair_value_span(b: &[u8], mut vs: usize) -> Option<(usize, usize)> {
    if b[vs..].starts_with(FILTERED.as_bytes()) {
        return None;
    }
    let quote = match b.get(vs) {
        Some(&q @ (b'"' | b'\'')) => {
            vs += 1;
            Some(q)
        }
        _ => None,
    };
    if b[vs..].starts_with(FILTERED.as_bytes()) {
        return None;
    }
    let mut ve = vs;
    match quote {
        Some(q) => {
            while ve < b.len() && b[ve] != q {
                ve += 1;
            }
        }
        None => {
            while ve < b.len() && !is_value_end(b[ve]) {
                ve += 1;
            }
            // `Authorization: Bearer abc`: keep the scheme, hide the credential.
            let word = &b[vs..ve];
            let scheme = ["bearer", "basic", "token", "digest", "negotiate"]
                .iter()
                .any(|s| word.eq_ignore_ascii_case(s.as_bytes()));
            if scheme && b.get(ve) == Some(&b' ') {
                let cs = ve + 1;
                if b[cs..].starts_with(FILTERED.as_bytes()) {
                    return None;
                }
                let mut ce = cs;
                while ce < b.len() && !is_value_end(b[ce]) {
                    ce += 1;
                }
                if ce > cs {
                    return Some((cs, ce));
                }
            }
        }
    }
    (ve > vs).then_some((vs, ve))
}

/// Hides Luhn-valid card numbers: 13–19 digits, bare or in groups split by single
/// spaces or dashes.
fn scrub_cards(text: &str, count: &mut usize) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let (end, is_card) = card_at(b, i);
        if is_card {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str(FILTERED);
            copied = end;
            *count += 1;
        }
        i = end.max(i + 1);
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The end of the digit run at `i` and whether it is a card number.
fn card_at(b: &[u8], i: usize) -> (usize, bool) {
    let first = digits_end(b, i);
    let mut end = first;
    let mut total = first - i;
    if total < 13 {
        if total < 4 {
            return (end, false);
        }
        let sep = b.get(end).copied();
        if let Some(sep @ (b' ' | b'-')) = sep {
            while b.get(end) == Some(&sep) {
                let g = digits_end(b, end + 1);
                let len = g - (end + 1);
                if !(3..=6).contains(&len) || total + len > 19 {
                    break;
                }
                total += len;
                end = g;
            }
        }
    }
    if !(13..=19).contains(&total) || b.get(end).is_some_and(u8::is_ascii_alphabetic) {
        return (end, false);
    }
    // Card numbers start with 2–6; this spares millisecond timestamps (1…) and the like.
    if !(b'2'..=b'6').contains(&b[i]) {
        return (end, false);
    }
    (end, luhn(&b[i..end]))
}

fn luhn(run: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for &c in run.iter().rev().filter(|c| c.is_ascii_digit()) {
        let mut d = u32::from(c - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    matches!(sum % 10, 0)
}

/// Decodes a JSON string body (already validated); lone surrogates become U+FFFD.
fn unescape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let mut copied = 0;
    let text = String::from_utf8_lossy(raw);
    let b = text.as_bytes();
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        let Some(&e) = b.get(i + 1) else { break };
        i += 2;
        match e {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hi = hex4(b, i);
                i += 4;
                let ch = match hi {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let lo = (b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u'))
                            .then(|| hex4(b, i + 2))
                            .flatten()
                            .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                        match lo {
                            Some(lo) => {
                                i += 6;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            }
                            None => None,
                        }
                    }
                    Some(cp) => char::from_u32(cp),
                    None => None,
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            other => out.push(char::from(other)),
        }
        copied = i.min(b.len());
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let h = b.get(i..i + 4)?;
    let s = std::str::from_utf8(h).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Encodes a string body for JSON (without the quotes).
fn escape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 8);
    for &c in s.as_bytes() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
            _ => out.push(c),
        }
    }
    out
}
