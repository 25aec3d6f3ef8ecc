//! The rules in force: those declared in the config file (scopes resolved to ids,
//! runbooks read from beside the file) and those created through the API (stored in the
//! database; a config rule of the same name wins).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use lookout_core::alert::rule::Rule;
use lookout_store::{Monitor, Project, Store};

use super::config::RuleConfig;
use super::Setup;

/// A rule's runbook, read at start.
#[derive(Debug, Clone)]
pub struct RunbookDoc {
    /// Its first heading, or the file name.
    pub title: String,
    /// The path as configured.
    pub path: String,
    /// The whole Markdown text.
    pub text: String,
}

/// The rules loaded at start.
pub(super) struct Loaded {
    /// Config rules first, in config order, then the stored ones.
    pub rules: Vec<Rule>,
    /// Runbooks by rule name.
    pub runbooks: HashMap<String, RunbookDoc>,
    /// Names of the rules declared in the config file.
    pub config_rules: HashSet<String>,
}

/// Loads the config's rules and the stored ones. A stored rule that no longer loads is
/// logged and left out; a config rule that does not is an error (the config was
/// validated, so only a runbook file gone missing can do that).
pub(super) fn load(
    setup: &Setup<'_>,
    store: &dyn Store,
    projects: &[Project],
    monitors: &[Monitor],
) -> anyhow::Result<Loaded> {
    let mut rules = Vec::new();
    let mut runbooks = HashMap::new();
    for (i, rc) in setup.rules.iter().enumerate() {
        let mut rule = rc
            .rule()
            .map_err(|(k, m)| anyhow::anyhow!("rules[{i}].{k}: {m}"))?;
        rule.projects = rc.projects.as_ref().map(|slugs| {
            projects
                .iter()
                .filter(|p| slugs.contains(&p.slug))
                .map(|p| p.id)
                .collect()
        });
        rule.monitors = rc.monitors.as_ref().map(|names| {
            monitors
                .iter()
                .filter(|m| names.contains(&m.name))
                .map(|m| m.id)
                .collect()
        });
        if let Some(path) = &rc.runbook {
            let full = setup.runbook_dir.unwrap_or(Path::new(".")).join(path);
            let text = std::fs::read_to_string(&full)
                .with_context(|| format!("rules[{i}].runbook: cannot read {}", full.display()))?;
            runbooks.insert(rule.name.clone(), runbook(path, text));
        }
        rules.push(rule);
    }
    let config_rules = rules.iter().map(|r| r.name.clone()).collect();
    for stored in store.list_rules()? {
        let parsed = serde_json::from_value::<RuleConfig>(stored.spec.clone())
            .map_err(|e| e.to_string())
            .and_then(|rc| api_rule(&rc, projects, monitors).map_err(|(k, m)| format!("{k}: {m}")));
        match parsed {
            Ok(rule) if rules.iter().any(|r| r.name == rule.name) => tracing::warn!(
                rule = %rule.name,
                "a rule created through the API has the name of a config rule; the config's is used"
            ),
            Ok(rule) => rules.push(rule),
            Err(e) => {
                tracing::error!(rule = %stored.name, error = %e, "stored rule not loaded")
            }
        }
    }
    Ok(Loaded {
        rules,
        runbooks,
        config_rules,
    })
}

/// A runbook's text, titled by its first heading.
fn runbook(path: &str, text: String) -> RunbookDoc {
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(str::trim)
        .unwrap_or(path)
        .to_string();
    RunbookDoc {
        title,
        path: path.to_string(),
        text,
    }
}

/// A rule created through the API, with its scope resolved to ids; the error is the key
/// at fault and what is wrong. Runbooks are files beside the config, so only rules
/// declared there can name one.
pub(super) fn api_rule(
    rc: &RuleConfig,
    projects: &[Project],
    monitors: &[Monitor],
) -> Result<Rule, (&'static str, String)> {
    if rc.name.trim().is_empty() {
        return Err(("name", "must not be empty".into()));
    }
    if rc.runbook.is_some() {
        return Err((
            "runbook",
            "runbooks are files beside the config: declare a rule with a runbook in the config file"
                .into(),
        ));
    }
    let mut rule = rc.rule()?;
    if let Some(slugs) = &rc.projects {
        let mut ids = Vec::new();
        for slug in slugs {
            let p = projects
                .iter()
                .find(|p| &p.slug == slug)
                .ok_or(("projects", format!("no project `{slug}`")))?;
            ids.push(p.id);
        }
        rule.projects = Some(ids);
    }
    if let Some(names) = &rc.monitors {
        let mut ids = Vec::new();
        for name in names {
            let m = monitors
                .iter()
                .find(|m| &m.name == name)
                .ok_or(("monitors", format!("no monitor named \"{name}\"")))?;
            ids.push(m.id);
        }
        rule.monitors = Some(ids);
    }
    rule.validate().map_err(|m| ("when", m))?;
    Ok(rule)
}
