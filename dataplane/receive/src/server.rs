//! The session's HTTP side: manifest, reports, and unicast repair by byte ranges.

use std::ops::Range;
use std::time::Duration;

use multicast::manifest::MAX_REPORT_BYTES;
use multicast::{Manifest, Report, ReportAnswer};
use ureq::Agent;

/// Largest manifest read: 65 bytes of hash per chunk, so this allows images of some 700 GiB
/// with default chunks.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// A client of one session's URLs.
pub(crate) struct Server {
    agent: Agent,
    url: String,
}

impl Server {
    /// A client of the session at `url` (its manifest URL); every request gives up after
    /// `timeout`.
    pub(crate) fn new(url: &str, timeout: Duration) -> Server {
        let agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(true)
            .build()
            .into();
        Server {
            agent,
            url: url.to_string(),
        }
    }

    pub(crate) fn manifest(&self) -> Result<Manifest, String> {
        let body = self
            .agent
            .get(&self.url)
            .call()
            .map_err(|e| format!("manifest {} unreachable: {e}", self.url))?
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| format!("manifest {}: {e}", self.url))?;
        serde_json::from_slice(&body).map_err(|e| format!("invalid manifest at {}: {e}", self.url))
    }

    pub(crate) fn report(&self, report: &Report) -> Result<ReportAnswer, String> {
        let url = format!("{}/report", self.url);
        let json = serde_json::to_vec(report).map_err(|e| e.to_string())?;
        let body = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&json[..])
            .map_err(|e| format!("report to {url}: {e}"))?
            .body_mut()
            .with_config()
            .limit(MAX_REPORT_BYTES as u64)
            .read_to_vec()
            .map_err(|e| format!("report to {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("answer to a report from {url}: {e}"))
    }

    /// The file's bytes `range` (not empty), exactly.
    pub(crate) fn range(&self, range: Range<u64>) -> Result<Vec<u8>, String> {
        let url = format!("{}/data", self.url);
        let mut response = self
            .agent
            .get(&url)
            .header("range", format!("bytes={}-{}", range.start, range.end - 1))
            .call()
            .map_err(|e| format!("unicast repair from {url}: {e}"))?;
        if response.status() != 206 {
            return Err(format!(
                "unicast repair from {url}: {} instead of 206 Partial Content",
                response.status()
            ));
        }
        let len = range.end - range.start;
        let body = response
            .body_mut()
            .with_config()
            .limit(len)
            .read_to_vec()
            .map_err(|e| format!("unicast repair from {url}: {e}"))?;
        if body.len() as u64 != len {
            return Err(format!(
                "unicast repair from {url}: {} bytes instead of {len}",
                body.len()
            ));
        }
        Ok(body)
    }
}
