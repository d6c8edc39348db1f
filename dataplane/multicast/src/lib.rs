//! fleetboot's multicast protocol, shared by the sender (in the data plane) and the receiver
//! (`fleetboot-receive`). No I/O here: codecs and the arithmetic both ends must agree on.
//!
//! A session sends one file to a multicast group. The file is cut into **chunks** of
//! `chunk_symbols` symbols of `symbol_size` bytes ([`Geometry`]); every chunk is its own
//! RaptorQ source block ([`fec`]), so any `k` (plus a symbol or two) of a chunk's encoding
//! symbols rebuild it, whichever were lost. Each datagram carries one symbol behind a small
//! header ([`wire`]).
//!
//! The sender first sends every chunk's source symbols (systematic: a receiver that loses
//! nothing decodes nothing). Receivers say what they still miss in periodic HTTP reports
//! ([`manifest::Report`]): per chunk, how many symbols, not which ones. The sender then sends
//! that many *fresh* repair symbols per chunk for the neediest receiver, which serve every
//! receiver missing any symbols of that chunk at once: no per-receiver retransmission, no NAK
//! implosion. A late joiner's missing chunks are a need like any other. A receiver that falls
//! too far behind is told to fetch what it misses over HTTP ranges instead (unicast repair).
//!
//! Every chunk has its own hash in the [`manifest::Manifest`] ([`chunk_hash`](mod@chunk_hash)), so a damaged
//! chunk is received again rather than the whole file; the whole file's SHA-256 is checked at
//! the end, taken in passing as chunks complete ([`file_digest`]).
//!
//! The receiver's side, still without I/O: [`assembly`] rebuilds chunks in bounded memory,
//! [`needs`] and [`loss`] make its reports, [`resume`] lets a restarted receiver go on.
#![warn(missing_docs)]

pub mod assembly;
pub mod bitmap;
pub mod chunk_hash;
pub mod encoding;
pub mod fec;
pub mod file_digest;
pub mod geometry;
pub mod hex;
pub mod loss;
pub mod manifest;
pub mod needs;
pub mod resume;
pub mod wire;

pub use assembly::{Assembly, Output, Received};
pub use bitmap::Bitmap;
pub use chunk_hash::{chunk_hash, ChunkHash, ChunkHasher};
pub use encoding::Encoding;
pub use file_digest::FileDigest;
pub use geometry::Geometry;
pub use loss::LossMeter;
pub use manifest::{Manifest, Need, Report, ReportAnswer, SessionState, Verdict};
pub use resume::ResumeRecord;
pub use wire::{Header, Kind};
