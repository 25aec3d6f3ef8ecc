//! Source maps: JavaScript frames from uploaded bundles mapped back to the original file,
//! line, column and function, with source context, before the event is grouped.
//!
//! The index of what was uploaded (debug ids, and release + URL) lives in memory, so an
//! event with nothing to map costs one hash lookup; bundles are read from the store on
//! first use and their parsed maps cached. Instances sharing a database keep their
//! indexes in step by polling the stored bundle ids ([`Symbolicator::refresh`]): a bundle
//! uploaded or removed through one instance is used or forgotten by every other within
//! one poll.

pub mod bundle;
pub mod regroup;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use lookout_store::{ArtifactFile, Store};
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};
use sourcemap::{DecodedMap, SourceView};

/// Lines of source shown before and after a frame's line.
const CONTEXT_LINES: usize = 5;
/// Parsed source maps kept in memory.
const CACHE_ENTRIES: usize = 64;

/// Where a map is: its bundle, its path in the bundle, and the minified source's path
/// (used to recover original function names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MapRef {
    bundle_id: i64,
    map_path: String,
    minified_path: Option<String>,
    map_url: String,
}

/// A minified file uploaded for a release, by URL.
#[derive(Debug, Clone)]
struct UrlRef {
    url_path: String,
    map: MapRef,
}

#[derive(Default)]
struct Index {
    by_debug_id: HashMap<(i64, String), MapRef>,
    by_release: HashMap<(i64, String), Vec<UrlRef>>,
    projects: HashSet<i64>,
    /// Every bundle the index was built from (also those with nothing to index), to be
    /// compared with the store's.
    bundles: BTreeSet<i64>,
}

impl Index {
    /// The index of every file of `files` (the store's, in bundle order: a later bundle's
    /// file wins a URL over an earlier one's).
    fn build(files: Vec<ArtifactFile>) -> Index {
        let mut index = Index::default();
        let mut by_bundle: Vec<(i64, Vec<ArtifactFile>)> = Vec::new();
        for f in files {
            match by_bundle.last_mut() {
                Some((id, list)) if *id == f.bundle_id => list.push(f),
                _ => by_bundle.push((f.bundle_id, vec![f])),
            }
        }
        by_bundle.sort_by_key(|(id, _)| *id);
        for (_, files) in &by_bundle {
            index.add_bundle(files);
        }
        index
    }

    /// Adds one bundle's files.
    fn add_bundle(&mut self, files: &[ArtifactFile]) {
        self.bundles.extend(files.iter().map(|f| f.bundle_id));
        let maps = files.iter().filter(|f| f.kind == "source_map");
        let maps_by_url: HashMap<&str, &ArtifactFile> =
            maps.clone().map(|f| (f.url.as_str(), f)).collect();
        let maps_by_id: HashMap<&str, &ArtifactFile> = maps
            .filter_map(|f| Some((f.debug_id.as_deref()?, f)))
            .collect();
        for f in files {
            self.projects.insert(f.project_id);
            if f.kind != "minified_source" {
                continue;
            }
            // The map: the one with the same debug id, else the `sourcemap` header's URL.
            let by_id = f
                .debug_id
                .as_deref()
                .and_then(|id| maps_by_id.get(id).copied());
            let by_header = f
                .sourcemap
                .as_deref()
                .and_then(|s| maps_by_url.get(resolve_url(&f.url, s).as_str()).copied());
            let Some(map) = by_id.or(by_header) else {
                continue;
            };
            let map_ref = MapRef {
                bundle_id: f.bundle_id,
                map_path: map.path.clone(),
                minified_path: Some(f.path.clone()),
                map_url: map.url.clone(),
            };
            if let Some(id) = &f.debug_id {
                self.by_debug_id
                    .insert((f.project_id, id.clone()), map_ref.clone());
            }
            if let Some(release) = &f.release {
                let list = self
                    .by_release
                    .entry((f.project_id, release.clone()))
                    .or_default();
                let url_path = url_path(&f.url).to_string();
                list.retain(|u| u.url_path != url_path);
                list.push(UrlRef {
                    url_path,
                    map: map_ref,
                });
            }
        }
    }
}

