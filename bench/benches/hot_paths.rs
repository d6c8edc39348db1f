//! Criterion benches of the data plane's per-packet and per-request work, without I/O:
//! TFTP codec and window bookkeeping, HTTP head parse + range selection + head render, name
//! normalisation + catalog lookup, proxyDHCP decode + decide + encode, `/boot.ipxe` query
//! parse + policy lookup. Throughput is per packet or request (per block for the window
//! bookkeeping): this code never touches the payload, so bytes per second of it would credit
//! it with work the kernel does. What the send path moves per core is measured through real
//! sockets by `bench/peers.sh` and `bench/http-wrk.sh`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use dataplane::boot::SERVER_TOKEN;
use dataplane::dhcp::reply::{self, Bootfiles, Decision, Policy, Port, UefiStrategy};
use dataplane::dhcp::request::{self as dhcp_request, Seen};
use dataplane::http::boot_script;
use dataplane::http::mac_check::{MacCheck, Requester};
use dataplane::http::range::{self, Validators};
use dataplane::tftp::options::{negotiate, Limits};
use dataplane::tftp::session::{Status, Transfer, Transmit};
use dataplane::wire::http::{self, parse_request};
use dataplane::wire::http_response::{
    render_response, ContentRange, ResponseHead, Status as HttpStatus,
};
use dataplane::wire::tftp::{self, Packet, RequestOptions};
use dataplane::{path, Blob, BlobSlice, BootPolicy, Catalog, ClientScript, Exposure, Mac, Use};

const RRQ: &[u8] = b"\x00\x01files/ubuntu/casper/vmlinuz\x00octet\x00blksize\x001468\x00tsize\x000\x00windowsize\x0016\x00";
const IPXE_GET: &[u8] = b"GET /isos/ubuntu-24.04.iso HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.21.1+ (g988d2)\r\nHost: 10.0.0.2:8080\r\nRange: bytes=1048576-2097151\r\n\r\n";

fn tftp(c: &mut Criterion) {
    let mut g = c.benchmark_group("tftp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_rrq", |b| {
        b.iter(|| Packet::parse(black_box(RRQ)).is_ok())
    });
    g.bench_function("data_header", |b| {
        b.iter(|| tftp::data_header(black_box(7)))
    });
    // A whole 32 MiB transfer at blksize 1468 / windowsize 16 through the state machine, with a
    // perfect client: the bookkeeping cost per payload byte, I/O excluded.
    let len: u64 = 32 << 20;
    let requested = RequestOptions {
        blksize: Some(1468),
        windowsize: Some(16),
        ..RequestOptions::default()
    };
    let limits = Limits::default();
    let negotiated = negotiate(&requested, len, &limits).unwrap();
    g.throughput(Throughput::Elements(len.div_ceil(1468)));
    g.bench_function("window_bookkeeping_32MiB_1468x16", |b| {
        b.iter(|| {
            let now = Instant::now();
            let mut t = Transfer::new(len, &negotiated, &limits, now);
            loop {
                match t.poll_transmit(now) {
                    Transmit::Oack => t.on_ack(0, now),
                    Transmit::Blocks { first, count } => {
                        let last = first + u64::from(count) - 1;
                        for block in first..=last {
                            black_box(t.block_range(block));
                            black_box(Transfer::wire_block(block));
                        }
                        t.on_ack(Transfer::wire_block(last), now);
                    }
                    Transmit::Nothing => break,
                }
                if t.status() != Status::Active {
                    break;
                }
            }
            t.bytes_acked()
        })
    });
    g.finish();
}

fn http_request(c: &mut Criterion) {
    let limits = http::Limits {
        max_request_line: 8192,
        max_head: 16384,
        max_headers: 64,
    };
    let validators = Validators {
        etag: "\"98c0e6-6-6b027eff.7c01b03\"",
        last_modified: 1_790_000_000,
    };
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_select_render", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            let (head, _) = parse_request(black_box(IPXE_GET), &limits).unwrap();
            let selection = range::select(&head, 6 << 30, &validators);
            let (first, last) = match selection {
                range::Selection::Single {
                    start,
                    end_exclusive,
                } => (start, end_exclusive - 1),
                _ => (0, 0),
            };
            out.clear();
            render_response(
                &ResponseHead {
                    status: HttpStatus::PartialContent206,
                    version: head.version,
                    content_type: Some("application/x-iso9660-image"),
                    content_length: last - first + 1,
                    content_range: Some(ContentRange::Bytes {
                        first,
                        last,
                        complete: 6 << 30,
                    }),
                    etag: Some(validators.etag),
                    last_modified: Some("Sun, 22 Nov 2026 05:34:55 GMT"),
                    accept_ranges: true,
                    keep_alive: true,
                    allow: None,
                    extra: &[],
                },
                &mut out,
            );
            out.len()
        })
    });
    g.finish();
}

