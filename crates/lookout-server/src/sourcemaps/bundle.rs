//! Artifact bundles as `sentry-cli sourcemaps upload` builds them: a zip holding
//! `manifest.json` and the files it lists (minified sources and their source maps).

use std::collections::HashMap;
use std::io::{Cursor, Read};

use serde::Deserialize;

/// Why a bundle was refused; the text goes back to `sentry-cli`, which prints it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BundleError {
    /// Not a zip, or a damaged one.
    #[error("the upload is not a valid artifact bundle (zip): {0}")]
    NotZip(String),
    /// No manifest or an unreadable one.
    #[error("the artifact bundle has no readable manifest.json: {0}")]
    Manifest(String),
    /// A file the manifest lists is missing or cannot be read.
    #[error("the artifact bundle lists {0} but does not hold it")]
    MissingFile(String),
    /// A source map that is not JSON, or not a source map.
    #[error("{url} is not a valid source map: {why}")]
    BadMap {
        /// The file's URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// Over a limit.
    #[error("{0}")]
    TooLarge(String),
}

/// One file of a bundle, as its manifest says.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleFile {
    /// Path inside the zip.
    pub path: String,
    /// URL it is served at (`~/…` or a full URL).
    pub url: String,
    /// `minified_source`, `source_map`, `source`…
    pub kind: String,
    /// Debug id from its headers.
    pub debug_id: Option<String>,
    /// For a minified source: its `sourcemap` header.
    pub sourcemap: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    files: HashMap<String, ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    url: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

fn header(headers: &HashMap<String, String>, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Debug ids are UUIDs; Sentry compares them lowercased and hyphenated.
pub fn normalize_debug_id(id: &str) -> String {
    let hex: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 32 {
        return id.trim().to_ascii_lowercase();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Reads and checks a bundle: every listed file present, every source map valid and naming
/// at least one source, no file over `max_file_bytes` once unpacked.
pub fn parse(data: &[u8], max_file_bytes: u64) -> Result<Vec<BundleFile>, BundleError> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(data)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    let manifest: Manifest = {
        let bytes = read_entry(&mut zip, "manifest.json", max_file_bytes)?
            .ok_or_else(|| BundleError::Manifest("missing".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| BundleError::Manifest(e.to_string()))?
    };
    let mut files = Vec::with_capacity(manifest.files.len());
    for (path, f) in manifest.files {
        let kind = f.kind.unwrap_or_else(|| "source".to_string());
        // sentry-cli labels a map it could not parse as a plain source; a `.map` file is
        // checked as a map whatever its label, so a broken one is refused, not stored.
        let is_map = kind == "source_map" || f.url.ends_with(".map");
        if is_map {
            let bytes = read_entry(&mut zip, &path, max_file_bytes)?
                .ok_or_else(|| BundleError::MissingFile(f.url.clone()))?;
            check_map(&bytes).map_err(|why| BundleError::BadMap {
                url: f.url.clone(),
                why,
            })?;
        } else {
            let size = match zip.by_name(&path) {
                Ok(entry) => entry.size(),
                Err(_) => return Err(BundleError::MissingFile(f.url)),
            };
            if size > max_file_bytes {
                return Err(BundleError::TooLarge(format!(
                    "{} unpacks to {size} bytes, over the limit of {max_file_bytes} bytes for one file ([sourcemaps] max_bundle_bytes)",
                    f.url
                )));
            }
        }
        files.push(BundleFile {
            path,
            url: f.url,
            kind,
            debug_id: header(&f.headers, "debug-id").map(|d| normalize_debug_id(&d)),
            sourcemap: header(&f.headers, "sourcemap"),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn check_map(bytes: &[u8]) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let map = sourcemap::decode_slice(bytes).map_err(|e| e.to_string())?;
    let names_sources = match &map {
        sourcemap::DecodedMap::Regular(sm) => sm.get_source_count() > 0,
        // An index map names its sources in its sections.
        sourcemap::DecodedMap::Index(_) => value.get("sections").is_some(),
        sourcemap::DecodedMap::Hermes(sm) => sm.get_source_count() > 0,
    };
    if names_sources {
        Ok(())
    } else {
        Err("it names no sources".into())
    }
}

/// The bytes of one entry, unpacked, or `None` if the zip has no such entry. Refuses an
/// entry that unpacks past `max_bytes` without unpacking the rest of it.
pub fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>, BundleError> {
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(BundleError::NotZip(e.to_string())),
    };
    let mut out = Vec::new();
    entry
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| BundleError::NotZip(format!("{name}: {e}")))?;
    if out.len() as u64 > max_bytes {
        return Err(BundleError::TooLarge(format!(
            "{name} unpacks to more than {max_bytes} bytes, the limit for one file"
        )));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const MANIFEST: &str = r#"{"files": {
        "files/_/_/a.js": {"url": "~/a.js", "type": "minified_source",
            "headers": {"debug-id": "516613E7D920516282E0D6E7DFB8B5A2", "Sourcemap": "a.js.map"}},
        "files/_/_/a.js.map": {"url": "~/a.js.map", "type": "source_map",
            "headers": {"debug-id": "516613e7-d920-5162-82e0-d6e7dfb8b5a2"}}}}"#;
    const MAP: &str = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;

    #[test]
    fn reads_the_manifest_and_normalises_debug_ids() {
        let z = zip_of(&[
            ("manifest.json", MANIFEST.as_bytes()),
            ("files/_/_/a.js", b"x()"),
            ("files/_/_/a.js.map", MAP.as_bytes()),
        ]);
        let files = parse(&z, 1 << 20).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].debug_id.as_deref(),
            Some("516613e7-d920-5162-82e0-d6e7dfb8b5a2")
        );
        assert_eq!(files[0].sourcemap.as_deref(), Some("a.js.map"));
        assert_eq!(files[1].kind, "source_map");
    }

    #[test]
    fn refuses_bad_bundles_with_reasons() {
        assert!(matches!(
            parse(b"not a zip", 100),
            Err(BundleError::NotZip(_))
        ));
        let no_manifest = zip_of(&[("a.js", b"x")]);
        assert!(matches!(
            parse(&no_manifest, 100),
            Err(BundleError::Manifest(_))
        ));
        let not_json = zip_of(&[
            ("manifest.json", MANIFEST.as_bytes()),
            ("files/_/_/a.js", b"x()"),
            ("files/_/_/a.js.map", b"{oops"),
        ]);
        let err = parse(&not_json, 1 << 20).unwrap_err();
        assert!(
            err.to_string()
                .contains("~/a.js.map is not a valid source map: not JSON"),
            "{err}"
        );
        let no_sources = zip_of(&[
            ("manifest.json", MANIFEST.as_bytes()),
            ("files/_/_/a.js", b"x()"),
            (
                "files/_/_/a.js.map",
                br#"{"version":3,"sources":[],"names":[],"mappings":""}"#,
            ),
        ]);
        let err = parse(&no_sources, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("names no sources"), "{err}");
        let missing = zip_of(&[
            ("manifest.json", MANIFEST.as_bytes()),
            ("files/_/_/a.js.map", MAP.as_bytes()),
        ]);
        assert_eq!(
            parse(&missing, 1 << 20).unwrap_err(),
            BundleError::MissingFile("~/a.js".into())
        );
        let big = zip_of(&[
            ("manifest.json", MANIFEST.as_bytes()),
            ("files/_/_/a.js", b"x()"),
            ("files/_/_/a.js.map", MAP.as_bytes()),
        ]);
        assert!(matches!(parse(&big, 20), Err(BundleError::TooLarge(_))));
    }
}
