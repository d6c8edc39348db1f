use sha2::{Digest, Sha256};

use super::*;
use crate::fec::ChunkEncoder;

/// The output as a byte vector, counting reads.
struct Memory {
    bytes: Vec<u8>,
    reads: usize,
}

impl Output for Memory {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let at = offset as usize;
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn read_at(&mut self, offset: u64, bytes: &mut [u8]) -> io::Result<()> {
        self.reads += 1;
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }
}

/// A file of 5 full chunks and a short sixth whose last symbol is short too.
struct Fixture {
    geometry: Geometry,
    file: Vec<u8>,
    hashes: Vec<ChunkHash>,
}

impl Fixture {
    fn new() -> Fixture {
        let geometry = Geometry {
            size: 5 * 64 * 16 + 3 * 64 + 10,
            symbol_size: 64,
            chunk_symbols: 16,
        };
        geometry.validate().unwrap();
        let file: Vec<u8> = (0..geometry.size)
            .map(|i| ((i * 2_654_435_761) >> 13) as u8)
            .collect();
        let hashes = (0..geometry.chunks())
            .map(|c| chunk_hash(chunk_of(&geometry, &file, c)))
            .collect();
        Fixture {
            geometry,
            file,
            hashes,
        }
    }

    fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.file).into()
    }

    fn assembly(&self, max_open: usize) -> Assembly {
        Assembly::new(self.geometry, self.hashes.clone(), max_open)
    }

    fn output(&self) -> Memory {
        Memory {
            bytes: vec![0; self.file.len()],
            reads: 0,
        }
    }

    /// Source symbol `esi` of `chunk`, zero-padded as on the wire.
    fn source(&self, chunk: u32, esi: u32) -> Vec<u8> {
        let range = self.geometry.symbol_range(chunk, esi);
        let mut symbol = self.file[range.start as usize..range.end as usize].to_vec();
        symbol.resize(usize::from(self.geometry.symbol_size), 0);
        symbol
    }

    fn encoder(&self, chunk: u32) -> ChunkEncoder {
        ChunkEncoder::new(&self.geometry, chunk_of(&self.geometry, &self.file, chunk))
    }

    /// Sends every source symbol of every chunk, except those `lose` picks.
    fn first_pass(
        &self,
        a: &mut Assembly,
        out: &mut Memory,
        lose: impl Fn(u32, u32) -> bool,
    ) -> Vec<Received> {
        let mut results = Vec::new();
        for c in 0..self.geometry.chunks() {
            for esi in 0..u32::from(self.geometry.source_symbols(c)) {
                if !lose(c, esi) {
                    results.push(a.receive(c, esi, &self.source(c, esi), out).unwrap());
                }
            }
        }
        results
    }

    /// What a sender does with reports: fresh repair symbols for every need, until the
    /// receiver misses nothing (a bounded number of rounds).
    fn repair_rounds(&self, a: &mut Assembly, out: &mut Memory) {
        let mut next_repair = vec![0u32; self.geometry.chunks() as usize];
        for _ in 0..5 {
            let needs = a.needs();
            if needs.is_empty() {
                return;
            }
            for need in needs {
                for c in need.first..=need.last {
                    let count = u32::from(need.symbols);
                    for (esi, symbol) in self.encoder(c).repair(next_repair[c as usize], count) {
                        a.receive(c, esi, &symbol, out).unwrap();
                    }
                    next_repair[c as usize] += count;
                }
            }
        }
        panic!("still missing {:?} after 5 repair rounds", a.needs());
    }
}

fn chunk_of<'a>(geometry: &Geometry, file: &'a [u8], chunk: u32) -> &'a [u8] {
    let range = geometry.chunk_range(chunk);
    &file[range.start as usize..range.end as usize]
}

#[test]
fn all_source_symbols_complete_every_chunk_without_decoding() {
    let f = Fixture::new();
    let mut a = f.assembly(2);
    let mut out = f.output();
    let results = f.first_pass(&mut a, &mut out, |_, _| false);
    let completed: Vec<u32> = results
        .iter()
        .filter_map(|r| match r {
            Received::Completed(c) => Some(*c),
            _ => None,
        })
        .collect();
    assert_eq!(completed, (0..6).collect::<Vec<_>>());
    assert!(a.is_complete());
    assert!(a.needs().is_empty());
    assert_eq!(out.bytes, f.file);
    assert_eq!(out.reads, 0, "nothing was parked");
    assert_eq!(
        a.sha256(),
        Some(f.sha256()),
        "hashed in passing, nothing read back"
    );
    // The sender's carousel goes round again: all duplicates now.
    let again = f.first_pass(&mut a, &mut out, |c, esi| c > 0 || esi > 2);
    assert_eq!(again, vec![Received::Duplicate; 3]);
}

