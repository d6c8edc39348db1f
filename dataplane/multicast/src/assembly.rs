//! Rebuilding a file from a session's symbols, in bounded memory.
//!
//! A receiver may deploy a 4 GiB image with 1 GiB of RAM, so only a few chunks are *open*
//! (held in memory, with their repair symbols) at a time. When a symbol of yet another chunk
//! arrives, the chunk touched least recently is *parked*: its source symbols are written to
//! the output at their own offsets and only a bitmap of which ones stays in memory. When
//! symbols for a parked chunk arrive later (the sender's repair pass), the chunk is read back
//! from the output and reopened. A parked chunk's repair symbols are dropped, not kept: they
//! would grow without bound, and the next report asks for as many again.
//!
//! A chunk completes when all its source symbols are in (no decoding: the code is
//! systematic), or when source plus repair symbols reach its source count and RaptorQ
//! decodes it; a decode that fails waits for one more symbol. A completed chunk is checked
//! against its hash from the manifest and written with one write at its offset; one that
//! does not match is dropped whole and received again. Completed chunks also feed the whole
//! file's SHA-256 in file order ([`FileDigest`]).
//!
//! The output is reached through [`Output`], so this module does no I/O of its own.

use std::io;

use crate::bitmap::Bitmap;
use crate::chunk_hash::{chunk_hash, ChunkHash};
use crate::fec::ChunkDecoder;
use crate::file_digest::FileDigest;
use crate::geometry::Geometry;
use crate::manifest::Need;

/// RaptorQ's encoding symbol ids are 24 bits: a larger one is not a symbol of ours.
const ESI_LIMIT: u32 = 1 << 24;
/// Repair symbols held per open chunk beyond its source count: decoding needs a symbol or
/// two more than the source count at worst, so more would only be memory for a misbehaving
/// sender.
const REPAIR_SLACK: usize = 16;

/// Where chunks are written and read back: the output file or block device.
pub trait Output {
    /// Writes all of `bytes` at `offset`.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Fills `bytes` from `offset`.
    fn read_at(&mut self, offset: u64, bytes: &mut [u8]) -> io::Result<()>;
}

/// What became of a symbol or chunk handed to the assembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Not a symbol of this file (chunk or id out of range, wrong length).
    Ignored,
    /// Already had it, or its chunk is done.
    Duplicate,
    /// Kept; its chunk is not complete yet.
    Stored,
    /// Completed this chunk: verified and written.
    Completed(u32),
    /// Completed this chunk, but its hash did not match: the chunk starts over.
    Rejected(u32),
}

/// Where a chunk is.
#[derive(Debug)]
enum Slot {
    /// Nothing held: never seen, or dropped after a bad hash.
    Missing,
    /// In memory, in `Assembly::open`.
    Open,
    /// These source symbols are in the output at their offsets.
    Parked(Bitmap),
    /// Written and verified.
    Done,
}

/// A chunk in memory.
struct OpenChunk {
    chunk: u32,
    /// The chunk's source symbols, `source_symbols * symbol_size` bytes: the file's last
    /// symbol is zero-padded as on the wire.
    data: Vec<u8>,
    /// Which source symbols `data` holds.
    have: Bitmap,
    /// Repair symbols, `(esi, symbol)`.
    repair: Vec<(u32, Vec<u8>)>,
    /// Symbols held at the last failed decode, 0 if none failed.
    tried: usize,
    /// When it last received a symbol, on the assembly's clock.
    touched: u64,
}

impl OpenChunk {
    fn held(&self) -> usize {
        self.have.count() as usize + self.repair.len()
    }
}

/// One file being rebuilt.
pub struct Assembly {
    geometry: Geometry,
    hashes: Vec<ChunkHash>,
    slots: Vec<Slot>,
    open: Vec<OpenChunk>,
    /// Buffers of closed chunks, reused rather than allocated per chunk.
    spare: Vec<Vec<u8>>,
    max_open: usize,
    /// Counts symbols stored, to find the chunk touched least recently.
    clock: u64,
    done: u32,
    rejected: u32,
    digest: FileDigest,
    /// Chunks `0..prefix` are done: kept as chunks complete, not counted per call.
    prefix: u32,
}

