//! `[[status_pages]]`: what each public page shows, validated against the monitors it
//! names, and synced into the store like config monitors are. The API takes the same keys.

use std::collections::HashSet;

use anyhow::Context;
use lookout_core::slug::is_slug;
use lookout_store::{Monitor, NewStatusPage, StatusPage, StatusPageGroup, StatusPageSource, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `[[status_pages]]`, and the body of `POST /api/v1/status-pages`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    /// URL name: the page is served at `/status/{slug}`.
    pub slug: String,
    /// Heading of the page.
    pub title: String,
    /// The monitors shown, by name, as one group without a heading; or give `groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitors: Option<Vec<String>>,
    /// Named groups of monitors, in display order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<StatusGroupConfig>,
    /// A host name (e.g. `status.acme.example`) whose requests for `/` get this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `[[status_pages.groups]]`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusGroupConfig {
    /// Heading.
    pub name: String,
    /// Monitor names, in display order.
    pub monitors: Vec<String>,
}

impl StatusPageConfig {
    /// The groups as written: `monitors` is one unnamed group.
    fn named_groups(&self) -> Vec<(String, &[String])> {
        match &self.monitors {
            Some(m) => vec![(String::new(), m.as_slice())],
            None => self
                .groups
                .iter()
                .map(|g| (g.name.clone(), g.monitors.as_slice()))
                .collect(),
        }
    }

