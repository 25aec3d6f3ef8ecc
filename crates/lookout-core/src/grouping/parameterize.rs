//! Message parameterisation: the variable parts of a message (ids, numbers, dates,
//! addresses, …) become placeholders, so messages that differ only in data group together.

use std::borrow::Cow;

/// Replaces the variable parts of a message (ids, numbers, dates, addresses, …) with
/// placeholders such as `<int>`, so messages that differ only in data group together.
/// Borrowed when nothing changed; idempotent; never panics.
pub fn parameterize(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let flags = Flags {
        at: b.contains(&b'@'),
        colon: b.contains(&b':'),
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    // The last two bytes written, so that a rerun over our own output decides alike.
    let mut prev = b' ';
    let mut prev2 = b' ';
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !is_word(prev) {
            if let Some((end, placeholder)) = match_token(b, i, prev, prev2, flags) {
                let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                o.push_str(&s[copied..i]);
                o.push_str(placeholder);
                copied = end;
                i = end;
                let pb = placeholder.as_bytes();
                prev2 = pb[pb.len() - 2];
                prev = b'>';
                continue;
            }
            if c.is_ascii_alphanumeric() {
                let end = word_end(b, i);
                prev2 = if end - i >= 2 { b[end - 2] } else { prev };
                prev = b[end - 1];
                i = end;
                continue;
            }
        }
        prev2 = prev;
        prev = c;
        i += 1;
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

#[derive(Clone, Copy)]
struct Flags {
    at: bool,
    colon: bool,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

pub(super) fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn boundary_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// Tries every placeholder at a word boundary, most specific first.
fn match_token(
    b: &[u8],
    i: usize,
    prev: u8,
    prev2: u8,
    flags: Flags,
) -> Option<(usize, &'static str)> {
    let c = b[i];
    if c.is_ascii_hexdigit() {
        if let Some(end) = match_uuid(b, i) {
            return Some((end, "<uuid>"));
        }
    }
    if c.is_ascii_alphabetic() && flags.colon {
        if let Some(end) = match_url(b, i) {
            return Some((end, "<url>"));
        }
    }
    if flags.at && !is_email_local(prev) && is_email_local(c) {
        if let Some(end) = match_email(b, i) {
            return Some((end, "<email>"));
        }
    }
    if c.is_ascii_digit() {
        let dotted_identifier = prev == b'.' && (is_word(prev2) || prev2 == b'>');
        if !dotted_identifier {
            if let Some(end) = match_date(b, i) {
                return Some((end, "<date>"));
            }
            if let Some(end) = match_ipv4(b, i) {
                return Some((end, "<ip>"));
            }
        }
    }
    if flags.colon && (c.is_ascii_hexdigit() || c == b':') && prev != b':' {
        if let Some(end) = match_ipv6(b, i) {
            return Some((end, "<ip>"));
        }
    }
    if c.is_ascii_alphanumeric() {
        if let Some(end) = match_hex(b, i) {
            return Some((end, "<hex>"));
        }
    }
    if c.is_ascii_digit() {
        let dotted_identifier = prev == b'.' && (is_word(prev2) || prev2 == b'>');
        if !dotted_identifier {
            return Some(match_number(b, i));
        }
    }
    if c == b'-'
        && b.get(i + 1).is_some_and(u8::is_ascii_digit)
        && matches!(
            prev,
            b' ' | b'\t' | b'\n' | b'\r' | b'(' | b'[' | b'{' | b'=' | b',' | b':'
        )
    {
        let (end, placeholder) = match_number(b, i + 1);
        return Some((end, placeholder));
    }
    if c == b'/' || (c.is_ascii_alphabetic() && b.get(i + 1) == Some(&b':')) {
        if let Some(end) = match_path(b, i) {
            return Some((end, "<path>"));
        }
    }
    None
}

fn match_uuid(b: &[u8], i: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut p = i;
    for (g, len) in GROUPS.iter().enumerate() {
        if g > 0 {
            if b.get(p) != Some(&b'-') {
                return None;
            }
            p += 1;
        }
        let seg = b.get(p..p + len)?;
        if !seg.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        p += len;
    }
    boundary_at(b, p).then_some(p)
}

fn match_url(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    while p < b.len() && (b[p].is_ascii_alphanumeric() || matches!(b[p], b'+' | b'.' | b'-')) {
        p += 1;
    }
    if !b[p..].starts_with(b"://") {
        return None;
    }
    p += 3;
    let body_start = p;
    while p < b.len() && !is_url_delimiter(b[p]) {
        p += 1;
    }
    while p > body_start && matches!(b[p - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
        p -= 1;
    }
    (p > body_start).then_some(p)
}

fn is_url_delimiter(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\'' | b'<' | b'>' | b'`' | b')' | b']' | b'}' | b'{' | b'|' | b'\\' | b'^'
        )
}

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn match_email(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    while p < b.len() && is_email_local(b[p]) {
        p += 1;
    }
    if p == i || b.get(p) != Some(&b'@') {
        return None;
    }
    p += 1;
    let mut labels = 0;
    let mut end = None;
    loop {
        let start = p;
        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'-') {
            p += 1;
        }
        if p == start {
            break;
        }
        labels += 1;
        let last_label_alpha = p - start >= 2 && b[start..p].iter().all(u8::is_ascii_alphabetic);
        if labels >= 2 && last_label_alpha {
            end = Some(p);
        }
        if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(u8::is_ascii_alphanumeric) {
            p += 1;
        } else {
            break;
        }
    }
    // Only a complete domain counts; a trailing partial label would make a rerun differ.
    end.filter(|&e| e == p)
}

fn two_digits(b: &[u8], p: usize, max: u32) -> Option<usize> {
    let d = b.get(p..p + 2)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0');
    (v <= max).then_some(p + 2)
}

/// `HH:MM[:SS[.frac]]` then an optional zone; returns the end.
fn match_time(b: &[u8], p: usize, need_seconds: bool) -> Option<usize> {
    let mut p = two_digits(b, p, 23)?;
    if b.get(p) != Some(&b':') {
        return None;
    }
    p = two_digits(b, p + 1, 59)?;
    if b.get(p) == Some(&b':') {
        p = two_digits(b, p + 1, 60)?;
        if matches!(b.get(p), Some(b'.' | b',')) && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
            p = digits_end(b, p + 1);
        }
    } else if need_seconds {
        return None;
    }
    match b.get(p) {
        Some(b'Z') => p += 1,
        Some(b'+' | b'-') => {
            if let Some(q) = two_digits(b, p + 1, 23) {
                p = q;
                if b.get(p) == Some(&b':') {
                    p = two_digits(b, p + 1, 59)?;
                } else if let Some(q) = two_digits(b, p, 59) {
                    p = q;
                }
            }
        }
        _ => {}
    }
    Some(p)
}

fn match_date(b: &[u8], i: usize) -> Option<usize> {
    let n = digits_end(b, i) - i;
    let date_end = if n == 4 {
        // 2024-01-31, 2024/01/31
        let sep = *b.get(i + 4)?;
        if !matches!(sep, b'-' | b'/') {
            return None;
        }
        let p = two_digits(b, i + 5, 12)?;
        if b.get(p) != Some(&sep) {
            return None;
        }
        two_digits(b, p + 1, 31)?
    } else if n == 1 || n == 2 {
        if n == 2 && b.get(i + 2) == Some(&b':') {
            // A bare time of day with seconds: 12:30:45.
            let end = match_time(b, i, true)?;
            return boundary_at(b, end).then_some(end);
        }
        // 31/01/2024, 01-31-2024, 31.01.2024
        let sep = *b.get(i + n)?;
        if !matches!(sep, b'-' | b'/' | b'.') {
            return None;
        }
        let m = digits_end(b, i + n + 1) - (i + n + 1);
        if !(1..=2).contains(&m) || b.get(i + n + 1 + m) != Some(&sep) {
            return None;
        }
        let y = i + n + 1 + m + 1;
        if digits_end(b, y) - y != 4 {
            return None;
        }
        y + 4
    } else {
        return None;
    };
    let mut end = date_end;
    if matches!(b.get(end), Some(b'T' | b' ')) {
        if let Some(t) = match_time(b, end + 1, false) {
            end = t;
        }
    }
    if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    boundary_at(b, end).then_some(end)
}

fn match_ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    for octet in 0..4 {
        if octet > 0 {
            if b.get(p) != Some(&b'.') {
                return None;
            }
            p += 1;
        }
        let e = digits_end(b, p);
        if e == p || e - p > 3 {
            return None;
        }
        let v: u32 = b[p..e]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
        if v > 255 {
            return None;
        }
        p = e;
    }
    if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    boundary_at(b, p).then_some(p)
}

