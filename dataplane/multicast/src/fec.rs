//! RaptorQ (RFC 6330) per chunk: each chunk is one source block of its own object, so a
//! chunk's symbols carry source block number 0 and the chunk number travels in our header.

use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder,
    SourceBlockEncoder,
};

use crate::geometry::Geometry;

/// RaptorQ's symbol alignment; symbol sizes are multiples of it.
const ALIGNMENT: u8 = 8;

fn oti(geometry: &Geometry, chunk_len: u64) -> ObjectTransmissionInformation {
    ObjectTransmissionInformation::new(chunk_len, geometry.symbol_size, 1, 1, ALIGNMENT)
}

/// Makes repair symbols of one chunk. Building it costs about as much as decoding the chunk
/// (RaptorQ's intermediate symbols); each repair symbol after that is cheap.
pub struct ChunkEncoder {
    inner: SourceBlockEncoder,
    source_symbols: u32,
}

impl ChunkEncoder {
    /// An encoder for `data`, one whole chunk.
    pub fn new(geometry: &Geometry, data: &[u8]) -> ChunkEncoder {
        let symbol = usize::from(geometry.symbol_size);
        let source_symbols = data.len().div_ceil(symbol);
        let config = oti(geometry, data.len() as u64);
        let inner = if data.len().is_multiple_of(symbol) {
            SourceBlockEncoder::new(0, &config, data)
        } else {
            // RaptorQ codes whole symbols: the file's last one is zero-padded, as on the wire.
            let mut padded = data.to_vec();
            padded.resize(source_symbols * symbol, 0);
            SourceBlockEncoder::new(0, &config, &padded)
        };
        ChunkEncoder {
            inner,
            source_symbols: u32::try_from(source_symbols).unwrap_or(u32::MAX),
        }
    }

    /// `count` repair symbols starting at repair number `first` (0 for the first ever sent):
    /// `(esi, symbol)` pairs. ESIs of repair symbols start above the source symbols' (RaptorQ
    /// skips its padding symbols), so `esi >= source_symbols` marks a repair symbol.
    pub fn repair(&self, first: u32, count: u32) -> Vec<(u32, Vec<u8>)> {
        self.inner
            .repair_packets(first, count)
            .into_iter()
            .map(|p| {
                let (id, data) = p.split();
                (id.encoding_symbol_id(), data)
            })
            .collect()
    }

    /// Source symbols of this chunk.
    pub fn source_symbols(&self) -> u32 {
        self.source_symbols
    }
}

/// Rebuilds one chunk from any sufficient set of its symbols.
pub struct ChunkDecoder {
    inner: SourceBlockDecoder,
    chunk_len: usize,
}

impl ChunkDecoder {
    /// A decoder for a chunk of `chunk_len` bytes.
    pub fn new(geometry: &Geometry, chunk_len: u64) -> ChunkDecoder {
        ChunkDecoder {
            inner: SourceBlockDecoder::new(0, &oti(geometry, chunk_len), chunk_len),
            chunk_len: usize::try_from(chunk_len).unwrap_or(usize::MAX),
        }
    }

    /// Adds symbols (`(esi, symbol)`, each `symbol_size` long) and returns the chunk once
    /// they suffice. A source symbol shorter than `symbol_size` (the file's last) must be
    /// passed zero-padded.
    pub fn decode<'a>(
        &mut self,
        symbols: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Option<Vec<u8>> {
        let mut chunk = self.inner.decode(
            symbols
                .into_iter()
                .map(|(esi, data)| EncodingPacket::new(PayloadId::new(0, esi), data.to_vec())),
        )?;
        chunk.truncate(self.chunk_len);
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_k_symbols_plus_two_rebuild_a_chunk() {
        let g = Geometry {
            size: 64 * 1344 - 100,
            symbol_size: 1344,
            chunk_symbols: 64,
        };
        let data: Vec<u8> = (0..g.size).map(|i| (i * 31 / 7) as u8).collect();
        let enc = ChunkEncoder::new(&g, &data);
        let k = enc.source_symbols();
        assert_eq!(k, 64);
        // Lose every fifth source symbol; replace them with as many repair symbols plus two.
        let lost = (0..k).filter(|i| i % 5 == 0).count() as u32;
        let mut padded = data.clone();
        padded.resize(usize::from(g.symbol_size) * k as usize, 0);
        let mut symbols: Vec<(u32, Vec<u8>)> = padded
            .chunks(usize::from(g.symbol_size))
            .enumerate()
            .filter(|(i, _)| i % 5 != 0)
            .map(|(i, s)| (i as u32, s.to_vec()))
            .collect();
        let repair = enc.repair(0, lost + 2);
        assert!(repair.iter().all(|(esi, _)| *esi >= k));
        symbols.extend(repair);
        let mut dec = ChunkDecoder::new(&g, data.len() as u64);
        let out = dec.decode(symbols.iter().map(|(e, s)| (*e, s.as_slice())));
        assert_eq!(out.as_deref(), Some(&data[..]));
    }
}
