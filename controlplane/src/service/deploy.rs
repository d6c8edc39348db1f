//! Deploys in the service (see [`crate::deploy`]): creating one (its machines, its image, one
//! multicast session), what its machines boot meanwhile (the agent, instead of whatever they
//! would boot), what their agents report (through the unattended-install callbacks, at the
//! machine's install token), timeouts, cancelling.
//!
//! A deploy never edits its machines' assignments while it runs: it only stands in front of
//! them in the boot policy. Cancelling (or a machine failing) therefore gives each machine its
//! previous boot back; a machine done is sent to its disk like a finished unattended install.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use dataplane::install::InstallStage;
use dataplane::{BootEvent, ClientScript, Detail, Mac, ScriptServed};

use super::clients::parse_mac;
use super::multicast::{SendSpec, SessionView};
use super::{Effect, ErrorKind, Live, Service, ServiceError};
use crate::clients::Client;
use crate::coordinator::unix_now;
use crate::deploy::{
    self, agent, check_disk, ClientState, Counts, Deploy, DeployClient, DeployState,
};
use crate::install;

/// Most machines in one deploy (the multicast session serves any number; this bounds a
/// request and a record).
pub const MAX_CLIENTS: usize = 4096;

/// `POST /api/v1/deploys`'s body: the image, and either `clients` or `group`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The image, relative to the data dir (`disks/base.img`).
    pub image: String,
    /// The machines, by MAC (each must be known).
    #[serde(default)]
    pub clients: Vec<String>,
    /// Or every member of this client group.
    #[serde(default)]
    pub group: Option<String>,
    /// Target disk [default: /dev/sda].
    #[serde(default)]
    pub disk: Option<String>,
    /// Multicast rate, Mbit/s [default: the server's multicast setting].
    #[serde(default)]
    pub rate_mbit: Option<u32>,
    /// Receivers to wait for before sending [default: every machine].
    #[serde(default)]
    pub min_receivers: Option<u32>,
    /// Longest wait for them, seconds [default: 60].
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// Seconds after which a machine not done counts as failed [default: 3600].
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// A deploy as the API shows it: the record, its state and counts, and its session's
/// progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeployView {
    /// The record.
    #[serde(flatten)]
    pub deploy: Deploy,
    /// The sum of its machines' states.
    pub state: DeployState,
    /// Machines by state.
    pub counts: Counts,
    /// Its multicast session, while the data plane has it.
    pub multicast: Option<SessionView>,
}

impl Service {
    /// Every deploy, oldest first.
    pub fn deploys(&self) -> Vec<DeployView> {
        self.deploys.values().map(|d| self.deploy_view(d)).collect()
    }

    /// One deploy.
    ///
    /// # Errors
    /// No such deploy.
    pub fn deploy(&self, id: u64) -> Result<DeployView, ServiceError> {
        let d = self
            .deploys
            .get(&id)
            .ok_or_else(|| ServiceError::not_found(format!("no deploy {id}")))?;
        Ok(self.deploy_view(d))
    }

    fn deploy_view(&self, d: &Deploy) -> DeployView {
        DeployView {
            deploy: d.clone(),
            state: d.state(),
            counts: d.counts(),
            multicast: d
                .session
                .as_deref()
                .zip(self.multicast.as_ref())
                .and_then(|(s, m)| m.get(s).ok()),
        }
    }

