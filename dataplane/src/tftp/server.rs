//! TFTP I/O: the per-core listener on port 69 and one task per transfer, each on a fresh
//! ephemeral port (the transfer ID of RFC 1350 §4). The task feeds the pure
//! [`super::session::Transfer`] state machine with ACKs and timeouts and sends what
//! it asks for: a whole window of DATA packets in one `sendmmsg`, bytes straight from the blob.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use monoio::net::udp::UdpSocket;

use super::netascii::NetasciiError;
use super::options::{negotiate, Negotiated, NegotiationError};
use super::session::{self, Status, Transfer, Transmit};
use super::spin;
use super::Config;
use crate::blob::BlobSlice;
use crate::busy::Busy;
use crate::events::{BootEvent, Detail, Outcome, Protocol};
use crate::inbox::Inbox;
use crate::path::{self, PathError};
use crate::runtime::Core;
use crate::stats::{GaugeGuard, Stats};
use crate::sys;
use crate::sys::pktinfo::{self, Datagram};
use crate::wire::tftp::{self as wire, ErrorCode, Mode, Packet, Request};

/// Largest request we read. RRQs with many options stay far below this.
const MAX_REQUEST: usize = 2048;

/// Runs the listener until the data plane drains. Datagrams are read with their destination
/// address, so that each transfer answers from the address its RRQ was sent to.
pub(crate) async fn serve(core: Rc<Core>, socket: StdUdpSocket, config: Config) -> io::Result<()> {
    let listen_ip = socket.local_addr()?.ip();
    let reported = match listen_ip {
        IpAddr::V4(_) => pktinfo::enable(socket.as_raw_fd()),
        IpAddr::V6(_) => pktinfo::enable_v6(socket.as_raw_fd()),
    };
    if let Err(e) = reported {
        tracing::warn!(error = %e, "TFTP answers from the routing table's choice of address");
    }
    let socket = UdpSocket::from_std(socket)?;
    let listener = Listener {
        core,
        config: Rc::new(config),
        listen_ip,
        in_flight: InFlight::default(),
    };
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut inbox = Inbox::default();
    while let Some(received) = inbox
        .next(
            &socket,
            &listener.core.drain,
            &mut buf,
            pktinfo::recv_any_nowait,
        )
        .await
    {
        let datagram = &buf[..received.len];
        listener.on_datagram(&socket, datagram, received).await;
    }
    Ok(())
}

/// What the listener keeps between datagrams.
struct Listener {
    core: Rc<Core>,
    config: Rc<Config>,
    listen_ip: IpAddr,
    in_flight: InFlight,
}

impl Listener {
    async fn on_datagram(&self, socket: &UdpSocket, datagram: &[u8], received: Datagram) {
        let (core, peer) = (&self.core, received.from);
        match Packet::parse(datagram) {
            Ok(Packet::Read(request)) => {
                // A client whose first answer was slow asks again from the same port; the
                // transfer already running is its answer. SO_REUSEPORT hashes a peer to one
                // core, so this core sees all of its requests.
                let Some(claim) = self.in_flight.claim(peer) else {
                    Stats::bump(&core.stats.tftp_duplicate_requests);
                    return;
                };
                let local = received
                    .reply_source()
                    .unwrap_or(SocketAddr::new(self.listen_ip, 0));
                let job = Job::from_request(&request, peer, local);
                monoio::spawn(run_transfer(
                    core.clone(),
                    self.config.clone(),
                    self.listen_ip,
                    job,
                    claim,
                ));
            }
            Ok(Packet::Write(_)) => {
                Stats::bump(&core.stats.tftp_malformed);
                let why = "read-only server";
                reply_error(socket, peer, ErrorCode::AccessViolation, why).await;
            }
            // ACK/DATA/ERROR to port 69 belong to no transfer: drop them, count them.
            Ok(_) | Err(_) => Stats::bump(&core.stats.tftp_malformed),
        }
    }
}

/// The peers this core is running a transfer for.
#[derive(Default, Clone)]
struct InFlight(Rc<RefCell<HashSet<SocketAddr>>>);

impl InFlight {
    /// Marks `peer` busy until the returned claim drops; `None` if it already is.
    fn claim(&self, peer: SocketAddr) -> Option<Claim> {
        self.0.borrow_mut().insert(peer).then(|| Claim {
            peers: self.clone(),
            peer,
        })
    }
}

/// A peer's place in [`InFlight`], released when its transfer ends however it ends.
struct Claim {
    peers: InFlight,
    peer: SocketAddr,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.peers.0.borrow_mut().remove(&self.peer);
    }
}

/// What a request asked for, owned so the task can outlive the receive buffer.
struct Job {
    peer: SocketAddr,
    /// Our address the request was sent to (port 0): the transfer answers from it.
    local: SocketAddr,
    filename: Vec<u8>,
    mode: Mode,
    options: wire::RequestOptions,
}

