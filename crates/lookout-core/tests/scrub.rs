//! The scrubber on realistic Python and JavaScript SDK payloads, plus properties over
//! arbitrary JSON.

use std::borrow::Cow;

use lookout_core::scrub::{ScrubError, Scrubber, FILTERED};
use lookout_core::settings::ScrubSettings;
use proptest::prelude::*;
use serde_json::{json, Value};

fn scrubber() -> Scrubber {
    Scrubber::new(&ScrubSettings::default())
}

fn scrub_value(s: &Scrubber, v: &Value) -> (Value, usize) {
    let bytes = serde_json::to_vec(v).unwrap();
    let out = s.scrub(&bytes).unwrap();
    let parsed: Value = serde_json::from_slice(&out.json).expect("scrubbed output is JSON");
    (parsed, out.replaced)
}

fn scrub(v: Value) -> Value {
    scrub_value(&scrubber(), &v).0
}

#[test]
fn python_event_headers_cookies_vars_breadcrumbs_and_query() {
    let event = json!({
        "event_id": "fc6d8c0c43fc4630ad850ee518f1b9d0",
        "timestamp": "2024-05-01T10:00:00Z",
        "platform": "python",
        "release": "myapp@1.2.3",
        "environment": "production",
        "fingerprint": ["token-refresh", "{{ default }}"],
        "request": {
            "url": "https://shop.example.com/login?next=/cart&token=abc123&x=1",
            "method": "POST",
            "query_string": "token=abc123&page=2",
            "headers": {"Authorization": "Bearer xyz", "User-Agent": "curl/8", "X-Api-Key": "k"},
            "cookies": {"sessionid": "s3cr3t", "theme": "dark"},
            "data": {"username": "bob", "password": "hunter2", "remember": true},
            "env": {"REMOTE_ADDR": "10.1.2.3", "SERVER_NAME": "web1"}
        },
        "exception": {"values": [{
            "type": "KeyError",
            "value": "'user_123'",
            "stacktrace": {"frames": [{
                "function": "login",
                "module": "myapp.auth",
                "filename": "myapp/auth.py",
                "abs_path": "/srv/app/myapp/auth.py",
                "lineno": 42,
                "context_line": "    user = users[user_id]",
                "vars": {"token": "'abc'", "user_id": "'user_123'", "api_key": "'k-1'", "n": 3}
            }]}
        }]},
        "breadcrumbs": {"values": [
            {"category": "http", "data": {"url": "/api?secret=s", "password": "p", "status_code": 200}},
            {"category": "query", "message": "SELECT * FROM users WHERE password='hunter2'"}
        ]},
        "user": {"id": "42", "ip_address": "1.2.3.4"},
        "modules": {"oauthlib": "3.2.2", "djangorestframework-simplejwt": "5.3.1"}
    });
    let (out, replaced) = scrub_value(&scrubber(), &event);
    let req = &out["request"];
    assert_eq!(
        req["url"],
        "https://shop.example.com/login?next=/cart&token=[Filtered]&x=1"
    );
    assert_eq!(req["query_string"], "token=[Filtered]&page=2");
    assert_eq!(req["headers"]["Authorization"], FILTERED);
    assert_eq!(req["headers"]["X-Api-Key"], FILTERED);
    assert_eq!(req["headers"]["User-Agent"], "curl/8");
    assert_eq!(req["cookies"], FILTERED);
    assert_eq!(req["data"]["password"], FILTERED);
    assert_eq!(req["data"]["username"], "bob");
    assert_eq!(req["data"]["remember"], true);
    assert_eq!(
        req["env"]["REMOTE_ADDR"], "10.1.2.3",
        "ip scrubbing is off by default"
    );
    let frame = &out["exception"]["values"][0]["stacktrace"]["frames"][0];
    assert_eq!(frame["vars"]["token"], FILTERED);
    assert_eq!(frame["vars"]["api_key"], FILTERED);
    assert_eq!(frame["vars"]["user_id"], "'user_123'");
    assert_eq!(frame["vars"]["n"], 3);
    assert_eq!(frame["function"], "login");
    assert_eq!(frame["module"], "myapp.auth");
    assert_eq!(frame["lineno"], 42);
    let crumbs = &out["breadcrumbs"]["values"];
    assert_eq!(crumbs[0]["data"]["url"], "/api?secret=[Filtered]");
    assert_eq!(crumbs[0]["data"]["password"], FILTERED);
    assert_eq!(crumbs[0]["data"]["status_code"], 200);
    assert_eq!(
        crumbs[1]["message"],
        "SELECT * FROM users WHERE password='[Filtered]'"
    );
    // Identity fields are never touched.
    for key in [
        "event_id",
        "timestamp",
        "platform",
        "release",
        "environment",
    ] {
        assert_eq!(out[key], event[key], "{key}");
    }
    assert_eq!(out["fingerprint"], event["fingerprint"]);
    assert_eq!(out["user"]["ip_address"], "1.2.3.4");
    assert_eq!(out["modules"], event["modules"]);
    assert_eq!(replaced, 11);
}

