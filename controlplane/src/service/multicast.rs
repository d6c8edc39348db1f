//! Multicast sessions as operators and other code start them: a file inside the data dir,
//! sent by the data plane's [`Sessions`] with the `[multicast]` settings as defaults. The
//! API, the CLI (through the API) and deploy flows all come through [`Multicast::start`].
//!
//! Unlike the rest of the service layer this needs no database and no coordinator: a session
//! lives in the data plane's memory, and ends with the process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use dataplane::multicast::{
    Destination, RateBounds, ReceiverStatus, SessionSpec, SessionStatus, Sessions,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ErrorKind, ServiceError};
use crate::config::MulticastSettings;
use crate::wol::InterfaceAddr;

/// Receivers a session waits for by default: a session is started for someone.
pub const DEFAULT_MIN_RECEIVERS: u32 = 1;
/// Longest wait for them by default, seconds: long enough for a rack to boot a receiver.
pub const DEFAULT_MAX_WAIT_SECS: u64 = 60;
/// Longest `max_wait` accepted, seconds (a day).
const MOST_WAIT_SECS: u64 = 86_400;

/// What to send; every field but `path` falls back to the `[multicast]` settings (or the
/// defaults above).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSpec {
    /// The file, relative to the data dir (`isos/disk.img`).
    pub path: String,
    /// Multicast group, IPv4 or IPv6.
    #[serde(default)]
    pub group: Option<String>,
    /// UDP port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Rate ceiling, Mbit/s.
    #[serde(default)]
    pub rate_mbit: Option<u32>,
    /// TTL (IPv4) or hop limit (IPv6).
    #[serde(default)]
    pub ttl: Option<u32>,
    /// Interface the datagrams leave by.
    #[serde(default)]
    pub interface: Option<String>,
    /// Receivers to wait for before sending (0: at once).
    #[serde(default)]
    pub min_receivers: Option<u32>,
    /// Longest wait for them, seconds.
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// `wait` or `unicast`.
    #[serde(default)]
    pub slow: Option<String>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Id, 8 hex digits (also in every datagram).
    pub id: String,
    /// The manifest's URL, as a machine on the boot network reaches it.
    pub url: String,
    /// preparing, waiting, sending, finished, cancelled or failed.
    pub state: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The file, relative to the data dir.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Chunks of the file.
    pub chunks: u32,
    /// Group.
    pub group: String,
    /// UDP port.
    pub port: u16,
    /// Interface.
    pub interface: String,
    /// TTL or hop limit.
    pub ttl: u32,
    /// Rate now, Mbit/s.
    pub rate_mbit: f64,
    /// Receivers waited for.
    pub min_receivers: u32,
    /// Longest wait for them, seconds.
    pub max_wait_secs: u64,
    /// Policy for slow receivers.
    pub slow: String,
    /// Payload bytes sent to the group.
    pub bytes_sent: u64,
    /// Datagrams sent to the group.
    pub datagrams_sent: u64,
    /// Repair rounds so far.
    pub repair_rounds: u32,
    /// Seconds since the start.
    pub age_secs: f64,
    /// Receivers, by name.
    pub receivers: Vec<ReceiverView>,
}

/// A receiver as of its last report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiverView {
    /// Its name.
    pub name: String,
    /// Where it reports from.
    pub address: String,
    /// Chunks written and verified.
    pub chunks_done: u32,
    /// Loss in its last report (0–1).
    pub loss: f32,
    /// receiving, done or failed.
    pub verdict: String,
    /// Told to fetch by HTTP.
    pub unicast: bool,
    /// Seconds since its last report.
    pub last_report_secs: f64,
    /// What it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Starts and shows sessions (cheap to clone).
#[derive(Clone)]
pub struct Multicast {
    sessions: Sessions,
    settings: MulticastSettings,
    data_dir: PathBuf,
    /// The boot HTTP port (manifest URLs).
    http_port: u16,
    /// The address clients reach us at, when fixed (`--server-addr`, or a specific HTTP
    /// listen address): names the default interface, and the host of manifest URLs.
    server: Option<Ipv4Addr>,
    /// proxyDHCP's interfaces: one alone is the boot network.
    dhcp_interfaces: Vec<String>,
}

