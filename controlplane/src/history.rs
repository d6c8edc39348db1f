//! Boot history: one [`BootRecord`] per boot event (DHCP answer, TFTP transfer, HTTP file,
//! boot script), kept in the store for `GET /api/v1/boots` and a client's own history, and
//! streamed live as Server-Sent Events.

use dataplane::{BootEvent, Detail, InstallStage, Mac, Outcome, Protocol, ScriptServed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One boot event as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BootRecord {
    /// Position in the history: increasing, never reused.
    pub seq: u64,
    /// Seconds since the epoch.
    pub time: u64,
    /// `dhcp`, `tftp` or `http`.
    pub protocol: String,
    /// The client's address and port (a relay's for relayed DHCP).
    pub client: String,
    /// The machine, when known.
    pub mac: Option<String>,
    /// What was served: a file, a boot script, the bootfile offered.
    pub object: String,
    /// Bytes sent.
    pub bytes: u64,
    /// Milliseconds the transfer took.
    pub duration_ms: u64,
    /// `complete`, `not_found`, `refused` or `failed`.
    pub outcome: String,
    /// Why it was refused or failed; for DHCP the firmware arch; for scripts what was served.
    pub detail: Option<String>,
    /// The image a boot script booted.
    pub image: Option<String>,
}

/// Kept in the store: older records are dropped as new ones arrive.
pub const KEEP: u64 = 200_000;

/// The record of `event`, about `mac` when known.
pub fn record(event: &BootEvent, mac: Option<Mac>, seq: u64, time: u64) -> BootRecord {
    let protocol = match event.protocol {
        Protocol::Dhcp => "dhcp",
        Protocol::Tftp => "tftp",
        Protocol::Http => "http",
    };
    let (outcome, why) = match &event.outcome {
        Outcome::Complete | Outcome::NoBody => ("complete", None),
        Outcome::NotFound => ("not_found", None),
        Outcome::Refused(why) => ("refused", Some(why.to_string())),
        Outcome::Failed(why) => ("failed", Some(why.to_string())),
    };
    let (detail, image) = match &event.detail {
        Detail::Transfer => (why, None),
        Detail::Dhcp(d) => (Some(why.unwrap_or_else(|| d.firmware.clone())), None),
        Detail::Install(r) => (
            Some(match &r.stage {
                InstallStage::Fetched { .. } => "install fetch".into(),
                InstallStage::Progress => "install progress".into(),
                InstallStage::Done => "install done".into(),
            }),
            None,
        ),
        Detail::BootScript(b) => match &b.served {
            ScriptServed::Chain => (Some("chain".into()), None),
            ScriptServed::Menu => (Some("menu".into()), None),
            ScriptServed::Image { id, once } => (
                Some(if *once { "once" } else { "image" }.into()),
                Some(id.clone()),
            ),
        },
    };
    BootRecord {
        seq,
        time,
        protocol: protocol.into(),
        client: event.client.to_string(),
        mac: mac.map(|m| m.to_string()),
        object: event.object.clone(),
        bytes: event.bytes,
        duration_ms: u64::try_from(event.duration.as_millis()).unwrap_or(u64::MAX),
        outcome: outcome.into(),
        detail,
        image,
    }
}
