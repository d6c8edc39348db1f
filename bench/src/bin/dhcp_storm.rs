//! `dhcp-storm`: PXE DISCOVERs from many MACs at a target rate, sent as a relay agent (giaddr =
//! `--relay`), so answers come back by unicast to `--relay:--relay-port`, or without `--relay`
//! as the clients themselves send them: from port 68, giaddr 0, to the broadcast address, out
//! of `--interface`, answers broadcast back to port 68. Counts the proxy OFFERs by xid and
//! reports sent / answered / lost / duplicate (a request answered more than once) / wrong;
//! with `--expect-server` every OFFER must come from that address and name it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bench::dhcp_relay;
use bench::report::Summary;
use clap::Parser;
use socket2::{Domain, Socket, Type};

/// PXE DISCOVER storm through a relay address.
#[derive(Parser, Debug)]
struct Args {
    /// The DHCP server, IP:PORT.
    target: SocketAddr,
    /// Relay address: giaddr of every DISCOVER and the address answers are received on.
    /// Without it, DISCOVERs go out as clients send them (giaddr 0, from port 68).
    #[arg(long)]
    relay: Option<Ipv4Addr>,
    /// Port answers arrive on [default: 67 through a relay, else 68].
    #[arg(long)]
    relay_port: Option<u16>,
    /// Send and receive on this interface only (SO_BINDTODEVICE): a broadcast then needs no
    /// route, as for a client that has no address yet.
    #[arg(long)]
    interface: Option<String>,
    /// Every proxy OFFER must come from this address and name it as server identifier (and
    /// as next-server when it names a bootfile); any other proxy OFFER counts as wrong.
    #[arg(long)]
    expect_server: Option<Ipv4Addr>,
    /// DISCOVERs to send, one MAC each.
    #[arg(long, default_value_t = 10_000)]
    count: u32,
    /// Target DISCOVERs per second.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// DISCOVERs sent back to back per burst.
    #[arg(long, default_value_t = 32)]
    batch: u32,
    /// Seconds to wait for answers after the last send.
    #[arg(long, default_value_t = 2.0)]
    wait: f64,
    /// First xid (later ones follow it).
    #[arg(long, default_value_t = 0x5eed_0000)]
    xid: u32,
}

#[derive(Debug, Default)]
struct Answers {
    answered: u32,
    duplicate: u32,
    wrong: u32,
    first_wrong: Option<&'static str>,
    last_answer: Option<Instant>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("dhcp-storm: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> std::io::Result<bool> {
    let socket = storm_socket(args)?;
    let receiver = socket.try_clone()?;
    receiver.set_read_timeout(Some(Duration::from_millis(50)))?;
    let sending = AtomicBool::new(true);
    let started = Instant::now();
    let (sent, send_time, answers) = std::thread::scope(|s| {
        let counter = s.spawn(|| collect(&receiver, args, &sending));
        let sent = send_all(&socket, args, started);
        let send_time = started.elapsed();
        sending.store(false, Ordering::Release);
        (sent, send_time, counter.join().expect("receiver panicked"))
    });
    let answer_time = answers.last_answer.map_or(Duration::ZERO, |t| t - started);
    let summary = Summary::new("dhcp-storm")
        .field(
            "mode",
            if args.relay.is_some() {
                "relay"
            } else {
                "client"
            },
        )
        .field("sent", sent)
        .field("answered", answers.answered)
        .field("lost", sent - answers.answered)
        .field("duplicate", answers.duplicate)
        .field("wrong", answers.wrong)
        .rate("sent_s", f64::from(sent), send_time)
        .rate("answered_s", f64::from(answers.answered), answer_time);
    println!("{}", summary.line());
    if let Some(why) = answers.first_wrong {
        eprintln!("dhcp-storm: first wrong answer: {why}");
    }
    Ok(answers.answered == sent && answers.wrong == 0 && answers.duplicate == 0)
}

/// The relay's (or the clients') socket, with a receive buffer large enough that a receiver
/// thread descheduled for a few milliseconds does not drop answers (the kernel caps it at
/// `net.core.rmem_max`).
fn storm_socket(args: &Args) -> std::io::Result<UdpSocket> {
    let (ip, port) = match args.relay {
        Some(relay) => (relay, args.relay_port.unwrap_or(67)),
        None => (Ipv4Addr::UNSPECIFIED, args.relay_port.unwrap_or(68)),
    };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    socket.set_recv_buffer_size(16 << 20)?;
    socket.set_broadcast(true)?;
    if let Some(name) = &args.interface {
        socket.bind_device(Some(name.as_bytes()))?;
    }
    socket.bind(&SocketAddr::from((ip, port)).into())?;
    Ok(socket.into())
}

/// Sends every DISCOVER in bursts of `batch`, each burst on its schedule for `rate`.
fn send_all(socket: &UdpSocket, args: &Args, started: Instant) -> u32 {
    let mut sent = 0;
    while sent < args.count {
        let due = started + Duration::from_secs_f64(f64::from(sent) / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let end = (sent + args.batch.max(1)).min(args.count);
        for i in sent..end {
            let giaddr = args.relay.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let packet = dhcp_relay::discover(i, args.xid.wrapping_add(i), giaddr);
            // A refused send is a DISCOVER lost on the wire: it shows up as lost.
            let _ = socket.send_to(&packet, args.target);
        }
        sent = end;
    }
    sent
}

/// Counts answers until sending is over and `wait` has passed (or all are answered).
fn collect(socket: &UdpSocket, args: &Args, sending: &AtomicBool) -> Answers {
    let mut answers = Answers::default();
    let mut seen = vec![false; args.count as usize];
    let mut buf = [0u8; 1500];
    let mut stop_at: Option<Instant> = None;
    while answers.answered < args.count && stop_at.is_none_or(|t| Instant::now() < t) {
        if stop_at.is_none() && !sending.load(Ordering::Acquire) {
            stop_at = Some(Instant::now() + Duration::from_secs_f64(args.wait));
        }
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue; // read timeout: check the clock again
        };
        match dhcp_relay::check_answer(&buf[..n], args.xid, args.count, dhcp_relay::mac) {
            Ok(offer) if misaddressed(&offer, from.ip(), args.expect_server) => {
                answers.wrong += 1;
                answers
                    .first_wrong
                    .get_or_insert("OFFER from or naming another address");
            }
            Ok(offer) if seen[offer.index as usize] => answers.duplicate += 1,
            Ok(offer) => {
                seen[offer.index as usize] = true;
                answers.answered += 1;
                answers.last_answer = Some(Instant::now());
            }
            Err(rejected) => {
                // Other traffic on the port is not ours to judge.
                if let Some(why) = rejected.fault(args.relay.is_some()) {
                    answers.wrong += 1;
                    answers.first_wrong.get_or_insert(why);
                }
            }
        }
    }
    answers
}

/// Whether `offer`, received from `from`, breaks `--expect-server`. next-server matters only
/// with a bootfile: an offer that sends the client to boot server discovery has none.
fn misaddressed(offer: &dhcp_relay::Offer, from: IpAddr, expected: Option<Ipv4Addr>) -> bool {
    expected.is_some_and(|server| {
        from != IpAddr::V4(server)
            || offer.server_id != Some(server)
            || (offer.bootfile.is_some() && offer.next_server != server)
    })
}
