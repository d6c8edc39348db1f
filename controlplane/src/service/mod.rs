//! The service layer: every rule about images, clients, assignments, users, sessions and
//! settings, written once. The admin API calls it (through the coordinator's thread, which
//! owns it in `serve`), and so does the CLI, whose requests reach the same API over the
//! control socket or, with no server running, over an in-process router on the database.
//!
//! A [`Service`] is plain state: requests and boot events go in, changes are saved, and what
//! the rest of the process must do about them comes out as [`Effect`]s (publish a new boot
//! policy, rescan, tell live listeners). It starts no thread and touches no socket, so its
//! tests drive it directly.

pub mod access;
pub mod clients;
pub mod deploy;
mod error;
pub mod images;
pub mod install;
pub mod multicast;
pub(crate) mod saving;
pub mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ErrorKind, ServiceError};

use crate::boot::{self, Site};
use crate::clients::once::OnceTokens;
use crate::clients::table::{ClientTable, Counters};
use crate::config::Settings;
use crate::coordinator;
use crate::history::BootRecord;
use crate::images::meta::ImageMeta;
use crate::images::Image;
use crate::store::{Store, StoreError};
use access::Grants;
use saving::Saving;

/// What the owner of a [`Service`] must do after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Images or assignments changed: publish [`Service::policy`].
    Republish,
    /// Scan the data dir now.
    Rescan,
    /// Scan every so often from now on.
    ScanEvery(Duration),
    /// Tell live listeners (`GET /api/v1/events`).
    Live(Live),
}

/// A change live listeners hear of.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// A boot event, as recorded.
    Boot(BootRecord),
    /// A client record changed through the API (its MAC).
    Client(String),
    /// The image list changed.
    Images,
    /// A deploy started or ended (`mac: None`), or one of its machines changed state.
    Deploy {
        /// The deploy.
        id: u64,
        /// The machine.
        mac: Option<String>,
        /// Its new state (`pending`, `receiving`, `done`, `failed`; for the deploy `running`,
        /// `done`, `failed`, `cancelled`).
        state: &'static str,
    },
}

/// The state behind the API (see the module docs).
pub struct Service {
    data_dir: PathBuf,
    store: Store,
    clients: ClientTable,
    /// As the last scan found them (detection only, no edits).
    images: Vec<Image>,
    /// Operators' edits, by image id.
    meta: BTreeMap<String, ImageMeta>,
    settings: settings::Runtime,
    site: Site,
    once: OnceTokens,
    saving: Saving,
    /// Boot records waiting for the next save, and the next sequence number.
    history: Vec<BootRecord>,
    next_seq: u64,
    grants: Arc<Grants>,
    install: install::Installs,
    /// Every deploy, by id.
    deploys: BTreeMap<u64, crate::deploy::Deploy>,
    /// The data plane's multicast sessions (`None` without a data plane: the offline CLI).
    multicast: Option<multicast::Multicast>,
    sweep_every: Duration,
    effects: Vec<Effect>,
}

impl Service {
    /// The service over `store`, with what it holds loaded (clients, edits, sessions).
    ///
    /// # Errors
    /// The stored records cannot be read: starting without them would boot assigned
    /// machines into the menu and drop every session.
    pub fn new(
        settings: &Settings,
        store: Store,
        site: Site,
        counters: Arc<Counters>,
        grants: Arc<Grants>,
    ) -> Result<Service, StoreError> {
        let clients = ClientTable::new(store.clients()?, settings.clients.clone(), counters);
        let meta = store.image_meta()?.into_iter().collect();
        let runtime = settings::Runtime::new(settings, store.setting_overrides()?);
        grants.load(store.grants()?);
        let next_seq = store.last_history_seq()? + 1;
        let images = store.images()?;
        let installs = install::Installs::load(&store)?;
        let deploys = store.deploys()?.into_iter().map(|d| (d.id, d)).collect();
        Ok(Service {
            data_dir: settings.data_dir.clone(),
            store,
            clients,
            images,
            meta,
            settings: runtime,
            site,
            once: OnceTokens::default(),
            saving: Saving::default(),
            history: Vec::new(),
            next_seq,
            grants,
            install: installs,
            deploys,
            multicast: None,
            // Often enough that a record outlives its expiry by a quarter at most.
            sweep_every: (settings.clients.unknown_expiry / 4)
                .clamp(Duration::from_secs(1), Duration::from_secs(3600)),
            effects: Vec::new(),
        })
    }