impl Job {
    fn from_request(request: &Request<'_>, peer: SocketAddr, local: SocketAddr) -> Job {
        Job {
            peer,
            local,
            filename: request.filename.to_vec(),
            mode: request.mode,
            options: request.options.clone(),
        }
    }
}

async fn reply_error(socket: &UdpSocket, peer: SocketAddr, code: ErrorCode, message: &str) {
    let mut out = Vec::with_capacity(64);
    wire::emit_error(code, message, &mut out);
    let _ = socket.send_to(out, peer).await;
}

async fn run_transfer(
    core: Rc<Core>,
    config: Rc<Config>,
    listen_ip: IpAddr,
    job: Job,
    _claim: Claim,
) {
    let started = Instant::now();
    let name = String::from_utf8_lossy(&job.filename).into_owned();
    let socket = match transfer_socket(job.local, listen_ip, job.peer) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(peer = %job.peer, error = %e, "tftp: cannot open a transfer socket");
            return;
        }
    };
    let (outcome, bytes, object) = transfer(&core, &config, &socket, &job).await;
    let object = object.unwrap_or(name);
    if matches!(outcome, Outcome::Complete) {
        core.stats
            .bytes_sent
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
    core.events.emit(BootEvent {
        protocol: Protocol::Tftp,
        client: job.peer,
        object,
        bytes,
        duration: started.elapsed(),
        outcome,
        detail: Detail::Transfer,
    });
}

/// A socket connected to `peer`, bound to `local` (where the request was sent), else to the
/// listen address when `local` cannot be bound (it stopped being ours meanwhile).
fn transfer_socket(
    local: SocketAddr,
    listen_ip: IpAddr,
    peer: SocketAddr,
) -> io::Result<UdpSocket> {
    let std = StdUdpSocket::bind(local).or_else(|e| {
        tracing::debug!(%local, error = %e, "tftp: answering from the listen address");
        StdUdpSocket::bind(SocketAddr::new(listen_ip, 0))
    })?;
    std.connect(peer)?;
    std.set_nonblocking(true)?;
    UdpSocket::from_std(std)
}

/// Resolves the request, negotiates, and runs the transfer; returns how it ended, the payload
/// bytes acknowledged and the normalised name when there was one.
async fn transfer(
    core: &Core,
    config: &Config,
    socket: &UdpSocket,
    job: &Job,
) -> (Outcome, u64, Option<String>) {
    let Some(_slot) =
        GaugeGuard::try_acquire(&core.stats, |s| &s.tftp_active, config.max_transfers)
    else {
        Stats::bump(&core.stats.tftp_busy);
        send_error(socket, ErrorCode::NotDefined, "server busy, try again").await;
        return (Outcome::Refused("busy"), 0, None);
    };
    let Some(_source) = core.shared.tftp_per_ip.try_acquire(job.peer.ip()) else {
        Stats::bump(&core.stats.tftp_per_ip_refused);
        let why = "too many transfers from your address, try again";
        send_error(socket, ErrorCode::NotDefined, why).await;
        return (Outcome::Refused("per-address cap"), 0, None);
    };
    if core.drain.is_draining() {
        send_error(socket, ErrorCode::NotDefined, "server shutting down").await;
        return (Outcome::Refused("draining"), 0, None);
    }
    let mut key = String::new();
    if let Err(e) = path::normalize_into(&job.filename, &mut key) {
        let (code, why) = match e {
            PathError::Escape => (ErrorCode::AccessViolation, "access violation"),
            PathError::Malformed | PathError::Empty => (ErrorCode::FileNotFound, "file not found"),
        };
        send_error(socket, code, why).await;
        return (Outcome::Refused("bad path"), 0, None);
    }
    let found = core.catalog.borrow_mut().current().tftp(&key).cloned();
    let Some(slice) = found else {
        send_error(socket, ErrorCode::FileNotFound, "file not found").await;
        return (Outcome::NotFound, 0, Some(key));
    };
    if !slice.blob().still_intact() {
        send_error(
            socket,
            ErrorCode::NotDefined,
            "file changed on the server, try again",
        )
        .await;
        return (Outcome::Failed("file truncated"), 0, Some(key));
    }
    let slice = match job.mode {
        Mode::Octet => slice,
        Mode::NetAscii => match core.shared.netascii.get(&slice) {
            Ok(converted) => converted,
            Err(e) => {
                if e == NetasciiError::OverBudget {
                    Stats::bump(&core.stats.tftp_netascii_refused);
                }
                send_error(socket, ErrorCode::NotDefined, e.message()).await;
                return (Outcome::Refused("netascii"), 0, Some(key));
            }
        },
    };
    Stats::bump(&core.stats.tftp_transfers);
    let limits = config.limits();
    let negotiated = match negotiate(&job.options, slice.len() as u64, &limits) {
        Ok(n) => n,
        Err(NegotiationError::OptionRefused(why)) => {
            send_error(socket, ErrorCode::OptionRefused, why).await;
            return (Outcome::Refused("option refused"), 0, Some(key));
        }
    };
    let mut machine = Transfer::new(slice.len() as u64, &negotiated, &limits, Instant::now());
    let outcome = drive(&core.stats, socket, &slice, &negotiated, &mut machine).await;
    slice.release_pages();
    (outcome, machine.bytes_acked(), Some(key))
}

