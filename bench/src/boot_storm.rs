//! `boot-storm`'s simulated machines: each runs the chain a BIOS PXE machine runs against
//! fleetboot, one thread per machine, every step checked:
//!
//! 1. the PXE ROM's DISCOVER (relayed) → a proxy OFFER naming a TFTP bootfile and next-server;
//! 2. the bootfile over TFTP;
//! 3. iPXE's DISCOVER (user class `iPXE`) → an OFFER naming the boot script's URL;
//! 4. the script over HTTP, `chain`s followed with the machine's MAC and inventory expanded;
//! 5. the kernel and initrds the script names, each over a fresh connection, as iPXE does.
//!
//! Each file with a local copy ([`Copies`]) is compared with it byte for byte as it arrives,
//! which costs the client a small part of what hashing every byte does and so leaves its
//! core to receiving; other files are hashed, to be compared across machines.
//!
//! All machines share one relay socket (answers to a relay come back to its port 67); a
//! dispatcher thread hands each OFFER to its machine by xid. Machine `i`'s ROM DISCOVER has
//! xid `base + i`, its iPXE DISCOVER `base + machines + i`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::content::{Check, Verifier};
use crate::dhcp_relay::{self, Client, Offer};
use crate::http_client::{self, Connection};
use crate::ipxe_script::{self, Next, Settings};
use crate::tftp_client::{self, Step, Transfer};

/// Longest boot script accepted.
const MAX_SCRIPT: usize = 256 * 1024;
/// `chain`s followed before a script is called a loop.
const MAX_CHAINS: usize = 4;
/// DISCOVERs per DHCP exchange before the machine gives up (timeouts double each time).
const DHCP_TRIES: u32 = 4;

/// What every machine does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The proxyDHCP server, IP:PORT.
    pub dhcp: SocketAddr,
    /// The relay address the DISCOVERs carry as giaddr.
    pub relay: Ipv4Addr,
    /// TFTP port on next-server.
    pub tftp_port: u16,
    /// Machines in the storm.
    pub machines: u32,
    /// Machine `i` uses MAC `dhcp_relay::mac(first_mac + i)`.
    pub first_mac: u32,
    /// First xid.
    pub xid: u32,
    /// blksize the PXE ROM asks for.
    pub blksize: u16,
    /// First wait for an OFFER; it doubles per DISCOVER, as in PXE firmware (4, 8, 16, 32 s).
    pub dhcp_timeout: Duration,
    /// TFTP silence before a resend.
    pub tftp_timeout: Duration,
    /// Machines power on evenly over this time (zero: all at once).
    pub spread: Duration,
}

impl Plan {
    /// The MAC of machine `i`, as iPXE writes it.
    pub fn mac_text(&self, i: u32) -> String {
        let m = dhcp_relay::mac(self.first_mac.wrapping_add(i));
        m.map(|b| format!("{b:02x}")).join(":")
    }
}

/// One file a machine fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// TFTP name or HTTP URL.
    pub name: String,
    /// Bytes received.
    pub bytes: u64,
    /// What the machine could tell about them.
    pub check: Check,
}

/// Local copies of files the machines fetch (`--verify NAME=FILE`), held in memory.
#[derive(Debug, Default)]
pub struct Copies(Vec<(String, Vec<u8>)>);

impl Copies {
    /// Reads each NAME=FILE pair.
    ///
    /// # Errors
    /// A file could not be read.
    pub fn load(pairs: &[(String, PathBuf)]) -> std::io::Result<Copies> {
        pairs
            .iter()
            .map(|(name, file)| Ok((name.clone(), std::fs::read(file)?)))
            .collect::<std::io::Result<_>>()
            .map(Copies)
    }

    /// How to check a fetched file: against the copy whose NAME is its name or its path's
    /// last part, else by hashing.
    fn verifier(&self, fetched: &str) -> Verifier<'_> {
        let copy = self.0.iter().find(|(name, _)| {
            fetched == name
                || fetched
                    .strip_suffix(name.as_str())
                    .is_some_and(|head| head.ends_with('/'))
        });
        copy.map_or_else(Verifier::hashing, |(_, bytes)| Verifier::against(bytes))
    }
}

/// A machine that reached its kernel.
#[derive(Debug, Clone)]
pub struct Booted {
    /// From power-on to the last initrd byte.
    pub elapsed: Duration,
    /// Time in each stage: DHCP (both exchanges), TFTP, scripts, kernel + initrds.
    pub stages: [Duration; 4],
    /// The bootfile, the kernel and the initrds.
    pub files: Vec<Fetched>,
    /// DISCOVERs sent again after silence.
    pub dhcp_retries: u32,
    /// TFTP resends after silence.
    pub tftp_timeouts: u32,
}

/// Stage names, in [`Booted::stages`] order.
pub const STAGES: [&str; 4] = ["dhcp", "tftp", "script", "kernel"];

/// What the dispatcher saw on the relay socket.
#[derive(Debug, Default)]
pub struct RelayCounts {
    /// OFFERs handed to machines (duplicates included).
    pub offers: u32,
    /// Answers that were not a proper proxy OFFER.
    pub wrong: u32,
    /// Why the first of them was wrong.
    pub first_wrong: Option<&'static str>,
}

