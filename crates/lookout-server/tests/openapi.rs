//! The OpenAPI document at `/api/v1/openapi.json`: served without a token, valid for an
//! independent validator (the Python `openapi-spec-validator`), and complete: every route
//! of the API router, with every method it answers, is in it. A route added without
//! documentation fails here.

mod common;
#[path = "../../../tests/suite_switch.rs"]
mod suite_switch;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use common::*;
use serde_json::Value;

/// The served document, fetched without a token.
fn served(app: &TestApp) -> Value {
    let r = request(
        "GET",
        &format!("{}/api/v1/openapi.json", app.url),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{:?}",
        r.headers
    );
    r.body
}

/// The paths of the API router as axum holds them. axum has no API to list routes; its
/// `Debug` output names every path (`paths: {RouteId(n): "/api/v1/…"}`). Should that
/// format change, this finds no paths and the test fails rather than passing empty.
fn router_paths() -> BTreeSet<String> {
    let (router, _) = lookout_server::api::openapi_router().split_for_parts();
    let debug = format!("{router:?}");
    debug
        .split('"')
        .filter(|s| s.starts_with("/api/"))
        .map(str::to_string)
        .collect()
}

/// The methods the server answers on `path` other than with 405, probed with the token
/// and every path parameter filled in.
fn answered_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let concrete: String = path
        .split('/')
        .map(|seg| match seg {
            "{project}" => "default",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/");
    ["get", "post", "put", "delete", "patch"]
        .into_iter()
        .filter(|m| {
            let r = request(
                &m.to_ascii_uppercase(),
                &format!("{}{concrete}", app.url),
                &[
                    ("authorization", &format!("Bearer {TOKEN}")),
                    ("content-type", "application/json"),
                ],
                b"{}".to_vec(),
            );
            r.status != 405
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_route_and_method_of_the_api_is_documented() {
    let app = spawn_app("");
    let doc = served(&app);
    assert_eq!(doc["openapi"], "3.1.0", "{}", doc["openapi"]);
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .cloned()
                .collect();
            (p.clone(), methods)
        })
        .collect();
    let routes = router_paths();
    assert!(
        routes.len() >= 25,
        "the router's paths were not found: {routes:?}"
    );
    assert_eq!(
        routes,
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        "the router's paths and the document's differ"
    );
    for path in &routes {
        assert_eq!(
            answered_methods(&app, path),
            documented[path],
            "{path}: the methods the server answers and those documented differ"
        );
    }
    // Every operation names its answers, and everything but the document needs the token.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let public = path == "/api/v1/openapi.json";
            assert_eq!(
                op["security"] == serde_json::json!([{}]),
                public,
                "{method} {path}: {}",
                op["security"]
            );
        }
    }
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    // The handlers' own types: a monitor's answer and the create body are described.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Monitor",
        "MonitorConfig",
        "Issue",
        "Incident",
        "Project",
        "ErrorBody",
    ] {
        assert!(schemas[name].is_object(), "no schema {name}");
    }
    assert!(schemas["Monitor"]["properties"]["status"].is_object());
}

#[test]
fn the_document_passes_an_independent_validator() {
    let Some(python) = suite_switch::suite_switch("LOOKOUT_TEST_PYTHON", "OpenAPI validation")
    else {
        return;
    };
    let app = spawn_app("");
    let doc = served(&app);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(doc.to_string().as_bytes()).unwrap();
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys\nfrom openapi_spec_validator import validate\nfrom openapi_spec_validator.readers import read_from_filename\nspec, _ = read_from_filename(sys.argv[1])\nvalidate(spec)\nprint('valid', spec['openapi'])",
        ])
        .arg(file.path())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "valid 3.1.0");
}