impl Assembly {
    /// An empty assembly of a file cut as `geometry` (validated) whose chunks have the
    /// hashes `hashes`, holding at most `max_open` chunks (at least 1) in memory.
    ///
    /// # Panics
    /// If `hashes` does not have one hash per chunk.
    pub fn new(geometry: Geometry, hashes: Vec<ChunkHash>, max_open: usize) -> Assembly {
        assert_eq!(
            hashes.len(),
            geometry.chunks() as usize,
            "one hash per chunk"
        );
        Assembly {
            slots: (0..hashes.len()).map(|_| Slot::Missing).collect(),
            geometry,
            hashes,
            open: Vec::new(),
            spare: Vec::new(),
            max_open: max_open.max(1),
            clock: 0,
            done: 0,
            rejected: 0,
            digest: FileDigest::new(),
            prefix: 0,
        }
    }

    /// Takes the chunks set in `done` (from a resume record) as written and verified.
    pub fn resume(&mut self, done: &Bitmap) {
        for chunk in done.ones() {
            self.mark_done(chunk);
        }
    }

    /// Chunks written and verified.
    pub fn chunks_done(&self) -> u32 {
        self.done
    }

    /// Chunks that failed their hash so far.
    pub fn chunks_rejected(&self) -> u32 {
        self.rejected
    }

    /// `true` once every chunk is written and verified.
    pub fn is_complete(&self) -> bool {
        self.done == self.geometry.chunks()
    }

    /// The chunks written and verified, for a resume record.
    pub fn done(&self) -> Bitmap {
        let mut map = Bitmap::new(self.geometry.chunks());
        for (chunk, slot) in (0..).zip(&self.slots) {
            if matches!(slot, Slot::Done) {
                map.set(chunk);
            }
        }
        map
    }

    /// How many leading chunks are written and verified: chunks `0..n`, read in order.
    pub fn done_prefix(&self) -> u32 {
        self.prefix
    }

