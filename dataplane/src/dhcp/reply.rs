//! proxyDHCP decisions and replies, pure: which bootfile a client gets (PXE spec 2.1 §2.2,
//! RFC 4578, UEFI HTTP boot), whether it gets it in the offer or on port 4011, and the reply
//! datagram (built with `dhcproto`), padded to the 300 octets old BOOTP stacks expect.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode};
use dhcproto::{Encodable, Encoder};

use super::request::{ClientClass, Firmware, MessageKind, PxeRequest};

/// RFC 1542 §3.3: some BOOTP-era clients drop replies shorter than a BOOTP packet.
const MIN_REPLY: usize = 300;
/// PXE sub-options inside option 43 (PXE spec 2.1 table 2-1).
const PXE_DISCOVERY_CONTROL: u8 = 6;
const PXE_BOOT_SERVERS: u8 = 8;
const PXE_BOOT_MENU: u8 = 9;
const PXE_MENU_PROMPT: u8 = 10;
const PXE_BOOT_ITEM: u8 = 71;
/// Discovery control: use the bootfile of this offer, no boot server discovery.
const USE_BOOTFILE_NOW: u8 = 0x08;
/// Discovery control: no broadcast or multicast discovery, ask the listed server (on 4011).
const UNICAST_TO_LISTED: u8 = 0x03 | 0x04;

/// Which socket a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// UDP 67, the DHCP exchange.
    Dhcp,
    /// UDP 4011, PXE boot server discovery.
    BootServer,
}

/// How UEFI PXE firmware (arch 6/7/9/11, not iPXE) gets its bootfile. Firmware in the field
/// disagrees: some take the bootfile from the proxy offer (pixiecore's way), some only after
/// the 4011 exchange (smee's). Both answers are always served on 4011; this picks the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UefiStrategy {
    /// The proxy offer on 67 names the bootfile.
    #[default]
    InOffer,
    /// The proxy offer lists this server as boot server; the bootfile comes on 4011.
    BootServer,
}

/// The bootloaders offered per firmware, names in the TFTP root (and under `/ipxe/` on HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootfiles {
    /// x86 BIOS.
    pub bios: String,
    /// x86-64 UEFI.
    pub uefi_x64: String,
    /// x86 (32-bit) UEFI, when available.
    pub uefi_ia32: Option<String>,
    /// arm64 UEFI, when available.
    pub uefi_arm64: Option<String>,
}

/// What proxyDHCP needs to know about this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The address clients reach TFTP and HTTP on (also next-server and server identifier)
    /// when it must be fixed (NAT, a service address); `None`: the address each request
    /// arrived at, which is what the client can reach.
    pub server: Option<Ipv4Addr>,
    /// The HTTP port; 0 means the data plane's own HTTP port.
    pub http_port: u16,
    /// Bootloaders.
    pub bootfiles: Bootfiles,
    /// UEFI PXE strategy.
    pub uefi: UefiStrategy,
}

impl Policy {
    /// The server address named to a client whose request arrived at `local`.
    pub fn server_for(&self, local: Ipv4Addr) -> Ipv4Addr {
        self.server.unwrap_or(local)
    }

    /// The URL iPXE is pointed at; `/boot.ipxe` answers with a chain to itself carrying the
    /// client's MAC and inventory.
    pub fn script_url(&self, server: Ipv4Addr) -> String {
        format!("http://{server}:{}/boot.ipxe", self.http_port)
    }
}

/// Where the bootfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootfile {
    /// A name in the TFTP root, fetched from next-server.
    Tftp(String),
    /// A full URL (iPXE, UEFI HTTP boot).
    Url(String),
    /// Nothing in this reply: the client asks the boot server on 4011.
    AskBootServer,
}

