//! Wire codecs: bytes in, typed packets out, and back. No I/O, no runtime, no allocation
//! beyond what the caller hands in. Every input is hostile: parsers return typed errors.

pub mod date;
pub mod http;
pub mod http_response;
pub mod tftp;
