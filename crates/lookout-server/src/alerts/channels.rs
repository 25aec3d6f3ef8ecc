//! The configured notification channels, by name: built once from `[channels.NAME]`,
//! read by the dispatcher (to deliver), the alert runtime (to check a rule's `notify`)
//! and the API (to list them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lookout_notify::{Channel, ChannelConfig};

/// The channels, by name.
#[derive(Default)]
pub struct Channels(HashMap<String, Arc<dyn Channel>>);

impl Channels {
    /// Builds every configured channel; the error names the channel.
    pub fn from_config(config: &BTreeMap<String, ChannelConfig>) -> anyhow::Result<Channels> {
        let mut channels = HashMap::new();
        for (name, c) in config {
            let ch =
                lookout_notify::build(c).map_err(|e| anyhow::anyhow!("channels.{name}: {e}"))?;
            channels.insert(name.clone(), Arc::<dyn Channel>::from(ch));
        }
        Ok(Channels(channels))
    }

    /// The channel with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.0.get(name)
    }

    /// Whether a channel has this name.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Every channel, sorted by name.
    pub fn sorted(&self) -> Vec<(&str, &Arc<dyn Channel>)> {
        let mut all: Vec<_> = self.0.iter().map(|(n, c)| (n.as_str(), c)).collect();
        all.sort_by_key(|(n, _)| *n);
        all
    }
}
