//! One download, blocking (it runs on its own thread): the body streamed into a temp file and
//! hashed on the way; after a dropped connection or a server error it asks again for the rest
//! with `Range: bytes=N-` (and `If-Range`, so a file changed in between is fetched whole
//! again). A `206` starting at N continues the file and the hash; a `200` starts both over.
//! Retries are bounded: a few failures in a row without progress, with growing pauses.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::hex_digest;
use super::temp::TempFile;
use crate::netboot::fetch::fetch_error;

/// Longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// How a download retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Failures in a row without a byte of progress before giving up.
    pub(crate) attempts: u32,
    /// Pause after the first failure; doubled after each further one.
    pub(crate) delay: Duration,
}

/// Why a download stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The job was cancelled.
    Cancelled,
    /// It failed; the text says why.
    Failed(String),
}

/// What one download sees: its URL and the limits it keeps.
pub(crate) struct Download<'a> {
    pub(crate) agent: &'a ureq::Agent,
    pub(crate) url: &'a str,
    pub(crate) max_bytes: u64,
    pub(crate) retry: Retry,
    pub(crate) cancelled: &'a AtomicBool,
}

/// Where a download stands between attempts.
struct State {
    done: u64,
    total: Option<u64>,
    hash: Sha256,
    /// The `ETag` (strong) or `Last-Modified` of the file being continued, for `If-Range`.
    validator: Option<String>,
}

/// How an attempt ended, when not with the whole body.
enum Failure {
    /// Worth trying again.
    Retry(String),
    /// Not: the answer would be the same.
    Fatal(Stop),
}

impl Download<'_> {
    /// Fetches the body into `temp`, calling `progress(bytes_done, bytes_total)` after each
    /// chunk; returns the SHA-256 (hex) of the whole body.
    pub(crate) fn run(
        &self,
        temp: &mut TempFile,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<String, Stop> {
        let mut state = State {
            done: 0,
            total: None,
            hash: Sha256::new(),
            validator: None,
        };
        let mut failures = 0u32;
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(Stop::Cancelled);
            }
            let before = state.done;
            let why = match self.attempt(&mut state, temp, progress) {
                Ok(()) => return Ok(hex_digest(state.hash)),
                Err(Failure::Fatal(stop)) => return Err(stop),
                Err(Failure::Retry(why)) => why,
            };
            failures = if state.done > before { 1 } else { failures + 1 };
            if failures > self.retry.attempts {
                return Err(Stop::Failed(format!(
                    "{why} (gave up after {} tries without progress)",
                    self.retry.attempts + 1
                )));
            }
            tracing::info!(
                url = self.url,
                done = state.done,
                "download: {why}; retrying"
            );
            let pause = (self.retry.delay)
                .checked_mul(2u32.saturating_pow(failures - 1))
                .map_or(MAX_PAUSE, |p| p.min(MAX_PAUSE));
            self.pause(pause)?;
        }
    }

    /// Sleeps `length`, waking early to stop when cancelled.
    fn pause(&self, length: Duration) -> Result<(), Stop> {
        let until = Instant::now() + length;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(Stop::Cancelled);
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        Ok(())
    }

    /// One request: the whole body, or the rest of it from `state.done`.
    fn attempt(
        &self,
        state: &mut State,
        temp: &mut TempFile,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), Failure> {
        let mut request = self.agent.get(self.url);
        if state.done > 0 {
            request = request.header("Range", format!("bytes={}-", state.done));
            if let Some(v) = &state.validator {
                request = request.header("If-Range", v);
            }
        }
        let mut response = match request.call() {
            // The file changed size under a resume: fetch it whole.
            Err(ureq::Error::StatusCode(416)) if state.done > 0 => {
                restart(state, temp)?;
                return Err(Failure::Retry(format!(
                    "{}: the server refused to resume; starting over",
                    self.url
                )));
            }
            r => r.map_err(|e| self.call_failure(e))?,
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match status {
            206 if state.done > 0 => match text("content-range").and_then(content_range) {
                Some((start, total)) if start == state.done => {
                    state.total = total.or(state.total);
                }
                _ => {
                    restart(state, temp)?;
                    return Err(Failure::Retry(
                        "the server resumed at another offset; starting over".into(),
                    ));
                }
            },
            200 => {
                if state.done > 0 {
                    tracing::info!(url = self.url, "download: no resume offered; starting over");
                    restart(state, temp)?;
                }
                state.total = response.body().content_length();
                let etag = text("etag").filter(|e| !e.starts_with("W/"));
                state.validator = etag.or(text("last-modified")).map(str::to_owned);
            }
            other => {
                return Err(Failure::Fatal(Stop::Failed(format!(
                    "{}: unexpected HTTP status {other}",
                    self.url
                ))));
            }
        }
        if state.total.is_some_and(|t| t > self.max_bytes) {
            return Err(too_large(self.max_bytes));
        }
        progress(state.done, state.total);
        let mut body = response.body_mut().as_reader();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(Failure::Fatal(Stop::Cancelled));
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let e = fetch_error(self.url, None, ureq::Error::from(e));
                    return Err(Failure::Retry(e.to_string()));
                }
            };
            if state.done + n as u64 > self.max_bytes {
                return Err(too_large(self.max_bytes));
            }
            temp.file().write_all(&buf[..n]).map_err(disk_error)?;
            state.hash.update(&buf[..n]);
            state.done += n as u64;
            progress(state.done, state.total);
        }
        match state.total {
            Some(total) if state.done < total => Err(Failure::Retry(format!(
                "{}: the body ended after {} of {total} bytes",
                self.url, state.done
            ))),
            _ => Ok(()),
        }
    }

    /// A failed request: retried when the network or the server may recover.
    fn call_failure(&self, e: ureq::Error) -> Failure {
        use ureq::Error as E;
        let retry = match &e {
            E::StatusCode(code) => *code >= 500 || *code == 408 || *code == 429,
            E::Io(io) => io
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .is_none(),
            E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::BodyStalled => true,
            _ => false,
        };
        let why = fetch_error(self.url, None, e).to_string();
        if retry {
            Failure::Retry(why)
        } else {
            Failure::Fatal(Stop::Failed(why))
        }
    }
}

/// Empties the temp file and the hash: the next bytes are the file's first.
fn restart(state: &mut State, temp: &mut TempFile) -> Result<(), Failure> {
    let file = temp.file();
    file.set_len(0).map_err(disk_error)?;
    file.seek(SeekFrom::Start(0)).map_err(disk_error)?;
    state.done = 0;
    state.total = None;
    state.hash = Sha256::new();
    state.validator = None;
    Ok(())
}

fn disk_error(e: std::io::Error) -> Failure {
    Failure::Fatal(Stop::Failed(format!("writing the temp file: {e}")))
}

fn too_large(max: u64) -> Failure {
    Failure::Fatal(Stop::Failed(format!("the file is larger than {max} bytes")))
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) as (START, TOTAL).
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    (start <= end && total.is_none_or(|t| end < t)).then_some((start, total))
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 10-99/100"), Some((10, Some(100))));
        assert_eq!(content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(content_range("bytes 10-100/100"), None);
        assert_eq!(content_range("bytes */100"), None);
        assert_eq!(content_range("items 1-2/3"), None);
    }
}