impl Multicast {
    /// Sessions of `sessions` with these defaults.
    pub fn new(
        sessions: Sessions,
        settings: MulticastSettings,
        data_dir: PathBuf,
        http_port: u16,
        server: Option<Ipv4Addr>,
        dhcp_interfaces: Vec<String>,
    ) -> Multicast {
        Multicast {
            sessions,
            settings,
            data_dir,
            http_port,
            server,
            dhcp_interfaces,
        }
    }

    /// The data plane's sessions (metrics read their counters).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Starts a session; it is announced once the file is hashed (state `preparing` until
    /// then).
    ///
    /// # Errors
    /// A path outside the data dir or not a file, a group that is not multicast, an unknown
    /// interface or no way to choose one, bad numbers (400); too many sessions (503).
    pub fn start(&self, spec: SendSpec) -> Result<SessionView, ServiceError> {
        self.start_near(spec, &[])
    }

    /// [`Multicast::start`] for receivers last seen at `near`: with no interface
    /// named or configured, the one whose subnet holds them is chosen.
    ///
    /// # Errors
    /// As [`Multicast::start`].
    pub fn start_near(
        &self,
        spec: SendSpec,
        near: &[Ipv4Addr],
    ) -> Result<SessionView, ServiceError> {
        let path = inside_data_dir(&self.data_dir, &spec.path)?;
        let s = &self.settings;
        let group: IpAddr = match &spec.group {
            Some(g) => g
                .parse()
                .map_err(|_| ServiceError::bad_request(format!("group {g:?} is not an address")))?,
            None => s.group,
        };
        if !group.is_multicast() {
            return Err(ServiceError::bad_request(format!(
                "{group} is not a multicast group"
            )));
        }
        let interface = match spec.interface.clone().or_else(|| s.interface.clone()) {
            Some(name) => name,
            None => self.default_interface(near)?,
        };
        let index = nix::net::if_::if_nametoindex(interface.as_str()).map_err(|_| {
            ServiceError::bad_request(format!("no network interface {interface:?}"))
        })?;
        let rate_mbit = spec.rate_mbit.unwrap_or(s.rate_mbit);
        if rate_mbit == 0 {
            return Err(ServiceError::bad_request("rate_mbit must be at least 1"));
        }
        let max_wait = spec.max_wait_secs.unwrap_or(DEFAULT_MAX_WAIT_SECS);
        if max_wait > MOST_WAIT_SECS {
            return Err(ServiceError::bad_request(format!(
                "max_wait_secs must be at most {MOST_WAIT_SECS}"
            )));
        }
        let slow = match &spec.slow {
            Some(text) => text.parse().map_err(ServiceError::bad_request)?,
            None => s.slow,
        };
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let id = self
            .sessions
            .start(SessionSpec {
                path,
                name,
                destination: Destination {
                    group: SocketAddr::new(group, spec.port.unwrap_or(s.port)),
                    interface: index,
                    ttl: spec.ttl.unwrap_or(s.ttl),
                },
                rate: RateBounds::mbit(rate_mbit, s.min_rate_mbit.min(rate_mbit)),
                min_receivers: spec.min_receivers.unwrap_or(DEFAULT_MIN_RECEIVERS),
                max_wait: Duration::from_secs(max_wait),
                slow,
            })
            .map_err(|e| {
                let kind = match e {
                    dataplane::multicast::StartError::Busy => ErrorKind::Unavailable,
                    dataplane::multicast::StartError::Thread(_) => ErrorKind::Internal,
                    _ => ErrorKind::BadRequest,
                };
                ServiceError::new(kind, e.to_string())
            })?;
        let status = self
            .sessions
            .get(id)
            .ok_or_else(|| ServiceError::new(ErrorKind::Internal, "the session vanished"))?;
        tracing::info!(id = %format_args!("{id:08x}"), path = %spec.path, group = %status.destination.group, %interface, "multicast session started");
        Ok(self.view(status))
    }