    /// Starts a deploy: checks everything, starts its multicast session, records it; its
    /// machines boot the agent from now on.
    ///
    /// # Errors
    /// A bad request (image outside the data dir or not a file, unknown machine or group, bad
    /// disk), the agent is not installed or a machine is in another deploy (conflict), no
    /// server or the session cannot start, or the database failed.
    pub fn create_deploy(&mut self, body: DeployBody) -> Result<DeployView, ServiceError> {
        let disk = body
            .disk
            .clone()
            .unwrap_or_else(|| deploy::DEFAULT_DISK.to_owned());
        check_disk(&disk).map_err(ServiceError::bad_request)?;
        let macs = self.deploy_machines(&body.clients, body.group.as_deref())?;
        let timeout_secs = body.timeout_secs.unwrap_or(deploy::DEFAULT_TIMEOUT_SECS);
        if !(60..=7 * 24 * 3600).contains(&timeout_secs) {
            return Err(ServiceError::bad_request(
                "timeout_secs: 60 to 604800 seconds",
            ));
        }
        if let Some(why) = agent::missing(&self.data_dir) {
            tracing::warn!("deploy refused: {why}");
            return Err(ServiceError::new(ErrorKind::Conflict, why));
        }
        let busy: Vec<String> = macs
            .iter()
            .filter(|m| self.deploys.values().any(|d| d.deploys_to(**m)))
            .map(ToString::to_string)
            .collect();
        if !busy.is_empty() {
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                format!("already being deployed: {}", busy.join(", ")),
            ));
        }
        // Out of the interface the machines were last seen on, unless one is configured.
        let near: Vec<Ipv4Addr> = macs
            .iter()
            .filter_map(|m| self.client(&m.to_string()).ok()?.ip?.parse().ok())
            .collect();
        let multicast = self.multicast.as_ref().ok_or_else(|| {
            ServiceError::new(
                ErrorKind::Unavailable,
                "deploys need a running server (`fleetboot serve`): it sends the image",
            )
        })?;
        // The session checks the image (a regular file inside the data dir).
        let view = multicast.start_near(
            SendSpec {
                path: body.image.clone(),
                rate_mbit: body.rate_mbit,
                min_receivers: Some(body.min_receivers.unwrap_or(macs.len() as u32)),
                max_wait_secs: body.max_wait_secs,
                ..SendSpec::default()
            },
            &near,
        )?;
        let session = view.id;
        let d = Deploy {
            id: self.deploys.keys().next_back().map_or(1, |last| last + 1),
            image: body.image,
            disk,
            group: body.group,
            rate_mbit: body.rate_mbit,
            min_receivers: body.min_receivers,
            max_wait_secs: body.max_wait_secs,
            timeout_secs,
            session: Some(session.clone()),
            created: unix_now(),
            cancelled: None,
            clients: macs.into_iter().map(DeployClient::pending).collect(),
        };
        self.reopen_if_failed();
        if let Err(e) = self.store.save_deploy(&d) {
            self.saving.failed();
            self.cancel_session(&session);
            return Err(e.into());
        }
        tracing::info!(deploy = d.id, image = %d.image, machines = d.clients.len(), %session, "deploy started");
        self.effects.push(Effect::Republish);
        self.effects.push(Effect::Live(Live::Deploy {
            id: d.id,
            mac: None,
            state: "running",
        }));
        let view = self.deploy_view(&d);
        self.deploys.insert(d.id, d);
        Ok(view)
    }

    /// The machines asked for: known clients named by MAC, or a group's members.
    fn deploy_machines(
        &self,
        macs: &[String],
        group: Option<&str>,
    ) -> Result<Vec<Mac>, ServiceError> {
        let chosen: Vec<Mac> = match (macs.is_empty(), group) {
            (false, None) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for text in macs {
                    let mac = parse_mac(text)?;
                    if self.clients.get(&mac).is_none() {
                        return Err(ServiceError::bad_request(format!(
                            "no client {mac}: a machine must have network-booted once (or be \
                             recorded with `fleetboot clients assign`) before it is deployed to"
                        )));
                    }
                    if seen.insert(mac) {
                        out.push(mac);
                    }
                }
                out
            }
            (true, Some(g)) => {
                let members: Vec<Mac> = self
                    .clients
                    .all()
                    .filter(|c| c.group.as_deref() == Some(g))
                    .map(|c| c.mac)
                    .collect();
                if members.is_empty() {
                    return Err(ServiceError::bad_request(format!(
                        "group {g:?} has no members"
                    )));
                }
                members
            }
            _ => {
                return Err(ServiceError::bad_request(
                    "name the machines: either clients (MACs) or group",
                ))
            }
        };
        if chosen.len() > MAX_CLIENTS {
            return Err(ServiceError::bad_request(format!(
                "at most {MAX_CLIENTS} machines per deploy"
            )));
        }
        Ok(chosen)
    }

    /// Cancels deploy `id`: its session stops, its machines still pending or receiving get
    /// their previous boot back (those done stay on their disk).
    ///
    /// # Errors
    /// No such deploy, it has ended already (conflict), or the database failed.
    pub fn cancel_deploy(&mut self, id: u64) -> Result<DeployView, ServiceError> {
        let d = self
            .deploys
            .get(&id)
            .ok_or_else(|| ServiceError::not_found(format!("no deploy {id}")))?;
        if d.state() != DeployState::Running {
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                format!("deploy {id} has ended"),
            ));
        }
        let mut next = d.clone();
        next.cancelled = Some(unix_now());
        self.reopen_if_failed();
        if let Err(e) = self.store.save_deploy(&next) {
            self.saving.failed();
            return Err(e.into());
        }
        if let Some(s) = &next.session {
            self.cancel_session(s);
        }
        tracing::info!(deploy = id, "deploy cancelled");
        self.deploys.insert(id, next);
        self.effects.push(Effect::Republish);
        self.effects.push(Effect::Live(Live::Deploy {
            id,
            mac: None,
            state: "cancelled",
        }));
        self.deploy(id)
    }

    /// The running deploy `mac` belongs to.
    fn deploy_of(&self, mac: Mac) -> Option<u64> {
        self.deploys
            .values()
            .find(|d| d.deploys_to(mac))
            .map(|d| d.id)
    }

    /// What a boot event says of a deploying machine: its agent was served, it reports
    /// progress, failure or done. Returns whether `mac` is deploying (its callbacks are the
    /// deploy's, not an unattended install's).
    pub(super) fn follow_deploy(&mut self, mac: Mac, event: &BootEvent, now: u64) -> bool {
        let Some(id) = self.deploy_of(mac) else {
            return false;
        };
        let Some(d) = self.deploys.get_mut(&id) else {
            return false;
        };
        let boot_id = d.boot_id();
        let Some(c) = d.client_mut(mac) else {
            return false;
        };
        let before = c.state;
        match &event.detail {
            Detail::BootScript(b) => match &b.served {
                ScriptServed::Image { id: served, .. } if *served == boot_id => {
                    c.on_agent_served(now)
                }
                _ => return true,
            },
            Detail::Install(r) => match r.stage {
                InstallStage::Fetched { .. } => return true,
                InstallStage::Progress => c.on_progress(&r.message, now),
                InstallStage::Done => c.on_done(now),
            },
            _ => return true,
        }
        let after = c.state;
        let message = c.message.clone();
        let ended = d.state() != DeployState::Running;
        self.saving.deploys.insert(id);
        self.saving.soon();
        if after == before {
            return true;
        }
        match after {
            ClientState::Done => {
                tracing::info!(deploy = id, %mac, "deployed: boots its disk from now on");
                self.clients.edit(mac, now, Client::boots_its_disk);
                self.saving.unsaved.insert(mac);
                self.effects
                    .push(Effect::Live(Live::Client(mac.to_string())));
            }
            ClientState::Failed => {
                tracing::warn!(deploy = id, %mac, reason = message.as_deref().unwrap_or(""), "deploy failed on this machine");
            }
            ClientState::Pending | ClientState::Receiving => {}
        }
        self.effects.push(Effect::Live(Live::Deploy {
            id,
            mac: Some(mac.to_string()),
            state: state_name(after),
        }));
        if !after.is_active() {
            // It boots something else from now on: done, its disk; failed, what it had.
            self.effects.push(Effect::Republish);
            self.save();
        }
        if ended {
            self.deploy_ended(id);
        }
        true
    }

    /// Fails the machines of deploys past their timeout; returns the next deadline (seconds
    /// since the epoch).
    pub(super) fn expire_deploys(&mut self, now: u64) -> Option<u64> {
        let mut ended = Vec::new();
        for d in self.deploys.values_mut() {
            let failed = d.expire(now);
            if failed.is_empty() {
                continue;
            }
            tracing::warn!(deploy = d.id, machines = failed.len(), "deploy timed out");
            self.saving.deploys.insert(d.id);
            for mac in failed {
                self.effects.push(Effect::Live(Live::Deploy {
                    id: d.id,
                    mac: Some(mac.to_string()),
                    state: "failed",
                }));
            }
            ended.push(d.id);
        }
        if !ended.is_empty() {
            self.effects.push(Effect::Republish);
            self.save();
        }
        for id in ended {
            self.deploy_ended(id);
        }
        self.deploys.values().filter_map(Deploy::deadline).min()
    }

    /// Deploys running when the server stopped: their sessions are gone with the data plane,
    /// so their machines still pending or receiving are failed (and boot what they had).
    pub fn end_interrupted_deploys(&mut self) {
        let now = unix_now();
        let running: Vec<u64> = self
            .deploys
            .values()
            .filter(|d| d.state() == DeployState::Running)
            .map(|d| d.id)
            .collect();
        for id in running {
            let Some(d) = self.deploys.get_mut(&id) else {
                continue;
            };
            d.fail_active(now, "the server restarted during the deploy");
            tracing::warn!(
                deploy = id,
                "deploy interrupted by a restart: its machines still receiving are failed"
            );
            self.saving.deploys.insert(id);
        }
        self.save();
    }

    /// A deploy's last machine ended: its session has nothing more to do.
    fn deploy_ended(&mut self, id: u64) {
        let Some(d) = self.deploys.get(&id) else {
            return;
        };
        let state = d.state();
        let session = d.session.clone();
        tracing::info!(deploy = id, state = ?state, "deploy ended");
        if let Some(s) = session {
            self.cancel_session(&s);
        }
        self.effects.push(Effect::Live(Live::Deploy {
            id,
            mac: None,
            state: deploy_state_name(state),
        }));
    }

    /// Gives every machine of a running deploy the agent, in `policy` (built for the other
    /// machines), with its callbacks.
    pub(super) fn deploy_policy(&self, policy: &mut dataplane::BootPolicy) {
        for d in self.deploys.values() {
            let Some(session) = &d.session else { continue };
            let manifest = format!("/multicast/{session}");
            let label = format!("deploy {} ({})", d.id, d.image);
            for c in d.clients.iter().filter(|c| d.deploys_to(c.mac)) {
                let token = install::token(&self.install.key, c.mac);
                let orders = agent::Orders {
                    manifest: &manifest,
                    disk: &d.disk,
                    token: &token,
                    mac: c.mac,
                };
                policy.assign(
                    c.mac,
                    ClientScript {
                        script: agent::script(&self.site, &orders, &label),
                        image: d.boot_id(),
                    },
                );
                policy.install(token, c.mac, Vec::new());
            }
        }
    }

    /// Stops session `id` (its receivers turn to HTTP for what they miss; one over stays as
    /// it was).
    fn cancel_session(&self, id: &str) {
        if let Some(m) = &self.multicast {
            if let Err(e) = m.cancel(id) {
                tracing::debug!("session of a deploy: {e}");
            }
        }
    }

    /// Whether `mac` boots a deploy's agent (and nothing else of the policy).
    pub(super) fn is_deploying(&self, mac: Mac) -> bool {
        self.deploy_of(mac).is_some()
    }
}

fn state_name(s: ClientState) -> &'static str {
    match s {
        ClientState::Pending => "pending",
        ClientState::Receiving => "receiving",
        ClientState::Done => "done",
        ClientState::Failed => "failed",
    }
}

fn deploy_state_name(s: DeployState) -> &'static str {
    match s {
        DeployState::Running => "running",
        DeployState::Done => "done",
        DeployState::Failed => "failed",
        DeployState::Cancelled => "cancelled",
    }
}
