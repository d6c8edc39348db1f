//! How a file is cut into chunks and symbols.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Default symbol size: a symbol plus [`crate::wire::HEADER_LEN`] plus IPv6 and UDP headers
/// fits a 1500-byte MTU, and `symbol_size * chunk_symbols` is a multiple of 4096 so chunks
/// are written with page-aligned offsets.
pub const DEFAULT_SYMBOL_SIZE: u16 = 1344;
/// Default symbols per chunk: RaptorQ's cost grows with a block's symbol count, and 512 keeps
/// decoding fast while the manifest's per-chunk hashes stay small (≈ 1,600 per GiB).
pub const DEFAULT_CHUNK_SYMBOLS: u16 = 512;

/// The cut of one file: its size, symbol size and symbols per chunk. Every chunk but the last
/// is `chunk_bytes()` long; the last symbol of the file is padded with zeros on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// File size in bytes.
    pub size: u64,
    /// Bytes per symbol (a multiple of 8, RaptorQ's alignment here).
    pub symbol_size: u16,
    /// Source symbols in a full chunk.
    pub chunk_symbols: u16,
}

/// Why a geometry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// Symbol size zero or not a multiple of 8.
    SymbolSize(u16),
    /// Zero symbols per chunk.
    ChunkSymbols,
    /// More chunks than a `u32` counts.
    TooLarge,
}

impl std::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeometryError::SymbolSize(n) => {
                write!(f, "symbol size {n} is not a positive multiple of 8")
            }
            GeometryError::ChunkSymbols => write!(f, "a chunk needs at least one symbol"),
            GeometryError::TooLarge => write!(f, "file too large for this chunk size"),
        }
    }
}

impl std::error::Error for GeometryError {}

impl Geometry {
    /// The default cut of a file of `size` bytes.
    pub fn for_size(size: u64) -> Geometry {
        Geometry {
            size,
            symbol_size: DEFAULT_SYMBOL_SIZE,
            chunk_symbols: DEFAULT_CHUNK_SYMBOLS,
        }
    }

    /// Checks what a peer sent: a manifest is input like any other.
    pub fn validate(&self) -> Result<(), GeometryError> {
        if self.symbol_size == 0 || !self.symbol_size.is_multiple_of(8) {
            return Err(GeometryError::SymbolSize(self.symbol_size));
        }
        if self.chunk_symbols == 0 {
            return Err(GeometryError::ChunkSymbols);
        }
        if u32::try_from(self.size.div_ceil(self.chunk_bytes())).is_err() {
            return Err(GeometryError::TooLarge);
        }
        Ok(())
    }

    /// Bytes in a full chunk.
    pub fn chunk_bytes(&self) -> u64 {
        u64::from(self.symbol_size) * u64::from(self.chunk_symbols)
    }

    /// Number of chunks (0 for an empty file).
    pub fn chunks(&self) -> u32 {
        u32::try_from(self.size.div_ceil(self.chunk_bytes())).unwrap_or(u32::MAX)
    }

    /// Byte range of `chunk` in the file (empty past the end).
    pub fn chunk_range(&self, chunk: u32) -> Range<u64> {
        let start = (u64::from(chunk) * self.chunk_bytes()).min(self.size);
        let end = (start + self.chunk_bytes()).min(self.size);
        start..end
    }

    /// Source symbols of `chunk`: `chunk_symbols` but for a short last chunk.
    pub fn source_symbols(&self, chunk: u32) -> u16 {
        let len = self.chunk_range(chunk);
        let n = (len.end - len.start).div_ceil(u64::from(self.symbol_size));
        u16::try_from(n).unwrap_or(self.chunk_symbols)
    }

    /// Byte range in the file of source symbol `esi` of `chunk`; shorter than a symbol only
    /// for the file's last symbol, empty for a repair symbol (`esi >= source_symbols`).
    pub fn symbol_range(&self, chunk: u32, esi: u32) -> Range<u64> {
        let chunk_range = self.chunk_range(chunk);
        let start =
            (chunk_range.start + u64::from(esi) * u64::from(self.symbol_size)).min(chunk_range.end);
        let end = (start + u64::from(self.symbol_size)).min(chunk_range.end);
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chunks_are_page_aligned() {
        assert_eq!(Geometry::for_size(0).chunk_bytes() % 4096, 0);
    }

    #[test]
    fn a_short_last_chunk_has_fewer_symbols_and_a_short_last_symbol() {
        let g = Geometry {
            size: 10 * 1344 * 4 + 1344 + 5,
            symbol_size: 1344,
            chunk_symbols: 4,
        };
        assert_eq!(g.chunks(), 11);
        assert_eq!(g.source_symbols(0), 4);
        assert_eq!(g.source_symbols(10), 2);
        assert_eq!(g.symbol_range(10, 1), g.size - 5..g.size);
        assert!(g.symbol_range(10, 2).is_empty());
        assert!(g.chunk_range(11).is_empty());
    }

    #[test]
    fn empty_files_have_no_chunks() {
        assert_eq!(Geometry::for_size(0).chunks(), 0);
    }

    #[test]
    fn validation_refuses_what_would_divide_by_zero() {
        let mut g = Geometry::for_size(1);
        g.symbol_size = 0;
        assert!(g.validate().is_err());
        g.symbol_size = 1001;
        assert!(g.validate().is_err());
        g.symbol_size = 8;
        g.chunk_symbols = 0;
        assert!(g.validate().is_err());
        g.chunk_symbols = 1;
        g.size = u64::MAX;
        assert_eq!(g.validate(), Err(GeometryError::TooLarge));
    }
}