/// The path part of an artifact URL: `~/static/a.js` and `https://x.example/static/a.js`
/// both give `/static/a.js`.
fn url_path(url: &str) -> &str {
    if let Some(rest) = url.strip_prefix('~') {
        return rest;
    }
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// Resolves a `sourcemap` reference against the URL of the file that names it.
fn resolve_url(base: &str, reference: &str) -> String {
    if reference.contains("://") || reference.starts_with('~') {
        return reference.to_string();
    }
    if let Some(abs) = reference.strip_prefix('/') {
        return format!("~/{abs}");
    }
    match base.rfind('/') {
        Some(i) => format!("{}/{}", &base[..i], reference),
        None => reference.to_string(),
    }
}

/// A parsed map and its minified source, ready for lookups.
struct Loaded {
    map: DecodedMap,
    minified: Option<SourceView>,
}

/// Maps frames of JavaScript events through uploaded source maps.
pub struct Symbolicator {
    store: Arc<dyn Store>,
    index: RwLock<Index>,
    cache: Mutex<HashMap<MapRef, Arc<Loaded>>>,
    /// Bumped by every change made here ([`Symbolicator::add_bundle`],
    /// [`Symbolicator::remove_bundles`]): a refresh that read the store before such a
    /// change must not replace the index with what it read.
    changes: std::sync::atomic::AtomicU64,
    /// One refresh at a time.
    refreshing: Mutex<()>,
}

/// How a frame found its map (kept on the frame for the issue page).
#[derive(Clone, Copy)]
enum Found {
    DebugId,
    Release,
}

impl Symbolicator {
    /// Builds the index from every stored bundle. Blocking.
    pub fn load(store: Arc<dyn Store>) -> lookout_store::Result<Self> {
        let ids = store.bundle_ids()?;
        let mut index = Index::build(store.artifact_files()?);
        index.bundles.extend(ids);
        Ok(Self {
            store,
            index: RwLock::new(index),
            cache: Mutex::new(HashMap::new()),
            changes: std::sync::atomic::AtomicU64::new(0),
            refreshing: Mutex::new(()),
        })
    }

    /// Takes in the bundles stored or removed since the index was built or last refreshed
    /// (through another instance, or by its jobs), rebuilding the index when the stored
    /// bundle ids differ from its own. Blocking; one query when nothing changed. Returns
    /// whether the index changed.
    pub fn refresh(&self) -> lookout_store::Result<bool> {
        use std::sync::atomic::Ordering;
        let _one = self.refreshing.lock();
        // A change made here while the store was read makes the read stale: read again.
        for _ in 0..3 {
            let before = self.changes.load(Ordering::SeqCst);
            let ids = self.store.bundle_ids()?;
            if self
                .index
                .read()
                .bundles
                .iter()
                .copied()
                .eq(ids.iter().copied())
            {
                return Ok(false);
            }
            let mut fresh = Index::build(self.store.artifact_files()?);
            fresh.bundles.extend(ids);
            let mut index = self.index.write();
            if self.changes.load(Ordering::SeqCst) != before {
                continue;
            }
            let kept = &fresh.bundles;
            self.cache.lock().retain(|k, _| kept.contains(&k.bundle_id));
            tracing::debug!(
                bundles = kept.len(),
                "source map index refreshed from the store"
            );
            *index = fresh;
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the index holds this bundle.
    pub fn has_bundle(&self, bundle_id: i64) -> bool {
        self.index.read().bundles.contains(&bundle_id)
    }

    /// Adds a bundle just stored.
    pub fn add_bundle(&self, files: &[ArtifactFile]) {
        let mut index = self.index.write();
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        index.add_bundle(files);
    }

    /// Forgets removed bundles (retention, limits).
    pub fn remove_bundles(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let mut index = self.index.write();
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for id in ids {
            index.bundles.remove(id);
        }
        index.by_debug_id.retain(|_, m| !ids.contains(&m.bundle_id));
        for list in index.by_release.values_mut() {
            list.retain(|u| !ids.contains(&u.map.bundle_id));
        }
        self.cache.lock().retain(|k, _| !ids.contains(&k.bundle_id));
    }

    /// The event with its frames mapped, or `None` when nothing in it maps (the common
    /// case, answered without parsing the event when the project has no bundles).
    pub fn symbolicate(&self, project_id: i64, json: &[u8]) -> Option<Vec<u8>> {
        if !self.index.read().projects.contains(&project_id) {
            return None;
        }
        // An uploaded map is the user's input: whatever it holds, the event is stored, at
        // worst with its minified frames.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.symbolicate_parsed(project_id, json)
        })) {
            Ok(out) => out,
            Err(_) => {
                tracing::warn!(project_id, "source map lookup failed; event kept unmapped");
                None
            }
        }
    }

    fn symbolicate_parsed(&self, project_id: i64, json: &[u8]) -> Option<Vec<u8>> {
        let mut event: Value = serde_json::from_slice(json).ok()?;
        let images = debug_images(&event);
        let release = event
            .get("release")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut changed = false;
        for_each_stacktrace(&mut event, &mut |st| {
            changed |= self.map_stacktrace(project_id, &images, release.as_deref(), st);
        });
        if !changed {
            return None;
        }
        serde_json::to_vec(&event).ok()
    }

    /// Maps the frames of one stack trace in place, keeping the minified frames beside
    /// them as `raw_frames`. True if any frame was mapped.
    fn map_stacktrace(
        &self,
        project_id: i64,
        images: &HashMap<String, String>,
        release: Option<&str>,
        stacktrace: &mut Map<String, Value>,
    ) -> bool {
        let Some(Value::Array(frames)) = stacktrace.get("frames") else {
            return false;
        };
        let mut mapped = Vec::with_capacity(frames.len());
        let mut any = false;
        for frame in frames {
            match self.map_frame(project_id, images, release, frame) {
                Some(f) => {
                    any = true;
                    mapped.push(f);
                }
                None => mapped.push(frame.clone()),
            }
        }
        if any {
            let raw = stacktrace.insert("frames".into(), Value::Array(mapped));
            if let Some(raw) = raw {
                stacktrace.insert("raw_frames".into(), raw);
            }
        }
        any
    }

    fn find(
        &self,
        project_id: i64,
        images: &HashMap<String, String>,
        release: Option<&str>,
        abs_path: &str,
    ) -> Option<(MapRef, Found)> {
        let index = self.index.read();
        if let Some(id) = images.get(abs_path) {
            if let Some(m) = index.by_debug_id.get(&(project_id, id.clone())) {
                return Some((m.clone(), Found::DebugId));
            }
        }
        let list = index.by_release.get(&(project_id, release?.to_string()))?;
        let path = url_path(abs_path.split(['?', '#']).next().unwrap_or(abs_path));
        // The longest uploaded path that the frame's path ends with: `~/static/a.js`
        // matches both `https://x.example/static/a.js` and `/srv/app/static/a.js`.
        list.iter()
            .filter(|u| path.ends_with(&u.url_path))
            .max_by_key(|u| u.url_path.len())
            .map(|u| (u.map.clone(), Found::Release))
    }

    fn loaded(&self, map: &MapRef) -> Option<Arc<Loaded>> {
        if let Some(l) = self.cache.lock().get(map) {
            return Some(l.clone());
        }
        let data = self.read_bundle(map.bundle_id)?;
        let mut zip = zip::ZipArchive::new(Cursor::new(data.as_slice())).ok()?;
        let limit = u64::MAX;
        let map_bytes = bundle::read_entry(&mut zip, &map.map_path, limit).ok()??;
        let decoded = sourcemap::decode_slice(&map_bytes).ok()?;
        let minified = map
            .minified_path
            .as_deref()
            .and_then(|p| bundle::read_entry(&mut zip, p, limit).ok()?)
            .and_then(|b| String::from_utf8(b).ok())
            .map(SourceView::from_string);
        let loaded = Arc::new(Loaded {
            map: decoded,
            minified,
        });
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(map.clone(), loaded.clone());
        Some(loaded)
    }

    /// A bundle's zip from the store. Ingest maps frames on an async worker thread (it
    /// must not await before handing its batch to the writer), where PostgreSQL's blocking
    /// client may not run: the read leaves the runtime first (`block_in_place` on a
    /// multi-threaded runtime, a thread of its own on any other).
    fn read_bundle(&self, bundle_id: i64) -> Option<Vec<u8>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let read = || match self.store.bundle_data(bundle_id) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(bundle_id, error = %e, "cannot read a source map bundle");
                None
            }
        };
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => read(),
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
            Ok(_) => std::thread::scope(|s| s.spawn(read).join().ok().flatten()),
        }
    }

    fn map_frame(
        &self,
        project_id: i64,
        images: &HashMap<String, String>,
        release: Option<&str>,
        frame: &Value,
    ) -> Option<Value> {
        let obj = frame.as_object()?;
        let abs_path = obj
            .get("abs_path")
            .or_else(|| obj.get("filename"))
            .and_then(Value::as_str)?;
        let line = obj.get("lineno").and_then(Value::as_u64)?;
        let col = obj.get("colno").and_then(Value::as_u64)?;
        if line == 0 || col == 0 {
            return None;
        }
        let (map_ref, found) = self.find(project_id, images, release, abs_path)?;
        let loaded = self.loaded(&map_ref)?;
        let (line0, col0) = ((line - 1) as u32, (col - 1) as u32);
        let token = loaded.map.lookup_token(line0, col0)?;
        let source = token.get_source()?;
        let file = clean_source_path(source);

        let mut out = Map::new();
        out.insert("filename".into(), Value::from(file.clone()));
        out.insert("abs_path".into(), Value::from(source));
        out.insert("lineno".into(), Value::from(token.get_src_line() + 1));
        out.insert("colno".into(), Value::from(token.get_src_col() + 1));
        let minified_fn = obj.get("function").and_then(Value::as_str);
        let original_fn = minified_fn.and_then(|f| {
            // `Object.run` → the last part is what the minifier named.
            let short = f.rsplit('.').next().unwrap_or(f);
            loaded.map.get_original_function_name(
                line0,
                col0,
                Some(short),
                loaded.minified.as_ref(),
            )
        });
        if let Some(f) = original_fn.or(minified_fn) {
            out.insert("function".into(), Value::from(f));
        }
        let in_app = obj.get("in_app").and_then(Value::as_bool).unwrap_or(true)
            && !file.contains("node_modules/");
        out.insert("in_app".into(), Value::from(in_app));
        if let Some(text) = source_contents(&loaded.map, token.get_src_id()) {
            add_context(&mut out, text, token.get_src_line() as usize);
        }
        out.insert(
            "data".into(),
            serde_json::json!({
                "sourcemap": map_ref.map_url,
                "resolved_with": match found {
                    Found::DebugId => "debug-id",
                    Found::Release => "release",
                },
                "symbolicated": true,
            }),
        );
        Some(Value::Object(out))
    }
}

