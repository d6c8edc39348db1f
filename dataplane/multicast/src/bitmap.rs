//! A fixed-size set of small integers (symbols of a chunk, chunks of a file), one bit each:
//! a receiver tracks hundreds of thousands of these, so a byte or a `bool` apiece is too much.

/// `len` bits, all clear at first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    words: Box<[u64]>,
    len: u32,
    ones: u32,
}

impl Bitmap {
    /// `len` clear bits.
    pub fn new(len: u32) -> Bitmap {
        Bitmap {
            words: vec![0; len.div_ceil(64) as usize].into_boxed_slice(),
            len,
            ones: 0,
        }
    }

    /// Number of bits.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// `true` for a bitmap of no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of set bits.
    pub fn count(&self) -> u32 {
        self.ones
    }

    /// `true` when every bit is set.
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether bit `i` is set (`false` past the end).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns `false` if it was already set or is past the end.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.words[(i / 64) as usize] |= 1 << (i % 64);
        self.ones += 1;
        true
    }

    /// Clears bit `i` (nothing past the end).
    pub fn clear(&mut self, i: u32) {
        if self.get(i) {
            self.words[(i / 64) as usize] &= !(1 << (i % 64));
            self.ones -= 1;
        }
    }

    /// Set bits in increasing order.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    /// Clear bits in increasing order.
    pub fn zeros(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| !self.get(i))
    }

    /// Maximal runs of set bits, as half-open ranges, in increasing order.
    pub fn runs(&self) -> impl Iterator<Item = std::ops::Range<u32>> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < self.len && !self.get(i) {
                i += 1;
            }
            let start = i;
            while i < self.len && self.get(i) {
                i += 1;
            }
            (start < i).then_some(start..i)
        })
    }

    /// The bits as bytes, bit `i` in byte `i / 8` at `1 << (i % 8)`: `len.div_ceil(8)` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let bytes = self.len.div_ceil(8) as usize;
        self.words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(bytes)
            .collect()
    }

    /// The inverse of [`Bitmap::to_bytes`]; `None` unless `bytes` has exactly the right length
    /// and no bit set past `len`.
    pub fn from_bytes(len: u32, bytes: &[u8]) -> Option<Bitmap> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let mut map = Bitmap::new(len);
        for (w, word_bytes) in map.words.iter_mut().zip(bytes.chunks(8)) {
            let mut le = [0u8; 8];
            le[..word_bytes.len()].copy_from_slice(word_bytes);
            *w = u64::from_le_bytes(le);
        }
        let tail = len % 64;
        if tail != 0 && map.words.last().is_some_and(|w| w >> tail != 0) {
            return None;
        }
        map.ones = map.words.iter().map(|w| w.count_ones()).sum();
        Some(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_count_and_runs() {
        let mut b = Bitmap::new(130);
        assert!(b.set(0) && b.set(1) && b.set(64) && b.set(129));
        assert!(!b.set(1), "a bit set twice counts once");
        assert!(!b.set(130), "past the end");
        assert_eq!(b.count(), 4);
        assert_eq!(b.runs().collect::<Vec<_>>(), vec![0..2, 64..65, 129..130]);
        b.clear(1);
        b.clear(1);
        assert_eq!(b.count(), 3);
        assert_eq!(b.zeros().count(), 127);
        assert!(!b.is_full());
    }

    #[test]
    fn bytes_round_trip_and_refuse_stray_bits() {
        let mut b = Bitmap::new(13);
        b.set(3);
        b.set(12);
        let bytes = b.to_bytes();
        assert_eq!(bytes, vec![0b1000, 0b1_0000]);
        assert_eq!(Bitmap::from_bytes(13, &bytes), Some(b));
        assert_eq!(Bitmap::from_bytes(13, &[0, 0b10_0000]), None, "bit 13");
        assert_eq!(Bitmap::from_bytes(13, &[0]), None, "short");
        assert_eq!(Bitmap::from_bytes(0, &[]), Some(Bitmap::new(0)));
    }
}
