//! `udp-zerocopy`: what `MSG_ZEROCOPY` does to fleetboot's TFTP send path on this machine.
//!
//! `send` pushes a memory-mapped file to a UDP sink as TFTP windows do: UDP GSO sends of
//! `--window` datagrams, each a 4-byte header and a `--block`-byte slice of the mapping (two
//! iovecs, no user-space copy), with or without `MSG_ZEROCOPY`, and prints the bytes sent, the
//! time, its own CPU (getrusage) and, with `--zerocopy`, how many sends the kernel reported
//! done and how many of those it had to copy after all. `sink` counts what arrives.
//! The data plane keeps plain GSO sends; this tool is the A/B that decided it (bench/RESULTS.md).
//! `unsafe`: mmap, sendmsg with a GSO control message and MSG_ZEROCOPY, and the error queue
//! have no safe wrapper in std or socket2.
#![allow(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// `UDP_SEGMENT` (linux/udp.h).
const UDP_SEGMENT: libc::c_int = 103;
/// `SO_EE_ORIGIN_ZEROCOPY` and `SO_EE_CODE_ZEROCOPY_COPIED` (linux/errqueue.h).
const ORIGIN_ZEROCOPY: u8 = 5;
const CODE_ZEROCOPY_COPIED: u8 = 1;

#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Receive until `--idle-ms` of silence; print `bytes datagrams`.
    Sink {
        listen: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        idle_ms: u64,
    },
    /// Send `--file` `--rounds` times to `target`.
    Send {
        target: SocketAddr,
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value_t = 8)]
        rounds: u32,
        #[arg(long, default_value_t = 1468)]
        block: usize,
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Datagrams per GSO send (default: the whole window). With MSG_ZEROCOPY each iovec
        /// becomes page fragments of one skb, at most MAX_SKB_FRAGS (17): a 16-datagram
        /// window (32 iovecs) is refused with EMSGSIZE.
        #[arg(long)]
        per_send: Option<usize>,
        #[arg(long)]
        zerocopy: bool,
    },
}

fn main() -> ExitCode {
    let result = match Args::parse().role {
        Role::Sink { listen, idle_ms } => sink(listen, Duration::from_millis(idle_ms)),
        Role::Send {
            target,
            file,
            rounds,
            block,
            window,
            per_send,
            zerocopy,
        } => send(
            target,
            &file,
            rounds,
            block,
            (window, per_send.unwrap_or(window)),
            zerocopy,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp-zerocopy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sink(listen: SocketAddr, idle: Duration) -> io::Result<()> {
    let socket = socket2::Socket::from(UdpSocket::bind(listen)?);
    socket.set_recv_buffer_size(64 << 20)?;
    let socket = UdpSocket::from(socket);
    socket.set_read_timeout(Some(idle))?;
    let mut buf = vec![0u8; 65536];
    let (mut bytes, mut datagrams) = (0u64, 0u64);
    // The first datagram may take a while: the sender starts after us.
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                bytes += n as u64;
                datagrams += 1;
                socket.set_read_timeout(Some(idle))?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e),
        }
    }
    println!("sink bytes={bytes} datagrams={datagrams}");
    Ok(())
}

/// A read-only mapping of a whole file.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn open(path: &PathBuf) -> io::Result<Mapping> {
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
        if len == 0 {
            return Err(io::Error::other("empty file"));
        }
        // SAFETY: a fresh private read-only mapping of `len` bytes of an open file; the
        // kernel picks the address. The mapping outlives the descriptor by design.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing borrows the mapping now.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Completions read from the error queue: (sends reported done, of which copied).
#[derive(Default)]
struct Completions {
    done: u64,
    copied: u64,
}