fn match_ipv6(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    while p < b.len() && (b[p].is_ascii_hexdigit() || b[p] == b':') {
        p += 1;
    }
    if !boundary_at(b, p) {
        return None;
    }
    let text = &b[i..p];
    let colons = text.iter().filter(|&&c| c == b':').count();
    if !(2..=7).contains(&colons) || !text.iter().any(u8::is_ascii_digit) {
        return None;
    }
    let double = text.windows(2).filter(|w| w == b"::").count();
    if double > 1 || text.windows(3).any(|w| w == b":::") {
        return None;
    }
    // A single colon at either end is not an address; `::` there is.
    if (text[0] == b':' && !text.starts_with(b"::"))
        || (text[text.len() - 1] == b':' && !text.ends_with(b"::"))
    {
        return None;
    }
    let mut groups = 0;
    for g in text.split(|&c| c == b':') {
        if g.is_empty() {
            if double == 0 {
                return None;
            }
        } else if g.len() > 4 {
            return None;
        } else {
            groups += 1;
        }
    }
    let ok = if double == 1 {
        groups <= 7
    } else {
        groups == 8
    };
    ok.then_some(p)
}

fn match_hex(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let e = word_end(b, i + 2);
        if e > i + 2 && b[i + 2..e].iter().all(u8::is_ascii_hexdigit) {
            return Some(e);
        }
    }
    let e = word_end(b, i);
    let w = &b[i..e];
    if w.len() >= 8
        && w.iter().all(u8::is_ascii_hexdigit)
        && w.iter().any(u8::is_ascii_digit)
        && w.iter().any(u8::is_ascii_alphabetic)
    {
        return Some(e);
    }
    None
}

