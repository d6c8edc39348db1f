//! netascii conversions (RFC 1350 mode `netascii`), made once per file and shared by every
//! transfer of it, under one memory budget for all cores. A file is read in small chunks, so
//! converting it costs its converted size in memory and no more; a conversion in use by a
//! transfer stays, idle ones are dropped when a new one needs the room.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::blob::{Blob, BlobSlice};
use crate::wire::tftp::netascii_encode;

/// Bytes read from the file per `pread` while converting.
const CHUNK: usize = 64 << 10;

/// Why a netascii request cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetasciiError {
    /// The file is over the per-file limit.
    TooLarge,
    /// Converting it would exceed the memory budget while other conversions are in use.
    OverBudget,
    /// The file could not be read (it shrank, or an I/O error).
    Read,
}

impl NetasciiError {
    /// The text for the TFTP ERROR packet.
    pub fn message(self) -> &'static str {
        match self {
            NetasciiError::TooLarge => "file too large for netascii mode, use octet",
            NetasciiError::OverBudget => "server busy converting netascii, try again or use octet",
            NetasciiError::Read => "read error",
        }
    }
}

/// The shared cache of conversions.
pub struct NetasciiCache {
    max_file: u64,
    budget: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    /// Bytes of the entries plus the worst case of conversions under way.
    used: u64,
}

struct Entry {
    /// The blob converted; a dead reference means the file was replaced, the entry is stale.
    source: Weak<Blob>,
    offset: u64,
    len: usize,
    converted: Arc<Blob>,
}

impl Entry {
    fn is_for(&self, slice: &BlobSlice) -> bool {
        self.offset == slice.offset()
            && self.len == slice.len()
            && std::ptr::eq(self.source.as_ptr(), Arc::as_ptr(slice.blob()))
    }

    /// Only the cache holds it: no transfer is sending it.
    fn idle(&self) -> bool {
        Arc::strong_count(&self.converted) == 1
    }
}

impl NetasciiCache {
    /// A cache converting files of at most `max_file` bytes, holding at most `budget` bytes.
    pub fn new(max_file: u64, budget: u64) -> Arc<NetasciiCache> {
        Arc::new(NetasciiCache {
            max_file,
            budget,
            inner: Mutex::default(),
        })
    }

    /// The netascii form of `slice`, converted now or shared with other transfers.
    ///
    /// # Errors
    /// See [`NetasciiError`].
    pub fn get(&self, slice: &BlobSlice) -> Result<BlobSlice, NetasciiError> {
        // Worst case: every byte is a line end and doubles.
        let reserve = (slice.len() as u64).saturating_mul(2);
        {
            let mut inner = self.lock();
            inner.drop_stale();
            if let Some(e) = inner.entries.iter().find(|e| e.is_for(slice)) {
                return Ok(BlobSlice::whole(e.converted.clone()));
            }
            if slice.len() as u64 > self.max_file {
                return Err(NetasciiError::TooLarge);
            }
            if inner.used.saturating_add(reserve) > self.budget {
                inner.drop_idle();
            }
            if inner.used.saturating_add(reserve) > self.budget {
                return Err(NetasciiError::OverBudget);
            }
            inner.used += reserve;
        }
        // Converted outside the lock: other cores' lookups need not wait for the file.
        let mut out = Vec::with_capacity(slice.len() + slice.len() / 16);
        let mut buf = vec![0u8; CHUNK.min(slice.len().max(1))];
        let read = slice.read_in_chunks(&mut buf, |part| netascii_encode(part, &mut out));
        let mut inner = self.lock();
        inner.used -= reserve;
        read.map_err(|_| NetasciiError::Read)?;
        out.shrink_to_fit();
        let converted = Blob::from_vec(out, slice.blob().modified());
        inner.used += converted.len();
        inner.entries.push(Entry {
            source: Arc::downgrade(slice.blob()),
            offset: slice.offset(),
            len: slice.len(),
            converted: converted.clone(),
        });
        Ok(BlobSlice::whole(converted))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the cache consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn drop_stale(&mut self) {
        self.drop_where(|e| e.source.strong_count() == 0 && e.idle());
    }

    fn drop_idle(&mut self) {
        self.drop_where(Entry::idle);
    }

    fn drop_where(&mut self, gone: impl Fn(&Entry) -> bool) {
        let mut freed = 0;
        self.entries.retain(|e| {
            let drop = gone(e);
            if drop {
                freed += e.converted.len();
            }
            !drop
        });
        self.used -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(text: &'static [u8]) -> BlobSlice {
        BlobSlice::whole(Blob::from_static(text, 0))
    }

    fn bytes(s: &BlobSlice) -> Vec<u8> {
        let mut out = Vec::new();
        s.read_in_chunks(&mut [0; 3], |p| out.extend_from_slice(p))
            .unwrap();
        out
    }

    #[test]
    fn converts_once_and_shares() {
        let cache = NetasciiCache::new(1 << 20, 1 << 20);
        let file = slice(b"a\nb\rc\n");
        let one = cache.get(&file).unwrap();
        let two = cache.get(&file).unwrap();
        assert_eq!(bytes(&one), b"a\r\nb\r\0c\r\n");
        assert!(Arc::ptr_eq(one.blob(), two.blob()), "converted once");
        // A part of the same blob is another conversion.
        let part = file.sub(0, 2).unwrap();
        assert_eq!(bytes(&cache.get(&part).unwrap()), b"a\r\n");
        assert_eq!(cache.lock().used, 9 + 3);
    }

    #[test]
    fn the_budget_holds_what_is_in_use_and_frees_what_is_idle() {
        let cache = NetasciiCache::new(100, 30);
        let a = slice(b"0123456789");
        let b = slice(b"abcdefghij");
        let held = cache.get(&a).unwrap();
        // 10 held + 20 reserved for b's worst case = 30: fits.
        let b_held = cache.get(&b).unwrap();
        let c = slice(b"ABCDEFGHIJ");
        assert_eq!(cache.get(&c).err(), Some(NetasciiError::OverBudget));
        drop(held);
        // a is idle now and gives way to c.
        assert_eq!(bytes(&cache.get(&c).unwrap()), b"ABCDEFGHIJ");
        assert_eq!(cache.lock().entries.len(), 2);
        drop(b_held);
        let big = slice(&[b'x'; 101]);
        assert_eq!(cache.get(&big).err(), Some(NetasciiError::TooLarge));
    }

    #[test]
    fn a_replaced_file_is_not_served_from_the_old_conversion() {
        let cache = NetasciiCache::new(100, 100);
        let old = slice(b"old\n");
        drop(cache.get(&old).unwrap());
        drop(old);
        let new = slice(b"new\n");
        assert_eq!(bytes(&cache.get(&new).unwrap()), b"new\r\n");
        assert_eq!(cache.lock().entries.len(), 1, "the stale entry went");
    }
}