#[test]
fn lost_source_symbols_are_replaced_by_repair_symbols() {
    let f = Fixture::new();
    let mut a = f.assembly(8);
    let mut out = f.output();
    // Lose about a fifth, and every symbol of chunk 2 (a receiver that joined late).
    f.first_pass(&mut a, &mut out, |c, esi| c == 2 || (c * 7 + esi) % 5 == 0);
    assert_eq!(a.chunks_done(), 0);
    let needs = a.needs();
    let chunk2 = needs
        .iter()
        .find(|n| (n.first..=n.last).contains(&2))
        .unwrap();
    assert_eq!(chunk2.symbols, 16);
    f.repair_rounds(&mut a, &mut out);
    assert!(a.is_complete());
    assert_eq!(out.bytes, f.file);
}

#[test]
fn a_chunk_parked_incomplete_is_read_back_and_repaired() {
    let f = Fixture::new();
    // One chunk in memory: chunk 0, incomplete, is parked when chunk 1 starts.
    let mut a = f.assembly(1);
    let mut out = f.output();
    let lost = [1u32, 5, 6];
    f.first_pass(&mut a, &mut out, |c, esi| c == 0 && lost.contains(&esi));
    assert_eq!(a.chunks_done(), 5);
    let chunk0 = &out.bytes[..64 * 16];
    for esi in 0..16usize {
        let symbol = &chunk0[esi * 64..][..64];
        if lost.contains(&(esi as u32)) {
            assert!(
                symbol.iter().all(|&b| b == 0),
                "symbol {esi} was never received"
            );
        } else {
            assert_eq!(
                symbol,
                &f.file[esi * 64..][..64],
                "symbol {esi} parked in place"
            );
        }
    }
    assert_eq!(
        a.needs(),
        vec![Need {
            first: 0,
            last: 0,
            symbols: 3
        }]
    );
    // A source symbol already parked is not worth reading the chunk back.
    assert_eq!(
        a.receive(0, 0, &f.source(0, 0), &mut out).unwrap(),
        Received::Duplicate
    );
    assert_eq!(out.reads, 0);
    f.repair_rounds(&mut a, &mut out);
    assert!(out.reads >= 1, "the parked symbols were read back");
    assert!(a.is_complete());
    assert_eq!(out.bytes, f.file);
    // Chunks 1 to 5 waited in the output for chunk 0, then were read back for the digest.
    assert_eq!(a.sha256(), Some(f.sha256()));
}

#[test]
fn the_short_last_chunk_parked_and_read_back_decodes_with_its_padding() {
    let f = Fixture::new();
    let last = f.geometry.chunks() - 1;
    let mut a = f.assembly(1);
    let mut out = f.output();
    // The last chunk first, without its first symbol but with its short last one; then
    // every other chunk, which parks it and leaves their bytes in the reused buffers.
    for esi in 1..u32::from(f.geometry.source_symbols(last)) {
        a.receive(last, esi, &f.source(last, esi), &mut out)
            .unwrap();
    }
    for c in 0..last {
        for esi in 0..u32::from(f.geometry.source_symbols(c)) {
            a.receive(c, esi, &f.source(c, esi), &mut out).unwrap();
        }
    }
    assert_eq!(a.chunks_done(), last);
    f.repair_rounds(&mut a, &mut out);
    assert!(out.reads >= 1, "the parked chunk was read back");
    assert_eq!(
        a.chunks_rejected(),
        0,
        "decoded with zeros past the file's end"
    );
    assert_eq!(out.bytes, f.file);
}
#[test]
fn the_file_digest_and_the_done_prefix_wait_for_a_gap_to_close() {
    let f = Fixture::new();
    let mut a = f.assembly(2);
    let mut out = f.output();
    let accept = |a: &mut Assembly, out: &mut Memory, c: u32| {
        let bytes = chunk_of(&f.geometry, &f.file, c);
        assert_eq!(
            a.accept_chunk(c, bytes, out).unwrap(),
            Received::Completed(c)
        );
    };
    assert_eq!(a.done_prefix(), 0);
    for c in [2, 0, 3] {
        accept(&mut a, &mut out, c);
    }
    assert_eq!(out.reads, 0, "0 hashed in hand; 2 and 3 wait for 1");
    assert_eq!(a.done_prefix(), 1, "only chunk 0 can be read in order");
    accept(&mut a, &mut out, 1);
    assert_eq!(out.reads, 2, "2 and 3 read back once 1 closed the gap");
    assert_eq!(a.done_prefix(), 4);
    assert_eq!(a.sha256(), None);
    for c in [4, 5] {
        accept(&mut a, &mut out, c);
    }
    assert_eq!(out.reads, 2);
    assert_eq!(a.sha256(), Some(f.sha256()));
}

