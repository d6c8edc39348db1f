//! Boot events: what the data plane tells the control plane about every transfer. Sent over a
//! bounded crossbeam channel with `try_send`, so a slow consumer can never stall a core; what
//! could not be sent is counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::boot::{Inventory, ScriptServed};
use crate::dhcp::reply::Port;
use crate::dhcp::request::PxeRequest;
use crate::http::mac_check::MacRefused;
use crate::install::InstallReport;
use crate::mac::Mac;

/// The protocol an event happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TFTP read transfer.
    Tftp,
    /// HTTP request.
    Http,
    /// proxyDHCP answer.
    Dhcp,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every byte was delivered (and, for TFTP, acknowledged).
    Complete,
    /// Answered without a body transfer: 304, HEAD.
    NoBody,
    /// The name is not in the catalog.
    NotFound,
    /// Refused: path escape, bad request, option refused, server busy.
    Refused(&'static str),
    /// Started but did not finish.
    Failed(&'static str),
}

/// One transfer, reported once when it ends.
#[derive(Debug, Clone)]
pub struct BootEvent {
    /// Protocol.
    pub protocol: Protocol,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The name as requested, after normalisation when that succeeded.
    pub object: String,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Wall time from request to end.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// What the request taught us about the client, when anything.
    pub detail: Detail,
}

/// Client facts an event carries beyond the transfer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// A file transfer: nothing beyond the address.
    Transfer,
    /// A proxyDHCP exchange.
    Dhcp(DhcpSeen),
    /// A `/boot.ipxe` request with the client's inventory.
    BootScript(Box<BootScriptSeen>),
    /// A client being installed fetched one of its files or called back (`/t/<token>/…`;
    /// the event's object is `t/…/<file>`, without the token).
    Install(InstallReport),
}

/// What a PXE client said about itself over DHCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSeen {
    /// Hardware address.
    pub mac: Mac,
    /// Firmware (option 93), e.g. `bios`, `efi-x64`.
    pub firmware: String,
    /// Option 60.
    pub vendor_class: String,
    /// Transaction ID.
    pub xid: u32,
    /// The client was iPXE.
    pub ipxe: bool,
    /// Option 97 as hex, when sent.
    pub guid: Option<String>,
    /// The port it asked on: 67 or 4011.
    pub port: u16,
}

impl DhcpSeen {
    pub(crate) fn from_request(r: &PxeRequest, port: Port) -> DhcpSeen {
        DhcpSeen {
            mac: r.mac,
            firmware: r.firmware.name(),
            vendor_class: r.vendor_class.clone(),
            xid: r.xid,
            ipxe: r.ipxe,
            guid: r
                .guid
                .as_ref()
                .map(|g| g.iter().map(|b| format!("{b:02x}")).collect()),
            port: match port {
                Port::Dhcp => 67,
                Port::BootServer => 4011,
            },
        }
    }
}

/// A boot script request: who asked, what it reported, what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootScriptSeen {
    /// The client's report (query parameters).
    pub inventory: Inventory,
    /// What was served.
    pub served: ScriptServed,
    /// The query's MAC, when it was not believed (then absent from `inventory`).
    pub refused: Option<MacRefused>,
}

/// The sending side, cloned into every core.
#[derive(Clone)]
pub struct EventSink {
    tx: Sender<BootEvent>,
    dropped: Arc<AtomicU64>,
}

impl EventSink {
    /// A sink and its receiver, holding at most `capacity` unread events.
    pub fn bounded(capacity: usize) -> (EventSink, Receiver<BootEvent>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (
            EventSink {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Sends without blocking; a full or closed channel counts a drop.
    pub fn emit(&self, event: BootEvent) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(event)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The count of events lost because the consumer lagged; holds no channel end.
    pub fn drops(&self) -> Drops {
        Drops(self.dropped.clone())
    }
}

/// Reads how many events were lost.
#[derive(Clone, Debug)]
pub struct Drops(Arc<AtomicU64>);

impl Drops {
    /// Events lost so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