#[test]
fn headers_and_cookies_as_pairs() {
    let out = scrub(json!({"request": {
        "headers": [["Cookie", "a=b"], ["Set-Cookie", "sid=1"], ["Accept", "*/*"],
                    ["Authorization", {"nested": 1}], ["X-CSRF-Token", "t"]],
        "cookies": [["sessionid", "x"], ["theme", "dark"]],
        "query_string": [["token", "x"], ["page", "2"]]
    }}));
    let h = &out["request"]["headers"];
    assert_eq!(h[0], json!(["Cookie", FILTERED]));
    assert_eq!(h[1], json!(["Set-Cookie", FILTERED]));
    assert_eq!(h[2], json!(["Accept", "*/*"]));
    assert_eq!(h[3], json!(["Authorization", FILTERED]));
    assert_eq!(h[4], json!(["X-CSRF-Token", FILTERED]));
    assert_eq!(out["request"]["cookies"], FILTERED);
    assert_eq!(
        out["request"]["query_string"],
        json!([["token", FILTERED], ["page", "2"]])
    );
}

#[test]
fn pair_rule_needs_exactly_two_elements_and_a_key_like_name() {
    let out = scrub(json!({"extra": {
        "three": ["token", "a", "b"],
        "prose": ["def login(password):", "    return check(x)"],
        "one": ["password"]
    }}));
    assert_eq!(out["extra"]["three"], json!(["token", "a", "b"]));
    assert_eq!(
        out["extra"]["prose"],
        json!(["def login(password):", "    return check(x)"])
    );
    assert_eq!(out["extra"]["one"], json!(["password"]));
}

#[test]
fn string_cookies_and_nested_values_under_sensitive_keys() {
    let out = scrub(json!({
        "request": {"cookies": "sessionid=abc; csrftoken=def"},
        "extra": {"credentials": {"user": "a", "list": [1, [2, {"x": null}]]}, "auth": [1, 2],
                  "secret_number": 12.5, "private_key": null, "apiKey": true}
    }));
    assert_eq!(out["request"]["cookies"], FILTERED);
    for k in [
        "credentials",
        "auth",
        "secret_number",
        "private_key",
        "apiKey",
    ] {
        assert_eq!(out["extra"][k], FILTERED, "{k}");
    }
}

#[test]
fn javascript_event_with_authorization_in_free_text() {
    let out = scrub(json!({
        "platform": "javascript",
        "message": "request failed: Authorization: Bearer eyJhbGciOi.x.y for user",
        "extra": {"log": "login password=hunter2 user=bob", "json": "{\"token\": \"t0k\", \"a\": 1}",
                  "dsn": "postgres://app:s3cret@db:5432/app", "plain": "ratio 3:4 at a=b"},
        "contexts": {"trace": {"trace_id": "4111111111111111aaaaaaaaaaaaaaaa"}}
    }));
    assert_eq!(
        out["message"],
        "request failed: Authorization: Bearer [Filtered] for user"
    );
    assert_eq!(out["extra"]["log"], "login password=[Filtered] user=bob");
    assert_eq!(
        out["extra"]["json"],
        "{\"token\": \"[Filtered]\", \"a\": 1}"
    );
    assert_eq!(out["extra"]["dsn"], "postgres://app:[Filtered]@db:5432/app");
    assert_eq!(out["extra"]["plain"], "ratio 3:4 at a=b");
    assert_eq!(
        out["contexts"]["trace"]["trace_id"],
        "4111111111111111aaaaaaaaaaaaaaaa"
    );
}

