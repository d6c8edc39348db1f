//! The catalog: an immutable snapshot of everything the data plane may serve, by name.
//!
//! The control plane builds a new [`Catalog`] whenever something changes and publishes it
//! through a [`CatalogHandle`]. Each core keeps its own [`CatalogReader`]: reading the current
//! snapshot costs one relaxed atomic load of the generation number; the mutex behind it is
//! only taken when the generation moved, i.e. once per core per publish, never per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::blob::BlobSlice;
use crate::boot::BootPolicy;

/// Which protocols may fetch an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// Reachable over TFTP.
    pub tftp: bool,
    /// Reachable over HTTP.
    pub http: bool,
}

impl Exposure {
    /// Both TFTP and HTTP.
    pub const BOTH: Exposure = Exposure {
        tftp: true,
        http: true,
    };
    /// HTTP only.
    pub const HTTP: Exposure = Exposure {
        tftp: false,
        http: true,
    };
}

/// An immutable map from normalised names (see [`crate::path`]) to blob slices.
#[derive(Default)]
pub struct Catalog {
    tftp: HashMap<String, BlobSlice>,
    http: HashMap<String, BlobSlice>,
    boot: BootPolicy,
}

impl Catalog {
    /// Starts an empty catalog.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Looks up a normalised TFTP name.
    pub fn tftp(&self, key: &str) -> Option<&BlobSlice> {
        self.tftp.get(key)
    }

    /// Looks up a normalised HTTP path (no leading slash).
    pub fn http(&self, key: &str) -> Option<&BlobSlice> {
        self.http.get(key)
    }

    /// Who gets which `/boot.ipxe` script.
    pub fn boot(&self) -> &BootPolicy {
        &self.boot
    }

    /// Number of distinct names (TFTP, HTTP).
    pub fn len(&self) -> (usize, usize) {
        (self.tftp.len(), self.http.len())
    }

    /// True when nothing is served.
    pub fn is_empty(&self) -> bool {
        self.tftp.is_empty() && self.http.is_empty()
    }
}

/// Collects entries for a new [`Catalog`].
#[derive(Default)]
pub struct CatalogBuilder {
    catalog: Catalog,
}

impl CatalogBuilder {
    /// Adds `slice` under `key` (a normalised name: no leading slash, no `..`). A later insert
    /// of the same key wins, so overrides are added after defaults.
    pub fn insert(&mut self, key: &str, slice: BlobSlice, exposure: Exposure) -> &mut Self {
        if exposure.tftp {
            self.catalog.tftp.insert(key.to_owned(), slice.clone());
        }
        if exposure.http {
            self.catalog.http.insert(key.to_owned(), slice);
        }
        self
    }

    /// Sets the boot policy.
    pub fn boot_policy(&mut self, policy: BootPolicy) -> &mut Self {
        self.catalog.boot = policy;
        self
    }

    /// Finishes the snapshot.
    pub fn build(self) -> Catalog {
        self.catalog
    }
}

struct Shared {
    generation: AtomicU64,
    current: Mutex<Arc<Catalog>>,
}

/// The publishing side, shared by the control plane and every core.
#[derive(Clone)]
pub struct CatalogHandle {
    shared: Arc<Shared>,
}

impl CatalogHandle {
    /// A handle serving `initial`.
    pub fn new(initial: Catalog) -> Self {
        CatalogHandle {
            shared: Arc::new(Shared {
                generation: AtomicU64::new(0),
                current: Mutex::new(Arc::new(initial)),
            }),
        }
    }

    /// Replaces the snapshot; every core picks it up at its next request.
    pub fn publish(&self, catalog: Catalog) {
        let mut current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(catalog);
        // Release pairs with the Acquire in `CatalogReader::current`: a core that sees the new
        // generation also sees the new snapshot behind the mutex.
        self.shared.generation.fetch_add(1, Ordering::Release);
    }

    /// The snapshot being served now.
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A per-core reader.
    pub fn reader(&self) -> CatalogReader {
        CatalogReader {
            shared: self.shared.clone(),
            generation: u64::MAX,
            local: Arc::new(Catalog::default()),
        }
    }
}

/// One core's view of the current catalog. Lookups borrow it; nothing on the request path
/// touches the shared `Arc`'s count.
pub struct CatalogReader {
    shared: Arc<Shared>,
    generation: u64,
    local: Arc<Catalog>,
}

impl CatalogReader {
    /// The current snapshot, refreshed if a new one was published.
    pub fn current(&mut self) -> &Catalog {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.generation {
            let snapshot = self
                .shared
                .current
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            self.local = snapshot;
            self.generation = generation;
        }
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::Blob;

    #[test]
    fn readers_see_new_snapshots() {
        let blob = Blob::from_static(b"abc", 0);
        let handle = CatalogHandle::new(Catalog::default());
        let mut reader = handle.reader();
        assert!(reader.current().tftp("a").is_none());
        let mut b = Catalog::builder();
        b.insert("a", BlobSlice::whole(blob.clone()), Exposure::BOTH);
        b.insert("h", BlobSlice::whole(blob), Exposure::HTTP);
        handle.publish(b.build());
        let snap = reader.current();
        assert_eq!(snap.tftp("a").unwrap().len(), 3);
        assert!(snap.tftp("h").is_none());
        assert!(snap.http("h").is_some());
    }
}
