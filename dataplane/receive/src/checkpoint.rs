//! The resume record, written on a thread of its own: it must follow a flush of the output
//! (a chunk is recorded done only once it is durable), and a flush may take seconds.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;

use multicast::resume::ResumeRecord;
use multicast::Bitmap;

use crate::session::Session;

/// Reads the record at `path`: the chunks it says are done, or `None` when there is no
/// record or it is of another session (then it is overwritten later).
pub(crate) fn load(path: &Path, session: &Session) -> Result<Option<Bitmap>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read state {}: {e}", path.display())),
    };
    match ResumeRecord::decode(
        &bytes,
        session.id,
        &session.sha256,
        session.geometry.chunks(),
    ) {
        Ok(record) => Ok(Some(record.done)),
        Err(e) => {
            eprintln!("fleetboot-receive: ignoring state {}: {e}", path.display());
            Ok(None)
        }
    }
}

/// The thread writing records.
pub(crate) struct Checkpoints {
    queue: SyncSender<ResumeRecord>,
    thread: JoinHandle<Result<(), String>>,
}

impl Checkpoints {
    /// Writes records to `path` after flushing `output`.
    pub(crate) fn start(path: PathBuf, output: File) -> Checkpoints {
        // Room for one: while a flush runs, newer records replace nothing and are dropped;
        // the next one after it covers them.
        let (queue, records) = mpsc::sync_channel::<ResumeRecord>(1);
        let thread = std::thread::spawn(move || {
            for record in records {
                output
                    .sync_data()
                    .map_err(|e| format!("cannot flush the output: {e}"))?;
                save(&path, &record)
                    .map_err(|e| format!("cannot write state {}: {e}", path.display()))?;
            }
            Ok(())
        });
        Checkpoints { queue, thread }
    }

    /// Records `record` unless a write is already under way.
    pub(crate) fn offer(&self, record: ResumeRecord) {
        // Full: a write is under way and the next offer covers this one. Disconnected: the
        // thread stopped on an error, which `finish` returns.
        let _ = self.queue.try_send(record);
    }

    /// Waits for the records offered so far; the first error, if any.
    pub(crate) fn finish(self) -> Result<(), String> {
        drop(self.queue);
        self.thread
            .join()
            .unwrap_or_else(|_| Err("the state writer panicked".into()))
    }
}

/// Replaces the record at `path` whole: a crash leaves the old record or the new one.
fn save(path: &Path, record: &ResumeRecord) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    std::fs::write(&temporary, record.encode())?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use multicast::{Encoding, Geometry, SessionState};

    fn session(id: u32) -> Session {
        let geometry = Geometry::for_size(20 * 1344 * 512);
        Session {
            id,
            name: "disk.img".into(),
            geometry,
            encoding: Encoding::Raw,
            sha256: [3; 32],
            chunk_hashes: vec![[0; 16]; 20],
            group: "239.255.70.66:7000".parse().unwrap(),
            state: SessionState::Sending,
            report_interval: std::time::Duration::from_millis(500),
        }
    }

    #[test]
    fn a_record_written_after_a_flush_is_read_back_by_its_session_only() {
        let dir = std::env::temp_dir().join(format!("fleetboot-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("out.img.fleetboot-receive");
        let output = File::create(dir.join("out.img")).unwrap();
        assert_eq!(load(&state, &session(1)), Ok(None), "no record yet");
        let mut done = Bitmap::new(20);
        done.set(4);
        let checkpoints = Checkpoints::start(state.clone(), output);
        checkpoints.offer(ResumeRecord {
            session: 1,
            sha256: [3; 32],
            done: done.clone(),
        });
        checkpoints.finish().unwrap();
        assert_eq!(load(&state, &session(1)), Ok(Some(done)));
        assert_eq!(load(&state, &session(2)), Ok(None), "another session's");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
