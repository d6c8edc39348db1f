//! Criterion bench of ISO indexing (`IsoIndex::read`) on a 4.5 GiB image: a distro-shaped tree
//! (a few thousand files in nested folders) beside a 4.5 GiB file, mastered once per run by
//! xorriso from a sparse source. Indexing reads metadata only (volume descriptors, directory
//! records, Rock Ridge/Joliet areas, El Torito), so it should take milliseconds whatever the
//! image's size. Throughput is reported in bytes of image indexed; a counting source reports
//! how many bytes the indexer actually read, to show it is metadata only.
//!
//! Needs `xorriso` (skipped with a message without it) and about 4.5 GiB of scratch disk in
//! the system temp dir, for the length of the run.

use std::cell::Cell;
use std::fs;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use controlplane::iso::{FileSource, IsoIndex, Source};
use criterion::{Criterion, Throughput};

/// Size of the big file inside the image: past 4 GiB, so it takes several extents.
const BIG: u64 = 4608 << 20;
/// Folders and files per folder of the distro-shaped part.
const DIRS: usize = 40;
const FILES_PER_DIR: usize = 50;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A source that counts what is read through it.
struct Counting<S> {
    inner: S,
    bytes: Cell<u64>,
    reads: Cell<u64>,
}

impl<S: Source> Source for Counting<S> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.bytes.set(self.bytes.get() + buf.len() as u64);
        self.reads.set(self.reads.get() + 1);
        self.inner.read_at(offset, buf)
    }
}

fn has_xorriso() -> bool {
    Command::new("xorriso")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the image in `dir`; returns its path.
fn build_iso(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in 0..DIRS {
        let folder = tree.join(format!("pool/main/p{d:02}"));
        fs::create_dir_all(&folder).unwrap();
        for f in 0..FILES_PER_DIR {
            let name = format!("package-{d:02}-{f:03}_1.2.3-1_amd64.deb");
            fs::write(folder.join(name), format!("{d}/{f}\n")).unwrap();
        }
    }
    fs::create_dir_all(tree.join("casper")).unwrap();
    fs::write(tree.join("casper/vmlinuz"), vec![1u8; 64 << 10]).unwrap();
    fs::write(tree.join("casper/initrd"), vec![2u8; 64 << 10]).unwrap();
    // Sparse: no disk used for the source, only for the image xorriso writes.
    let big = fs::File::create(tree.join("casper/filesystem.squashfs")).unwrap();
    big.set_len(BIG).unwrap();
    drop(big);
    let iso = dir.join("big.iso");
    let out = Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-R",
            "-J",
            "-iso-level",
            "3",
            "-V",
            "BENCH",
        ])
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xorriso failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_dir_all(&tree).unwrap();
    iso
}

fn main() {
    if !has_xorriso() {
        eprintln!("iso_index: skipped: xorriso is not installed (tools/setup.sh test installs it)");
        return;
    }
    let scratch =
        Scratch(std::env::temp_dir().join(format!("fleetboot-bench-iso-{}", std::process::id())));
    let _ = fs::remove_dir_all(&scratch.0);
    fs::create_dir_all(&scratch.0).unwrap();
    let started = Instant::now();
    let iso = build_iso(&scratch.0);
    let src = FileSource::open(&iso).unwrap();
    let len = src.len();
    eprintln!(
        "iso_index: built a {:.2} GiB image in {:.1} s",
        len as f64 / f64::from(1 << 30),
        started.elapsed().as_secs_f64()
    );

    // One counted read, first after mastering (the metadata is in the page cache, as it is
    // for the server right after an upload).
    let counting = Counting {
        inner: src,
        bytes: Cell::new(0),
        reads: Cell::new(0),
    };
    let started = Instant::now();
    let index = IsoIndex::read(&counting).unwrap();
    let took = started.elapsed();
    let read = counting.bytes.get();
    assert!(index
        .get("casper/filesystem.squashfs")
        .is_some_and(|e| e.size == BIG));
    eprintln!(
        "iso_index: {} entries in {:.2} ms; read {} bytes ({:.1} KiB) in {} reads = {:.5}% of the image",
        index.entries.len(),
        took.as_secs_f64() * 1e3,
        read,
        read as f64 / 1024.0,
        counting.reads.get(),
        read as f64 * 100.0 / len as f64
    );
    let src = counting.inner;

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("iso_index");
    g.throughput(Throughput::Bytes(len));
    g.bench_function("read_4.5GiB_image", |b| {
        b.iter(|| IsoIndex::read(black_box(&src)).unwrap())
    });
    g.finish();
    c.final_summary();
}
