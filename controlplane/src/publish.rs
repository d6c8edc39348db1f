//! Builds catalog snapshots and hands them to the data plane. Files already mapped are reused
//! while unchanged (same size, mtime and inode), so a rescan costs a `stat` per file, and a
//! replaced file gets a fresh mapping of the new inode while transfers of the old one finish
//! from the old mapping.

use std::collections::HashMap;
use std::sync::Arc;

use dataplane::{Blob, BlobSlice, BootPolicy, Catalog, CatalogHandle, Exposure};

use crate::bootloaders::Bootloader;
use crate::images::{manual_override, Image};
use crate::iso::{Entry, Kind};
use crate::scan::Found;
use crate::store::FileRecord;

/// Owns the mapping cache and the handle snapshots are published through.
pub struct Publisher {
    handle: CatalogHandle,
    bootloaders: Vec<Bootloader>,
    mapped: HashMap<String, (FileRecord, Arc<Blob>)>,
    published: Option<Vec<FileRecord>>,
    images: Vec<Image>,
    boot: BootPolicy,
}

impl Publisher {
    /// A publisher for `handle`, serving `bootloaders` beside the scanned files.
    pub fn new(handle: CatalogHandle, bootloaders: Vec<Bootloader>) -> Self {
        Publisher {
            handle,
            bootloaders,
            mapped: HashMap::new(),
            published: None,
            images: Vec::new(),
            boot: BootPolicy::default(),
        }
    }

    /// Whether `found` differs from what is served.
    pub fn is_stale(&self, found: &[Found]) -> bool {
        let same = self.published.as_ref().is_some_and(|p| {
            p.len() == found.len() && p.iter().zip(found).all(|(a, b)| *a == b.record)
        });
        !same
    }

    /// Sets the boot policy the next snapshot carries.
    pub fn set_boot(&mut self, policy: BootPolicy) {
        self.boot = policy;
    }

    /// Publishes the current files and images again (after [`Publisher::set_boot`]).
    pub fn republish(&self) {
        self.handle.publish(self.build());
    }

    /// Whether `name` is among the bootloaders.
    pub fn has_bootloader(&self, name: &str) -> bool {
        self.bootloaders.iter().any(|b| b.name == name)
    }

    /// Publishes a new snapshot of `found` files and the files inside `images`.
    pub fn publish(&mut self, found: &[Found], images: &[Image]) {
        let records: Vec<FileRecord> = found.iter().map(|f| f.record.clone()).collect();
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
        self.images = images.to_vec();
        self.handle.publish(self.build());
        self.published = Some(records);
    }

    fn build(&self) -> Catalog {
        let mut b = Catalog::builder();
        b.boot_policy(self.boot.clone());
        for boot in &self.bootloaders {
            let slice = BlobSlice::whole(boot.blob.clone());
            b.insert(&boot.name, slice.clone(), Exposure::BOTH);
            b.insert(&format!("ipxe/{}", boot.name), slice, Exposure::HTTP);
        }
        for (key, (_, blob)) in &self.mapped {
            b.insert(key, BlobSlice::whole(blob.clone()), Exposure::BOTH);
        }
        for image in &self.images {
            let (Ok(index), Some((_, iso))) = (
                &image.index,
                self.mapped.get(&format!("isos/{}", image.path)),
            ) else {
                continue;
            };
            for entry in &index.entries {
                if let Some(slice) = entry_slice(entry, iso) {
                    // Kernels and initrds must be reachable over TFTP too (firmware without HTTP).
                    b.insert(
                        &format!("images/{}/{}", image.id, entry.path),
                        slice,
                        Exposure::BOTH,
                    );
                }
            }
        }
        // Manual overrides: files beside the ISO, served as part of the image (inserted after
        // the ISO's own entries, so they win).
        for image in &self.images {
            for (served, scanned) in manual_override::served_files(image) {
                if let Some((_, blob)) = self.mapped.get(&scanned) {
                    b.insert(
                        &format!("images/{}/{served}", image.id),
                        BlobSlice::whole(blob.clone()),
                        Exposure::BOTH,
                    );
                }
            }
        }
        b.build()
    }
}

/// The bytes of a file inside an ISO as one slice of the ISO's blob. Multi-extent files are
/// served when their extents are contiguous (as mastering tools write them); others are not
/// served rather than copied.
fn entry_slice(entry: &Entry, iso: &Arc<Blob>) -> Option<BlobSlice> {
    if entry.kind != Kind::File {
        return None;
    }
    let first = entry.extents.first().map_or(0, |e| e.offset);
    let mut end = first;
    for extent in &entry.extents {
        if extent.offset != end {
            tracing::warn!(file = %entry.path, "fragmented multi-extent file inside an ISO is not served");
            return None;
        }
        end = extent.offset.checked_add(extent.len)?;
    }
    if end - first != entry.size {
        return None;
    }
    BlobSlice::new(iso.clone(), first, entry.size)
}
