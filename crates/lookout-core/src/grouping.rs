//! Grouping errors into issues the way Sentry does: a custom fingerprint wins, then the
//! stack trace (code location, never line numbers), then exception type and parameterised
//! value, then the message template. The hash covers only the components, so the same
//! error from another deploy directory, build hash or line offset lands in the same issue.

use std::borrow::Cow;

use lookout_sentry::event::{EventView, FrameView, StacktraceView};
use sha2::{Digest, Sha256};

/// The version of these rules, stored next to each hash so a later change can regroup.
pub const GROUPING_VERSION: &str = "lookout-1";

/// Longest title kept, in characters.
const TITLE_MAX_CHARS: usize = 100;
/// Longest repeated block of frames collapsed as recursion (mutual recursion up to 4 deep).
const MAX_RECURSION_PERIOD: usize = 4;

/// What decided the group of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupingBasis {
    /// The SDK's custom `fingerprint`.
    Fingerprint,
    /// Exception types and stack frames.
    Stacktrace,
    /// Exception types and parameterised values (no usable frames).
    Exception,
    /// The message template or parameterised message.
    Message,
    /// Nothing useful: all such events of a transaction or logger group together.
    Fallback,
}

impl GroupingBasis {
    /// A stable lower-case name, for storage and display.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupingBasis::Fingerprint => "fingerprint",
            GroupingBasis::Stacktrace => "stacktrace",
            GroupingBasis::Exception => "exception",
            GroupingBasis::Message => "message",
            GroupingBasis::Fallback => "fallback",
        }
    }
}

/// The outcome of grouping one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// 32 lower-case hex digits: the first 16 bytes of a SHA-256 over the components.
    pub hash: String,
    /// [`GROUPING_VERSION`].
    pub version: &'static str,
    /// What the hash was computed from.
    pub basis: GroupingBasis,
    /// The issue title (`Type: value` or the message's first line).
    pub title: String,
    /// Where it happened (`module in function`), or the transaction or logger.
    pub culprit: String,
    /// Whether the exception was handled; `None` when no mechanism said.
    pub handled: Option<bool>,
}

/// Groups one event.
pub fn group(event: &EventView<'_>) -> Grouping {
    let (basis, components) = match custom_fingerprint(event) {
        Some(components) => (GroupingBasis::Fingerprint, components),
        None => default_components(event),
    };
    Grouping {
        hash: hash_components(basis, &components),
        version: GROUPING_VERSION,
        basis,
        title: title(event),
        culprit: culprit(event),
        handled: handled(event),
    }
}

