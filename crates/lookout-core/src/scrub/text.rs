//! The rules inside strings: secrets after a sensitive key in free text (`secret=…`,
//! `token: …`, `"password": "…"`), URL passwords and card numbers.

use super::keys::SensitiveKeys;
use super::FILTERED;

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
pub(super) fn scrub_pairs(keys: &SensitiveKeys, text: &str, count: &mut usize) -> Option<String> {
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
        if ks == ke || !keys.is_sensitive(&b[ks..ke]) {
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
pub(super) fn scrub_cards(text: &str, count: &mut usize) -> Option<String> {
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
