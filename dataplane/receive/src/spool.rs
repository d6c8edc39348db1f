//! The spool of a compressed image read in file order while it is still being received.
//!
//! Chunks land in the spool in any order; zstd must be read in order. The receiver publishes
//! how many leading chunks are written and verified ([`Fill::publish`]); [`SpoolReader`]
//! reads up to there and waits for more. Each chunk is checked against its hash again as
//! read back, so what is unpacked is what the manifest hashes even if the spool lost a write.
//! Without a resume record nothing read is needed again: the reader then punches the chunk
//! out of the spool, so a spool in memory (a deploy agent's tmpfs) holds only the chunks
//! received ahead of the unpacking, not the whole compressed image.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex, PoisonError};

use multicast::{chunk_hash, ChunkHash, Geometry};
use nix::fcntl::{fallocate, FallocateFlags};

/// How far the spool is filled in order, shared by the receiver and the reader.
#[derive(Default)]
pub(crate) struct Fill {
    state: Mutex<FillState>,
    changed: Condvar,
}

#[derive(Default)]
struct FillState {
    /// Chunks `0..done` are written and verified.
    done: u32,
    /// The receiver gave up: no more chunks will come.
    stopped: bool,
}

impl Fill {
    /// Chunks `0..done` are written and verified.
    pub(crate) fn publish(&self, done: u32) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if done > state.done {
            state.done = done;
            self.changed.notify_all();
        }
    }

    /// No more chunks will come: a waiting reader fails.
    pub(crate) fn stop(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stopped = true;
        self.changed.notify_all();
    }

    /// Waits until chunk `chunk` is done; `false` if the receiver stopped first.
    fn wait_for(&self, chunk: u32) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .changed
            .wait_while(state, |s| s.done <= chunk && !s.stopped)
            .unwrap_or_else(PoisonError::into_inner);
        state.done > chunk
    }
}

/// The spool's bytes in file order, chunk by chunk as they are done.
pub(crate) struct SpoolReader<'a> {
    file: File,
    geometry: Geometry,
    hashes: &'a [ChunkHash],
    fill: &'a Fill,
    /// Punch chunks out of the spool once read.
    release: bool,
    /// The chunk read next.
    next: u32,
    /// The chunk read last, and how much of it is consumed.
    chunk: Vec<u8>,
    at: usize,
}

impl<'a> SpoolReader<'a> {
    /// Reads `file`, a spool of a file cut as `geometry` whose chunks hash to `hashes`, as
    /// `fill` says it is done; with `release` (`file` open for writing too), each chunk is
    /// punched out once read.
    pub(crate) fn new(
        file: File,
        geometry: Geometry,
        hashes: &'a [ChunkHash],
        fill: &'a Fill,
        release: bool,
    ) -> SpoolReader<'a> {
        SpoolReader {
            file,
            geometry,
            hashes,
            fill,
            release,
            next: 0,
            chunk: Vec::new(),
            at: 0,
        }
    }

    /// Reads chunk `next` once it is done, checks it, and releases it from the spool.
    fn read_next(&mut self) -> io::Result<()> {
        let chunk = self.next;
        if !self.fill.wait_for(chunk) {
            return Err(io::Error::other("receiving stopped"));
        }
        let range = self.geometry.chunk_range(chunk);
        self.chunk.resize((range.end - range.start) as usize, 0);
        self.file.read_exact_at(&mut self.chunk, range.start)?;
        if self.hashes.get(chunk as usize) != Some(&chunk_hash(&self.chunk)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("chunk {chunk} reads back from the spool unlike its hash"),
            ));
        }
        if self.release {
            self.punch(range.start, range.end - range.start);
        }
        self.at = 0;
        self.next += 1;
        Ok(())
    }

    /// Frees the spool's blocks of a chunk read; a file system that cannot (ramfs) keeps
    /// them, which costs memory, not correctness, so it is said once and not retried.
    fn punch(&mut self, offset: u64, len: u64) {
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        if let Err(e) = fallocate(&self.file, flags, offset, len) {
            eprintln!("fleetboot-receive: the spool keeps what is unpacked (cannot free it: {e})");
            self.release = false;
        }
    }
}

impl BufRead for SpoolReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at == self.chunk.len() && self.next < self.geometry.chunks() {
            self.read_next()?;
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.chunk.len());
    }
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A spool of `chunks` chunks of the default geometry, chunk `i` filled with byte `i`,
    /// and the chunks' hashes.
    fn spool(name: &str, chunks: u8) -> (File, Geometry, Vec<u8>, Vec<ChunkHash>) {
        let bytes_per_chunk = Geometry::for_size(1 << 30).chunk_bytes() as usize;
        let content: Vec<u8> = (0..chunks)
            .flat_map(|i| std::iter::repeat_n(i, bytes_per_chunk))
            .chain([0xee; 100])
            .collect();
        let geometry = Geometry::for_size(content.len() as u64);
        let hashes = (0..geometry.chunks())
            .map(|c| {
                let r = geometry.chunk_range(c);
                chunk_hash(&content[r.start as usize..r.end as usize])
            })
            .collect();
        let path =
            std::env::temp_dir().join(format!("fleetboot-spool-{}-{name}", std::process::id()));
        std::fs::write(&path, &content).unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (file, geometry, content, hashes)
    }

    #[test]
    fn chunks_are_read_in_order_as_they_are_published_and_released_behind() {
        let (file, geometry, content, hashes) = spool("order", 3);
        let blocks_before = file.metadata().unwrap().blocks();
        let fill = Fill::default();
        let (read, released) = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let spool = file.try_clone().unwrap();
                let mut reader = SpoolReader::new(spool, geometry, &hashes, &fill, true);
                let mut read = Vec::new();
                reader.read_to_end(&mut read).map(|_| read)
            });
            for done in 1..=geometry.chunks() {
                std::thread::sleep(std::time::Duration::from_millis(20));
                assert!(!reader.is_finished(), "read past chunk {done}");
                fill.publish(done);
            }
            let read = reader.join().unwrap().unwrap();
            (read, file.metadata().unwrap().blocks())
        });
        assert!(read == content, "not the spool's bytes in order");
        // Where the file system can punch (ext4, xfs, btrfs, tmpfs), nothing is left.
        assert!(
            released < blocks_before / 4,
            "{released} of {blocks_before} blocks kept"
        );
    }

    #[test]
    fn a_chunk_unlike_its_hash_or_a_stopped_receiver_fails_the_read() {
        let (file, geometry, _, hashes) = spool("bad", 2);
        file.write_all_at(b"x", geometry.chunk_range(1).start + 7)
            .unwrap();
        let fill = Fill::default();
        fill.publish(geometry.chunks());
        let mut reader =
            SpoolReader::new(file.try_clone().unwrap(), geometry, &hashes, &fill, false);
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("chunk 1 reads back"), "{err}");

        let fill = Fill::default();
        fill.publish(1);
        fill.stop();
        let mut reader = SpoolReader::new(file, geometry, &hashes, &fill, false);
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "receiving stopped");
    }
}