    /// Every session.
    pub fn list(&self) -> Vec<SessionView> {
        self.sessions
            .list()
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    /// One session, by its hex id.
    ///
    /// # Errors
    /// Unknown id (404).
    pub fn get(&self, id: &str) -> Result<SessionView, ServiceError> {
        let status = parse_id(id).and_then(|n| self.sessions.get(n));
        status
            .map(|s| self.view(s))
            .ok_or_else(|| ServiceError::not_found(format!("no multicast session {id}")))
    }

    /// Cancels a session (its receivers turn to HTTP); returns it as it is now.
    ///
    /// # Errors
    /// Unknown id (404).
    pub fn cancel(&self, id: &str) -> Result<SessionView, ServiceError> {
        if !parse_id(id).is_some_and(|n| self.sessions.cancel(n)) {
            return Err(ServiceError::not_found(format!(
                "no multicast session {id}"
            )));
        }
        self.get(id)
    }

    /// The interface holding the server's boot address, else proxyDHCP's only interface,
    /// else [`choose_interface`]'s choice among this host's.
    fn default_interface(&self, near: &[Ipv4Addr]) -> Result<String, ServiceError> {
        if let Some(addr) = self.server {
            if let Some(name) = interface_holding(IpAddr::V4(addr)) {
                return Ok(name);
            }
        }
        if let [only] = self.dhcp_interfaces.as_slice() {
            return Ok(only.clone());
        }
        let interfaces = crate::wol::interfaces()
            .map_err(|e| ServiceError::new(ErrorKind::Internal, e.to_string()))?;
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        choose_interface(&interfaces, near, &default_route_interfaces(&routes))
            .map_err(ServiceError::bad_request)
    }

    fn view(&self, s: SessionStatus) -> SessionView {
        let interface = nix::net::if_::if_indextoname(s.destination.interface).map_or_else(
            |_| s.destination.interface.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let host = self
            .server
            .map(IpAddr::V4)
            .or_else(|| address_of(&interface))
            .map_or_else(
                || "SERVER".to_owned(),
                |a| SocketAddr::new(a, self.http_port).to_string(),
            );
        let path = s
            .path
            .strip_prefix(&self.data_dir)
            .unwrap_or(&s.path)
            .to_string_lossy()
            .into_owned();
        SessionView {
            id: format!("{:08x}", s.id),
            url: format!("http://{host}/multicast/{:08x}", s.id),
            state: s.phase.as_str().to_owned(),
            error: s.error,
            path,
            size: s.size,
            chunks: s.chunks,
            group: s.destination.group.ip().to_string(),
            port: s.destination.group.port(),
            interface,
            ttl: s.destination.ttl,
            rate_mbit: s.rate_bps as f64 / 1e6,
            min_receivers: s.min_receivers,
            max_wait_secs: s.max_wait.as_secs(),
            slow: s.slow.to_string(),
            bytes_sent: s.bytes_sent,
            datagrams_sent: s.datagrams_sent,
            repair_rounds: s.repair_rounds,
            age_secs: s.age.as_secs_f64(),
            receivers: s.receivers.into_iter().map(receiver_view).collect(),
        }
    }
}

/// What live listeners last heard of each session: its state and how many receivers were
/// done.
pub type Heard = std::collections::HashMap<String, (String, usize)>;

/// The sessions among `views` that live listeners should hear of: new ones, and those whose
/// state changed or that have another receiver done since `heard`, which is brought up to
/// date (sessions gone are forgotten).
pub fn news(heard: &mut Heard, views: Vec<SessionView>) -> Vec<SessionView> {
    heard.retain(|id, _| views.iter().any(|v| &v.id == id));
    views
        .into_iter()
        .filter(|v| {
            let done = v.receivers.iter().filter(|r| r.verdict == "done").count();
            let now = (v.state.clone(), done);
            heard.insert(v.id.clone(), now.clone()).as_ref() != Some(&now)
        })
        .collect()
}

fn receiver_view(r: ReceiverStatus) -> ReceiverView {
    ReceiverView {
        name: r.name,
        address: r.address.to_string(),
        chunks_done: r.chunks_done,
        loss: r.loss,
        verdict: serde_json::to_value(r.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        unicast: r.unicast,
        last_report_secs: r.last_report.as_secs_f64(),
        message: r.message,
    }
}

fn parse_id(id: &str) -> Option<u32> {
    if id.is_empty() || id.len() > 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(id, 16).ok()
}

/// `relative` inside `data_dir`, as a regular file: no absolute path, no `..`, and no
/// symbolic link leading out.
///
/// # Errors
/// 400 with the reason.
pub fn inside_data_dir(data_dir: &Path, relative: &str) -> Result<PathBuf, ServiceError> {
    let escapes = || {
        ServiceError::bad_request(format!(
            "{relative:?} is not a file inside the data dir (give a path relative to it)"
        ))
    };
    let rel = Path::new(relative);
    if relative.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(escapes());
    }
    let root = data_dir
        .canonicalize()
        .map_err(|e| ServiceError::new(ErrorKind::Internal, format!("data dir: {e}")))?;
    let real = data_dir
        .join(rel)
        .canonicalize()
        .map_err(|e| ServiceError::bad_request(format!("{relative:?} in the data dir: {e}")))?;
    if !real.starts_with(&root) {
        return Err(escapes());
    }
    if !real.is_file() {
        return Err(ServiceError::bad_request(format!(
            "{relative:?} is not a regular file"
        )));
    }
    Ok(real)
}

/// The interface to send from when nothing names one: the one whose subnet holds the
/// receivers' last addresses (a deploy's machines), else the host's only IPv4 interface, else
/// the only one that does not carry a default route (`routed`): a server with an uplink and
/// an isolated provisioning network, which has no gateway. Anything else gets no guess: a
/// session out of the wrong interface reaches nobody, or floods the office network.
///
/// # Errors
/// No interface, or several and nothing to choose by: the reason, naming them.
pub fn choose_interface(
    interfaces: &[InterfaceAddr],
    near: &[Ipv4Addr],
    routed: &[String],
) -> Result<String, String> {
    if let Some(i) = interfaces
        .iter()
        .find(|i| near.iter().any(|&ip| i.holds(ip)))
    {
        return Ok(i.name.clone());
    }
    let mut names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    names.dedup();
    let unrouted: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !routed.iter().any(|r| r == n))
        .collect();
    match (names.as_slice(), unrouted.as_slice()) {
        ([only], _) | (_, [only]) => Ok((*only).to_owned()),
        ([], _) => Err("no interface to send from: this host has no up IPv4 interface".to_owned()),
        (several, _) => Err(format!(
            "no interface to send from: this host has several ({}); name one (interface), \
             or set multicast.interface, or the server's boot address (dhcp.server_addr)",
            several.join(", ")
        )),
    }
}

/// The interfaces carrying an IPv4 default route, from `/proc/net/route`'s text.
fn default_route_interfaces(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let destination = fields.next()?;
            (destination == "00000000").then(|| name.to_owned())
        })
        .collect()
}

