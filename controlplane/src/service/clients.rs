//! Clients: what boot events teach about machines (sightings, history, used next-boot-once
//! assignments, expiry of unknown MACs), and the operator's changes to their records.

use std::collections::BTreeSet;
use std::time::Duration;

use dataplane::install::InstallStage;
use dataplane::neighbour::Neighbours;
use dataplane::{BootEvent, Detail, Mac, ScriptServed};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{install, Effect, Live, Service, ServiceError};
use crate::clients::{self, Client, InstallState};
use crate::coordinator::unix_now;
use crate::history::{self, BootRecord};

/// How often pending once-assignments are checked for use when nothing else happens: the
/// window in which a crash would forget a use (and serve the image again).
pub(crate) const ONCE_POLL: Duration = Duration::from_millis(200);

/// A change to a client record; fields left out stay as they are, `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    /// The operator's name for it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// The operator's notes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// The image it boots instead of the menu.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assigned: Option<Option<String>>,
    /// The image it boots next time only, before `assigned`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub next_boot: Option<Option<String>>,
    /// Images it may be assigned; empty: any.
    #[serde(default)]
    pub allowed_images: Option<Vec<String>>,
    /// Appended to the kernel command line of whatever it boots.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub extra_args: Option<Option<String>>,
    /// Its own unattended-install template (over its group's and its image's).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template: Option<Option<String>>,
    /// Its group.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub group: Option<Option<String>>,
    /// Free key/value for its templates (replaces the whole map).
    #[serde(default)]
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    /// `false` ends booting from the local disk (an assignment ends it too).
    #[serde(default)]
    pub local_boot: Option<bool>,
}

/// A field given (even as `null`) is `Some`; a field left out is `None` (by `default`).
pub(super) fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Longest name, notes or kernel arguments accepted.
const MAX_TEXT: usize = 4096;

/// A MAC from the API's text.
pub fn parse_mac(text: &str) -> Result<Mac, ServiceError> {
    text.parse()
        .map_err(|e: String| ServiceError::bad_request(format!("{text:?}: {e}")))
}

impl Service {
    /// Records what `batch` teaches: sightings, history; live listeners hear of each event.
    pub fn on_events(&mut self, batch: &[BootEvent]) {
        let now = unix_now();
        // Each machine sighted is announced once per batch (`client` events: the web console
        // refreshes the rows it shows), after its boot events.
        let mut sighted = BTreeSet::new();
        let neighbours = Neighbours::default();
        for event in batch {
            let mac = clients::mac_of(event).or_else(|| self.mac_by_address(event, &neighbours));
            if let Some(mac) = mac {
                if self.clients.sight(mac, event, now) {
                    self.saving.unsaved.insert(mac);
                    sighted.insert(mac);
                    if !self.follow_deploy(mac, event, now) {
                        self.follow_install(mac, event, now);
                    }
                }
            }
            let record = history::record(event, mac, self.next_seq, now);
            self.next_seq += 1;
            self.effects.push(Effect::Live(Live::Boot(record.clone())));
            self.history.push(record);
        }
        for mac in sighted {
            self.effects
                .push(Effect::Live(Live::Client(mac.to_string())));
        }
        self.record_used_once();
        if !self.saving.unsaved.is_empty() || !self.history.is_empty() {
            self.saving.soon();
        }
    }