/// Integers (with optional thousands separators), decimals, exponents and dotted versions.
fn match_number(b: &[u8], i: usize) -> (usize, &'static str) {
    let mut p = digits_end(b, i);
    let mut float = false;
    if p - i <= 3 {
        while b.get(p) == Some(&b',') && digits_end(b, p + 1) == p + 4 {
            p += 4;
        }
    }
    while b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
        p = digits_end(b, p + 1);
        float = true;
    }
    if matches!(b.get(p), Some(b'e' | b'E')) {
        let mut q = p + 1;
        if matches!(b.get(q), Some(b'+' | b'-')) {
            q += 1;
        }
        let e = digits_end(b, q);
        if e > q && boundary_at(b, e) {
            p = e;
            float = true;
        }
    }
    (p, if float { "<float>" } else { "<int>" })
}

fn is_path_delimiter(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\''
                | b','
                | b';'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'<'
                | b'>'
                | b':'
                | b'?'
                | b'#'
                | b'|'
                | b'*'
                | b'`'
        )
}

/// Absolute file paths: `/srv/app/x.py` (last segment must have an extension, so that
/// routes like `/api/users/<int>` stay readable) or `C:\x\y` (always).
fn match_path(b: &[u8], i: usize) -> Option<usize> {
    let (sep, mut p) = if b[i] == b'/' {
        (b'/', i)
    } else if b.get(i + 2) == Some(&b'\\') {
        (b'\\', i + 2)
    } else {
        return None;
    };
    let mut separators = 0;
    let mut last_seg = p;
    while p < b.len() && !is_path_delimiter(b[p]) {
        if b[p] == sep {
            if b.get(p + 1)
                .is_none_or(|&c| c == sep || is_path_delimiter(c))
            {
                break;
            }
            separators += 1;
            last_seg = p + 1;
        } else if (b[p] == b'/' || b[p] == b'\\') && sep == b'/' {
            break;
        }
        p += 1;
    }
    // Stopping at a placeholder means an earlier pass replaced part of this; a rerun must
    // not see a path the first pass rejected.
    if b.get(p) == Some(&b'<') || (b.get(p) == Some(&sep) && b.get(p + 1) == Some(&b'<')) {
        return None;
    }
    while p > last_seg && b[p - 1] == b'.' {
        p -= 1;
    }
    if separators < 2 || p <= last_seg {
        return None;
    }
    if sep == b'/' {
        let seg = &b[last_seg..p];
        let dot = seg.iter().rposition(|&c| c == b'.')?;
        if dot == 0 || dot + 1 == seg.len() {
            return None;
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameterize_examples() {
        let cases = [
            ("plain words stay", "plain words stay"),
            ("user_123 not found", "user_<int> not found"),
            ("order#4711 failed", "order#<int> failed"),
            (
                "got -5 and 3.25 and 1,234,567",
                "got <int> and <float> and <int>",
            ),
            ("range 10-20", "range <int>-<int>"),
            (
                "id 123e4567-e89b-12d3-a456-426614174000 gone",
                "id <uuid> gone",
            ),
            ("mail bob.smith+x@example.co.uk now", "mail <email> now"),
            (
                "GET https://api.x.com/v1/a?b=1 failed.",
                "GET <url> failed.",
            ),
            ("from 10.0.0.12:5432", "from <ip>:<int>"),
            (
                "from ::1 and fe80::1ff:fe23:4567:890a",
                "from <ip> and <ip>",
            ),
            ("at 2024-01-31T10:00:00.123Z!", "at <date>!"),
            ("on 31/01/2024 12:00", "on <date>"),
            ("at 12:30:45 sharp", "at <date> sharp"),
            ("ptr 0x7ffd1234 sha 3f2a9c1b7e", "ptr <hex> sha <hex>"),
            ("deadbeef stays", "deadbeef stays"),
            ("open /srv/app/data.json: no", "open <path>: no"),
            ("route /api/users/42", "route /api/users/<int>"),
            (r"C:\Users\bob\x.txt", "<path>"),
            ("python3.11 utf8 sha256 v2", "python3.11 utf8 sha256 v2"),
            ("took 30ms", "took <int>ms"),
            ("Object.<anonymous>", "Object.<anonymous>"),
            ("std::io::Error add::dec", "std::io::Error add::dec"),
            ("naïve 42 ünïcode", "naïve <int> ünïcode"),
        ];
        for (input, want) in cases {
            assert_eq!(parameterize(input), want, "input: {input}");
            assert_eq!(parameterize(want), want, "rerun of: {want}");
        }
        assert!(matches!(parameterize("nothing here"), Cow::Borrowed(_)));
    }
}