#[test]
fn credit_cards_in_any_string() {
    let out = scrub(json!({"extra": {
        "a": "paid with 4111 1111 1111 1111 today",
        "b": "4111-1111-1111-1111",
        "c": "card=4111111111111111.",
        "amex": "3782 822463 10005",
        "not_luhn": "4111111111111112",
        "too_long": "41111111111111111111111",
        "timestamp_ms": "at 1700000000000 ms",
        "number": 4111111111111111u64
    }}));
    let e = &out["extra"];
    assert_eq!(e["a"], "paid with [Filtered] today");
    assert_eq!(e["b"], FILTERED);
    assert_eq!(e["c"], "card=[Filtered].");
    assert_eq!(e["amex"], FILTERED);
    assert_eq!(e["not_luhn"], "4111111111111112");
    assert_eq!(e["too_long"], "41111111111111111111111");
    assert_eq!(e["timestamp_ms"], "at 1700000000000 ms");
    assert_eq!(e["number"], 4111111111111111u64);

    let off = Scrubber::new(&ScrubSettings {
        credit_cards: false,
        ..ScrubSettings::default()
    });
    let (out, n) = scrub_value(&off, &json!({"x": "4111 1111 1111 1111"}));
    assert_eq!((out["x"].as_str(), n), (Some("4111 1111 1111 1111"), 0));
}

#[test]
fn escaped_and_unicode_keys_are_matched_after_unescaping() {
    let raw = r#"{"pass\u0077ord":"x","ключ":"значение","Pass_Word":1,"t\u00f6ken":"keep","s":"pa\u0073sword=sekr\u0065t \u00e9"}"#;
    let out = scrubber().scrub(raw.as_bytes()).unwrap();
    let v: Value = serde_json::from_slice(&out.json).unwrap();
    assert_eq!(v["password"], FILTERED);
    assert_eq!(v["ключ"], "значение");
    assert_eq!(v["Pass_Word"], FILTERED);
    assert_eq!(v["töken"], "keep");
    assert_eq!(v["s"], "password=[Filtered] é");
}

#[test]
fn ip_addresses_become_null_when_enabled() {
    let s = Scrubber::new(&ScrubSettings {
        ip_addresses: true,
        ..ScrubSettings::default()
    });
    let (out, n) = scrub_value(
        &s,
        &json!({"user": {"id": 1, "ip_address": "1.2.3.4"},
                "request": {"env": {"REMOTE_ADDR": "10.0.0.1"}},
                "extra": {"ip_address": "5.6.7.8"}}),
    );
    assert_eq!(out["user"]["ip_address"], Value::Null);
    assert_eq!(out["request"]["env"]["REMOTE_ADDR"], Value::Null);
    assert_eq!(out["extra"]["ip_address"], "5.6.7.8");
    assert_eq!(n, 2);
}

#[test]
fn extra_and_safe_keys() {
    let s = Scrubber::new(&ScrubSettings {
        extra_keys: vec!["Internal-Id".into()],
        safe_keys: vec!["auth_method".into()],
        ..ScrubSettings::default()
    });
    let (out, _) = scrub_value(
        &s,
        &json!({"internal_id": 7, "my_internalid": "x", "auth_method": "sso", "author": "bob"}),
    );
    assert_eq!(out["internal_id"], FILTERED);
    assert_eq!(out["my_internalid"], FILTERED);
    assert_eq!(out["auth_method"], "sso");
    assert_eq!(
        out["author"], FILTERED,
        "auth is a substring rule, as in Sentry"
    );
    let (out, _) = scrub_value(&s, &json!({"user_ssn": 1, "classname": "Foo"}));
    assert_eq!(out["user_ssn"], FILTERED);
    assert_eq!(out["classname"], "Foo");
}