    /// Lets deploys start multicast sessions in the data plane.
    pub fn with_multicast(mut self, multicast: multicast::Multicast) -> Service {
        self.multicast = Some(multicast);
        self
    }

    /// The effects of the calls since the last take, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The boot policy for the data plane: the menu of public images, and each assigned
    /// client's script, with operators' edits applied.
    pub fn policy(&mut self) -> dataplane::BootPolicy {
        // A use the data plane made since the last check is recorded first; the served
        // policy's tokens then move to the new one, unchanged, for assignments still pending.
        self.record_used_once();
        let effective: Vec<Image> = self.images.iter().map(|i| self.edited(i)).collect();
        let public: Vec<Image> = effective
            .iter()
            .filter(|i| self.meta.get(&i.id).is_none_or(ImageMeta::is_public))
            .cloned()
            .collect();
        let mut site = self.site.clone();
        site.kernel_args
            .clone_from(&self.settings.effective().kernel_args);
        let menu = self.settings.menu();
        let mut last = std::mem::take(&mut self.once);
        let mut plans = Vec::new();
        let extra = |client: &crate::clients::Client, image: &Image| match self.plan(client, image)
        {
            Ok(Some(plan)) => {
                let extra = boot::Extra {
                    args: plan.args.clone(),
                    initrds: plan.initrds.clone(),
                };
                plans.push((client.mac, plan));
                Some(extra)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(mac = %client.mac, image = %image.id, "unattended install not offered: {e}");
                None
            }
        };
        let mut once = OnceTokens::default();
        // A deploying machine boots the deploy's agent and nothing else.
        let mut policy = boot::policy(
            &effective,
            &public,
            self.clients.all().filter(|c| !self.is_deploying(c.mac)),
            &site,
            &menu,
            |mac, image| once.carry(&mut last, mac, image),
            extra,
        );
        self.once = once;
        // A client's next-boot-once image comes first: its files win over the permanent one's.
        let mut seen = std::collections::HashSet::new();
        for (mac, plan) in plans {
            if seen.insert(mac) {
                policy.install(plan.token, mac, plan.files);
            }
        }
        self.deploy_policy(&mut policy);
        policy
    }

    /// `image` with its edits.
    fn edited(&self, image: &Image) -> Image {
        match self.meta.get(&image.id) {
            Some(meta) => meta.apply(image),
            None => image.clone(),
        }
    }

    /// Timed work: saves that are due. Returns when to call again at the latest.
    pub fn tick(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        self.record_used_once();
        if self.saving.due(now) {
            self.save();
        }
        let mut wake = self.saving.next();
        if !self.once.is_empty() {
            let poll = now + clients::ONCE_POLL;
            wake = Some(wake.map_or(poll, |w| w.min(poll)));
        }
        let unix = coordinator::unix_now();
        if let Some(deadline) = self.expire_deploys(unix) {
            let at = now + Duration::from_secs(deadline.saturating_sub(unix));
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        wake
    }

    /// Saves everything in memory (at shutdown) and hands the store back.
    pub fn finish(mut self) -> Store {
        self.record_used_once();
        self.save();
        self.store
    }

    /// How often unknown clients are checked for expiry.
    pub fn sweep_every(&self) -> Duration {
        self.sweep_every
    }
}

#[cfg(test)]
mod deploy_tests;
#[cfg(test)]
pub(crate) mod tests;
