//! `dhcp-storm`: PXE DISCOVERs from many MACs at a target rate, sent as a relay agent (giaddr =
//! `--relay`), so answers come back by unicast to `--relay:--relay-port`; counts the proxy
//! OFFERs by xid and reports sent / answered / lost.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bench::dhcp_relay::{self, Rejected};
use bench::report::Summary;
use clap::Parser;
use socket2::{Domain, Socket, Type};

/// PXE DISCOVER storm through a relay address.
#[derive(Parser, Debug)]
struct Args {
    /// The DHCP server, IP:PORT.
    target: SocketAddr,
    /// Relay address: giaddr of every DISCOVER and the address answers are received on.
    #[arg(long)]
    relay: Ipv4Addr,
    /// Port answers arrive on (servers answer relays on 67).
    #[arg(long, default_value_t = 67)]
    relay_port: u16,
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
    let socket = relay_socket(SocketAddr::from((args.relay, args.relay_port)))?;
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
    Ok(answers.answered == sent && answers.wrong == 0)
}

/// The relay's socket, with a receive buffer large enough that a receiver thread descheduled
/// for a few milliseconds does not drop answers (the kernel caps it at `net.core.rmem_max`).
fn relay_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    socket.set_recv_buffer_size(16 << 20)?;
    socket.bind(&addr.into())?;
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
            let packet = dhcp_relay::discover(i, args.xid.wrapping_add(i), args.relay);
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
        let Ok(n) = socket.recv(&mut buf) else {
            continue; // read timeout: check the clock again
        };
        match dhcp_relay::check_answer(&buf[..n], args.xid, args.count, dhcp_relay::mac) {
            Ok(offer) if seen[offer.index as usize] => answers.duplicate += 1,
            Ok(offer) => {
                seen[offer.index as usize] = true;
                answers.answered += 1;
                answers.last_answer = Some(Instant::now());
            }
            Err(Rejected::Wrong(why)) => {
                answers.wrong += 1;
                answers.first_wrong.get_or_insert(why);
            }
            // Other traffic on the relay port is not ours to judge.
            Err(Rejected::Malformed | Rejected::UnknownXid) => {}
        }
    }
    answers
}
