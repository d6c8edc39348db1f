//! One run of the receiver: manifest, the group while it serves, unicast repair for the
//! rest, then the whole file's SHA-256 checked: as hashed in passing while chunks were
//! written, or read back from the output (after a resume, on a mismatch, or when asked).
//! A zstd image is unpacked onto the output while it arrives, following the chunks done in
//! order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multicast::resume::ResumeRecord;
use multicast::{
    hex, Assembly, Encoding, Header, Kind, LossMeter, Output, Received, Report, SessionState,
    Verdict,
};

use crate::checkpoint::{self, Checkpoints};
use crate::group::Group;
use crate::output::{self, Disk};
use crate::progress::Progress;
use crate::reporter::Reporter;
use crate::server::Server;
use crate::session::{Session, Target};
use crate::sys::Batch;
use crate::unpack::{Unpacked, Unpacker};

/// Chunks held in memory at once (≈ 0.7 MiB each with default geometry, twice that while
/// repair symbols pile up): a few dozen MiB, which a deploy agent with 1 GiB can spare.
const MAX_OPEN_CHUNKS: usize = 32;
/// How often the resume record is brought up to date.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for datagrams before the loop looks at reports, progress and time-outs.
const POLL: Duration = Duration::from_millis(100);
/// Silence from the group (while the server still answers reports) after which the rest is
/// fetched over HTTP.
const FALL_BACK_AFTER: Duration = Duration::from_secs(10);
/// Fetches of a chunk over HTTP before a hash mismatch is final.
const UNICAST_TRIES: u32 = 3;
/// Longest receiver name a report carries.
const MAX_NAME: usize = 128;

/// What the command line asks.
pub(crate) struct Options {
    pub(crate) url: String,
    pub(crate) output: PathBuf,
    pub(crate) name: Option<String>,
    pub(crate) state: Option<PathBuf>,
    pub(crate) interface: Option<String>,
    pub(crate) timeout: Duration,
    /// Check the whole file as read back from the device rather than as written.
    pub(crate) read_back: bool,
    /// Where a compressed image is received before it is unpacked onto the output.
    pub(crate) spool: Option<PathBuf>,
}

/// A verified copy.
pub(crate) struct Outcome {
    pub(crate) sha256: [u8; 32],
    pub(crate) bytes: u64,
    /// What was unpacked onto the output, for a compressed image.
    pub(crate) unpacked: Option<Unpacked>,
    pub(crate) elapsed: Duration,
}