/// The interface that holds `addr`.
fn interface_holding(addr: IpAddr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        let held = a.address.as_ref().and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })?;
        (held == addr).then_some(a.interface_name)
    })
}

/// An address of `interface` a machine on its link reaches: IPv4 first, else a global IPv6.
fn address_of(interface: &str) -> Option<IpAddr> {
    let mut v6 = None;
    for a in nix::ifaddrs::getifaddrs().ok()? {
        if a.interface_name != interface {
            continue;
        }
        let Some(s) = a.address else { continue };
        if let Some(v4) = s.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        if let Some(s6) = s.as_sockaddr_in6() {
            let ip = s6.ip();
            // fe80::/10 needs a zone a URL cannot carry well.
            if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                v6.get_or_insert(IpAddr::V6(ip));
            }
        }
    }
    v6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("fleetboot-mcpath-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(data.join("isos")).unwrap();
        std::fs::write(data.join("isos/disk.img"), b"x").unwrap();
        std::fs::write(dir.join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), data.join("isos/out")).unwrap();
        assert!(inside_data_dir(&data, "isos/disk.img").is_ok());
        for bad in [
            "",
            "../secret",
            "/etc/passwd",
            "isos/../../secret",
            "isos/out",
            "isos",
            "./isos/disk.img",
        ] {
            let e = inside_data_dir(&data, bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadRequest, "{bad}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_interface_is_the_receivers_subnet_or_the_only_one_never_a_guess() {
        let at = |name: &str, addr: [u8; 4], prefix| InterfaceAddr {
            name: name.into(),
            index: 1,
            addr: Ipv4Addr::from(addr),
            prefix,
        };
        let office = at("eth0", [10, 0, 0, 5], 24);
        let lab = at("eth1", [192, 168, 70, 1], 24);
        let lab2 = at("eth1", [192, 168, 71, 1], 24);
        let both = [office.clone(), lab.clone(), lab2];
        let machine = Ipv4Addr::new(192, 168, 70, 23);
        let none: &[String] = &[];
        assert_eq!(choose_interface(&both, &[machine], none).unwrap(), "eth1");
        assert_eq!(
            choose_interface(std::slice::from_ref(&office), &[], none).unwrap(),
            "eth0"
        );
        // One interface with two addresses is still one interface.
        assert_eq!(choose_interface(&both[1..], &[], none).unwrap(), "eth1");
        let elsewhere = [Ipv4Addr::new(172, 16, 0, 1)];
        let why = choose_interface(&both, &elsewhere, none).unwrap_err();
        assert!(why.contains("several (eth0, eth1)"), "{why}");
        assert!(choose_interface(&[], &[], none)
            .unwrap_err()
            .contains("no up IPv4"));
        // The uplink carries the default route: the provisioning network is the other one.
        let routes = "Iface\tDestination\tGateway \tFlags\n\
                      eth0\t00000000\t0100000A\t0003\n\
                      eth0\t0000000A\t00000000\t0001\n\
                      eth1\t0046A8C0\t00000000\t0001\n";
        let routed = default_route_interfaces(routes);
        assert_eq!(routed, ["eth0"]);
        assert_eq!(choose_interface(&both, &[], &routed).unwrap(), "eth1");
        // Both routed: no guess.
        let all = ["eth0".to_owned(), "eth1".to_owned()];
        assert!(choose_interface(&both, &[], &all).is_err());
    }

    fn view(id: &str, state: &str, done: usize) -> SessionView {
        let receiver = |verdict: &str| ReceiverView {
            name: "r".into(),
            address: "192.0.2.1".into(),
            chunks_done: 0,
            loss: 0.0,
            verdict: verdict.into(),
            unicast: false,
            last_report_secs: 0.0,
            message: None,
        };
        SessionView {
            id: id.into(),
            url: String::new(),
            state: state.into(),
            error: None,
            path: String::new(),
            size: 0,
            chunks: 0,
            group: String::new(),
            port: 0,
            interface: String::new(),
            ttl: 1,
            rate_mbit: 0.0,
            min_receivers: 0,
            max_wait_secs: 0,
            slow: String::new(),
            bytes_sent: 0,
            datagrams_sent: 0,
            repair_rounds: 0,
            age_secs: 0.0,
            receivers: (0..done)
                .map(|_| receiver("done"))
                .chain([receiver("receiving")])
                .collect(),
        }
    }

    #[test]
    fn live_news_are_starts_state_changes_and_receivers_done() {
        let mut heard = Heard::new();
        let ids = |v: Vec<SessionView>| v.into_iter().map(|v| v.id).collect::<Vec<_>>();
        assert_eq!(ids(news(&mut heard, vec![view("a", "waiting", 0)])), ["a"]);
        assert!(news(&mut heard, vec![view("a", "waiting", 0)]).is_empty());
        assert_eq!(ids(news(&mut heard, vec![view("a", "sending", 0)])), ["a"]);
        assert_eq!(ids(news(&mut heard, vec![view("a", "sending", 1)])), ["a"]);
        let both = vec![view("a", "sending", 1), view("b", "preparing", 0)];
        assert_eq!(ids(news(&mut heard, both)), ["b"]);
        assert!(news(&mut heard, vec![]).is_empty());
        assert!(heard.is_empty());
    }

    #[test]
    fn ids_are_hex() {
        assert_eq!(parse_id("0000002a"), Some(42));
        for bad in ["", "+2a", "123456789", "xyz"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