/// The storm's relay socket, shared by all machines for sending.
pub struct Relay {
    socket: UdpSocket,
}

impl Relay {
    /// Binds the relay's port 67 on `addr` (a large receive buffer: thousands of OFFERs can
    /// arrive within milliseconds).
    ///
    /// # Errors
    /// The bind failed (port 67 needs root and must be free on `addr`).
    pub fn bind(addr: Ipv4Addr) -> std::io::Result<Relay> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        socket.set_recv_buffer_size(16 << 20)?;
        socket.bind(&SocketAddr::from((addr, 67)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(Relay { socket })
    }

    /// Routes OFFERs to machines (`inboxes[i]`) until `done` is set.
    pub fn dispatch(
        &self,
        plan: &Plan,
        inboxes: &[Sender<Offer>],
        done: &AtomicBool,
    ) -> RelayCounts {
        let mut counts = RelayCounts::default();
        let mut buf = [0u8; 1500];
        while !done.load(Ordering::Acquire) {
            let Ok(n) = self.socket.recv(&mut buf) else {
                continue; // read timeout: look at `done` again
            };
            let mac_of = |j: u32| dhcp_relay::mac(plan.first_mac.wrapping_add(j % plan.machines));
            match dhcp_relay::check_answer(&buf[..n], plan.xid, plan.machines * 2, mac_of) {
                Ok(offer) => {
                    counts.offers += 1;
                    // A machine that already failed has dropped its inbox.
                    let _ = inboxes[(offer.index % plan.machines) as usize].send(offer);
                }
                Err(rejected) => {
                    if let Some(why) = rejected.fault(true) {
                        counts.wrong += 1;
                        counts.first_wrong.get_or_insert(why);
                    }
                }
            }
        }
        counts
    }
}

/// Machine `i`'s boot, from power-on; `started` counts machines that powered on.
///
/// # Errors
/// The stage that failed and why.
pub fn boot(
    i: u32,
    plan: &Plan,
    copies: &Copies,
    relay: &Relay,
    inbox: &Receiver<Offer>,
    started: &AtomicU32,
) -> Result<Booted, String> {
    let power_on = Instant::now();
    started.fetch_add(1, Ordering::Relaxed);
    let mut m = Machine {
        i,
        plan,
        copies,
        relay,
        inbox,
        dhcp_retries: 0,
        tftp_timeouts: 0,
        files: Vec::new(),
    };
    let mut stages = [Duration::ZERO; 4];
    let mut lap = Instant::now();
    let mut split = |stage: usize| {
        let now = Instant::now();
        stages[stage] += now - lap;
        lap = now;
    };
    let rom = m
        .dhcp(Client::PxeRom)
        .map_err(|e| format!("dhcp (PXE ROM): {e}"))?;
    split(0);
    let bootfile = rom
        .bootfile
        .ok_or("dhcp (PXE ROM): the offer names no bootfile")?;
    if bootfile.starts_with("http://") {
        return Err(format!(
            "dhcp (PXE ROM): offered {bootfile}, a URL a PXE ROM cannot fetch"
        ));
    }
    let tftp = SocketAddr::from((rom.next_server, plan.tftp_port));
    m.tftp(tftp, &bootfile)
        .map_err(|e| format!("tftp {bootfile}: {e}"))?;
    split(1);
    let ipxe = m
        .dhcp(Client::Ipxe)
        .map_err(|e| format!("dhcp (iPXE): {e}"))?;
    split(0);
    let script_url = ipxe
        .bootfile
        .ok_or("dhcp (iPXE): the offer names no script")?;
    let (kernel, initrds) = m.scripts(script_url)?;
    split(2);
    for url in std::iter::once(kernel).chain(initrds) {
        m.http_file(&url).map_err(|e| format!("http {url}: {e}"))?;
    }
    split(3);
    Ok(Booted {
        elapsed: power_on.elapsed(),
        stages,
        files: m.files,
        dhcp_retries: m.dhcp_retries,
        tftp_timeouts: m.tftp_timeouts,
    })
}

struct Machine<'a> {
    i: u32,
    plan: &'a Plan,
    copies: &'a Copies,
    relay: &'a Relay,
    inbox: &'a Receiver<Offer>,
    dhcp_retries: u32,
    tftp_timeouts: u32,
    files: Vec<Fetched>,
}