/// Receives the session at `options.url` into `options.output`.
///
/// # Errors
/// Why the copy could not be made and verified, for people.
pub(crate) fn run(options: &Options) -> Result<Outcome, String> {
    let started = Instant::now();
    let target = Target::parse(&options.url)?;
    let server = Arc::new(Server::new(&target.url, options.timeout));
    let session = Session::from_manifest(server.manifest(options.timeout)?, &target)?;
    // A compressed image is received as sent, into a spool, and unpacked from it as its
    // chunks are done in order.
    let spool = (session.encoding == Encoding::Zstd).then(|| {
        options
            .spool
            .clone()
            .unwrap_or_else(|| default_spool(&options.output, session.id))
    });
    let received_into = spool.as_deref().unwrap_or(&options.output);
    let disk = Disk::open(received_into, session.geometry.size)?;
    eprintln!(
        "fleetboot-receive: {} ({} bytes, {} chunks) from group {} into {}",
        session.name,
        session.geometry.size,
        session.geometry.chunks(),
        session.group,
        received_into.display()
    );
    let state = options.state.clone().or_else(|| {
        // A block device has no "beside" to keep a state file in: only when asked (also
        // for a zstd image, whose spool then need not outlive its unpacking).
        let onto_device = disk.is_block_device() || output::is_block_device(&options.output);
        (!onto_device).then(|| beside(received_into, ".fleetboot-receive"))
    });
    let mut assembly = Assembly::new(
        session.geometry,
        session.chunk_hashes.clone(),
        MAX_OPEN_CHUNKS,
    );
    if let Some(done) = state
        .as_deref()
        .map(|p| checkpoint::load(p, &session))
        .transpose()?
        .flatten()
    {
        assembly.resume(&done);
        eprintln!(
            "fleetboot-receive: resuming with {} of {} chunks done",
            assembly.chunks_done(),
            session.geometry.chunks()
        );
    }
    let unpacker = match &spool {
        Some(spool) => {
            eprintln!(
                "fleetboot-receive: unpacking zstd onto {} as it arrives",
                options.output.display()
            );
            // Without a resume record nothing needs the spool again once unpacked.
            let release = state.is_none();
            let hashes = session.chunk_hashes.clone();
            Some(Unpacker::start(
                spool,
                &options.output,
                session.geometry,
                hashes,
                release,
            )?)
        }
        None => None,
    };
    let checkpoints = match &state {
        Some(path) => Some(Checkpoints::start(
            path.clone(),
            disk.try_clone()
                .map_err(|e| format!("cannot reopen the output: {e}"))?,
        )),
        None => None,
    };
    let mut receiver = Receiver {
        name: options
            .name
            .clone()
            .unwrap_or_else(|| default_name(&options.output)),
        session,
        server,
        disk,
        assembly,
        progress: Progress::new(started),
        loss: 0.0,
        seen: None,
        checkpoints,
        checkpointed: Instant::now(),
        unpacker,
    };
    let verified = receiver.receive(options);
    let saved = receiver
        .checkpoints
        .take()
        .map_or(Ok(()), Checkpoints::finish);
    let result = verified
        .and_then(|sha256| saved.map(|()| sha256))
        .and_then(|sha256| {
            let Some(mut unpacker) = receiver.unpacker.take() else {
                return Ok((sha256, None));
            };
            unpacker.advance(receiver.assembly.done_prefix())?;
            let unpacked = unpacker.finish()?;
            if let Some(spool) = &spool {
                let _ = std::fs::remove_file(spool);
            }
            Ok((sha256, Some(unpacked)))
        });
    match result {
        Ok((sha256, unpacked)) => {
            if let Err(e) = receiver
                .server
                .report(&receiver.report(Verdict::Done, None))
            {
                eprintln!("fleetboot-receive: warning: the final report failed: {e}");
            }
            if let Some(path) = &state {
                let _ = std::fs::remove_file(path);
            }
            Ok(Outcome {
                sha256,
                bytes: receiver.session.geometry.size,
                unpacked,
                elapsed: started.elapsed(),
            })
        }
        Err(e) => {
            // Best effort: the sender shows why this receiver gave up.
            let _ = receiver
                .server
                .report(&receiver.report(Verdict::Failed, Some(e.clone())));
            Err(e)
        }
    }
}

struct Receiver {
    name: String,
    session: Session,
    server: Arc<Server>,
    disk: Disk,
    assembly: Assembly,
    progress: Progress,
    /// Loss over the latest report interval.
    loss: f32,
    /// The highest datagram sequence read from the group.
    seen: Option<u32>,
    checkpoints: Option<Checkpoints>,
    checkpointed: Instant,
    /// Unpacking a compressed image as it arrives.
    unpacker: Option<Unpacker>,
}

impl Receiver {
    /// Everything up to a verified copy: group, unicast repair, verification.
    fn receive(&mut self, options: &Options) -> Result<[u8; 32], String> {
        let multicasting = matches!(
            self.session.state,
            SessionState::Waiting | SessionState::Sending
        );
        if multicasting && !self.assembly.is_complete() {
            let server = Target::parse(&options.url)?.server()?;
            let group = Group::join(
                self.session.group,
                options.interface.as_deref(),
                server,
                POLL,
            )?;
            let reporter = Reporter::start(
                Arc::clone(&self.server),
                self.report(Verdict::Receiving, None),
            );
            let received = self.multicast(&group, &reporter, options.timeout);
            reporter.stop();
            received?;
        }
        self.unicast()?;
        self.verify(options.read_back)
    }