fn source_contents(map: &DecodedMap, src_id: u32) -> Option<&str> {
    match map {
        DecodedMap::Regular(sm) => sm.get_source_contents(src_id),
        DecodedMap::Hermes(sm) => sm.get_source_contents(src_id),
        // Tokens of an index map come from its sections; their contents are not reachable
        // by id here, so frames keep their location without context.
        DecodedMap::Index(_) => None,
    }
}

/// `webpack://_N_E/./app/page.tsx` → `app/page.tsx`; `../src/a.ts` → `src/a.ts`.
fn clean_source_path(source: &str) -> String {
    let mut s = source;
    if let Some((scheme, rest)) = s.split_once("://") {
        if scheme == "webpack" || scheme == "app" || scheme == "file" {
            // webpack://<namespace>/path: drop the namespace.
            s = if scheme == "webpack" {
                rest.split_once('/').map_or(rest, |(_, p)| p)
            } else {
                rest
            };
        }
    }
    while let Some(rest) = s.strip_prefix("./").or_else(|| s.strip_prefix("../")) {
        s = rest;
    }
    s.to_string()
}

fn add_context(frame: &mut Map<String, Value>, text: &str, line0: usize) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(line0) else {
        return;
    };
    let pre = &lines[line0.saturating_sub(CONTEXT_LINES)..line0];
    let post = &lines[(line0 + 1).min(lines.len())..(line0 + 1 + CONTEXT_LINES).min(lines.len())];
    frame.insert("context_line".into(), Value::from(*line));
    frame.insert("pre_context".into(), Value::from(pre.to_vec()));
    frame.insert("post_context".into(), Value::from(post.to_vec()));
}