    /// What an event says of `mac`'s unattended install: started (its boot script with a
    /// template was served), progress, done (then it boots its disk).
    fn follow_install(&mut self, mac: Mac, event: &BootEvent, now: u64) {
        let Some(client) = self.clients.get(&mac).cloned() else {
            return;
        };
        let change: Box<dyn FnOnce(&mut Client)> = match &event.detail {
            Detail::BootScript(b) => {
                let ScriptServed::Image { id, .. } = &b.served else {
                    return;
                };
                let Some(image) = self.images.iter().find(|i| &i.id == id) else {
                    return;
                };
                let image = self.edited(image);
                let Ok(Some(plan)) = self.plan(&client, &image) else {
                    return;
                };
                let id = id.clone();
                Box::new(move |c| install::started(c, &id, plan.template, now))
            }
            Detail::Install(r) => match r.stage {
                InstallStage::Fetched { .. } => return,
                InstallStage::Progress => {
                    let message = r.message.clone();
                    Box::new(move |c| {
                        if let Some(i) = c.install.as_mut() {
                            i.progress = Some(message);
                        }
                    })
                }
                InstallStage::Done => {
                    tracing::info!(%mac, "unattended install done: boots its disk from now on");
                    Box::new(move |c| {
                        if let Some(i) = c.install.as_mut() {
                            i.state = InstallState::Done;
                            i.finished = Some(now);
                        }
                        c.boots_its_disk();
                    })
                }
            },
            _ => return,
        };
        self.clients.edit(mac, now, change);
        if matches!(event.detail, Detail::Install(_)) {
            // A done install changes what the machine boots: saved and published now.
            self.effects.push(Effect::Republish);
            self.save();
        }
    }

    /// For transfers, which carry only an address: a known client's last address, else the
    /// kernel's ARP table (which only knows machines on our own links).
    fn mac_by_address(&self, event: &BootEvent, neighbours: &Neighbours) -> Option<Mac> {
        if clients::mac_of(event).is_some() {
            return None;
        }
        let ip = event.client.ip();
        self.clients.at(ip).or_else(|| neighbours.get(ip))
    }

    /// Clears the next-boot-once assignments the data plane has served, and saves them at
    /// once (retried like any save). The policy being served needs no republish: it already
    /// skips a used token.
    pub(super) fn record_used_once(&mut self) {
        let used = self.once.take_used();
        if used.is_empty() {
            return;
        }
        let now = unix_now();
        for (mac, image) in used {
            if self.clients.get(&mac).is_none() {
                continue;
            }
            tracing::info!(%mac, %image, "next-boot-once assignment used");
            // An assignment edited since is left alone. `last_boot` stays the events' word:
            // they may already report a later boot.
            let cleared = self.clients.edit(mac, now, |client| {
                let pending = client.next_boot.as_ref() == Some(&image);
                if pending {
                    client.next_boot = None;
                }
                pending
            });
            if cleared {
                self.saving.unsaved.insert(mac);
                self.effects
                    .push(Effect::Live(Live::Client(mac.to_string())));
            }
        }
        self.save();
    }

    /// Drops unknown clients not seen for the expiry time.
    pub fn expire(&mut self) {
        self.expire_installs();
        let gone = self.clients.expire(unix_now());
        if gone.is_empty() {
            return;
        }
        tracing::info!(clients = gone.len(), "unknown clients expired");
        for mac in gone {
            self.saving.unsaved.remove(&mac);
            self.saving.removed.insert(mac);
        }
        self.saving.soon();
    }

    /// Every client, by MAC.
    pub fn clients(&mut self) -> Vec<Client> {
        // Answers start from the recorded state of once-assignments.
        self.record_used_once();
        self.clients.all().cloned().collect()
    }

    /// One client.
    ///
    /// # Errors
    /// A bad MAC, or no such client.
    pub fn client(&mut self, mac: &str) -> Result<Client, ServiceError> {
        let mac = parse_mac(mac)?;
        self.record_used_once();
        self.clients
            .get(&mac)
            .cloned()
            .ok_or_else(|| ServiceError::not_found(format!("no client {mac}")))
    }

