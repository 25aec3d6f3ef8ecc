//! Stack-trace components: the frames that say where an error happened, reduced to what
//! survives redeploys (module or normalised file name, function without addresses), with
//! recursion collapsed.

use lookout_sentry::event::{EventView, FrameView, StacktraceView};

use super::parameterize::digits_end;
use super::{non_empty, push_type_and_value};

/// Longest repeated block of frames collapsed as recursion (mutual recursion up to 4 deep).
const MAX_RECURSION_PERIOD: usize = 4;

/// Stack-trace components, when the exception chain (or, without exceptions, an
/// attached stack trace with in-app frames) has frames that say something.
pub(super) fn stacktrace_components(event: &EventView<'_>) -> Option<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
