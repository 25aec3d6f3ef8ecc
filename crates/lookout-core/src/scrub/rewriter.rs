//! The streaming rewriter: reads the JSON once, byte by byte (16 at a time inside
//! strings), and splices replacements into a copy only once something must change.

use std::borrow::Cow;

use super::json_string::{escape, unescape};
use super::keys::is_verbatim_key;
use super::text::{scrub_cards, scrub_pairs};
use super::{ScrubError, Scrubber, MAX_DEPTH};

const FILTERED_JSON: &[u8] = b"\"[Filtered]\"";
/// A pair's first element longer than this, or with a space, is prose, not a header name.
const MAX_PAIR_KEY_LEN: usize = 100;

/// Scrubs `json` (valid UTF-8): the rewritten bytes, borrowed when nothing was replaced,
/// and how many values were.
pub(super) fn rewrite<'a>(
    s: &Scrubber,
    json: &'a [u8],
) -> Result<(Cow<'a, [u8]>, usize), ScrubError> {
    let mut w = Rewriter {
        s,
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
        return Ok((Cow::Borrowed(json), 0));
    }
    let mut out = w.out;
    out.extend_from_slice(&json[w.copied..]);
    Ok((Cow::Owned(out), w.replaced))
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
                } else if place != Place::Modules && self.s.keys.is_sensitive(key) {
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
            self.s.keys.is_sensitive(unescape(raw).as_bytes())
        } else {
            self.s.keys.is_sensitive(raw)
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
            if let Some(t) = scrub_pairs(&self.s.keys, &current, &mut count) {
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
