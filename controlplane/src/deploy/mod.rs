//! Deploys: one disk image written to many machines at once over multicast. A deploy names a
//! raw image inside the data dir, the machines, their target disk and the multicast options;
//! its machines boot fleetboot's deploy agent ([`agent`]), which receives the image straight to
//! disk from one multicast session and calls back (`/t/<token>/done`, `/t/<token>/progress`,
//! the unattended-install callbacks); a machine done boots its disk from then on.
//!
//! This module holds the records and the rules that need no service: a deploy's state as the
//! sum of its machines', the checks of what an operator asks for.

pub mod agent;
pub mod images;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use dataplane::Mac;

/// The target disk when none is named: the first SATA/SCSI disk, as on most servers.
pub const DEFAULT_DISK: &str = "/dev/sda";
/// How long a machine may take, from the deploy's start, before it counts as failed: booting
/// the agent, waiting for the others (`max_wait`), and receiving a large image at a modest rate.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3600;
/// Longest failure or progress message kept (the data plane already trims callbacks).
const MAX_MESSAGE: usize = 256;

/// One deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deploy {
    /// Id, increasing from 1.
    pub id: u64,
    /// The image, relative to the data dir (`disks/base.img`).
    pub image: String,
    /// The disk each machine writes (`/dev/sda`).
    pub disk: String,
    /// The client group the machines were taken from, if any (its members at creation).
    pub group: Option<String>,
    /// Multicast options as asked (unset: the server's defaults).
    pub rate_mbit: Option<u32>,
    /// Receivers the session waits for before sending (unset: every machine).
    pub min_receivers: Option<u32>,
    /// Longest wait for them, seconds.
    pub max_wait_secs: Option<u64>,
    /// Seconds from creation after which a machine not done counts as failed.
    pub timeout_secs: u64,
    /// The multicast session sending the image (its id, 8 hex digits).
    pub session: Option<String>,
    /// When it was created, seconds since the epoch.
    pub created: u64,
    /// When an operator cancelled it.
    pub cancelled: Option<u64>,
    /// The machines.
    pub clients: Vec<DeployClient>,
}

/// One machine of a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeployClient {
    /// Its MAC.
    #[schema(value_type = String, example = "52:54:00:12:34:56")]
    #[serde(with = "crate::clients::mac_text")]
    pub mac: Mac,
    /// Where it is.
    pub state: ClientState,
    /// When the agent was served to it.
    pub started: Option<u64>,
    /// When it ended (done or failed).
    pub finished: Option<u64>,
    /// The agent's last word (`receiving`, or why it failed).
    pub message: Option<String>,
}

/// Where a machine of a deploy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientState {
    /// Waiting to boot the agent.
    Pending,
    /// The agent booted and receives the image.
    Receiving,
    /// The image is on its disk; it boots the disk.
    Done,
    /// The agent failed, or the deploy timed out.
    Failed,
}

impl ClientState {
    /// Whether it still has the agent to boot or to finish.
    pub fn is_active(self) -> bool {
        matches!(self, ClientState::Pending | ClientState::Receiving)
    }
}

/// A deploy's state: the sum of its machines'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployState {
    /// Some machines are still pending or receiving.
    Running,
    /// Every machine is done.
    Done,
    /// Every machine ended, some failed.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

/// How many machines are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    /// Waiting for the agent.
    pub pending: usize,
    /// Receiving.
    pub receiving: usize,
    /// Done.
    pub done: usize,
    /// Failed.
    pub failed: usize,
}

