//! Multicast sessions, the sending side of the protocol in the `multicast` crate (read its
//! docs first): a file streamed to a group as RaptorQ-coded chunks, repaired in rounds from
//! receivers' HTTP reports, paced to the slowest receiver within bounds.
//!
//! - [`machine`]: the session's state machine, no I/O: waiting, first round, repair rounds
//!   (`rounds`), ending; receivers' reports ([`receivers`]); the rate ([`rate`]).
//! - `prepare`: the manifest's hashes, before the announcement; `socket`: the group's socket;
//!   `sender`: the thread that paces (`bucket`) and sends.
//! - [`Sessions`]: the registry the control plane and the HTTP server share.
//!
//! HTTP lives with the other routes: [`crate::http::multicast`].

mod bucket;
pub mod machine;
mod prepare;
pub mod rate;
pub mod receivers;
mod registry;
mod rounds;
mod sender;
mod session;
mod socket;
mod status;

pub use machine::SlowPolicy;
pub use rate::RateBounds;
pub use registry::{SessionSpec, Sessions, StartError, MAX_SESSIONS, REPORT_INTERVAL};
pub(crate) use session::Refusal;
pub use socket::Destination;
pub use status::{Phase, ReceiverStatus, SessionStatus};