/// `debug_meta.images` of type `sourcemap`: code file → debug id.
fn debug_images(event: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(images) = event
        .pointer("/debug_meta/images")
        .and_then(Value::as_array)
    else {
        return out;
    };
    for image in images {
        if image.get("type").and_then(Value::as_str) != Some("sourcemap") {
            continue;
        }
        let (Some(file), Some(id)) = (
            image.get("code_file").and_then(Value::as_str),
            image.get("debug_id").and_then(Value::as_str),
        ) else {
            continue;
        };
        out.insert(file.to_string(), bundle::normalize_debug_id(id));
    }
    out
}

/// Every stack trace of an event: each exception's, the event's own, each thread's.
fn for_each_stacktrace(event: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    let mut visit = |holder: &mut Value| {
        if let Some(Value::Object(st)) = holder.get_mut("stacktrace") {
            f(st);
        }
    };
    for key in ["exception", "threads"] {
        let values = match event.get_mut(key) {
            Some(Value::Object(o)) => o.get_mut("values"),
            Some(v @ Value::Array(_)) => Some(v),
            _ => None,
        };
        if let Some(Value::Array(values)) = values {
            values.iter_mut().for_each(&mut visit);
        }
    }
    visit(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_sources() {
        assert_eq!(url_path("~/static/a.js"), "/static/a.js");
        assert_eq!(url_path("https://x.example/static/a.js"), "/static/a.js");
        assert_eq!(url_path("/srv/app/a.js"), "/srv/app/a.js");
        assert_eq!(
            resolve_url("~/static/a.js", "a.js.map"),
            "~/static/a.js.map"
        );
        assert_eq!(resolve_url("~/static/a.js", "/maps/a.map"), "~/maps/a.map");
        assert_eq!(
            clean_source_path("webpack://_N_E/./app/page.tsx"),
            "app/page.tsx"
        );
        assert_eq!(clean_source_path("../src/a.ts"), "src/a.ts");
        assert_eq!(clean_source_path("app/main.js"), "app/main.js");
    }

    #[test]
    fn context_lines_around_the_frame() {
        let mut f = Map::new();
        add_context(&mut f, "a\nb\nc\nd", 1);
        assert_eq!(f["context_line"], "b");
        assert_eq!(f["pre_context"], serde_json::json!(["a"]));
        assert_eq!(f["post_context"], serde_json::json!(["c", "d"]));
        let mut f = Map::new();
        add_context(&mut f, "a", 7);
        assert!(f.is_empty());
    }
}
