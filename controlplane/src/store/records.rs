//! The stored forms of files, clients and images (schema 2), apart from the domain types
//! ([`FileRecord`], [`Client`], [`Image`]) so either can change alone. Each is JSON tagged
//! with its version, `{"v":"1",…}`: a new form is a new variant, and the old one still
//! decodes. The row's key is the identity (path, MAC, image id), so the value does not
//! repeat it. An image's ISO index lives in its own table ([`super::index_record`]).
//!
//! Nanosecond times are decimal strings: serde cannot buffer an `i128` for a tagged enum.

use std::collections::BTreeMap;
use std::net::IpAddr;

use dataplane::Mac;
use serde::{Deserialize, Serialize};

use super::FileRecord;
use crate::clients::table::Source;
use crate::clients::Client;
use crate::distro::{BootRecipe, Method};
use crate::images::Image;
use crate::iso::IsoIndex;

/// A `files` row: path relative to the data dir → this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub(super) enum StoredFile {
    #[serde(rename = "1")]
    V1 {
        size: u64,
        #[serde(with = "i128_text")]
        mtime_ns: i128,
        inode: u64,
    },
}

impl StoredFile {
    pub(super) fn new(file: &FileRecord) -> StoredFile {
        StoredFile::V1 {
            size: file.size,
            mtime_ns: file.mtime_ns,
            inode: file.inode,
        }
    }

    pub(super) fn into_file(self, path: &str) -> FileRecord {
        let StoredFile::V1 {
            size,
            mtime_ns,
            inode,
        } = self;
        FileRecord {
            path: path.to_owned(),
            size,
            mtime_ns,
            inode,
        }
    }
}

/// A `clients` row: MAC (`52:54:00:12:34:56`) → this. Field meanings: [`Client`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub(super) enum StoredClient {
    #[serde(rename = "1")]
    V1(ClientV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClientV1 {
    pub(super) first_seen: u64,
    pub(super) last_seen: u64,
    pub(super) ip: Option<String>,
    pub(super) arch: Option<String>,
    pub(super) vendor_class: Option<String>,
    pub(super) uuid: Option<String>,
    pub(super) platform: Option<String>,
    pub(super) manufacturer: Option<String>,
    pub(super) product: Option<String>,
    pub(super) serial: Option<String>,
    pub(super) asset: Option<String>,
    pub(super) memsize: Option<String>,
    pub(super) assigned: Option<String>,
    pub(super) next_boot: Option<String>,
    pub(super) last_boot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) seen_via: Option<StoredSource>,
    // Operators' fields, added within version 1: absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) allowed_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) extra_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) group: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) install: Option<crate::clients::Install>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) local_boot: bool,
}

/// [`Source`], as stored (schema 1 stored the same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StoredSource {
    Host(IpAddr),
    Segment(IpAddr),
}

impl StoredClient {
    pub(super) fn new(c: &Client) -> StoredClient {
        StoredClient::V1(ClientV1 {
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            ip: c.ip.clone(),
            arch: c.arch.clone(),
            vendor_class: c.vendor_class.clone(),
            uuid: c.uuid.clone(),
            platform: c.platform.clone(),
            manufacturer: c.manufacturer.clone(),
            product: c.product.clone(),
            serial: c.serial.clone(),
            asset: c.asset.clone(),
            memsize: c.memsize.clone(),
            assigned: c.assigned.clone(),
            next_boot: c.next_boot.clone(),
            last_boot: c.last_boot.clone(),
            seen_via: c.seen_via.map(|s| match s {
                Source::Host(ip) => StoredSource::Host(ip),
                Source::Segment(ip) => StoredSource::Segment(ip),
            }),
            name: c.name.clone(),
            notes: c.notes.clone(),
            allowed_images: c.allowed_images.clone(),
            extra_args: c.extra_args.clone(),
            template: c.template.clone(),
            group: c.group.clone(),
            metadata: c.metadata.clone(),
            install: c.install.clone(),
            local_boot: c.local_boot,
        })
    }

    pub(super) fn into_client(self, mac: Mac) -> Client {
        let StoredClient::V1(c) = self;
        Client {
            mac,
            name: c.name,
            notes: c.notes,
            allowed_images: c.allowed_images,
            extra_args: c.extra_args,
            template: c.template,
            group: c.group,
            metadata: c.metadata,
            install: c.install,
            local_boot: c.local_boot,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            ip: c.ip,
            arch: c.arch,
            vendor_class: c.vendor_class,
            uuid: c.uuid,
            platform: c.platform,
            manufacturer: c.manufacturer,
            product: c.product,
            serial: c.serial,
            asset: c.asset,
            memsize: c.memsize,
            assigned: c.assigned,
            next_boot: c.next_boot,
            last_boot: c.last_boot,
            seen_via: c.seen_via.map(|s| match s {
                StoredSource::Host(ip) => Source::Host(ip),
                StoredSource::Segment(ip) => Source::Segment(ip),
            }),
        }
    }
}

/// An `images` row: image id → this. The index itself is in `iso_indexes` under
/// [`index_key`]`(stamp)` unless indexing failed (`index_error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub(super) enum StoredImage {
    #[serde(rename = "1")]
    V1 {
        /// Relative to `data/isos/`.
        path: String,
        group: Vec<String>,
        size: u64,
        /// The file version the index was built from.
        stamp: StoredStamp,
        /// Why there is no index; `None`: it is in `iso_indexes`.
        index_error: Option<String>,
        recipe: Option<StoredRecipe>,
    },
}

