//! Settings an operator changes while the server runs (`GET|PATCH /api/v1/settings`): the
//! menu, the kernel arguments and the scan interval. Values set through the API are stored
//! and win over the config file and flags; setting one to `null` returns it to the
//! configured value.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Effect, Service, ServiceError};
use crate::boot::MenuSettings;
use crate::config::Settings;

/// The values stored by the API (unset: as configured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Menu title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_title: Option<String>,
    /// Seconds before the menu boots its default; 0 waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_timeout_secs: Option<u64>,
    /// Image id the menu boots on timeout, or `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_default: Option<String>,
    /// Appended to every kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_args: Option<String>,
    /// How often the data dir is checked for changes, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_interval_ms: Option<u64>,
}

/// The settings in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeSettings {
    /// Menu title.
    pub menu_title: String,
    /// Seconds before the menu boots its default; 0 waits.
    pub menu_timeout_secs: u64,
    /// Image id the menu boots on timeout, or `local`.
    pub menu_default: String,
    /// Appended to every kernel command line.
    pub kernel_args: String,
    /// How often the data dir is checked for changes, in ms.
    pub scan_interval_ms: u64,
    /// The fields set through the API (the others come from the configuration).
    pub overridden: Vec<String>,
}

/// Configured values and the API's overrides.
#[derive(Debug, Clone)]
pub(super) struct Runtime {
    configured: Overrides,
    overrides: Overrides,
}

impl Runtime {
    pub(super) fn new(settings: &Settings, overrides: Overrides) -> Runtime {
        let boot = &settings.boot;
        let configured = Overrides {
            menu_title: Some(boot.menu_title.clone()),
            menu_timeout_secs: Some(boot.menu_timeout.as_secs()),
            menu_default: Some(boot.menu_default.clone().unwrap_or_else(|| "local".into())),
            kernel_args: Some(boot.kernel_args.clone()),
            scan_interval_ms: Some(
                u64::try_from(settings.scan_interval.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        Runtime {
            configured,
            overrides,
        }
    }

    /// What is in effect.
    pub(super) fn effective(&self) -> RuntimeSettings {
        let (c, o) = (&self.configured, &self.overrides);
        let mut overridden = Vec::new();
        let mut pick = |name: &str, set: bool| {
            if set {
                overridden.push(name.to_owned());
            }
        };
        pick("menu_title", o.menu_title.is_some());
        pick("menu_timeout_secs", o.menu_timeout_secs.is_some());
        pick("menu_default", o.menu_default.is_some());
        pick("kernel_args", o.kernel_args.is_some());
        pick("scan_interval_ms", o.scan_interval_ms.is_some());
        RuntimeSettings {
            menu_title: o
                .menu_title
                .clone()
                .or_else(|| c.menu_title.clone())
                .unwrap_or_default(),
            menu_timeout_secs: o.menu_timeout_secs.or(c.menu_timeout_secs).unwrap_or(0),
            menu_default: o
                .menu_default
                .clone()
                .or_else(|| c.menu_default.clone())
                .unwrap_or_else(|| "local".into()),
            kernel_args: o
                .kernel_args
                .clone()
                .or_else(|| c.kernel_args.clone())
                .unwrap_or_default(),
            scan_interval_ms: o.scan_interval_ms.or(c.scan_interval_ms).unwrap_or(2000),
            overridden,
        }
    }

    /// The menu in effect.
    pub(super) fn menu(&self) -> MenuSettings {
        let e = self.effective();
        MenuSettings {
            title: e.menu_title,
            timeout: Duration::from_secs(e.menu_timeout_secs),
            default: (e.menu_default != "local").then_some(e.menu_default),
        }
    }
}

/// A change of settings: a value sets it, `null` returns it to the configured value, a field
/// left out stays.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// Menu title (1 to 128 characters).
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128)]
    pub menu_title: Option<Option<String>>,
    /// Seconds before the menu boots its default; 0 waits (at most 3600).
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<u64>, maximum = 3600)]
    pub menu_timeout_secs: Option<Option<u64>>,
    /// Image id the menu boots on timeout, or `local`.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>)]
    pub menu_default: Option<Option<String>>,
    /// Appended to every kernel command line (at most 4096 characters).
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>, max_length = 4096)]
    pub kernel_args: Option<Option<String>>,
    /// How often the data dir is checked, in ms (200 to 3600000).
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<u64>, minimum = 200, maximum = 3_600_000)]
    pub scan_interval_ms: Option<Option<u64>>,
}

impl Service {
    /// The settings in effect.
    pub fn settings(&self) -> RuntimeSettings {
        self.settings.effective()
    }

    /// Applies `patch`, stored before it takes effect.
    ///
    /// # Errors
    /// A value out of range, an unknown default image, or the database failed.
    pub fn patch_settings(
        &mut self,
        patch: SettingsPatch,
    ) -> Result<RuntimeSettings, ServiceError> {
        let bad = |what: &str| Err(ServiceError::bad_request(what.to_owned()));
        let mut next = self.settings.overrides.clone();
        if let Some(v) = patch.menu_title {
            if v.as_ref()
                .is_some_and(|t| t.is_empty() || t.len() > 128 || t.chars().any(char::is_control))
            {
                return bad("menu_title: 1 to 128 characters, no control characters");
            }
            next.menu_title = v;
        }
        if let Some(v) = patch.menu_timeout_secs {
            if v.is_some_and(|t| t > 3600) {
                return bad("menu_timeout_secs: 0 to 3600");
            }
            next.menu_timeout_secs = v;
        }
        if let Some(v) = patch.menu_default {
            if let Some(id) = v.as_deref().filter(|id| *id != "local") {
                self.image_exists(id)?;
            }
            next.menu_default = v;
        }
        if let Some(v) = patch.kernel_args {
            if v.as_ref()
                .is_some_and(|t| t.len() > 4096 || t.chars().any(char::is_control))
            {
                return bad("kernel_args: at most 4096 characters, no control characters");
            }
            next.kernel_args = v;
        }
        if let Some(v) = patch.scan_interval_ms {
            if v.is_some_and(|t| !(200..=3_600_000).contains(&t)) {
                return bad("scan_interval_ms: 200 to 3600000");
            }
            next.scan_interval_ms = v;
        }
        self.reopen_if_failed();
        if let Err(e) = self.store.save_setting_overrides(&next) {
            self.saving.failed();
            return Err(e.into());
        }
        self.settings.overrides = next;
        let now = self.settings.effective();
        self.effects.push(Effect::Republish);
        self.effects.push(Effect::ScanEvery(Duration::from_millis(
            now.scan_interval_ms,
        )));
        Ok(now)
    }

    /// The scan interval in effect.
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.settings.effective().scan_interval_ms)
    }
}