impl Bootfile {
    /// For logs and events.
    pub fn describe(&self) -> String {
        match self {
            Bootfile::Tftp(name) => format!("tftp:{name}"),
            Bootfile::Url(url) => url.clone(),
            Bootfile::AskBootServer => "boot server on 4011".into(),
        }
    }
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// DHCPOFFER or DHCPACK.
    pub kind: MessageType,
    /// What the client should load.
    pub bootfile: Bootfile,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this.
    Answer(Answer),
    /// Stay silent: the message is for another server, or the exchange does not call for us.
    Silent(&'static str),
    /// A boot client we have nothing for (e.g. arm64 without an arm64 iPXE).
    NoBootloader(&'static str),
}

/// Decides what to answer `request`, received on `port` by `server` (the address named to
/// the client, see [`Policy::server_for`]).
pub fn decide(request: &PxeRequest, port: Port, policy: &Policy, server: Ipv4Addr) -> Decision {
    let kind = match (port, request.kind) {
        (Port::Dhcp, MessageKind::Discover) => MessageType::Offer,
        // A REQUEST on 67 completes the lease with the router; ours only if it names us.
        (Port::Dhcp, MessageKind::Request) if request.server_id != Some(server) => {
            return Decision::Silent("request addressed to another server")
        }
        (_, MessageKind::Request | MessageKind::Inform) => MessageType::Ack,
        (Port::BootServer, MessageKind::Discover) => {
            return Decision::Silent("discover on the boot server port")
        }
    };
    let bootfile = match bootfile(request, policy, server) {
        Ok(b) => b,
        Err(why) => return Decision::NoBootloader(why),
    };
    let bootfile = match bootfile {
        Bootfile::Tftp(_)
            if port == Port::Dhcp
                && policy.uefi == UefiStrategy::BootServer
                && request.firmware != Firmware::Bios =>
        {
            Bootfile::AskBootServer
        }
        other => other,
    };
    Decision::Answer(Answer { kind, bootfile })
}

fn bootfile(
    request: &PxeRequest,
    policy: &Policy,
    server: Ipv4Addr,
) -> Result<Bootfile, &'static str> {
    if request.ipxe {
        // Already iPXE: hand it the script, not another iPXE (no chain loop).
        return Ok(Bootfile::Url(policy.script_url(server)));
    }
    let files = &policy.bootfiles;
    let name = match request.firmware {
        Firmware::Bios => Some(&files.bios),
        Firmware::Uefi64 | Firmware::HttpUefi64 => Some(&files.uefi_x64),
        Firmware::Uefi32 => files.uefi_ia32.as_ref(),
        Firmware::UefiArm64 | Firmware::HttpArm64 => files.uefi_arm64.as_ref(),
        Firmware::Other(_) => return Err("client architecture not supported"),
    }
    .ok_or("no iPXE build for this architecture (put one in data/bootloaders/)")?;
    Ok(match request.class {
        ClientClass::Pxe => Bootfile::Tftp(name.clone()),
        ClientClass::Http => {
            Bootfile::Url(format!("http://{server}:{}/ipxe/{name}", policy.http_port))
        }
    })
}

/// Encodes the reply datagram from `server` (next-server and server identifier).
pub fn encode(request: &PxeRequest, answer: &Answer, server: Ipv4Addr) -> Vec<u8> {
    let mut m = Message::new_with_id(
        request.xid,
        request.ciaddr,
        Ipv4Addr::UNSPECIFIED,
        server,
        request.giaddr,
        &request.mac.0,
    );
    m.set_opcode(Opcode::BootReply);
    if request.broadcast {
        m.set_flags(Flags::default().set_broadcast());
    }
    m.set_sname(server.to_string().as_bytes());
    let bootfile = match &answer.bootfile {
        Bootfile::Tftp(name) | Bootfile::Url(name) => Some(name),
        Bootfile::AskBootServer => None,
    };
    if let Some(name) = bootfile.filter(|n| n.len() < 128) {
        m.set_fname(name.as_bytes());
    }
    let class: &[u8] = match request.class {
        ClientClass::Pxe => b"PXEClient",
        ClientClass::Http => b"HTTPClient",
    };
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(answer.kind));
    opts.insert(DhcpOption::ServerIdentifier(server));
    opts.insert(DhcpOption::ClassIdentifier(class.to_vec()));
    if let Some(guid) = &request.guid {
        opts.insert(DhcpOption::ClientMachineIdentifier(guid.clone()));
    }
    if let Some(name) = bootfile {
        opts.insert(DhcpOption::BootfileName(name.as_bytes().to_vec()));
    }
    if request.class == ClientClass::Pxe && !request.ipxe {
        let vendor = pxe_vendor_options(request, &answer.bootfile, server);
        opts.insert(DhcpOption::VendorExtensions(vendor));
    }
    let mut out = Vec::with_capacity(MIN_REPLY + 64);
    // Encoding into a Vec cannot fail: every field we set is within its wire size.
    let _ = m.encode(&mut Encoder::new(&mut out));
    if out.len() < MIN_REPLY {
        out.resize(MIN_REPLY, 0);
    }
    out
}

/// Option 43 for PXE firmware: either "boot this file now", or the boot-server list that
/// sends it to 4011; on 4011 the boot item asked for is echoed (PXE spec 2.1 §2.2.5).
fn pxe_vendor_options(request: &PxeRequest, bootfile: &Bootfile, server: Ipv4Addr) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    match bootfile {
        Bootfile::AskBootServer => {
            v.extend_from_slice(&[PXE_DISCOVERY_CONTROL, 1, UNICAST_TO_LISTED]);
            // One server of type 0x8000 (vendor) at our address, one menu item, no prompt.
            v.extend_from_slice(&[PXE_BOOT_SERVERS, 7, 0x80, 0x00, 1]);
            v.extend_from_slice(&server.octets());
            let label = b"fleetboot";
            v.extend_from_slice(&[PXE_BOOT_MENU, 3 + label.len() as u8, 0x80, 0x00]);
            v.push(label.len() as u8);
            v.extend_from_slice(label);
            v.extend_from_slice(&[PXE_MENU_PROMPT, 1, 0]);
        }
        _ => {
            v.extend_from_slice(&[PXE_DISCOVERY_CONTROL, 1, USE_BOOTFILE_NOW]);
            if let Some(item) = request.boot_item {
                v.extend_from_slice(&[PXE_BOOT_ITEM, 4]);
                v.extend_from_slice(&item);
            }
        }
    }
    v.push(255);
    v
}

/// Where a reply goes (RFC 2131 §4.1): back to a relay's port 67; on 4011 back to the
/// sender; to a client that has an address, unicast; otherwise broadcast (the client has no
/// address yet and a proxy offer carries none to unicast to).
pub fn destination(request: &PxeRequest, port: Port, from: SocketAddrV4) -> SocketAddrV4 {
    if !request.giaddr.is_unspecified() {
        return SocketAddrV4::new(request.giaddr, 67);
    }
    match port {
        Port::BootServer => from,
        Port::Dhcp if !request.ciaddr.is_unspecified() && !request.broadcast => {
            SocketAddrV4::new(request.ciaddr, 68)
        }
        Port::Dhcp => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