#[test]
fn clean_input_and_disabled_scrubber_are_borrowed() {
    let clean = br#"{"message":"hello","extra":{"a":[1,2.5e3,-0.1,true,false,null]}}"#;
    let out = scrubber().scrub(clean).unwrap();
    assert!(matches!(out.json, Cow::Borrowed(_)));
    assert_eq!(out.replaced, 0);
    let off = Scrubber::new(&ScrubSettings {
        enabled: false,
        ..ScrubSettings::default()
    });
    let dirty = br#"{"password":"x"}"#;
    assert_eq!(off.scrub(dirty).unwrap().json.as_ref(), dirty);
}

#[test]
fn invalid_json_is_an_error_not_a_panic() {
    let s = scrubber();
    for bad in [
        &b""[..],
        b"{",
        b"{\"a\":}",
        b"[1,]",
        b"\"\\x\"",
        b"01",
        b"{\"a\":1} x",
        b"\xff",
        b"{\"password\": [1, }",
        b"[\"token\", ",
        b"nul",
    ] {
        assert!(
            matches!(s.scrub(bad), Err(ScrubError::Invalid { .. })),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let deep = "[".repeat(100_000);
    assert_eq!(s.scrub(deep.as_bytes()), Err(ScrubError::TooDeep));
}

#[test]
fn whitespace_and_formatting_outside_replacements_are_kept() {
    let raw = b"{ \"a\" : [ 1 , 2 ] ,\n  \"password\" :\t\"x\" }";
    let out = scrubber().scrub(raw).unwrap();
    assert_eq!(
        out.json.as_ref(),
        b"{ \"a\" : [ 1 , 2 ] ,\n  \"password\" :\t\"[Filtered]\" }"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("password".to_string()),
        Just("Authorization".to_string()),
        Just("request".to_string()),
        Just("cookies".to_string()),
        Just("user".to_string()),
        Just("ip_address".to_string()),
        Just("function".to_string()),
        "\\PC{0,8}",
    ];
    let text = prop_oneof![
        Just("token=abc&x=1".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("Authorization: Bearer x".to_string()),
        Just("https://u:p@h/".to_string()),
        Just("[Filtered]".to_string()),
        "\\PC{0,20}",
        "[a-z=:&\"' \\[\\]0-9\\\\]{0,30}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys and strings over an alphabet without a, c, p, s, t: no sensitive fragment
/// can be spelled, and 12 characters cannot hold a 13-digit card number.
fn arb_clean_json() -> impl Strategy<Value = Value> {
    let s = "[bdefghijklmnoqruvwxyz0-9 =:&_-]{0,12}";
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        s.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((s, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn output_is_json_and_scrubbing_is_idempotent(v in arb_json(), pretty in any::<bool>()) {
        let bytes = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
        let s = Scrubber::new(&ScrubSettings { ip_addresses: true, ..ScrubSettings::default() });
        let once = s.scrub(&bytes).unwrap();
        let parsed: Result<Value, _> = serde_json::from_slice(&once.json);
        prop_assert!(parsed.is_ok(), "not JSON: {}", String::from_utf8_lossy(&once.json));
        let twice = s.scrub(&once.json).unwrap();
        prop_assert_eq!(twice.replaced, 0, "second pass replaced in {}", String::from_utf8_lossy(&once.json));
        prop_assert_eq!(twice.json.as_ref(), once.json.as_ref());
    }

    #[test]
    fn clean_values_are_unchanged_byte_for_byte(v in arb_clean_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let out = scrubber().scrub(&bytes).unwrap();
        prop_assert_eq!(out.replaced, 0);
        prop_assert!(matches!(out.json, Cow::Borrowed(_)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = scrubber().scrub(&bytes);
    }

    #[test]
    fn agrees_with_serde_on_validity(s in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,40}") {
        let ours = scrubber().scrub(s.as_bytes()).is_ok();
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok();
        prop_assert_eq!(ours, theirs, "{}", s);
    }
}