/// Runs the state machine to its end.
///
/// One receive stays posted across timeouts: cancelling it at every timeout could drop an ACK
/// that arrives as the timer fires, and a receive abandoned without cancellation would hold
/// the socket open after the transfer.
///
/// The core's only transfer polls for each ACK a moment before it sleeps ([`spin`]).
///
/// An ICMP port unreachable (`ECONNREFUSED` on the connected socket, from a send or the
/// receive) ends the transfer at once: nobody listens there, and a forged RRQ must not make
/// us send a whole file's retransmissions at a victim whose port is closed. After each
/// retransmission the pending error is also read once ([`UNREACHABLE_PROBE`]), for the
/// driver whose receive is not woken by it.
async fn drive(
    stats: &Stats,
    socket: &UdpSocket,
    slice: &BlobSlice,
    negotiated: &Negotiated,
    machine: &mut Transfer,
) -> Outcome {
    let mut oack = Vec::new();
    if let Some(acked) = &negotiated.oack {
        wire::emit_oack(acked, &mut oack);
    }
    let running = Busy::start();
    let mut buf = vec![0u8; 1024];
    let mut polled = [0u8; 1024];
    loop {
        let mut receive = pin!(socket.recv(buf));
        // Until `receive` is first polled no read is posted in the ring, so a spin's
        // non-blocking read cannot race one.
        let mut posted = false;
        let mut spun = 0;
        let mut probe: Option<Instant> = None;
        let (result, back) = loop {
            if let Err(e) = transmit(socket, slice, machine, &mut oack).await {
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    return unreachable(stats);
                }
                tracing::debug!(error = %e, "tftp send");
                return Outcome::Failed("send failed");
            }
            if let Some(outcome) = finished(machine, negotiated) {
                if machine.status() == Status::Failed(session::FailReason::Unanswered) {
                    Stats::bump(&stats.tftp_unanswered);
                }
                return outcome;
            }
            let Some(deadline) = machine.poll_at() else {
                return Outcome::Failed("no deadline");
            };
            if !posted && spun < spin::MAX_READS && running.alone() {
                if let Some(result) = spin::poll(socket.as_raw_fd(), &mut polled, deadline) {
                    let read = result.is_ok();
                    if let Some(outcome) = take_reply(stats, machine, &polled, result) {
                        return outcome;
                    }
                    // An error ends the spinning for this read: timeouts are only kept by
                    // the ring's wait below, so a failing read must not loop here.
                    if read {
                        spun += 1;
                        continue;
                    }
                }
            }
            posted = true;
            let wake = probe.filter(|at| *at < deadline).unwrap_or(deadline);
            monoio::select! {
                received = &mut receive => break received,
                _ = monoio::time::sleep_until(wake.into()) => {
                    if probe.take().is_some_and(|at| at < deadline) {
                        if port_unreachable(socket) {
                            return unreachable(stats);
                        }
                    } else {
                        machine.on_timeout(Instant::now());
                        probe = Some(Instant::now() + UNREACHABLE_PROBE);
                    }
                }
            }
        };
        buf = back;
        if let Some(outcome) = take_reply(stats, machine, &buf, result) {
            return outcome;
        }
    }
}

/// Feeds what a read returned to the state machine; the outcome when it ends the transfer.
fn take_reply(
    stats: &Stats,
    machine: &mut Transfer,
    buf: &[u8],
    result: io::Result<usize>,
) -> Option<Outcome> {
    match result {
        Ok(n) => match Packet::parse(&buf[..n.min(buf.len())]) {
            Ok(Packet::Ack { block }) => machine.on_ack(block, Instant::now()),
            Ok(Packet::Error { .. }) => machine.on_peer_error(),
            _ => {}
        },
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Some(unreachable(stats)),
        Err(e) => tracing::trace!(error = %e, "tftp recv"),
    }
    None
}