    /// Checks the page on its own; `known` says whether a monitor name exists. The error
    /// is a key relative to the page (`groups[1].monitors[0]`) and a message.
    pub fn validate(&self, known: &dyn Fn(&str) -> bool) -> Result<(), (String, String)> {
        if !is_slug(&self.slug) {
            return Err((
                "slug".into(),
                format!(
                    "`{}` is not a slug: use lower-case letters, digits, `-` and `_`",
                    self.slug
                ),
            ));
        }
        if self.title.trim().is_empty() {
            return Err(("title".into(), "must not be empty".into()));
        }
        if let Some(d) = &self.domain {
            if !is_host_name(d) {
                return Err((
                    "domain".into(),
                    format!(
                        "`{d}` is not a host name: write it as the browser sends it, e.g. \
                         \"status.acme.example\" (no scheme, port or path)"
                    ),
                ));
            }
        }
        match (&self.monitors, self.groups.is_empty()) {
            (Some(_), false) => {
                return Err((
                    "groups".into(),
                    "give either `monitors` (one group) or `[[status_pages.groups]]`, not both"
                        .into(),
                ))
            }
            (None, true) => {
                return Err((
                    "monitors".into(),
                    "list the monitors to show, e.g. monitors = [\"Homepage\", \"API\"], or \
                     add [[status_pages.groups]]"
                        .into(),
                ))
            }
            _ => {}
        }
        for (gi, g) in self.groups.iter().enumerate() {
            if g.name.trim().is_empty() {
                return Err((format!("groups[{gi}].name"), "must not be empty".into()));
            }
        }
        for (gi, (_, names)) in self.named_groups().iter().enumerate() {
            let key = |k: String| match &self.monitors {
                Some(_) => k,
                None => format!("groups[{gi}].{k}"),
            };
            if names.is_empty() {
                return Err((key("monitors".into()), "lists no monitor".into()));
            }
            for (mi, name) in names.iter().enumerate() {
                if !known(name) {
                    return Err((
                        key(format!("monitors[{mi}]")),
                        format!("no monitor named \"{name}\""),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The page to store, with monitor names resolved through `find`.
    pub fn to_new(
        &self,
        source: StatusPageSource,
        now_ms: i64,
        find: &dyn Fn(&str) -> Option<i64>,
    ) -> NewStatusPage {
        NewStatusPage {
            slug: self.slug.clone(),
            title: self.title.trim().to_string(),
            domain: self.domain.as_deref().map(normal_host),
            groups: self
                .named_groups()
                .into_iter()
                .map(|(name, monitors)| StatusPageGroup {
                    name,
                    monitor_ids: monitors.iter().filter_map(|n| find(n)).collect(),
                })
                .collect(),
            source,
            now_ms,
        }
    }

    /// A stored page back in these keys, with monitor ids named through `monitors`.
    pub fn of(page: &StatusPage, monitors: &[Monitor]) -> Self {
        let name = |id: &i64| {
            monitors
                .iter()
                .find(|m| m.id == *id)
                .map(|m| m.name.clone())
        };
        let groups: Vec<StatusGroupConfig> = page
            .groups
            .iter()
            .map(|g| StatusGroupConfig {
                name: g.name.clone(),
                monitors: g.monitor_ids.iter().filter_map(name).collect(),
            })
            .collect();
        let unnamed = groups.len() == 1 && groups[0].name.is_empty();
        StatusPageConfig {
            slug: page.slug.clone(),
            title: page.title.clone(),
            monitors: unnamed.then(|| groups[0].monitors.clone()),
            groups: if unnamed { Vec::new() } else { groups },
            domain: page.domain.clone(),
        }
    }
}

/// A host name as compared with `Host` headers: lower case, no trailing dot.
pub fn normal_host(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(h: &str) -> bool {
    let h = h.trim_end_matches('.');
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks `[[status_pages]]` against the config's `[[monitors]]`: slugs and domains
/// unique, every monitor named exists. The error is a key path and a message.
pub fn validate(
    pages: &[StatusPageConfig],
    monitor_names: &HashSet<&str>,
) -> Result<(), (String, String)> {
    let mut slugs = HashSet::new();
    let mut domains = HashSet::new();
    for (i, p) in pages.iter().enumerate() {
        let key = |k: &str| format!("status_pages[{i}].{k}");
        p.validate(&|n| monitor_names.contains(n))
            .map_err(|(k, m)| {
                let m = if k.contains("monitors[") {
                    format!("{m} in [[monitors]]")
                } else {
                    m
                };
                (key(&k), m)
            })?;
        if !slugs.insert(p.slug.as_str()) {
            return Err((key("slug"), format!("slug `{}` is used twice", p.slug)));
        }
        if let Some(d) = &p.domain {
            if !domains.insert(normal_host(d)) {
                return Err((key("domain"), format!("domain `{d}` is used twice")));
            }
        }
    }
    Ok(())
}

/// Makes the store's config-declared pages match `[[status_pages]]` and deletes those
/// removed from the config. Monitors are looked up among the config's, by name.
pub fn sync_config(
    store: &dyn Store,
    pages: &[StatusPageConfig],
    now_ms: i64,
) -> anyhow::Result<()> {
    let monitors = store.list_monitors()?;
    let find = |name: &str| {
        monitors
            .iter()
            .filter(|m| m.name == name)
            .min_by_key(|m| (m.source != lookout_store::MonitorSource::Config, m.id))
            .map(|m| m.id)
    };
    // Pages gone from the file go first, so that a renamed page can take over the domain
    // its old slug had.
    let keep: Vec<String> = pages.iter().map(|p| p.slug.clone()).collect();
    let removed = store.prune_config_status_pages(&keep)?;
    if removed > 0 {
        tracing::info!(removed, "deleted status pages no longer in the config");
    }
    let existing = store.list_status_pages()?;
    for (i, p) in pages.iter().enumerate() {
        if existing
            .iter()
            .any(|e| e.slug == p.slug && e.source == StatusPageSource::Api)
        {
            anyhow::bail!(
                "status_pages[{i}].slug: a status page `{}` was created through the API; \
                 delete it there (DELETE /api/v1/status-pages/{}) or choose another slug",
                p.slug,
                p.slug
            );
        }
        store
            .upsert_status_page(&p.to_new(StatusPageSource::Config, now_ms, &find))
            .with_context(|| format!("status_pages[{i}] ({}) cannot be stored", p.slug))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(toml_text: &str) -> StatusPageConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn check(p: &StatusPageConfig) -> Result<(), (String, String)> {
        let names: HashSet<&str> = ["Homepage", "API"].into_iter().collect();
        validate(std::slice::from_ref(p), &names)
    }

    #[test]
    fn one_unnamed_group_or_named_groups() {
        let p = page("slug = \"acme\"\ntitle = \"Acme\"\nmonitors = [\"Homepage\", \"API\"]\n");
        check(&p).unwrap();
        let new = p.to_new(StatusPageSource::Config, 1, &|n| {
            Some(if n == "API" { 2 } else { 1 })
        });
        assert_eq!(new.groups.len(), 1);
        assert_eq!(new.groups[0].name, "");
        assert_eq!(new.groups[0].monitor_ids, vec![1, 2]);

        let p = page(
            "slug = \"acme\"\ntitle = \"Acme\"\ndomain = \"Status.Acme.Example.\"\n\
             [[groups]]\nname = \"Web\"\nmonitors = [\"Homepage\"]\n\
             [[groups]]\nname = \"Backend\"\nmonitors = [\"API\"]\n",
        );
        check(&p).unwrap();
        let new = p.to_new(StatusPageSource::Api, 1, &|_| Some(7));
        assert_eq!(new.domain.as_deref(), Some("status.acme.example"));
        assert_eq!(new.groups[1].name, "Backend");
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| check(&page(t)).unwrap_err();
        let (k, m) = err("slug = \"acme\"\ntitle = \"A\"\nmonitors = [\"Homepage\", \"Nope\"]\n");
        assert_eq!(k, "status_pages[0].monitors[1]");
        assert!(m.contains("no monitor named \"Nope\""), "{m}");
        let (k, _) = err(
            "slug = \"acme\"\ntitle = \"A\"\n[[groups]]\nname = \"G\"\nmonitors = [\"API\"]\n\
             [[groups]]\nname = \"H\"\nmonitors = [\"Gone\"]\n",
        );
        assert_eq!(k, "status_pages[0].groups[1].monitors[0]");
        let (k, _) = err("slug = \"Acme Co\"\ntitle = \"A\"\nmonitors = [\"API\"]\n");
        assert_eq!(k, "status_pages[0].slug");
        let (k, m) = err(
            "slug = \"a\"\ntitle = \"A\"\nmonitors = [\"API\"]\ndomain = \"https://status.x\"\n",
        );
        assert_eq!(k, "status_pages[0].domain");
        assert!(m.contains("no scheme"), "{m}");
        let (k, _) = err("slug = \"a\"\ntitle = \"A\"\n");
        assert_eq!(k, "status_pages[0].monitors");
        let (k, _) = err(
            "slug = \"a\"\ntitle = \"A\"\nmonitors = [\"API\"]\n[[groups]]\nname = \"G\"\nmonitors = [\"API\"]\n",
        );
        assert_eq!(k, "status_pages[0].groups");
        let two = [
            page("slug = \"a\"\ntitle = \"A\"\nmonitors = [\"API\"]\ndomain = \"s.x\"\n"),
            page("slug = \"b\"\ntitle = \"B\"\nmonitors = [\"API\"]\ndomain = \"S.X\"\n"),
        ];
        let names: HashSet<&str> = ["API"].into_iter().collect();
        let (k, _) = validate(&two, &names).unwrap_err();
        assert_eq!(k, "status_pages[1].domain");
    }
}
