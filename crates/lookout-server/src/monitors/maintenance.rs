//! Maintenance windows: from the config (one-off or recurring, resolved to monitor ids)
//! and from the API (one-off). A monitor in one is checked but never alerts.

use lookout_core::maintenance::MaintenanceWindow;
use lookout_store::{Monitor, MonitorSource};

use super::config::MaintenanceConfig;
use super::spec::MonitorDef;
use super::Inner;

/// A maintenance window from the config, resolved to monitor ids.
#[derive(Debug, Clone)]
pub struct ConfigWindow {
    /// Its name, for display.
    pub name: String,
    /// The monitors it covers; `None` for all.
    pub monitor_ids: Option<Vec<i64>>,
    /// When it is active.
    pub window: MaintenanceWindow,
    /// What status pages say about it.
    pub public_note: Option<String>,
}

/// The config's maintenance windows, with monitor names resolved to ids.
pub fn config_windows(
    windows: &[MaintenanceConfig],
    monitors: &[(Monitor, MonitorDef)],
) -> Vec<ConfigWindow> {
    windows
        .iter()
        .filter_map(|w| {
            let window = w.window().ok()?;
            let monitor_ids = w.monitors.as_ref().map(|names| {
                monitors
                    .iter()
                    .filter(|(m, _)| m.source == MonitorSource::Config && names.contains(&m.name))
                    .map(|(m, _)| m.id)
                    .collect()
            });
            Some(ConfigWindow {
                name: w.name.clone(),
                monitor_ids,
                window,
                public_note: w.public_note.clone(),
            })
        })
        .collect()
}

impl Inner {
    /// When the maintenance window covering monitor `id` at `now` ends, if one does.
    pub(super) fn maintenance_until(&self, id: i64, now: i64) -> Option<i64> {
        let config = self
            .config_windows
            .iter()
            .filter(|w| w.monitor_ids.as_ref().is_none_or(|ids| ids.contains(&id)))
            .filter_map(|w| w.window.active_until(now));
        let api = self
            .api_windows
            .iter()
            .filter(|w| w.monitor_id.is_none_or(|m| m == id))
            .filter(|w| w.start_ms <= now && now < w.end_ms)
            .map(|w| w.end_ms);
        config.chain(api).max()
    }
}