    /// Applies `patch` to `mac`'s record (creating it: a machine can be assigned before it is
    /// first seen), saved before it is answered.
    ///
    /// # Errors
    /// A bad MAC, an image that does not exist or is not allowed, text too long, or the
    /// database failed (then nothing changed).
    pub fn patch_client(&mut self, mac: &str, patch: ClientPatch) -> Result<Client, ServiceError> {
        let mac = parse_mac(mac)?;
        self.record_used_once();
        let mut next = self
            .clients
            .get(&mac)
            .cloned()
            .unwrap_or_else(|| Client::new(mac, unix_now()));
        let text = |v: Option<String>| -> Result<Option<String>, ServiceError> {
            match v {
                Some(t) if t.len() > MAX_TEXT || t.chars().any(|c| c.is_control() && c != '\n') => {
                    Err(ServiceError::bad_request(format!(
                        "texts are at most {MAX_TEXT} bytes, without control characters"
                    )))
                }
                Some(t) if t.is_empty() => Ok(None),
                v => Ok(v),
            }
        };
        if let Some(v) = patch.name {
            next.name = text(v)?;
        }
        if let Some(v) = patch.notes {
            next.notes = text(v)?;
        }
        if let Some(v) = patch.extra_args {
            next.extra_args = text(v)?;
        }
        if let Some(list) = patch.allowed_images {
            for id in &list {
                self.image_exists(id)?;
            }
            next.allowed_images = list;
        }
        if let Some(v) = patch.template {
            if let Some(t) = &v {
                self.template(t)?;
            }
            next.template = v;
        }
        if let Some(v) = patch.group {
            next.group = text(v)?;
        }
        if let Some(m) = patch.metadata {
            install::check_metadata(&m)?;
            next.metadata = m;
        }
        if let Some(v) = patch.local_boot {
            next.local_boot = v;
        }
        // A new assignment is a reinstall: the disk is no longer what it boots.
        if matches!(patch.assigned, Some(Some(_))) || matches!(patch.next_boot, Some(Some(_))) {
            next.local_boot = false;
        }
        if let Some(v) = patch.assigned {
            next.assigned = v;
        }
        if let Some(v) = patch.next_boot {
            next.next_boot = v;
        }
        for id in [&next.assigned, &next.next_boot].into_iter().flatten() {
            self.image_exists(id)?;
            if !next.allowed_images.is_empty() && !next.allowed_images.contains(id) {
                return Err(ServiceError::bad_request(format!(
                    "{mac} may boot only {} (allowed_images)",
                    next.allowed_images.join(", ")
                )));
            }
        }
        self.change(mac, Some(&next))?;
        Ok(next)
    }

    /// Deletes `mac`'s record (its history stays).
    ///
    /// # Errors
    /// A bad MAC, no such client, or the database failed.
    pub fn delete_client(&mut self, mac: &str) -> Result<(), ServiceError> {
        let mac = parse_mac(mac)?;
        if self.clients.get(&mac).is_none() {
            return Err(ServiceError::not_found(format!("no client {mac}")));
        }
        self.change(mac, None)
    }

    /// An operator's change (`None`: delete the record), saved before the table changes.
    fn change(&mut self, mac: Mac, next: Option<&Client>) -> Result<(), ServiceError> {
        self.reopen_if_failed();
        let saved = match next {
            Some(client) => self.store.save_clients([client], &BTreeSet::new()),
            None => self.store.save_clients([], &BTreeSet::from([mac])),
        };
        if let Err(e) = saved {
            self.saving.failed();
            return Err(e.into());
        }
        self.saving.unsaved.remove(&mac);
        self.clients.restore(mac, next.cloned());
        self.effects.push(Effect::Republish);
        self.effects
            .push(Effect::Live(Live::Client(mac.to_string())));
        Ok(())
    }

    /// Boot history, newest first: everyone's, or `mac`'s.
    ///
    /// # Errors
    /// A bad MAC, or the database failed.
    pub fn boots(
        &mut self,
        mac: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BootRecord>, ServiceError> {
        let mac = mac.map(parse_mac).transpose()?.map(|m| m.to_string());
        // What waits for the next save is history too.
        self.save();
        Ok(self.store.history(mac.as_deref(), before, limit)?)
    }
}
