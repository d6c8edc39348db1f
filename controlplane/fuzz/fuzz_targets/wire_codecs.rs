//! Fuzzes the data plane's wire codecs with arbitrary packets: TFTP datagrams, HTTP request
//! heads (with range/conditional evaluation), and request names. Round trip where the codec
//! has both directions: an ACK emitted from a parsed ACK parses back to the same block.
#![no_main]

use dataplane::http::range::{select, Validators};
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
    let mut key = String::new();
    if dataplane::path::normalize_into(data, &mut key).is_ok() {
        assert!(!key.split('/').any(|s| s == ".." || s.is_empty()));
    }
});
