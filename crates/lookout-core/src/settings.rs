//! Per-project settings: limits, quota, scrubbing, CORS and retention.
//! Defaults follow the reference setup (5,000 errors a month on the free tier it replaced).

use serde::{Deserialize, Serialize};

/// Settings of one project. Every field has a default, so `[[projects]]` in the config
/// needs only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectSettings {
    /// Events accepted per minute before answering 429; 0 means no limit.
    pub rate_limit_per_minute: u32,
    /// Error events accepted per calendar month (UTC); 0 means no quota.
    pub monthly_quota: u64,
    /// Days events are kept; issues are kept forever. 0 keeps events forever.
    pub retention_days: u32,
    /// Origins allowed to send from browsers (`*` allows any).
    pub allowed_origins: Vec<String>,
    /// Server-side scrubbing before anything is stored.
    pub scrubbing: ScrubSettings,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 6_000,
            monthly_quota: 0,
            retention_days: 90,
            allowed_origins: vec!["*".to_string()],
            scrubbing: ScrubSettings::default(),
        }
    }
}

/// What the scrubber removes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubSettings {
    /// Master switch; on by default.
    pub enabled: bool,
    /// Extra key names (case-insensitive substrings) whose values are replaced.
    pub extra_keys: Vec<String>,
    /// Key names that are never scrubbed even if they look sensitive.
    pub safe_keys: Vec<String>,
    /// Replace credit-card-like numbers (Luhn-valid, 13–19 digits) in any string.
    pub credit_cards: bool,
    /// Drop the user's IP address.
    pub ip_addresses: bool,
}

impl Default for ScrubSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            extra_keys: Vec::new(),
            safe_keys: Vec::new(),
            credit_cards: true,
            ip_addresses: false,
        }
    }
}
