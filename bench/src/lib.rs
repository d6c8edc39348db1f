//! Benchmarks and load generators for fleetboot (see bench/README).
//!
//! The load generators (`src/bin/`) share the modules below: each speaks its protocol's client
//! side itself, verifies every byte it receives, and prints one `key=value` summary line that
//! `bench/peers.sh` parses.

pub mod boot_storm;
pub mod content;
pub mod dhcp_relay;
pub mod digest;
pub mod epoll;
pub mod http_client;
pub mod http_load;
pub mod ipxe_script;
pub mod report;
pub mod rng;
pub mod tftp_client;
pub mod tftp_packet;
pub mod tftp_storm;
