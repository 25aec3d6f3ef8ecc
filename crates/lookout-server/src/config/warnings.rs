//! What a config says that loads but is probably not what was meant, told by
//! `check-config` and at `serve`: severities whose incidents notify nobody, and
//! `${VAR:-default}` placeholders that fell back to their default. Also the wording of
//! serde's type names in errors.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use lookout_core::alert::Severity;

use super::Config;

/// A warning about a config that loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The key (or keys, comma-separated) it is about, e.g. `severities.critical.route`.
    pub key: String,
    /// What is probably wrong, and what to do.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every `${NAME:-default}` in the raw file whose variable `env` does not set, one warning
/// per variable and default, naming the keys that use it.
pub(super) fn fallbacks(
    value: &toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<ConfigWarning> {
    let mut found: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    walk(value, &mut String::new(), &mut |key, text| {
        let unset = RefCell::new(Vec::new());
        let recording = |name: &str| {
            let v = env(name);
            if v.is_none() {
                unset.borrow_mut().push(name.to_string());
            }
            v
        };
        // A placeholder without a default fails here and is reported as an error by the
        // interpolation itself; only successful fallbacks are warnings.
        if lookout_core::interpolate::expand(text, &recording).is_ok() {
            for name in unset.into_inner() {
                let default = default_of(text, &name);
                found
                    .entry((name, default))
                    .or_default()
                    .push(key.to_string());
            }
        }
    });
    found
        .into_iter()
        .map(|((name, default), keys)| ConfigWarning {
            key: keys.join(", "),
            message: format!(
                "${{{name}}} is not set, so its default `{default}` is used; set {name} if that is not what you meant"
            ),
        })
        .collect()
}

/// Calls `f` with the key path and text of every string that holds a placeholder.
fn walk(value: &toml::Value, path: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match value {
        toml::Value::String(s) if s.contains("${") => f(path, s),
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, f);
                path.truncate(len);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(v, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The default written for `name` in `${name:-default}` within `text`.
fn default_of(text: &str, name: &str) -> String {
    let open = format!("${{{name}:-");
    text.find(&open)
        .map(|at| &text[at + open.len()..])
        .and_then(|rest| rest.split_once('}'))
        .map(|(default, _)| default.to_string())
        .unwrap_or_default()
}

/// Severities whose route is empty while config rules of that severity name no channel of
/// their own: their incidents would be recorded, and only the timeline would say that
/// nobody was notified.
pub(super) fn unrouted(config: &Config) -> Vec<ConfigWarning> {
    let Ok(policies) = crate::alerts::config::policies(&config.severities) else {
        return Vec::new();
    };
    Severity::ALL
        .iter()
        .filter(|s| policies.get(**s).route.iter().all(Vec::is_empty))
        .filter_map(|s| {
            let rules: Vec<String> = config
                .rules
                .iter()
                .filter(|r| r.severity == *s && r.notify.is_empty())
                .map(|r| format!("\"{}\"", r.name))
                .collect();
            (!rules.is_empty()).then(|| ConfigWarning {
                key: format!("severities.{}.route", s.as_str()),
                message: format!(
                    "no channel, so incidents of {} {} notify nobody; add a [channels.NAME] table and name it here, e.g. route = [[\"ops\"]]",
                    if rules.len() == 1 { "the rule" } else { "the rules" },
                    rules.join(", ")
                ),
            })
        })
        .collect()
}

/// serde's messages name Rust types (`expected u32`); a config's reader needs words.
pub(super) fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 10] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a boolean", "true or false"),
    ];
    let mut out = message.to_string();
    for (ty, words) in WORDS {
        let from = format!("expected {ty}");
        let mut rebuilt = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&from) {
            let after = &rest[at + from.len()..];
            rebuilt.push_str(&rest[..at]);
            // Only the whole word: `u32` but not `u32x`.
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                rebuilt.push_str(&from);
            } else {
                rebuilt.push_str("expected ");
                rebuilt.push_str(words);
            }
            rest = after;
        }
        rebuilt.push_str(rest);
        out = rebuilt;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "SET").then(|| "http://set.example".to_string())
    }

    #[test]
    fn fallbacks_name_the_variable_its_default_and_every_key() {
        let c = Config::parse(
            "[[monitors]]\nname = \"a\"\nkind = \"http\"\nurl = \"${APP_URL:-http://localhost:3000}/\"\n[[monitors]]\nname = \"b\"\nkind = \"http\"\nurl = \"${APP_URL:-http://localhost:3000}/login\"\n[server]\npublic_url = \"${SET:-http://x}\"\nlisten = \"$${LITERAL:-x}:1\"\n",
            "t.toml",
            &env,
        );
        // `$${` is a literal, so listen is not an address: only that error remains.
        assert!(c.is_err());
        let c = Config::parse(
            "[[monitors]]\nname = \"a\"\nkind = \"http\"\nurl = \"${APP_URL:-http://localhost:3000}/\"\n[[monitors]]\nname = \"b\"\nkind = \"http\"\nurl = \"${APP_URL:-http://localhost:3000}/login\"\n[server]\npublic_url = \"${SET:-http://x}\"\napi_token = \"${TOKEN:-}\"\n",
            "t.toml",
            &env,
        )
        .unwrap();
        let shown: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "monitors[0].url, monitors[1].url: ${APP_URL} is not set, so its default `http://localhost:3000` is used; set APP_URL if that is not what you meant",
                "server.api_token: ${TOKEN} is not set, so its default `` is used; set TOKEN if that is not what you meant",
            ]
        );
    }

    #[test]
    fn severities_without_a_route_are_named_with_the_rules_that_rely_on_them() {
        let rules = "[[rules]]\nname = \"Down\"\nwhen = \"monitor down\"\nseverity = \"critical\"\n[[rules]]\nname = \"Spike\"\nwhen = \"errors > 5 in 5m\"\nseverity = \"critical\"\n[[rules]]\nname = \"New\"\nwhen = \"new issue\"\nseverity = \"low\"\nnotify = [\"ops\"]\n[channels.ops]\nkind = \"slack\"\nwebhook_url = \"https://hooks.example.org/x\"\n";
        let c = Config::parse(rules, "t.toml", &env).unwrap();
        let shown: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("severities.critical.route: no channel, so incidents of the rules \"Down\", \"Spike\" notify nobody"),
            "{shown:?}"
        );
        let routed = format!("{rules}[severities.critical]\nroute = [[\"ops\"]]\n");
        assert!(Config::parse(&routed, "t.toml", &env)
            .unwrap()
            .warnings
            .is_empty());
        assert!(Config::default().warnings.is_empty());
    }

    #[test]
    fn type_errors_say_what_is_expected_in_words() {
        let e = Config::parse("[defaults]\nmonthly_quota = \"lots\"\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaults.monthly_quota"), "{e}");
        assert!(e.contains("expected a whole number, 0 or more"), "{e}");
        let e = Config::parse("[defaults]\nretention_days = -1\n", "t.toml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a whole number from 0 to 4294967295"), "{e}");
        assert!(!e.contains("u32"), "{e}");
        assert_eq!(plain_types("expected u32x"), "expected u32x");
        assert_eq!(
            plain_types("invalid type: string \"y\", expected a boolean"),
            "invalid type: string \"y\", expected true or false"
        );
    }
}