fn catalog_lookup(c: &mut Criterion) {
    let blob = Blob::from_static(b"x", 0);
    let mut builder = Catalog::builder();
    for i in 0..10_000 {
        builder.insert(
            &format!("isos/group{}/image-{i}.iso", i % 40),
            BlobSlice::whole(blob.clone()),
            Exposure::BOTH,
        );
    }
    let catalog = builder.build();
    let mut g = c.benchmark_group("catalog");
    g.throughput(Throughput::Elements(1));
    g.bench_function("normalize_and_lookup_10k", |b| {
        let mut key = String::new();
        b.iter(|| {
            path::normalize_into(black_box(b"/isos/group17/image-4017.iso"), &mut key).unwrap();
            catalog.http(&key).is_some()
        })
    });
    g.finish();
}

/// A BIOS PXE DISCOVER as firmware sends it: BOOTP header, cookie, options 53, 60, 93, 97.
fn pxe_discover() -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[..4].copy_from_slice(&[1, 1, 6, 0]);
    p[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    p[10] = 0x80;
    p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1]);
    let class = b"PXEClient:Arch:00000:UNDI:002001";
    p.extend_from_slice(&[60, class.len() as u8]);
    p.extend_from_slice(class);
    p.extend_from_slice(&[93, 2, 0, 0, 97, 17]);
    p.extend_from_slice(&[0; 17]);
    p.push(255);
    p
}

fn dhcp_policy() -> Policy {
    Policy {
        server: None,
        http_port: 8080,
        bootfiles: Bootfiles {
            bios: "undionly.kpxe".into(),
            uefi_x64: "ipxe.efi".into(),
            uefi_ia32: None,
            uefi_arm64: None,
        },
        uefi: UefiStrategy::InOffer,
    }
}

/// DISCOVER in, OFFER length out: the per-packet work of proxyDHCP.
fn offer_len(discover: &[u8], policy: &Policy) -> usize {
    let Ok(Seen::Pxe(req)) = dhcp_request::parse(discover) else {
        unreachable!("the bench packet is a PXE DISCOVER")
    };
    // The address the DISCOVER arrived at names the server.
    let server = policy.server_for([10, 0, 0, 2].into());
    match reply::decide(&req, Port::Dhcp, policy, server) {
        Decision::Answer(a) => reply::encode(&req, &a, server).len(),
        _ => 0,
    }
}

fn proxy_dhcp(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp");
    g.throughput(Throughput::Elements(1));
    let discover = pxe_discover();
    let policy = dhcp_policy();
    g.bench_function("discover_to_offer", |b| {
        b.iter(|| offer_len(black_box(&discover), &policy))
    });
    g.finish();
}

fn boot_script_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("boot_script");
    g.throughput(Throughput::Elements(1));
    let mut policy = BootPolicy::new("#!ipxe\nmenu\n".repeat(200));
    for n in 0..10_000u32 {
        let b = n.to_be_bytes();
        policy.assign(
            Mac([0x52, 0x54, b[0], b[1], b[2], b[3]]),
            ClientScript {
                script: format!(
                    "#!ipxe\nkernel http://{SERVER_TOKEN}/images/x/vmlinuz n={n}\nboot\n"
                ),
                image: "x".into(),
            },
        );
    }
    let query = b"mac=52:54:00:00:13:88&uuid=4c4c4544-0042-3510-8052-b4c04f4e4d32&arch=x86_64&platform=efi&manufacturer=Dell%20Inc.&product=PowerEdge%20R650&serial=ABC1234&asset=&memsize=262144";
    // The MAC check's neighbour-table read is the kernel's cost, not this lookup's.
    let requester = Requester {
        peer: [10, 0, 0, 50].into(),
        check: MacCheck::Off,
    };
    g.bench_function("query_to_script_10k_clients", |b| {
        b.iter(|| {
            let host = Some(&b"10.0.0.2:8080"[..]);
            boot_script::respond(
                &policy,
                black_box(query),
                host,
                None,
                &requester,
                Use::Consume,
            )
            .0
            .len()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = tftp, http_request, catalog_lookup, proxy_dhcp, boot_script_lookup
}
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