/// The components the default rules hash (what `{{ default }}` in a fingerprint expands to).
pub fn default_components(event: &EventView<'_>) -> (GroupingBasis, Vec<String>) {
    if let Some(components) = stacktrace_components(event) {
        return (GroupingBasis::Stacktrace, components);
    }
    if !event.exceptions.is_empty() {
        let mut components = Vec::with_capacity(event.exceptions.len() * 2);
        for exc in &event.exceptions {
            push_type_and_value(&mut components, exc.ty.as_deref(), exc.value.as_deref());
        }
        return (GroupingBasis::Exception, components);
    }
    if let Some(template) = non_empty(event.message_template.as_deref()) {
        return (GroupingBasis::Message, vec![format!("message:{template}")]);
    }
    if let Some(message) = non_empty(event.message.as_deref()) {
        return (
            GroupingBasis::Message,
            vec![format!("message:{}", parameterize(message))],
        );
    }
    let mut components = vec!["<no grouping information>".to_string()];
    if let Some(t) = non_empty(event.transaction.as_deref()) {
        components.push(format!("transaction:{t}"));
    }
    if let Some(l) = non_empty(event.logger.as_deref()) {
        components.push(format!("logger:{l}"));
    }
    (GroupingBasis::Fallback, components)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn push_type_and_value(out: &mut Vec<String>, ty: Option<&str>, value: Option<&str>) {
    if let Some(ty) = non_empty(ty) {
        out.push(format!("type:{ty}"));
    }
    if let Some(value) = non_empty(value) {
        out.push(format!("value:{}", parameterize(value)));
    }
}

/// Expands a custom fingerprint; `None` when there is none, or when it is only
/// `{{ default }}` (which must hash exactly like no fingerprint at all).
fn custom_fingerprint(event: &EventView<'_>) -> Option<Vec<String>> {
    let fp = event.fingerprint.as_ref().filter(|fp| !fp.is_empty())?;
    if fp.len() == 1 && variable_name(&fp[0]).as_deref() == Some("default") {
        return None;
    }
    let mut components = Vec::with_capacity(fp.len());
    for entry in fp {
        match variable_name(entry).as_deref() {
            Some("default") => components.extend(default_components(event).1),
            Some("transaction") => components.push(opt_string(event.transaction.as_deref())),
            Some("logger") => components.push(opt_string(event.logger.as_deref())),
            Some("level") => components.push(event.level.as_str().to_string()),
            Some("message") => components.push(
                event
                    .message
                    .as_deref()
                    .map(|m| parameterize(m).into_owned())
                    .unwrap_or_default(),
            ),
            Some("type") => components.push(opt_string(
                event.exceptions.last().and_then(|e| e.ty.as_deref()),
            )),
            _ => components.push(format!("fp:{entry}")),
        }
    }
    Some(components)
}

fn opt_string(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// `{{ name }}` → `name` (lower-cased, whitespace-tolerant); `None` for plain entries.
fn variable_name(entry: &str) -> Option<String> {
    let inner = entry
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim()
        .to_ascii_lowercase();
    Some(inner)
}

fn hash_components(basis: GroupingBasis, components: &[String]) -> String {
    let mut h = Sha256::new();
    // Length prefixes make ["ab","c"] and ["a","bc"] hash differently.
    h.update(basis.as_str().as_bytes());
    for c in components {
        h.update((c.len() as u64).to_le_bytes());
        h.update(c.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Stack-trace components, when the exception chain (or, without exceptions, an
/// attached stack trace with in-app frames) has frames that say something.
fn stacktrace_components(event: &EventView<'_>) -> Option<Vec<String>> {
    if event.exceptions.is_empty() {
        let st = event.stacktrace.as_ref()?;
        if !st.frames.iter().any(|f| f.in_app == Some(true)) {
            return None;
        }
        let mut components = Vec::new();
        push_frames(&mut components, st, true);
        return (!components.is_empty()).then_some(components);
    }
    let in_app_only = event
        .exceptions
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .flat_map(|st| st.frames.iter())
        .any(|f| f.in_app == Some(true));
    let mut components = Vec::new();
    let mut blocks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut any_frames = false;
    for exc in &event.exceptions {
        let start = components.len();
        if let Some(ty) = non_empty(exc.ty.as_deref()) {
            components.push(format!("type:{ty}"));
        }
        let before_frames = components.len();
        if let Some(st) = &exc.stacktrace {
            push_frames(&mut components, st, in_app_only);
        }
        if components.len() > before_frames {
            any_frames = true;
        } else {
            // Like Sentry: the value counts only for an exception whose frames did not.
            components.truncate(start);
            push_type_and_value(&mut components, exc.ty.as_deref(), exc.value.as_deref());
        }
        // An exception group raised with 2, 3 or 4 identical children is one problem: a
        // block that repeats an earlier one adds nothing, so the count of children does
        // not split the issue.
        let block = start..components.len();
        if blocks
            .iter()
            .any(|b| components[b.clone()] == components[block.clone()])
        {
            components.truncate(start);
        } else {
            blocks.push(block);
        }
    }
    any_frames.then_some(components)
}

fn push_frames(out: &mut Vec<String>, st: &StacktraceView<'_>, in_app_only: bool) {
    let start = out.len();
    for frame in &st.frames {
        if in_app_only && frame.in_app != Some(true) {
            continue;
        }
        let Some(component) = frame_component(frame) else {
            continue;
        };
        out.push(component);
        collapse_repeats(out, start);
    }
}

/// Drops a block of frames that exactly repeats the block before it, so recursion depth
/// (and an SDK trimming the middle of a deep stack) does not split an issue.
fn collapse_repeats(out: &mut Vec<String>, start: usize) {
    let len = out.len() - start;
    for period in 1..=MAX_RECURSION_PERIOD.min(len / 2) {
        let end = out.len();
        if out[end - period..] == out[end - 2 * period..end - period] {
            out.truncate(end - period);
            return;
        }
    }
}

fn frame_component(frame: &FrameView<'_>) -> Option<String> {
    let location = frame_location(frame);
    let function = frame
        .function
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "?")
        .map(normalize_function);
    match (location, function) {
        (None, None) => None,
        (loc, func) => Some(format!(
            "frame:{}:{}",
            loc.unwrap_or_default(),
            func.unwrap_or_default()
        )),
    }
}

/// The stable name of a frame's code location: the module, or a normalised file name.
fn frame_location(frame: &FrameView<'_>) -> Option<String> {
    if let Some(module) = non_empty(frame.module.as_deref()) {
        return Some(replace_hash_pieces(module));
    }
    let file = non_empty(frame.filename.as_deref()).or(non_empty(frame.abs_path.as_deref()))?;
    let norm = normalize_filename(file);
    (!norm.is_empty()).then_some(norm)
}

/// Reduces a file name or URL to the part that survives redeploys: no scheme, host, query
/// or deploy directory (absolute app paths keep their last two components; library paths
/// start after `node_modules/` or `site-packages/`), build hashes replaced by `<hash>`.
pub fn normalize_filename(file: &str) -> String {
    let mut path: &str = file;
    let mut absolute = false;
    if let Some(idx) = path.find("://") {
        // Scheme and host (`https://cdn.x`, `app://`, `webpack://project`) are deployment
        // details; the path after them is the code.
        let rest = &path[idx + 3..];
        path = rest.find('/').map_or("", |slash| &rest[slash..]);
        absolute = true;
    }
    if let Some(cut) = path.find(['?', '#']) {
        path = &path[..cut];
    }
    let owned;
    if path.contains('\\') {
        owned = path.replace('\\', "/");
        path = &owned;
    }
    // Windows drive letter.
    let pb = path.as_bytes();
    if pb.len() >= 2 && pb[1] == b':' && pb[0].is_ascii_alphabetic() {
        path = &path[2..];
        absolute = true;
    }
    if let Some(rest) = path.strip_prefix("~/") {
        path = rest;
    }
    if path.starts_with('/') {
        absolute = true;
    }
    let mut library = false;
    for marker in ["node_modules/", "site-packages/", "dist-packages/"] {
        if let Some(idx) = path.rfind(marker) {
            path = &path[idx + marker.len()..];
            library = true;
            break;
        }
    }
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let keep = if absolute && !library {
        &segments[segments.len().saturating_sub(2)..]
    } else {
        &segments[..]
    };
    let mut out = String::with_capacity(path.len());
    for (i, seg) in keep.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&replace_hash_pieces(seg));
    }
    out
}

/// Replaces build hashes inside a name: `main.3f2a9c1b.js` → `main.<hash>.js`,
/// `chunk-5XJ2KQ7M.js` → `chunk-<hash>.js`.
fn replace_hash_pieces(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut piece_start = 0;
    for (i, ch) in name
        .char_indices()
        .chain(std::iter::once((name.len(), '.')))
    {
        if matches!(ch, '.' | '-' | '_' | '/' | '@') {
            let piece = &name[piece_start..i];
            if looks_like_hash(piece) {
                out.push_str("<hash>");
            } else {
                out.push_str(piece);
            }
            if i < name.len() {
                out.push(ch);
            }
            piece_start = i + ch.len_utf8();
        }
    }
    out
}

fn looks_like_hash(piece: &str) -> bool {
    let b = piece.as_bytes();
    if b.len() < 8 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.len() - digits;
    let all_hex = b.iter().all(u8::is_ascii_hexdigit);
    (all_hex && digits > 0) || (digits >= 2 && letters > 0)
}

/// Drops what varies between runs of the same code in a function name: addresses
/// (`0x7f…`) and the counters of generated lambda classes (`$$Lambda$42/0x…`).
fn normalize_function(f: &str) -> String {
    if !f.contains("0x") && !f.contains("$$Lambda$") {
        return f.to_string();
    }
    let b = f.as_bytes();
    let mut out = String::with_capacity(f.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'0'
            && b.get(i + 1) == Some(&b'x')
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        {
            out.push_str(&f[copied..i]);
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            out.push_str("<addr>");
            copied = i;
        } else if f[i..].starts_with("$$Lambda$") {
            i += "$$Lambda$".len();
            out.push_str(&f[copied..i]);
            i = digits_end(b, i);
            if b.get(i) == Some(&b'/') {
                i += 1;
            }
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&f[copied..]);
    out
}

fn title(event: &EventView<'_>) -> String {
    if let Some(exc) = event.exceptions.last() {
        let ty = non_empty(exc.ty.as_deref());
        let value = non_empty(exc.value.as_deref()).map(first_line);
        return match (ty, value) {
            (Some(ty), Some(v)) => format!("{ty}: {}", truncate_chars(v, TITLE_MAX_CHARS)),
            (Some(ty), None) => truncate_chars(ty, TITLE_MAX_CHARS),
            (None, Some(v)) => truncate_chars(v, TITLE_MAX_CHARS),
            (None, None) => "<unknown>".to_string(),
        };
    }
    if let Some(m) =
        non_empty(event.message.as_deref()).or(non_empty(event.message_template.as_deref()))
    {
        return truncate_chars(first_line(m), TITLE_MAX_CHARS);
    }
    "<unlabeled event>".to_string()
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

fn culprit(event: &EventView<'_>) -> String {
    let stacktrace = event
        .exceptions
        .iter()
        .rev()
        .filter_map(|e| e.stacktrace.as_ref())
        .find(|st| !st.frames.is_empty())
        .or(event.stacktrace.as_ref());
    if let Some(frame) = stacktrace.and_then(culprit_frame) {
        let location = non_empty(frame.module.as_deref())
            .map(str::to_string)
            .or_else(|| {
                non_empty(frame.filename.as_deref())
                    .or(non_empty(frame.abs_path.as_deref()))
                    .map(normalize_filename)
            })
            .filter(|l| !l.is_empty());
        let function = non_empty(frame.function.as_deref());
        match (location, function) {
            (Some(l), Some(f)) => return format!("{l} in {f}"),
            (Some(l), None) => return l,
            (None, Some(f)) => return f.to_string(),
            (None, None) => {}
        }
    }
    non_empty(event.transaction.as_deref())
        .or(non_empty(event.logger.as_deref()))
        .unwrap_or_default()
        .to_string()
}

fn culprit_frame<'v, 'a>(st: &'v StacktraceView<'a>) -> Option<&'v FrameView<'a>> {
    let has_name = |f: &&FrameView<'_>| {
        f.function.is_some() || f.module.is_some() || f.filename.is_some() || f.abs_path.is_some()
    };
    st.frames
        .iter()
        .rev()
        .filter(has_name)
        .find(|f| f.in_app == Some(true))
        .or_else(|| st.frames.iter().rev().find(has_name))
}

fn handled(event: &EventView<'_>) -> Option<bool> {
    let mut result = None;
    for m in event.exceptions.iter().filter_map(|e| e.mechanism.as_ref()) {
        match m.handled {
            Some(false) => return Some(false),
            Some(true) => result = Some(true),
            None => {}
        }
    }
    result
}

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

fn digits_end(b: &[u8], mut i: usize) -> usize {
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

    #[test]
    fn filenames_survive_redeploys() {
        let n = normalize_filename;
        assert_eq!(
            n("https://cdn.x.com/static/js/main.3f2a9c1b.js?v=2#x"),
            "js/main.<hash>.js"
        );
        assert_eq!(n("app:///dist/server.js"), "dist/server.js");
        assert_eq!(
            n("webpack://myapp/./src/pages/index.tsx"),
            "pages/index.tsx"
        );
        assert_eq!(n("/home/deploy/releases/42/app/views.py"), "app/views.py");
        assert_eq!(n("/srv/other/app/views.py"), "app/views.py");
        assert_eq!(
            n("/app/node_modules/.pnpm/express@4.18.2/node_modules/express/lib/router/index.js"),
            "express/lib/router/index.js"
        );
        assert_eq!(
            n("/usr/lib/python3.11/site-packages/requests/adapters.py"),
            "requests/adapters.py"
        );
        assert_eq!(n("myapp/views.py"), "myapp/views.py");
        assert_eq!(n(r"C:\build\src\App.cs"), "src/App.cs");
        assert_eq!(n("~/src/chunk-5XJ2KQ7M.js"), "src/chunk-<hash>.js");
        assert_eq!(
            n("/_next/static/chunks/pages/index-2ab4c5d6e7f8.js"),
            "pages/index-<hash>.js"
        );
    }

    #[test]
    fn function_names_drop_addresses() {
        assert_eq!(
            normalize_function("<lambda at 0x7f3a12>"),
            "<lambda at <addr>>"
        );
        assert_eq!(
            normalize_function("Foo$$Lambda$123/0x0000000800c02a00.run"),
            "Foo$$Lambda$<addr>.run"
        );
        assert_eq!(normalize_function("{closure#0}"), "{closure#0}");
        assert_eq!(
            normalize_function("Object.<anonymous>"),
            "Object.<anonymous>"
        );
    }
}