    /// Takes datagrams until the file is complete, or the group has nothing more for us.
    fn multicast(
        &mut self,
        group: &Group,
        reporter: &Reporter,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut batch = Batch::new();
        let mut meter = LossMeter::new();
        let mut reported = Instant::now();
        let mut progressed = Instant::now();
        let mut ended = false;
        // The sender asks for reports with an `Idle` when it waits for them to plan repair.
        let mut asked = false;
        while !self.assembly.is_complete() && !ended {
            group
                .receive(&mut batch)
                .map_err(|e| format!("cannot receive from group {}: {e}", self.session.group))?;
            for datagram in batch.datagrams() {
                let Ok((header, payload)) = Header::decode(datagram) else {
                    continue;
                };
                if header.session != self.session.id {
                    continue;
                }
                meter.record(header.sequence);
                match header.kind {
                    Kind::Symbol => {
                        let received = self
                            .assembly
                            .receive(header.chunk, header.esi, payload, &mut self.disk)
                            .map_err(|e| self.write_error(&e))?;
                        match received {
                            Received::Stored | Received::Completed(_) => {
                                progressed = Instant::now();
                                self.progress.add(payload.len() as u64);
                            }
                            Received::Rejected(chunk) => eprintln!(
                                "fleetboot-receive: chunk {chunk} failed its hash: receiving it again"
                            ),
                            Received::Ignored | Received::Duplicate => {}
                        }
                    }
                    Kind::End => ended = true,
                    Kind::Idle => asked = true,
                }
            }
            self.seen = meter.highest();
            let now = Instant::now();
            let due = now.duration_since(reported) >= self.session.report_interval;
            if due {
                self.loss = meter.take();
            }
            if due || asked {
                reporter.send(self.report(Verdict::Receiving, None));
                reported = now;
                asked = false;
            }
            self.tick(now)?;
            let (answer, report_error) = reporter.answer();
            if let Some(answer) = answer {
                match answer.state {
                    // The sender is alive and waiting for others: not our stall.
                    SessionState::Waiting => progressed = now,
                    SessionState::Finished | SessionState::Cancelled => return Ok(()),
                    SessionState::Sending if answer.unicast => return Ok(()),
                    SessionState::Sending => {}
                }
            }
            let silent = now.duration_since(progressed);
            if silent > FALL_BACK_AFTER.min(timeout) && report_error.is_none() {
                // The server answers but its datagrams do not reach us (a switch without
                // multicast, a starved link): what is missing comes by HTTP instead.
                eprintln!(
                    "fleetboot-receive: nothing from group {} for {} s: fetching the rest over HTTP",
                    self.session.group,
                    silent.as_secs()
                );
                return Ok(());
            }
            if silent > timeout {
                let why = report_error.map_or_else(String::new, |e| format!("; {e}"));
                return Err(format!(
                    "no progress for {} s from group {}{why}",
                    timeout.as_secs(),
                    self.session.group
                ));
            }
        }
        Ok(())
    }

    /// Fetches every chunk still missing from the server's `/data`.
    fn unicast(&mut self) -> Result<(), String> {
        let missing: Vec<u32> = self.assembly.missing().collect();
        if missing.is_empty() {
            return Ok(());
        }
        eprintln!(
            "fleetboot-receive: fetching {} over HTTP",
            chunks(missing.len())
        );
        if matches!(
            self.session.state,
            SessionState::Waiting | SessionState::Sending
        ) {
            // Best effort: the sender stops counting us among the receivers it waits for.
            let _ = self.server.report(&self.report(Verdict::Fetching, None));
        }
        self.loss = 0.0;
        for chunk in missing {
            let range = self.session.geometry.chunk_range(chunk);
            let mut tries = 0;
            loop {
                let bytes = self.server.range(range.clone())?;
                let received = self
                    .assembly
                    .accept_chunk(chunk, &bytes, &mut self.disk)
                    .map_err(|e| self.write_error(&e))?;
                tries += 1;
                match received {
                    Received::Rejected(_) if tries < UNICAST_TRIES => {}
                    Received::Rejected(_) | Received::Ignored => {
                        return Err(format!(
                            "chunk {chunk} from the server does not match its hash"
                        ))
                    }
                    Received::Completed(_) | Received::Duplicate | Received::Stored => break,
                }
            }
            self.progress.add(range.end - range.start);
            self.tick(Instant::now())?;
        }
        Ok(())
    }