impl Machine<'_> {
    /// One DISCOVER/OFFER exchange, resent after silence as firmware does.
    fn dhcp(&mut self, client: Client) -> Result<Offer, String> {
        let p = self.plan;
        let index = match client {
            Client::PxeRom => self.i,
            Client::Ipxe => p.machines + self.i,
        };
        let packet = dhcp_relay::discover_from(
            client,
            p.first_mac.wrapping_add(self.i),
            p.xid.wrapping_add(index),
            p.relay,
        );
        let mut wait = p.dhcp_timeout;
        for attempt in 0..DHCP_TRIES {
            if attempt > 0 {
                self.dhcp_retries += 1;
            }
            // A refused send is a DISCOVER lost on the wire: the timeout resends it.
            let _ = self.relay.socket.send_to(&packet, p.dhcp);
            let deadline = Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.inbox.recv_timeout(left) {
                    // A late answer to the other exchange (a resent DISCOVER) is not this one.
                    Ok(offer) if offer.index != index => {}
                    Ok(offer) => return Ok(offer),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return Err("relay closed".into()),
                }
            }
            wait *= 2;
        }
        Err(format!("no offer after {DHCP_TRIES} DISCOVERs"))
    }

    /// Reads `file` from `server` (blksize as the plan says, no window: a PXE ROM's read).
    fn tftp(&mut self, server: SocketAddr, file: &str) -> Result<(), String> {
        let request = tftp_client::Request {
            file: file.to_owned(),
            blksize: Some(self.plan.blksize),
            windowsize: None,
            timeout: self.plan.tftp_timeout,
            retries: 5,
        };
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
        let mut t = Transfer::new(&request, self.copies.verifier(file), Instant::now());
        let mut buf = vec![0u8; 65536];
        let mut step = Step::Send;
        loop {
            match step {
                Step::Wait => {}
                Step::Send | Step::SendAndFinish(_) => {
                    let to = t.peer().unwrap_or(server);
                    socket
                        .send_to(t.outgoing(), to)
                        .map_err(|e| e.to_string())?;
                }
                Step::Fail(why) => return Err(why),
            }
            if let Step::SendAndFinish(done) = step {
                self.tftp_timeouts += done.timeouts;
                self.files.push(Fetched {
                    name: file.to_owned(),
                    bytes: done.bytes,
                    check: done.check,
                });
                return Ok(());
            }
            let left = t.deadline().saturating_duration_since(Instant::now());
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|e| e.to_string())?;
            step = match socket.recv_from(&mut buf) {
                Ok((n, from)) => t.on_datagram(from, &buf[..n], Instant::now()),
                Err(_) => t.on_timeout(Instant::now()),
            };
        }
    }

    /// Fetches and runs scripts from `url` until one boots; returns its kernel and initrds.
    fn scripts(&mut self, mut url: String) -> Result<(String, Vec<String>), String> {
        let settings = self.settings();
        for _ in 0..MAX_CHAINS {
            // Errors name the script without this machine's query, so that they group.
            let name = url.split('?').next().unwrap_or_default().to_owned();
            let mut text = Vec::new();
            let mut too_long = false;
            fetch(&url, |piece| {
                too_long |= text.len() + piece.len() > MAX_SCRIPT;
                if !too_long {
                    text.extend_from_slice(piece);
                }
            })
            .map_err(|e| format!("script {name}: {e}"))?;
            if too_long {
                return Err(format!("script {name}: longer than {MAX_SCRIPT} bytes"));
            }
            let text = String::from_utf8_lossy(&text);
            match ipxe_script::run(&text, &settings).map_err(|e| format!("script {name}: {e}"))? {
                Next::Chain(next) => url = next,
                Next::Boot { kernel, initrds } => return Ok((kernel, initrds)),
            }
        }
        Err(format!(
            "script {}: more than {MAX_CHAINS} chains",
            url.split('?').next().unwrap_or_default()
        ))
    }

    /// What this machine's iPXE knows about itself (a BIOS build on QEMU-like hardware).
    fn settings(&self) -> Settings {
        Settings::default()
            .set("netX/mac", &self.plan.mac_text(self.i))
            .set("uuid", &format!("00000000-0000-4000-8000-{:012x}", self.i))
            .set("buildarch", "i386")
            .set("platform", "pcbios")
            .set("manufacturer", "fleetboot")
            .set("product", "boot-storm")
            .set("serial", &format!("BS{:06}", self.i))
            .set("memsize", "4096")
    }

    fn http_file(&mut self, url: &str) -> std::io::Result<()> {
        let mut verifier = self.copies.verifier(url);
        let bytes = fetch(url, |piece| verifier.feed(piece))?;
        self.files.push(Fetched {
            name: url.to_owned(),
            bytes,
            check: verifier.check(),
        });
        Ok(())
    }
}

/// GETs `url` over a fresh connection (iPXE opens one per download).
fn fetch(url: &str, sink: impl FnMut(&[u8])) -> std::io::Result<u64> {
    let (server, path) = http_client::split_url(url).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an http://IP:PORT/ URL",
        )
    })?;
    Connection::open(server)?.get(&path, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_matches_its_name_or_a_path_ending_in_it() {
        let copies = Copies(vec![("vmlinuz".into(), b"k".to_vec())]);
        let compared = |f: &str| matches!(copies.verifier(f), Verifier::Compare { .. });
        assert!(compared("vmlinuz"));
        assert!(compared("http://10.0.0.2/iso/x/vmlinuz"));
        assert!(!compared("http://10.0.0.2/iso/x/myvmlinuz"));
        assert!(!compared("http://10.0.0.2/iso/x/initrd"));
    }
}