/// How long after a retransmission the socket's pending error is read. The epoll fallback
/// never wakes a waiting receive for an ICMP error (monoio maps `EPOLLERR` alone to
/// write-closed), so without this look a closed port would only be seen at the next
/// timeout's send; a LAN's ICMP answers within a millisecond, a routed one well within this.
const UNREACHABLE_PROBE: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether an ICMP port unreachable is pending on the connected socket (`SO_ERROR`, which
/// also clears it).
fn port_unreachable(socket: &UdpSocket) -> bool {
    sys::take_error(socket.as_raw_fd())
        .is_some_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
}

/// The client's port is closed (ICMP port unreachable): counted, and the transfer is over.
fn unreachable(stats: &Stats) -> Outcome {
    Stats::bump(&stats.tftp_unreachable);
    Outcome::Failed("port unreachable")
}

/// Sends what the state machine asks for now.
async fn transmit(
    socket: &UdpSocket,
    slice: &BlobSlice,
    machine: &mut Transfer,
    oack: &mut Vec<u8>,
) -> io::Result<()> {
    match machine.poll_transmit(Instant::now()) {
        Transmit::Oack => {
            let (res, back) = socket.send(std::mem::take(oack)).await;
            *oack = back;
            res.map(drop)
        }
        Transmit::Blocks { first, count } => {
            send_window(socket, slice, machine, first, count).await
        }
        Transmit::Nothing => Ok(()),
    }
}

/// How the transfer ended, once it has.
fn finished(machine: &Transfer, negotiated: &Negotiated) -> Option<Outcome> {
    match machine.status() {
        Status::Active => None,
        Status::Complete => Some(Outcome::Complete),
        Status::Failed(session::FailReason::TimedOut) => Some(Outcome::Failed("timed out")),
        Status::Failed(session::FailReason::Unanswered) => Some(Outcome::Failed("no answer")),
        // PXE ROMs ask with tsize, read the size from the OACK, then abort with an ERROR and
        // ask again: a size probe, not a failure.
        Status::Failed(session::FailReason::PeerError)
            if negotiated.oack.is_some() && machine.bytes_acked() == 0 =>
        {
            Some(Outcome::NoBody)
        }
        Status::Failed(session::FailReason::PeerError) => Some(Outcome::Failed("client error")),
    }
}

/// Whether this host's kernel and devices take UDP GSO sends; cleared for good the first time
/// one answers `EIO` (a device without checksum offload), after which windows go out with
/// `sendmmsg` only.
static GSO_WORKS: AtomicBool = AtomicBool::new(true);

/// Sends blocks `first .. first + count`: in UDP GSO sends of as many full blocks as one may
/// carry where the kernel segments them, else in `sendmmsg` batches of `sys::MAX_BATCH`;
/// waits for socket space when the send buffer is full.
async fn send_window(
    socket: &UdpSocket,
    slice: &BlobSlice,
    machine: &Transfer,
    first: u64,
    count: u16,
) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut headers = [[0u8; 4]; sys::MAX_BATCH];
    let mut ranges = [(0u64, 0usize); sys::MAX_BATCH];
    let end = first + u64::from(count);
    let mut next = first;
    let mut gso = GSO_WORKS.load(Ordering::Relaxed);
    while next < end {
        let n = (end - next).min(sys::MAX_BATCH as u64) as usize;
        for i in 0..n {
            let block = next + i as u64;
            headers[i] = wire::data_header(Transfer::wire_block(block));
            ranges[i] = machine.block_range(block);
        }
        let mut sent = 0;
        while sent < n {
            // Every block but the file's last is full, so the first one sizes the segments.
            let segment = headers[sent].len() + ranges[sent].1;
            let k = (n - sent).min(sys::segments_per_send(segment));
            let result = if gso && k > 1 {
                let batch = sent..sent + k;
                match sys::send_segmented(
                    fd,
                    &headers[batch.clone()],
                    slice,
                    &ranges[batch],
                    segment,
                ) {
                    Err(e) if gso_unusable(&e) => {
                        gso = false;
                        continue;
                    }
                    other => other,
                }
            } else {
                sys::send_datagrams(fd, &headers[sent..n], slice, &ranges[sent..n])
            };
            match result {
                Ok(k) => sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable(false).await?,
                Err(e) => return Err(e),
            }
        }
        next += n as u64;
    }
    Ok(())
}

/// A GSO send the kernel refused for a reason `sendmmsg` does not have: no checksum offload on
/// the device (`EIO`, for good), a segment over the route's MTU (`EINVAL` or `EMSGSIZE`:
/// segments are never fragmented; this transfer).
fn gso_unusable(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(libc::EIO) => {
            if GSO_WORKS.swap(false, Ordering::Relaxed) {
                tracing::info!("TFTP: the device cannot segment UDP (no GSO); using sendmmsg");
            }
            true
        }
        Some(libc::EINVAL | libc::EMSGSIZE | libc::ENOPROTOOPT) => true,
        _ => e.kind() == io::ErrorKind::InvalidInput,
    }
}

async fn send_error(socket: &UdpSocket, code: ErrorCode, message: &str) {
    let mut out = Vec::with_capacity(64);
    wire::emit_error(code, message, &mut out);
    let _ = socket.send(out).await;
}
