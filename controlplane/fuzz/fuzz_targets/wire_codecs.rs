//! Fuzzes the data plane's wire codecs with arbitrary packets: TFTP datagrams, HTTP request
//! heads (with range/conditional evaluation), request names, DHCP requests (decided and
//! answered, the answer decoded back by dhcproto) and `/boot.ipxe` queries. Round trip where the codec
//! has both directions: an ACK emitted from a parsed ACK parses back to the same block.
#![no_main]

use dataplane::dhcp::reply::{self, Bootfiles, Decision, Policy, Port, UefiStrategy};
use dataplane::dhcp::request::{self, Seen};
use dataplane::http::range::{select, Validators};
use dhcproto::{Decodable, Decoder};
use dataplane::wire::http::{parse_request, Limits};
use dataplane::wire::tftp::{emit_ack, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Packet::Ack { block }) = Packet::parse(data) {
        assert_eq!(Packet::parse(&emit_ack(block)), Ok(Packet::Ack { block }));
    }
    let limits = Limits {
        max_request_line: 8192,
        max_head: 16384,
        max_headers: 64,
    };
    if let Ok((head, consumed)) = parse_request(data, &limits) {
        assert!(consumed <= data.len());
        let validators = Validators {
            etag: "\"1-2\"",
            last_modified: 1_700_000_000,
        };
        for len in [0u64, 1, 4096, 5 << 30] {
            let _ = select(&head, len, &validators);
        }
    }
    if let Ok(Seen::Pxe(req)) = request::parse(data) {
        let policy = Policy {
            server: None,
            http_port: 8080,
            bootfiles: Bootfiles {
                bios: "undionly.kpxe".into(),
                uefi_x64: "ipxe.efi".into(),
                uefi_ia32: None,
                uefi_arm64: Some("arm64/ipxe.efi".into()),
            },
            uefi: UefiStrategy::BootServer,
        };
        // The address the request arrived at names the server.
        let server = policy.server_for([10, 0, 0, 2].into());
        for port in [Port::Dhcp, Port::BootServer] {
            if let Decision::Answer(answer) = reply::decide(&req, port, &policy, server) {
                let bytes = reply::encode(&req, &answer, server);
                let back = dhcproto::v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
                assert_eq!(back.xid(), req.xid);
                assert!(back.yiaddr().is_unspecified());
            }
        }
    }
    let _ = dataplane::Inventory::from_query(data);
    let mut key = String::new();
    if dataplane::path::normalize_into(data, &mut key).is_ok() {
        assert!(!key.split('/').any(|s| s == ".." || s.is_empty()));
    }
});