fn send(
    target: SocketAddr,
    file: &PathBuf,
    rounds: u32,
    block: usize,
    (window, per_send): (usize, usize),
    zerocopy: bool,
) -> io::Result<()> {
    let per_send = per_send.clamp(1, window);
    let map = Mapping::open(file)?;
    let socket = UdpSocket::bind(if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    socket.connect(target)?;
    let fd = socket.as_raw_fd();
    if zerocopy {
        let one: libc::c_int = 1;
        // SAFETY: SO_ZEROCOPY reads one c_int from a pointer and length describing `one`.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ZEROCOPY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let segment = 4 + block;
    let blocks = map.len / block;
    let mut headers = vec![[0u8; 4]; window];
    let mut completions = Completions::default();
    let (mut sent_bytes, mut sends) = (0u64, 0u64);
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    for _ in 0..rounds {
        let mut next = 0;
        while next + window <= blocks {
            let mut iovecs = Vec::with_capacity(2 * window);
            for (i, header) in headers.iter_mut().enumerate() {
                let number = (next + i) as u16;
                *header = [0, 3, (number >> 8) as u8, number as u8];
                iovecs.push(libc::iovec {
                    iov_base: header.as_mut_ptr().cast(),
                    iov_len: 4,
                });
                iovecs.push(libc::iovec {
                    // SAFETY: `(next + i) * block + block <= blocks * block <= map.len`: the
                    // offset stays inside the mapping.
                    iov_base: unsafe { map.ptr.cast::<u8>().add((next + i) * block) }.cast(),
                    iov_len: block,
                });
            }
            for batch in iovecs.chunks_mut(2 * per_send) {
                loop {
                    match send_gso(fd, batch, segment, zerocopy) {
                        Ok(n) => {
                            sent_bytes += n as u64;
                            sends += 1;
                            break;
                        }
                        // The kernel's budget for pending zerocopy sends is spent: reap them.
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && zerocopy => {
                            reap(fd, &mut completions, true)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                if zerocopy && sends % 32 == 0 {
                    reap(fd, &mut completions, false)?;
                }
            }
            next += window;
        }
    }
    while zerocopy && completions.done < sends {
        reap(fd, &mut completions, true)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let gib = sent_bytes as f64 / f64::from(1u32 << 30);
    println!(
        "send zerocopy={} per_send={per_send} bytes={sent_bytes} sends={sends} secs={secs:.3} mib_s={:.1} cpu_s={cpu:.3} cpu_s_per_gib={:.3} completed={} copied={}",
        u8::from(zerocopy),
        sent_bytes as f64 / f64::from(1u32 << 20) / secs,
        cpu / gib,
        completions.done,
        completions.copied
    );
    Ok(())
}

/// One UDP GSO send of `iovecs` cut into `segment`-byte datagrams; bytes sent.
fn send_gso(
    fd: libc::c_int,
    iovecs: &mut [libc::iovec],
    segment: usize,
    zerocopy: bool,
) -> io::Result<usize> {
    let mut control = [0u64; 4];
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iovecs.as_mut_ptr();
    msg.msg_iovlen = iovecs.len();
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as usize;
    // SAFETY: `control` is 32 bytes, 8-aligned, more than CMSG_SPACE(2) = 24: the header and
    // its 2 data bytes that CMSG_FIRSTHDR/CMSG_DATA point at lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(2) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment as u16);
    }
    let flags = if zerocopy { libc::MSG_ZEROCOPY } else { 0 };
    // SAFETY: `msg` points at live iovecs (headers and the mapping, both outliving the call;
    // with MSG_ZEROCOPY the kernel pins the mapped pages itself) and at `control`.
    let sent = unsafe { libc::sendmsg(fd, &msg, flags) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Reads zerocopy completions off the socket's error queue; with `wait`, first waits (up to
/// 10 s) until there is one.
fn reap(fd: libc::c_int, completions: &mut Completions, wait: bool) -> io::Result<()> {
    let mut waited = 0;
    let mut got = false;
    loop {
        let mut control = [0u64; 16];
        // SAFETY: as in `send_gso`: an empty msghdr, then only a control buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: `msg` describes no data and a 128-byte control buffer the kernel fills.
        let rc = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if wait && !got && waited < 100 => {
                    // The error queue never blocks a read: poll says when it has something.
                    let mut pfd = libc::pollfd {
                        fd,
                        events: 0,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, alive for the call.
                    unsafe { libc::poll(&mut pfd, 1, 100) };
                    waited += 1;
                    continue;
                }
                io::ErrorKind::WouldBlock if wait && !got => {
                    return Err(io::Error::other("no zerocopy completion in 10 s"))
                }
                io::ErrorKind::WouldBlock => return Ok(()),
                _ => return Err(e),
            }
        }
        got = true;
        // SAFETY: the kernel wrote `msg_controllen` bytes of cmsgs into `control`; the CMSG_*
        // walk stays inside them, and a sock_extended_err is read unaligned from its data.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>();
                let err = std::ptr::read_unaligned(data);
                if err.ee_origin == ORIGIN_ZEROCOPY {
                    let n = u64::from(err.ee_data.wrapping_sub(err.ee_info)) + 1;
                    completions.done += n;
                    if err.ee_code == CODE_ZEROCOPY_COPIED {
                        completions.copied += n;
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
}

/// This process's user + system CPU seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage to write into.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