#[test]
fn a_chunk_that_fails_its_hash_starts_over() {
    let f = Fixture::new();
    let mut hashes = f.hashes.clone();
    hashes[1] = [0; 16];
    let mut a = Assembly::new(f.geometry, hashes, 4);
    let mut out = f.output();
    let results = f.first_pass(&mut a, &mut out, |_, _| false);
    assert!(results.contains(&Received::Rejected(1)));
    assert_eq!(a.chunks_rejected(), 1);
    assert_eq!(a.chunks_done(), 5);
    let chunk1 = f.geometry.chunk_range(1);
    let chunk1 = chunk1.start as usize..chunk1.end as usize;
    assert!(
        out.bytes[chunk1.clone()].iter().all(|&b| b == 0),
        "a bad chunk is not written"
    );
    assert_eq!(out.bytes[chunk1.end..], f.file[chunk1.end..]);
    assert_eq!(
        a.needs(),
        vec![Need {
            first: 1,
            last: 1,
            symbols: 16
        }]
    );
    // Received again, it fails again (the hash is wrong), but never completes falsely.
    let again = f.first_pass(&mut a, &mut out, |_, _| false);
    assert!(again.contains(&Received::Rejected(1)));
    assert!(!a.is_complete());
}

#[test]
fn foreign_symbols_are_ignored() {
    let f = Fixture::new();
    let mut a = f.assembly(2);
    let mut out = f.output();
    let symbol = f.source(0, 0);
    assert_eq!(
        a.receive(6, 0, &symbol, &mut out).unwrap(),
        Received::Ignored
    );
    assert_eq!(
        a.receive(0, 1 << 24, &symbol, &mut out).unwrap(),
        Received::Ignored
    );
    assert_eq!(
        a.receive(0, 0, &symbol[..63], &mut out).unwrap(),
        Received::Ignored
    );
    // The same repair symbol twice counts once.
    let (esi, repair) = f.encoder(0).repair(0, 1).remove(0);
    assert_eq!(
        a.receive(0, esi, &repair, &mut out).unwrap(),
        Received::Stored
    );
    assert_eq!(
        a.receive(0, esi, &repair, &mut out).unwrap(),
        Received::Duplicate
    );
    assert_eq!(a.needs()[0].symbols, 15);
}

#[test]
fn resumed_chunks_are_not_asked_for_and_unicast_chunks_are_verified() {
    let f = Fixture::new();
    let mut done = Bitmap::new(6);
    done.set(0);
    done.set(4);
    let mut a = f.assembly(2);
    a.resume(&done);
    assert_eq!(a.chunks_done(), 2);
    assert_eq!(a.done(), done);
    assert_eq!(a.missing().collect::<Vec<_>>(), vec![1, 2, 3, 5]);
    assert_eq!(a.done_prefix(), 1, "resumed 0, not 4 past the gap");
    let mut out = f.output();
    // What the earlier run wrote.
    for c in [0, 4] {
        let range = f.geometry.chunk_range(c);
        out.write_at(range.start, chunk_of(&f.geometry, &f.file, c))
            .unwrap();
    }
    assert_eq!(
        a.receive(0, 3, &f.source(0, 3), &mut out).unwrap(),
        Received::Duplicate
    );
    assert_eq!(
        a.accept_chunk(1, &[1; 64 * 16], &mut out).unwrap(),
        Received::Rejected(1)
    );
    for c in [1, 2, 3, 5] {
        let bytes = chunk_of(&f.geometry, &f.file, c);
        assert_eq!(
            a.accept_chunk(c, bytes, &mut out).unwrap(),
            Received::Completed(c)
        );
    }
    assert!(a.is_complete());
    assert_eq!(a.sha256(), Some(f.sha256()), "resumed chunks read back");
    assert_eq!(a.done_prefix(), 6);
    a.forget(3);
    assert_eq!(a.done_prefix(), 3, "a forgotten chunk ends the prefix");
    assert_eq!(a.missing().collect::<Vec<_>>(), vec![3]);
    assert_eq!(a.sha256(), None, "a forgotten chunk voids the digest");
}