    /// Flushes the output and checks the whole file's SHA-256 (hashed in passing, or read
    /// back); on a mismatch, checks every chunk, fetches the damaged ones again and checks
    /// once more, reading back.
    fn verify(&mut self, read_back: bool) -> Result<[u8; 32], String> {
        let size = self.session.geometry.size;
        let mut repaired = false;
        // A spool freed as it is unpacked cannot be read back; the unpacking checked each
        // chunk as it read it instead.
        let freed = self.unpacker.as_ref().is_some_and(Unpacker::frees_spool);
        loop {
            self.disk.sync().map_err(|e| self.write_error(&e))?;
            let in_passing = self
                .assembly
                .sha256()
                .filter(|_| freed || (!read_back && !repaired));
            let sha256 = match in_passing {
                Some(sha256) => sha256,
                None if freed => return Err(
                    "the whole image's SHA-256 was not taken in passing, and the spool is freed"
                        .into(),
                ),
                None => {
                    let shown = self.disk.path().display();
                    eprintln!("fleetboot-receive: reading {shown} back to check it");
                    self.disk
                        .sha256(size)
                        .map_err(|e| format!("cannot read back {shown}: {e}"))?
                }
            };
            if sha256 == self.session.sha256 {
                return Ok(sha256);
            }
            if repaired || freed || self.forget_damaged()? == 0 {
                return Err(format!(
                    "SHA-256 of {} is {}, the session's is {}{}",
                    self.disk.path().display(),
                    hex::encode(&sha256),
                    hex::encode(&self.session.sha256),
                    if repaired { " after repair" } else { "" }
                ));
            }
            self.unicast()?;
            repaired = true;
        }
    }

    /// Marks every chunk that reads back unlike its hash as missing; how many.
    fn forget_damaged(&mut self) -> Result<u32, String> {
        let mut damaged = 0;
        let mut buffer = Vec::new();
        for chunk in 0..self.session.geometry.chunks() {
            let range = self.session.geometry.chunk_range(chunk);
            buffer.resize((range.end - range.start) as usize, 0);
            self.disk
                .read_at(range.start, &mut buffer)
                .map_err(|e| format!("cannot read back {}: {e}", self.disk.path().display()))?;
            if !self.assembly.verify(chunk, &buffer) {
                self.assembly.forget(chunk);
                damaged += 1;
            }
        }
        eprintln!(
            "fleetboot-receive: {} damaged in the output",
            chunks(damaged as usize)
        );
        Ok(damaged)
    }

    /// The progress line and the resume record, when due; the unpacking told what is done.
    ///
    /// # Errors
    /// The unpacking stopped.
    fn tick(&mut self, now: Instant) -> Result<(), String> {
        let chunks = self.session.geometry.chunks();
        if let Some(line) = self
            .progress
            .line(now, self.assembly.chunks_done(), chunks, self.loss)
        {
            eprintln!("{line}");
        }
        if let Some(checkpoints) = &self.checkpoints {
            if now.duration_since(self.checkpointed) >= CHECKPOINT_EVERY {
                checkpoints.offer(ResumeRecord {
                    session: self.session.id,
                    sha256: self.session.sha256,
                    done: self.assembly.done(),
                });
                self.checkpointed = now;
            }
        }
        match &mut self.unpacker {
            Some(unpacker) => unpacker.advance(self.assembly.done_prefix()),
            None => Ok(()),
        }
    }

    fn report(&self, verdict: Verdict, message: Option<String>) -> Report {
        Report {
            receiver: self.name.clone(),
            chunks_done: self.assembly.chunks_done(),
            needs: if verdict == Verdict::Receiving {
                self.assembly.needs()
            } else {
                Vec::new()
            },
            loss: self.loss,
            seen: self.seen,
            verdict,
            message,
        }
    }

    fn write_error(&self, e: &std::io::Error) -> String {
        format!("cannot write {}: {e}", self.disk.path().display())
    }
}

/// "1 chunk", "2 chunks".
fn chunks(n: usize) -> String {
    format!("{n} chunk{}", if n == 1 { "" } else { "s" })
}

/// `path` with `suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where a compressed image waits to be unpacked: beside a regular output, in the temporary
/// directory for a block device (a deploy agent's is in memory).
fn default_spool(output: &Path, session: u32) -> PathBuf {
    if output::is_block_device(output) {
        std::env::temp_dir().join(format!("fleetboot-receive-{session:08x}.zst"))
    } else {
        beside(output, ".fleetboot-spool.zst")
    }
}

/// The host's name and the output, unique per receiver and stable across restarts.
fn default_name(output: &Path) -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    let mut name = format!("{host}:{}", output.display());
    if name.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}