impl Deploy {
    /// Machines by state.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for client in &self.clients {
            *match client.state {
                ClientState::Pending => &mut c.pending,
                ClientState::Receiving => &mut c.receiving,
                ClientState::Done => &mut c.done,
                ClientState::Failed => &mut c.failed,
            } += 1;
        }
        c
    }

    /// The deploy's state.
    pub fn state(&self) -> DeployState {
        let c = self.counts();
        if self.cancelled.is_some() {
            DeployState::Cancelled
        } else if c.pending + c.receiving > 0 {
            DeployState::Running
        } else if c.failed > 0 {
            DeployState::Failed
        } else {
            DeployState::Done
        }
    }

    /// Whether `mac` still boots the agent for this deploy.
    pub fn deploys_to(&self, mac: Mac) -> bool {
        self.cancelled.is_none()
            && self
                .clients
                .iter()
                .any(|c| c.mac == mac && c.state.is_active())
    }

    /// The machine `mac`'s entry.
    pub fn client_mut(&mut self, mac: Mac) -> Option<&mut DeployClient> {
        self.clients.iter_mut().find(|c| c.mac == mac)
    }

    /// The image id `/boot.ipxe` reports for this deploy's agent (a client's `last_boot`).
    pub fn boot_id(&self) -> String {
        format!("deploy-{}", self.id)
    }

    /// Fails every machine still active when the deploy is older than its timeout; returns
    /// the machines failed.
    pub fn expire(&mut self, now: u64) -> Vec<Mac> {
        if self.cancelled.is_some() || now.saturating_sub(self.created) <= self.timeout_secs {
            return Vec::new();
        }
        let why = format!("timed out after {} s", self.timeout_secs);
        self.fail_active(now, &why)
    }

    /// Fails every machine still pending or receiving, for `why`; returns them.
    pub fn fail_active(&mut self, now: u64, why: &str) -> Vec<Mac> {
        let mut failed = Vec::new();
        for c in self.clients.iter_mut().filter(|c| c.state.is_active()) {
            c.state = ClientState::Failed;
            c.finished = Some(now);
            c.message = Some(why.to_owned());
            failed.push(c.mac);
        }
        failed
    }

    /// When it times out, seconds since the epoch, while it runs.
    pub fn deadline(&self) -> Option<u64> {
        (self.state() == DeployState::Running).then(|| self.created + self.timeout_secs + 1)
    }
}

impl DeployClient {
    /// A machine that has not booted the agent yet.
    pub fn pending(mac: Mac) -> DeployClient {
        DeployClient {
            mac,
            state: ClientState::Pending,
            started: None,
            finished: None,
            message: None,
        }
    }

    /// What the agent's progress callback says: `failed: <why>` ends the machine as failed;
    /// anything else is progress (the agent says `receiving` when it starts).
    pub fn on_progress(&mut self, message: &str, now: u64) {
        if !self.state.is_active() {
            return;
        }
        let message: String = message.chars().take(MAX_MESSAGE).collect();
        match message.strip_prefix("failed:") {
            Some(why) => {
                self.state = ClientState::Failed;
                self.finished = Some(now);
                self.message = Some(why.trim().to_owned());
            }
            None => {
                self.state = ClientState::Receiving;
                self.started.get_or_insert(now);
                self.message = Some(message);
            }
        }
    }

    /// The agent was served: it boots.
    pub fn on_agent_served(&mut self, now: u64) {
        if self.state == ClientState::Pending {
            self.state = ClientState::Receiving;
            self.started = Some(now);
        }
    }

    /// The agent reported the image written and checked.
    pub fn on_done(&mut self, now: u64) {
        if self.state.is_active() {
            self.state = ClientState::Done;
            self.finished = Some(now);
        }
    }
}

/// Checks a target disk: a device path under `/dev/` made of `A-Z a-z 0-9 / _ . -`, without
/// `..` (it goes on a kernel command line).
///
/// # Errors
/// Why it is refused.
pub fn check_disk(disk: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-');
    let name = disk.strip_prefix("/dev/").unwrap_or_default();
    if name.is_empty() || disk.len() > 64 || !disk.chars().all(valid) || disk.contains("..") {
        return Err(format!(
            "disk {disk:?}: a device path such as /dev/sda or /dev/nvme0n1"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