/// A file's identity inside an image row (path relative to the data dir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredStamp {
    path: String,
    size: u64,
    #[serde(with = "i128_text")]
    mtime_ns: i128,
    inode: u64,
}

/// The `iso_indexes` key of the file version `stamp`: an index is valid for exactly one
/// version of one file (`<size>:<mtime_ns>:<inode>:<path>`, path last as it may hold `:`).
pub(super) fn index_key(stamp: &FileRecord) -> String {
    format!(
        "{}:{}:{}:{}",
        stamp.size, stamp.mtime_ns, stamp.inode, stamp.path
    )
}

impl StoredImage {
    pub(super) fn new(image: &Image) -> StoredImage {
        let s = &image.stamp;
        StoredImage::V1 {
            path: image.path.clone(),
            group: image.group.clone(),
            size: image.size,
            stamp: StoredStamp {
                path: s.path.clone(),
                size: s.size,
                mtime_ns: s.mtime_ns,
                inode: s.inode,
            },
            index_error: image.index.as_ref().err().cloned(),
            recipe: image.recipe.as_ref().map(StoredRecipe::new),
        }
    }

    /// The file version the row describes.
    pub(super) fn stamp(&self) -> FileRecord {
        let StoredImage::V1 { stamp, .. } = self;
        FileRecord {
            path: stamp.path.clone(),
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            inode: stamp.inode,
        }
    }

    /// True when the index is in `iso_indexes`.
    pub(super) fn has_index(&self) -> bool {
        let StoredImage::V1 { index_error, .. } = self;
        index_error.is_none()
    }

    /// The image `id`, with `index` (looked up by the caller when [`Self::has_index`]).
    pub(super) fn into_image(self, id: &str, index: Option<IsoIndex>) -> Image {
        let stamp = self.stamp();
        let StoredImage::V1 {
            path,
            group,
            size,
            index_error,
            recipe,
            ..
        } = self;
        Image {
            id: id.to_owned(),
            path,
            group,
            size,
            stamp,
            index: match (index, index_error) {
                (Some(index), None) => Ok(index),
                (_, Some(e)) => Err(e),
                (None, None) => Err("index missing".to_owned()),
            },
            recipe: recipe.map(StoredRecipe::into_recipe),
        }
    }
}

/// A [`BootRecipe`], as stored (schema 1 stored the same shape inside the image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredRecipe {
    layout: String,
    distro: String,
    method: StoredMethod,
    kernel: Option<String>,
    initrds: Vec<String>,
    cmdline: String,
    reason: String,
    netboot_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum StoredMethod {
    Kernel,
    Sanboot,
    Wimboot,
    NeedsNetboot,
    Memdisk,
}

impl StoredRecipe {
    fn new(r: &BootRecipe) -> StoredRecipe {
        StoredRecipe {
            layout: r.layout.clone(),
            distro: r.distro.clone(),
            method: match r.method {
                Method::Kernel => StoredMethod::Kernel,
                Method::Sanboot => StoredMethod::Sanboot,
                Method::Wimboot => StoredMethod::Wimboot,
                Method::NeedsNetboot => StoredMethod::NeedsNetboot,
                Method::Memdisk => StoredMethod::Memdisk,
            },
            kernel: r.kernel.clone(),
            initrds: r.initrds.clone(),
            cmdline: r.cmdline.clone(),
            reason: r.reason.clone(),
            netboot_url: r.netboot_url.clone(),
        }
    }

    pub(super) fn into_recipe(self) -> BootRecipe {
        BootRecipe {
            layout: self.layout,
            distro: self.distro,
            method: match self.method {
                StoredMethod::Kernel => Method::Kernel,
                StoredMethod::Sanboot => Method::Sanboot,
                StoredMethod::Wimboot => Method::Wimboot,
                StoredMethod::NeedsNetboot => Method::NeedsNetboot,
                StoredMethod::Memdisk => Method::Memdisk,
            },
            kernel: self.kernel,
            initrds: self.initrds,
            cmdline: self.cmdline,
            reason: self.reason,
            netboot_url: self.netboot_url,
        }
    }
}

/// An `i128` as a decimal string.
mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(n: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(n)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored forms are the contract with databases already written: pinned here.
    #[test]
    fn stored_forms_are_pinned() {
        let file = FileRecord {
            path: "isos/a.iso".into(),
            size: 7,
            mtime_ns: -1_700_000_000_123_456_789_000_000,
            inode: 9,
        };
        let json = serde_json::to_string(&StoredFile::new(&file)).unwrap();
        assert_eq!(
            json,
            r#"{"v":"1","size":7,"mtime_ns":"-1700000000123456789000000","inode":9}"#
        );
        let back: StoredFile = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_file("isos/a.iso"), file);
        assert_eq!(
            index_key(&file),
            "7:-1700000000123456789000000:9:isos/a.iso"
        );

        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let mut client = Client::new(mac, 5);
        client.assigned = Some("x".into());
        client.seen_via = Some(Source::Segment("10.0.0.1".parse().unwrap()));
        let json = serde_json::to_string(&StoredClient::new(&client)).unwrap();
        assert!(
            json.starts_with(r#"{"v":"1","first_seen":5,"last_seen":5,"ip":null,"#)
                && json.ends_with(r#""seen_via":{"segment":"10.0.0.1"}}"#),
            "{json}"
        );
        let back: StoredClient = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_client(mac), client);
    }

    #[test]
    fn an_unknown_version_does_not_decode() {
        let e = serde_json::from_str::<StoredFile>(r#"{"v":"9","size":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `9`"), "{e}");
    }
}
