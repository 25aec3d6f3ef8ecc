//! The projects this server accepts data for, with their per-project runtime state
//! (scrubber, rate limiter, monthly quota), kept in memory for the ingest hot path.

use std::collections::HashMap;
use std::sync::Arc;

use lookout_core::limits::{month_start_ms, MonthlyQuota, RateLimiter};
use lookout_core::scrub::Scrubber;
use lookout_store::{Project, Store};
use parking_lot::{Mutex, RwLock};

/// A project and the state ingest needs for it.
pub struct ProjectRuntime {
    /// The stored project.
    pub project: Project,
    /// Its scrubber, built once from its settings.
    pub scrubber: Scrubber,
    /// Events per minute.
    pub limiter: Mutex<RateLimiter>,
    /// Error events per month.
    pub quota: Mutex<MonthlyQuota>,
}

impl ProjectRuntime {
    /// Builds the runtime state; `used_this_month` restores the quota counter.
    pub fn new(project: Project, used_this_month: u64, now_ms: i64) -> Self {
        let s = &project.settings;
        ProjectRuntime {
            scrubber: Scrubber::new(&s.scrubbing),
            limiter: Mutex::new(RateLimiter::new(s.rate_limit_per_minute)),
            quota: Mutex::new(MonthlyQuota::new(s.monthly_quota, used_this_month, now_ms)),
            project,
        }
    }

    /// Whether a browser at `origin` may send events to this project.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.project.settings.allowed_origins.iter().any(|o| {
            let o = o.trim_end_matches('/');
            o == "*" || o.eq_ignore_ascii_case(origin) || wildcard_host_match(o, origin)
        })
    }
}

/// `https://*.example.org` matches `https://app.example.org`.
fn wildcard_host_match(pattern: &str, origin: &str) -> bool {
    let Some((scheme, host)) = pattern.split_once("://*.") else {
        return false;
    };
    let Some(rest) = origin
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
    else {
        return false;
    };
    rest.len() > host.len() + 1
        && rest
            .to_ascii_lowercase()
            .ends_with(&host.to_ascii_lowercase())
        && rest.as_bytes()[rest.len() - host.len() - 1] == b'.'
}

/// All known projects, by id.
#[derive(Default)]
pub struct Projects {
    by_id: RwLock<HashMap<i64, Arc<ProjectRuntime>>>,
}

impl Projects {
    /// Loads every project of the store, restoring each monthly quota counter.
    pub fn load(store: &dyn Store, now_ms: i64) -> lookout_store::Result<Projects> {
        let projects = Projects::default();
        for p in store.list_projects()? {
            projects.insert(store, p, now_ms)?;
        }
        Ok(projects)
    }

    /// Adds or replaces a project.
    pub fn insert(
        &self,
        store: &dyn Store,
        project: Project,
        now_ms: i64,
    ) -> lookout_store::Result<Arc<ProjectRuntime>> {
        let used = if project.settings.monthly_quota > 0 {
            store.outcome_total(project.id, "error", "accepted", month_start_ms(now_ms))?
        } else {
            0
        };
        let rt = Arc::new(ProjectRuntime::new(project, used, now_ms));
        self.by_id.write().insert(rt.project.id, rt.clone());
        Ok(rt)
    }

    /// Takes in projects created or changed through other instances; returns how many.
    pub fn sync(&self, store: &dyn Store, now_ms: i64) -> lookout_store::Result<usize> {
        let mut n = 0;
        for p in store.list_projects()? {
            if self.get(p.id).is_some_and(|known| known.project == p) {
                continue;
            }
            self.insert(store, p, now_ms)?;
            n += 1;
        }
        Ok(n)
    }

    /// One project by id.
    pub fn get(&self, id: i64) -> Option<Arc<ProjectRuntime>> {
        self.by_id.read().get(&id).cloned()
    }

    /// All projects, by id.
    pub fn all(&self) -> Vec<Arc<ProjectRuntime>> {
        let mut v: Vec<_> = self.by_id.read().values().cloned().collect();
        v.sort_by_key(|p| p.project.id);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins() {
        assert!(wildcard_host_match(
            "https://*.example.org",
            "https://app.example.org"
        ));
        assert!(!wildcard_host_match(
            "https://*.example.org",
            "https://example.org"
        ));
        assert!(!wildcard_host_match(
            "https://*.example.org",
            "https://evilexample.org"
        ));
        assert!(!wildcard_host_match(
            "https://*.example.org",
            "http://app.example.org"
        ));
    }
}
