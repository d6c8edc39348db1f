//! Integration tests for the ISO indexer: real images built by xorriso, checked against the
//! source tree and against xorriso's own extraction (an independent ISO reader); plus
//! hostile images (garbage, truncated, UDF-only, a directory loop, random metadata
//! corruption) that must give the right error and never panic.
//!
//! Needs `xorriso` (`tools/setup.sh test` installs it).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use controlplane::iso::{
    FileSource, IsoError, IsoIndex, Kind, Namespace, Platform, Source, MAX_DEPTH,
};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("fleetboot-iso-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // xorriso extracts read-only directories; make them writable so they can go.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.0)
            .status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn require_xorriso() {
    let found = Command::new("which")
        .arg("xorriso")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "xorriso is not installed: these tests build ISO images with it. \
         Run `tools/setup.sh test` (installs the Debian package `xorriso`)."
    );
}

fn xorriso(args: &[&str]) {
    require_xorriso();
    let out = Command::new("xorriso").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "xorriso {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `xorriso -as mkisofs ARGS -o ISO TREE`.
fn mkisofs(tree: &Path, iso: &Path, args: &[&str]) {
    let mut all = vec!["-as", "mkisofs", "-V", "FLEETBOOT_TEST"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", iso.to_str().unwrap(), tree.to_str().unwrap()]);
    xorriso(&all);
}

/// Deterministic pseudo-random bytes (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// The bytes of an entry, read through its extents.
fn content(src: &dyn Source, e: &controlplane::iso::Entry) -> Vec<u8> {
    let mut out = Vec::new();
    for x in &e.extents {
        let mut buf = vec![0u8; x.len as usize];
        src.read_at(x.offset, &mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert_eq!(out.len() as u64, e.size, "{}", e.path);
    out
}

#[derive(Debug, PartialEq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(String),
}

/// Everything below `root`, by `/`-separated relative path.
fn list(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, Node::Link(t.to_str().unwrap().to_owned()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &p, out);
            } else {
                out.insert(rel, Node::File(fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What the index says, in the same shape.
fn from_index(idx: &IsoIndex, src: &dyn Source) -> BTreeMap<String, Node> {
    idx.entries
        .iter()
        .map(|e| {
            let node = match &e.kind {
                Kind::File => Node::File(content(src, e)),
                Kind::Dir => Node::Dir,
                Kind::Symlink(t) => Node::Link(t.clone()),
            };
            (e.path.clone(), node)
        })
        .collect()
}

fn assert_same(ours: &BTreeMap<String, Node>, theirs: &BTreeMap<String, Node>, what: &str) {
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: paths only in the index: {only_ours:?}; only in {what}: {only_theirs:?}"
    );
    for (path, node) in ours {
        assert!(node == &theirs[path], "{what}: {path} differs");
    }
}

/// Extracts the image with xorriso (an independent reader) and compares with the index.
fn assert_matches_extraction(idx: &IsoIndex, src: &dyn Source, iso: &Path, out: &Path) {
    xorriso(&[
        "-osirrox",
        "on",
        "-indev",
        iso.to_str().unwrap(),
        "-extract",
        "/",
        out.to_str().unwrap(),
    ]);
    assert_same(&from_index(idx, src), &list(out), "xorriso extraction");
}

fn index_file(iso: &Path) -> (IsoIndex, FileSource) {
    let src = FileSource::open(iso).unwrap();
    let idx = IsoIndex::read(&src).unwrap_or_else(|e| panic!("{}: {e}", iso.display()));
    (idx, src)
}

/// A tree covering the interesting cases: long names, a big directory, symlinks, deep
/// nesting, empty and multi-sector files.
fn rich_tree(root: &Path, rng: &mut Rng) {
    write(&root.join("casper/vmlinuz"), &rng.bytes(100_000));
    write(&root.join("casper/initrd"), &rng.bytes(1_300_000));
    write(&root.join("empty"), b"");
    write(&root.join("with space & ünïcode.txt"), b"hello");
    let long: String = (0..220).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    write(&root.join("casper").join(&long), &rng.bytes(3000));
    for i in 0..300 {
        write(
            &root.join(format!("many/file-{i:03}.cfg")),
            format!("n={i}\n").as_bytes(),
        );
    }
    let mut deep = root.join("deep");
    for i in 0..20 {
        deep = deep.join(format!("level{i}"));
    }
    write(&deep.join("bottom.txt"), b"deep down");
    std::os::unix::fs::symlink("casper/vmlinuz", root.join("vmlinuz")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("casper/absolute")).unwrap();
    std::os::unix::fs::symlink("../../casper", root.join("many/up")).unwrap();
}

#[test]
fn rock_ridge_image_matches_tree_and_extraction() {
    let dir = Scratch::new("rr");
    let tree = dir.0.join("tree");
    rich_tree(&tree, &mut Rng(1));
    let iso = dir.0.join("img.iso");
    mkisofs(&tree, &iso, &["-R", "-J"]);
    let (idx, src) = index_file(&iso);
    assert_eq!(idx.names, Namespace::RockRidge);
    assert_eq!(idx.volume_id, "FLEETBOOT_TEST");
    assert!(idx.boot.is_empty());
    assert!(idx.entries.windows(2).all(|w| w[0].path < w[1].path));
    let ours = from_index(&idx, &src);
    assert_same(&ours, &list(&tree), "source tree");
    assert_matches_extraction(&idx, &src, &iso, &dir.0.join("out"));

    let long = idx.entries.iter().find(|e| e.path.len() > 200).unwrap();
    assert_eq!(long.path.len(), "casper/".len() + 220);
    let big = idx.get("casper/initrd").unwrap();
    assert_eq!((big.kind.clone(), big.size), (Kind::File, 1_300_000));
    assert_eq!(idx.get("many").unwrap().kind, Kind::Dir);
    assert_eq!(
        idx.entries
            .iter()
            .filter(|e| e.path.starts_with("many/file-"))
            .count(),
        300
    );
    assert_eq!(
        idx.get("vmlinuz").unwrap().kind,
        Kind::Symlink("casper/vmlinuz".into())
    );
    assert!(idx.get("/casper/vmlinuz").is_some());
    assert!(idx.get("CASPER/VMLINUZ").is_none());
    assert_eq!(idx.get_ci("CASPER/VMLINUZ").unwrap().path, "casper/vmlinuz");

    // The same image through an in-memory source gives the same index; and it survives JSON.
    let bytes = fs::read(&iso).unwrap();
    assert_eq!(IsoIndex::read(&bytes).unwrap(), idx);
    let json = serde_json::to_string(&idx).unwrap();
    assert_eq!(serde_json::from_str::<IsoIndex>(&json).unwrap(), idx);
}

#[test]
fn deep_directories_with_and_without_relocation() {
    let dir = Scratch::new("deep");
    let tree = dir.0.join("tree");
    let mut p = tree.clone();
    for i in 0..30 {
        p = p.join(format!("d{i}"));
        write(&p.join("f"), format!("{i}").as_bytes());
    }
    // xorriso keeps deep ISO 9660 paths unless told to relocate (RRIP `CL`/`RE`/`PL`).
    let variants: [(&str, &[&str], bool); 3] = [
        ("plain.iso", &["-R"], false),
        ("reloc.iso", &["-R", "-rr_reloc_dir", "rr_moved"], true),
        ("hidden.iso", &["-R", "-J", "-hide-rr-moved"], true),
    ];
    for (name, args, relocates) in variants {
        let iso = dir.0.join(name);
        mkisofs(&tree, &iso, args);
        let raw = fs::read(&iso).unwrap();
        let has_cl = raw.windows(4).any(|w| w == b"CL\x0c\x01");
        assert_eq!(has_cl, relocates, "{name}: child links");
        let (idx, src) = index_file(&iso);
        assert_eq!(idx.names, Namespace::RockRidge);
        let out = dir.0.join(format!("out-{name}"));
        assert_matches_extraction(&idx, &src, &iso, &out);
        assert_same(&from_index(&idx, &src), &list(&tree), name);
        assert!(idx
            .entries
            .iter()
            .any(|e| e.path.matches('/').count() == 30));
    }
}

#[test]
fn too_deep_is_refused() {
    let dir = Scratch::new("toodeep");
    let tree = dir.0.join("tree");
    let mut p = tree.clone();
    for _ in 0..MAX_DEPTH + 1 {
        p = p.join("d");
    }
    write(&p.join("f"), b"x");
    let iso = dir.0.join("img.iso");
    mkisofs(&tree, &iso, &["-R"]);
    let src = FileSource::open(&iso).unwrap();
    assert!(matches!(IsoIndex::read(&src), Err(IsoError::TooDeep)));
}

#[test]
fn joliet_only_image() {
    let dir = Scratch::new("joliet");
    let tree = dir.0.join("tree");
    write(&tree.join("EFI/BOOT/BOOTX64.EFI"), &Rng(2).bytes(5000));
    write(&tree.join("Sources/Install-Me.wim"), &Rng(3).bytes(70_000));
    write(&tree.join("Grüße ☃.txt"), b"snow");
    for i in 0..40 {
        write(&tree.join(format!("dir/MixedCase{i}.Txt")), &[i as u8; 10]);
    }
    let iso = dir.0.join("img.iso");
    mkisofs(&tree, &iso, &["-J", "--norock"]);
    let (idx, src) = index_file(&iso);
    assert_eq!(idx.names, Namespace::Joliet);
    assert_same(&from_index(&idx, &src), &list(&tree), "source tree");
    assert_matches_extraction(&idx, &src, &iso, &dir.0.join("out"));
    assert!(idx.get("Grüße ☃.txt").is_some());
}

#[test]
fn plain_iso9660_image() {
    let dir = Scratch::new("plain");
    let tree = dir.0.join("tree");
    write(&tree.join("casper/vmlinuz"), &Rng(4).bytes(9000));
    write(&tree.join("casper/initrd.gz"), &Rng(5).bytes(20_000));
    write(&tree.join("readme"), b"no extension");
    let iso = dir.0.join("img.iso");
    mkisofs(&tree, &iso, &["-l", "--norock"]);
    let (idx, src) = index_file(&iso);
    assert_eq!(idx.names, Namespace::Plain);
    let paths: Vec<&str> = idx.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["CASPER", "CASPER/INITRD.GZ", "CASPER/VMLINUZ", "README"]
    );
    assert_matches_extraction(&idx, &src, &iso, &dir.0.join("out"));
    let k = idx.get_ci("casper/vmlinuz").unwrap();
    assert_eq!(
        content(&src, k),
        fs::read(tree.join("casper/vmlinuz")).unwrap()
    );
    assert!(idx.get("casper/vmlinuz").is_none());
}

#[test]
fn el_torito_bios_and_efi_entries() {
    let dir = Scratch::new("eltorito");
    let tree = dir.0.join("tree");
    let mut rng = Rng(6);
    write(&tree.join("isolinux/isolinux.bin"), &rng.bytes(8192));
    write(&tree.join("boot/efi.img"), &rng.bytes(256 * 1024));
    write(&tree.join("casper/vmlinuz"), &rng.bytes(10_000));
    let iso = dir.0.join("img.iso");
    mkisofs(
        &tree,
        &iso,
        &[
            "-R",
            "-J",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-eltorito-alt-boot",
            "-e",
            "boot/efi.img",
            "-no-emul-boot",
        ],
    );
    let (idx, src) = index_file(&iso);
    assert_eq!(idx.boot.len(), 2, "{:?}", idx.boot);
    let bios = &idx.boot[0];
    assert_eq!(bios.platform, Platform::Bios);
    assert!(bios.bootable);
    assert_eq!((bios.media, bios.sector_count), (0, 4));
    assert_eq!(bios.file.as_deref(), Some("isolinux/isolinux.bin"));
    let efi = &idx.boot[1];
    assert_eq!(efi.platform, Platform::Efi);
    assert!(efi.bootable);
    assert_eq!(efi.file.as_deref(), Some("boot/efi.img"));
    let img = idx.get("boot/efi.img").unwrap();
    assert_eq!(img.extents[0].offset, u64::from(efi.load_rba) * 2048);
    // The catalog is a file too; the boot-info-table patches isolinux.bin inside the image,
    // which the extraction (unlike the source tree) reflects.
    assert!(idx.get("isolinux/boot.cat").is_some());
    assert_matches_extraction(&idx, &src, &iso, &dir.0.join("out"));
    let efi_bytes = content(&src, img);
    assert_eq!(efi_bytes, fs::read(tree.join("boot/efi.img")).unwrap());
}

/// A small real image with a bit of everything, for the hostile-input tests.
fn small_iso(dir: &Scratch) -> PathBuf {
    let tree = dir.0.join("tree");
    let mut rng = Rng(7);
    write(&tree.join("a/b/c/file.txt"), b"content");
    write(&tree.join("boot/efi.img"), &rng.bytes(4096));
    write(&tree.join("isolinux/isolinux.bin"), &rng.bytes(2048));
    let long: String = "x".repeat(210);
    write(&tree.join("a").join(long), b"long");
    for i in 0..30 {
        write(&tree.join(format!("a/f{i}")), &rng.bytes(100));
    }
    std::os::unix::fs::symlink("a/b", tree.join("link")).unwrap();
    let iso = dir.0.join("small.iso");
    mkisofs(
        &tree,
        &iso,
        &[
            "-R",
            "-J",
            "-b",
            "isolinux/isolinux.bin",
            "-no-emul-boot",
            "-eltorito-alt-boot",
            "-e",
            "boot/efi.img",
            "-no-emul-boot",
        ],
    );
    iso
}

#[test]
fn garbage_and_udf_only_images() {
    let mut rng = Rng(8);
    for img in [
        Vec::new(),
        vec![0u8; 100],
        vec![0u8; 64 * 2048],
        rng.bytes(200_000),
    ] {
        assert!(matches!(IsoIndex::read(&img), Err(IsoError::NotIso)));
    }
    let mut udf = vec![0u8; 16 * 2048];
    for id in [b"BEA01", b"NSR02", b"TEA01"] {
        let mut s = vec![0u8; 2048];
        s[1..6].copy_from_slice(id);
        s[6] = 1;
        udf.extend(s);
    }
    let err = IsoIndex::read(&udf).unwrap_err();
    assert!(matches!(err, IsoError::UdfOnly));
    assert!(err.to_string().contains("UDF"));
}

#[test]
fn truncated_image() {
    let dir = Scratch::new("trunc");
    let iso = small_iso(&dir);
    let full = fs::read(&iso).unwrap();
    for cut in [full.len() / 2, full.len() - 1, 17 * 2048] {
        let err = IsoIndex::read(&full[..cut].to_vec()).unwrap_err();
        assert!(matches!(err, IsoError::Truncated(_)), "cut at {cut}: {err}");
    }
    // On disk, too.
    let f = fs::OpenOptions::new().write(true).open(&iso).unwrap();
    f.set_len(full.len() as u64 / 2).unwrap();
    let src = FileSource::open(&iso).unwrap();
    assert!(matches!(IsoIndex::read(&src), Err(IsoError::Truncated(_))));
}

#[test]
fn file_past_the_end_is_out_of_bounds() {
    let dir = Scratch::new("oob");
    let iso = small_iso(&dir);
    let mut img = fs::read(&iso).unwrap();
    let idx = IsoIndex::read(&img).unwrap();
    let target = idx.get("a/b/c/file.txt").unwrap().extents[0].offset;
    // Find the ISO 9660 record whose extent is that file's and move it past the end.
    let lba = (target / 2048) as u32;
    let at = find_record(&img, lba, b"FILE.TXT;1");
    let beyond = (img.len() / 2048) as u32 + 10;
    img[at + 2..at + 6].copy_from_slice(&beyond.to_le_bytes());
    img[at + 6..at + 10].copy_from_slice(&beyond.to_be_bytes());
    let err = IsoIndex::read(&img).unwrap_err();
    assert!(
        matches!(&err, IsoError::ExtentOutOfBounds { path } if path == "a/b/c/file.txt"),
        "{err}"
    );
}

/// Offset of the directory record named `name` whose extent is at `lba`.
fn find_record(img: &[u8], lba: u32, name: &[u8]) -> usize {
    (0..img.len() - 40)
        .find(|&i| {
            img[i + 2..i + 6] == lba.to_le_bytes()
                && img[i + 32] as usize == name.len()
                && &img[i + 33..i + 33 + name.len()] == name
        })
        .expect("directory record not found")
}

#[test]
fn directory_cycle_is_detected() {
    let dir = Scratch::new("cycle");
    let iso = small_iso(&dir);
    let mut img = fs::read(&iso).unwrap();
    let idx = IsoIndex::read(&img).unwrap();
    let a = idx.get("a").unwrap().extents[0].offset / 2048;
    let b = idx.get("a/b").unwrap().extents[0].offset / 2048;
    // Point a/b's record (in a's directory) back at a.
    let at = find_record(&img, b as u32, b"B");
    assert_eq!(at as u64 / 2048, a, "the record lives in a's directory");
    img[at + 2..at + 6].copy_from_slice(&(a as u32).to_le_bytes());
    img[at + 6..at + 10].copy_from_slice(&(a as u32).to_be_bytes());
    let err = IsoIndex::read(&img).unwrap_err();
    assert!(matches!(err, IsoError::DirectoryLoop), "{err}");
}

#[test]
fn mutated_metadata_never_panics() {
    let dir = Scratch::new("fuzz");
    let iso = small_iso(&dir);
    let mut img = fs::read(&iso).unwrap();
    let idx = IsoIndex::read(&img).unwrap();
    // Metadata: from the volume descriptors up to the first file data.
    let start = 16 * 2048;
    let end = idx
        .entries
        .iter()
        .filter(|e| e.kind == Kind::File)
        .filter_map(|e| e.extents.first())
        .map(|x| x.offset as usize)
        .min()
        .unwrap();
    assert!(end > start);
    let original = img.clone();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let began = Instant::now();
    let (mut ok, mut errs) = (0, 0);
    for _ in 0..4000 {
        let n = 1 + rng.next() % 8;
        let mut touched = Vec::new();
        for _ in 0..n {
            let at = start + (rng.next() as usize) % (end - start);
            img[at] = match rng.next() % 4 {
                0 => 0,
                1 => 0xFF,
                2 => img[at] ^ (1 << (rng.next() % 8)),
                _ => rng.next() as u8,
            };
            touched.push(at);
        }
        match IsoIndex::read(&img) {
            Ok(_) => ok += 1,
            Err(_) => errs += 1,
        }
        for at in touched {
            img[at] = original[at];
        }
    }
    assert!(
        began.elapsed() < Duration::from_secs(120),
        "too slow: {:?}",
        began.elapsed()
    );
    assert!(ok > 0 && errs > 0, "ok={ok} errs={errs}");
}

/// Files of 4 GiB or more are several directory records with the multi-extent flag; xorriso
/// needs `-iso-level 3` for them. Builds a 4.5 GiB image from a sparse file (about 10-20 s
/// and 4.5 GiB of scratch disk).
#[test]
fn multi_extent_file_over_4_gib() {
    let dir = Scratch::new("big");
    let tree = dir.0.join("tree");
    fs::create_dir_all(&tree).unwrap();
    let size: u64 = 4608 << 20;
    let big = tree.join("big.img");
    {
        use std::os::unix::fs::FileExt;
        let f = fs::File::create(&big).unwrap();
        f.set_len(size).unwrap();
        f.write_all_at(b"HEAD", 0).unwrap();
        f.write_all_at(b"MIDDLE", 4 << 30).unwrap();
        f.write_all_at(b"TAIL", size - 4).unwrap();
    }
    write(&tree.join("small"), b"after");
    let iso = dir.0.join("big.iso");
    mkisofs(&tree, &iso, &["-R", "-iso-level", "3"]);
    fs::remove_file(&big).unwrap();
    let (idx, src) = index_file(&iso);
    let e = idx.get("big.img").unwrap();
    assert_eq!(e.size, size);
    assert!(e.extents.len() >= 2, "{:?}", e.extents);
    assert_eq!(e.extents.iter().map(|x| x.len).sum::<u64>(), size);
    // Read a few bytes at logical file offsets through the extent list.
    let at = |mut pos: u64, n: usize| {
        for x in &e.extents {
            if pos < x.len {
                let mut buf = vec![0u8; n];
                src.read_at(x.offset + pos, &mut buf).unwrap();
                return buf;
            }
            pos -= x.len;
        }
        panic!("past the end");
    };
    assert_eq!(at(0, 4), b"HEAD");
    assert_eq!(at(4 << 30, 6), b"MIDDLE");
    assert_eq!(at(size - 4, 4), b"TAIL");
    assert_eq!(content(&src, idx.get("small").unwrap()), b"after");
}