    /// Chunks not yet written and verified, in order.
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        (0..)
            .zip(&self.slots)
            .filter(|(_, slot)| !matches!(slot, Slot::Done))
            .map(|(chunk, _)| chunk)
    }

    /// What to ask the sender for, as report runs.
    pub fn needs(&self) -> Vec<Need> {
        crate::needs::needs(self.missing().map(|chunk| (chunk, self.deficit(chunk))))
    }

    /// Symbols `chunk` (not done) still needs: its source count less what it holds, and at
    /// least one (a chunk holding enough whose decode failed needs one more).
    fn deficit(&self, chunk: u32) -> u16 {
        let k = self.geometry.source_symbols(chunk);
        let held = match &self.slots[chunk as usize] {
            Slot::Missing | Slot::Done => 0,
            Slot::Parked(have) => have.count() as usize,
            Slot::Open => self
                .open
                .iter()
                .find(|o| o.chunk == chunk)
                .map_or(0, OpenChunk::held),
        };
        let lacking = usize::from(k).saturating_sub(held).max(1);
        u16::try_from(lacking).unwrap_or(k)
    }

    /// Takes one received symbol: `esi` of `chunk`, `symbol_size` bytes.
    ///
    /// # Errors
    /// Writing a completed or parked chunk, or reading one back, failed.
    pub fn receive(
        &mut self,
        chunk: u32,
        esi: u32,
        symbol: &[u8],
        out: &mut impl Output,
    ) -> io::Result<Received> {
        if chunk >= self.geometry.chunks()
            || esi >= ESI_LIMIT
            || symbol.len() != usize::from(self.geometry.symbol_size)
        {
            return Ok(Received::Ignored);
        }
        let k = u32::from(self.geometry.source_symbols(chunk));
        match &self.slots[chunk as usize] {
            Slot::Done => return Ok(Received::Duplicate),
            // Already in the output: not worth reading the chunk back for.
            Slot::Parked(have) if have.get(esi) => return Ok(Received::Duplicate),
            _ => {}
        }
        let i = self.open_chunk(chunk, out)?;
        self.clock += 1;
        let open = &mut self.open[i];
        let fresh = if esi < k {
            let size = symbol.len();
            let at = esi as usize * size;
            open.have.set(esi) && {
                open.data[at..at + size].copy_from_slice(symbol);
                true
            }
        } else if open.repair.iter().all(|(e, _)| *e != esi)
            && open.repair.len() < k as usize + REPAIR_SLACK
        {
            open.repair.push((esi, symbol.to_vec()));
            true
        } else {
            false
        };
        if !fresh {
            return Ok(Received::Duplicate);
        }
        open.touched = self.clock;
        self.try_complete(i, out)
    }

    /// Takes a whole chunk fetched another way (unicast repair): verified, then written.
    ///
    /// # Errors
    /// Writing the chunk failed.
    pub fn accept_chunk(
        &mut self,
        chunk: u32,
        bytes: &[u8],
        out: &mut impl Output,
    ) -> io::Result<Received> {
        if chunk >= self.geometry.chunks() {
            return Ok(Received::Ignored);
        }
        if matches!(self.slots[chunk as usize], Slot::Done) {
            return Ok(Received::Duplicate);
        }
        if let Some(i) = self.open.iter().position(|o| o.chunk == chunk) {
            let open = self.open.swap_remove(i);
            self.recycle(open.data);
        }
        self.settle(chunk, bytes, out)
    }

    /// Whether `bytes` are `chunk` as the manifest hashes it.
    pub fn verify(&self, chunk: u32, bytes: &[u8]) -> bool {
        self.hashes
            .get(chunk as usize)
            .is_some_and(|h| chunk_hash(bytes) == *h)
    }

    /// The whole file's SHA-256 as its chunks were written, once every chunk is written and
    /// hashed in order; `None` when some chunk was never written here (a resumed run that
    /// completed nothing) or a hashed one was forgotten: then only reading back tells.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        self.digest.finish(self.geometry.chunks())
    }

    /// Takes back a chunk taken as done that turned out damaged in the output.
    pub fn forget(&mut self, chunk: u32) {
        if chunk < self.digest.next() {
            self.digest.reset();
        }
        self.prefix = self.prefix.min(chunk);
        if let Some(slot) = self.slots.get_mut(chunk as usize) {
            if matches!(slot, Slot::Done) {
                self.done -= 1;
            }
            *slot = Slot::Missing;
        }
    }

    fn mark_done(&mut self, chunk: u32) {
        let Some(slot) = self.slots.get_mut(chunk as usize) else {
            return;
        };
        if !matches!(slot, Slot::Done) {
            *slot = Slot::Done;
            self.done += 1;
        }
        while let Some(Slot::Done) = self.slots.get(self.prefix as usize) {
            self.prefix += 1;
        }
        if let Some(i) = self.open.iter().position(|o| o.chunk == chunk) {
            let open = self.open.swap_remove(i);
            self.recycle(open.data);
        }
    }

    /// The index in `open` of `chunk`, opening it (and parking another) if needed.
    fn open_chunk(&mut self, chunk: u32, out: &mut impl Output) -> io::Result<usize> {
        if let Some(i) = self.open.iter().position(|o| o.chunk == chunk) {
            return Ok(i);
        }
        if self.open.len() >= self.max_open {
            self.park_least_recent(out)?;
        }
        let k = self.geometry.source_symbols(chunk);
        // A reused buffer keeps its old bytes rather than being zeroed per chunk (that was
        // as many bytes of memset as received): only symbols `have` marks are ever read, and
        // each is written before it is marked.
        let mut data = self.spare.pop().unwrap_or_default();
        data.resize(usize::from(k) * usize::from(self.geometry.symbol_size), 0);
        if let Slot::Parked(_) = self.slots[chunk as usize] {
            let range = self.geometry.chunk_range(chunk);
            let len = (range.end - range.start) as usize;
            out.read_at(range.start, &mut data[..len])?;
            // The padding of the file's last symbol is not in the output: the zeros it had
            // on the wire.
            data[len..].fill(0);
        }
        let have = match std::mem::replace(&mut self.slots[chunk as usize], Slot::Open) {
            Slot::Parked(have) => have,
            _ => Bitmap::new(u32::from(k)),
        };
        self.open.push(OpenChunk {
            chunk,
            data,
            have,
            repair: Vec::new(),
            tried: 0,
            touched: self.clock,
        });
        Ok(self.open.len() - 1)
    }

    /// Writes the source symbols of the open chunk touched least recently to the output at
    /// their offsets (one write per run) and keeps only which ones.
    fn park_least_recent(&mut self, out: &mut impl Output) -> io::Result<()> {
        let Some(i) = (0..self.open.len()).min_by_key(|&i| self.open[i].touched) else {
            return Ok(());
        };
        let open = self.open.swap_remove(i);
        let chunk_start = self.geometry.chunk_range(open.chunk).start;
        self.slots[open.chunk as usize] = Slot::Missing;
        for run in open.have.runs() {
            let start = self.geometry.symbol_range(open.chunk, run.start).start;
            let end = self.geometry.symbol_range(open.chunk, run.end - 1).end;
            let bytes = &open.data[(start - chunk_start) as usize..(end - chunk_start) as usize];
            out.write_at(start, bytes)?;
        }
        if open.have.count() > 0 {
            self.slots[open.chunk as usize] = Slot::Parked(open.have);
        }
        self.recycle(open.data);
        Ok(())
    }

    /// Completes open chunk `i` if it holds all its source symbols, or enough to decode.
    fn try_complete(&mut self, i: usize, out: &mut impl Output) -> io::Result<Received> {
        let open = &mut self.open[i];
        let chunk = open.chunk;
        let len = {
            let range = self.geometry.chunk_range(chunk);
            (range.end - range.start) as usize
        };
        let decoded = if open.have.is_full() {
            None
        } else if open.held() >= open.have.len() as usize && open.held() > open.tried {
            let size = usize::from(self.geometry.symbol_size);
            let sources = open
                .have
                .ones()
                .map(|esi| (esi, &open.data[esi as usize * size..][..size]));
            let repair = open.repair.iter().map(|(esi, s)| (*esi, s.as_slice()));
            let mut decoder = ChunkDecoder::new(&self.geometry, len as u64);
            match decoder.decode(sources.chain(repair)) {
                Some(bytes) => Some(bytes),
                None => {
                    open.tried = open.held();
                    return Ok(Received::Stored);
                }
            }
        } else {
            return Ok(Received::Stored);
        };
        let open = self.open.swap_remove(i);
        let result = self.settle(chunk, decoded.as_deref().unwrap_or(&open.data[..len]), out);
        self.recycle(open.data);
        result
    }

    /// Verifies a complete `chunk` and writes it, or drops it.
    fn settle(&mut self, chunk: u32, bytes: &[u8], out: &mut impl Output) -> io::Result<Received> {
        self.slots[chunk as usize] = Slot::Missing;
        if !self.verify(chunk, bytes) {
            self.rejected += 1;
            return Ok(Received::Rejected(chunk));
        }
        out.write_at(self.geometry.chunk_range(chunk).start, bytes)?;
        self.catch_up(out)?;
        self.digest.take(chunk, bytes);
        self.mark_done(chunk);
        self.catch_up(out)?;
        Ok(Received::Completed(chunk))
    }

    /// Hashes the done chunks the file digest has not taken yet because a chunk before them
    /// was missing, reading them back, up to the next chunk not done.
    fn catch_up(&mut self, out: &mut impl Output) -> io::Result<()> {
        let mut buffer = None;
        while let Some(Slot::Done) = self.slots.get(self.digest.next() as usize) {
            let chunk = self.digest.next();
            let range = self.geometry.chunk_range(chunk);
            let bytes = buffer.get_or_insert_with(|| self.spare.pop().unwrap_or_default());
            bytes.resize((range.end - range.start) as usize, 0);
            out.read_at(range.start, bytes)?;
            self.digest.take(chunk, bytes);
        }
        if let Some(bytes) = buffer {
            self.recycle(bytes);
        }
        Ok(())
    }

    fn recycle(&mut self, data: Vec<u8>) {
        if self.spare.len() < self.max_open {
            self.spare.push(data);
        }
    }
}

#[cfg(test)]
mod tests;
