//! Builds catalog snapshots and hands them to the data plane. Files already mapped are reused
//! while unchanged (same size, mtime and inode), so a rescan costs a `stat` per file, and a
//! replaced file gets a fresh mapping of the new inode while transfers of the old one finish
//! from the old mapping.

use std::collections::HashMap;
use std::sync::Arc;

use dataplane::{Blob, BlobSlice, Catalog, CatalogHandle, Exposure};

use crate::bootloaders::Bootloader;
use crate::scan::Found;
use crate::store::FileRecord;

/// Owns the mapping cache and the handle snapshots are published through.
pub struct Publisher {
    handle: CatalogHandle,
    bootloaders: Vec<Bootloader>,
    mapped: HashMap<String, (FileRecord, Arc<Blob>)>,
    published: Option<Vec<FileRecord>>,
}

impl Publisher {
    /// A publisher for `handle`, serving `bootloaders` beside the scanned files.
    pub fn new(handle: CatalogHandle, bootloaders: Vec<Bootloader>) -> Self {
        Publisher {
            handle,
            bootloaders,
            mapped: HashMap::new(),
            published: None,
        }
    }

    /// Publishes a new snapshot if `found` differs from what is served. Returns whether it did.
    pub fn refresh(&mut self, found: &[Found]) -> bool {
        let records: Vec<FileRecord> = found.iter().map(|f| f.record.clone()).collect();
        if self.published.as_ref() == Some(&records) {
            return false;
        }
        let mut next = HashMap::with_capacity(found.len());
        for f in found {
            let key = &f.record.path;
            let reused = self
                .mapped
                .remove(key)
                .filter(|(old, _)| *old == f.record)
                .map(|(_, blob)| blob);
            let blob = match reused {
                Some(b) => b,
                None => match Blob::map_file(&f.abs) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(file = %f.abs.display(), error = %e, "cannot map file, not served");
                        continue;
                    }
                },
            };
            next.insert(key.clone(), (f.record.clone(), blob));
        }
        self.mapped = next;
        self.handle.publish(self.build());
        self.published = Some(records);
        true
    }

    fn build(&self) -> Catalog {
        let mut b = Catalog::builder();
        for boot in &self.bootloaders {
            let slice = BlobSlice::whole(boot.blob.clone());
            b.insert(&boot.name, slice.clone(), Exposure::BOTH);
            b.insert(&format!("ipxe/{}", boot.name), slice, Exposure::HTTP);
        }
        for (key, (_, blob)) in &self.mapped {
            b.insert(key, BlobSlice::whole(blob.clone()), Exposure::BOTH);
        }
        b.build()
    }
}
