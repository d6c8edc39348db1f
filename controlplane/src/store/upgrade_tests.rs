//! Upgrading a real schema-1 database, as fleetboot wrote it before schema 2, keeps every
//! client, assignment, user, file and image (with its index), and happens once.
//!
//! `fixtures/schema1.redb.gz` is `fleetboot.redb` gzipped, made with the build of commit
//! 8750aad: a data dir holding `isos/linux/tiny-ubuntu.iso` (the `iso-layouts/casper.iso` test
//! asset with a one-line `casper/vmlinuz` and `casper/initrd`, repacked by `xorriso -as mkisofs
//! -R -J -V "Ubuntu 24.04 LTS amd64"`), `isos/broken.iso` (5000 zero bytes) and
//! `files/hello.txt`; then
//! `fleetboot serve --data-dir D --dhcp-mode off --tftp-listen 127.0.0.1:0 --http-listen
//! 127.0.0.1:0 --admin-listen 127.0.0.1:0`, and beside it
//! `fleetboot clients assign 52:54:00:12:34:56 tiny-ubuntu-498b21`,
//! `… assign --once 52:54:00:12:34:57 tiny-ubuntu-498b21`,
//! `… assign 52:54:00:12:34:58 tiny-ubuntu-498b21`, `… assign --once 52:54:00:12:34:58
//! broken-d90634`, `echo viewer-password-1 | fleetboot user add alice` (a viewer), and
//! SIGTERM.

use std::collections::BTreeMap;
use std::io::Read as _;

use redb::TableHandle as _;

use super::tests::temp_dir;
use super::*;
use crate::users::{self, Role};

const FIXTURE: &[u8] = include_bytes!("fixtures/schema1.redb.gz");

/// Every row of every table, raw.
fn dump(path: &Path) -> BTreeMap<(String, String), Vec<u8>> {
    let db = Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let mut rows = BTreeMap::new();
    let meta = txn.open_table(META).unwrap();
    for row in meta.iter().unwrap() {
        let (k, v) = row.unwrap();
        let key = ("meta".to_owned(), k.value().to_owned());
        rows.insert(key, v.value().as_bytes().to_vec());
    }
    for definition in RECORD_TABLES {
        let table = txn.open_table(*definition).unwrap();
        for row in table.iter().unwrap() {
            let (k, v) = row.unwrap();
            let key = (definition.name().to_owned(), k.value().to_owned());
            rows.insert(key, v.value().to_vec());
        }
    }
    rows
}

#[test]
fn a_schema_1_database_is_upgraded_whole_and_once() {
    let dir = temp_dir("upgrade");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(FIXTURE)
        .read_to_end(&mut bytes)
        .unwrap();
    let db_path = dir.join("fleetboot.redb");
    std::fs::write(&db_path, bytes).unwrap();

    // What a read-only tool sees in the schema-1 file, beside an older server.
    let old = ReadOnlyStore::open(&dir).unwrap();
    assert_eq!(old.schema, Schema::V1);
    let (old_images, old_clients) = (old.images().unwrap(), old.clients().unwrap());
    drop(old);

    let store = Store::open(&dir).unwrap();
    let clients = store.clients().unwrap();
    let assignments: Vec<_> = clients
        .iter()
        .map(|c| {
            (
                c.mac.to_string(),
                c.assigned.as_deref(),
                c.next_boot.as_deref(),
            )
        })
        .collect();
    let tiny = Some("tiny-ubuntu-498b21");
    assert_eq!(
        assignments,
        [
            ("52:54:00:12:34:56".to_owned(), tiny, None),
            ("52:54:00:12:34:57".to_owned(), None, tiny),
            ("52:54:00:12:34:58".to_owned(), tiny, Some("broken-d90634")),
        ]
    );
    assert_eq!(clients, old_clients, "every field kept");

    let users: Vec<_> = store
        .users()
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role))
        .collect();
    assert_eq!(
        users,
        [
            ("admin".to_owned(), Role::Admin),
            ("alice".to_owned(), Role::Viewer)
        ]
    );
    assert_eq!(
        users::verify(&store, "alice", "viewer-password-1").unwrap(),
        Some(Role::Viewer)
    );

    let files: Vec<_> = store
        .files()
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.size))
        .collect();
    assert_eq!(
        files,
        [
            ("files/hello.txt".to_owned(), 3),
            ("isos/broken.iso".to_owned(), 5000),
            ("isos/linux/tiny-ubuntu.iso".to_owned(), 411_648),
        ]
    );

    let images = store.images().unwrap();
    assert_eq!(images, old_images, "the same images, indexes and recipes");
    let [broken, tiny] = images.as_slice() else {
        panic!("two images: {images:?}");
    };
    assert_eq!(broken.id, "broken-d90634");
    assert!(
        broken
            .index
            .as_ref()
            .is_err_and(|e| e.contains("not an ISO 9660")),
        "{:?}",
        broken.index
    );
    assert_eq!(
        (tiny.id.as_str(), tiny.group.as_slice()),
        ("tiny-ubuntu-498b21", &["linux".to_owned()][..])
    );
    let index = tiny.index.as_ref().unwrap();
    assert_eq!(index.volume_id, "Ubuntu 24.04 LTS amd64");
    assert_eq!(index.entries.len(), 17);
    assert!(index.get("casper/vmlinuz").is_some());
    let recipe = tiny.recipe.as_ref().unwrap();
    assert_eq!(
        (recipe.layout.as_str(), recipe.kernel.as_deref()),
        ("ubuntu-desktop", Some("casper/vmlinuz"))
    );
    drop(store);

    let upgraded = dump(&db_path);
    assert_eq!(upgraded[&("meta".into(), "schema".into())], b"2");
    let index_rows: Vec<_> = upgraded
        .keys()
        .filter(|(table, _)| table == "iso_indexes")
        .map(|(_, key)| key.clone())
        .collect();
    assert_eq!(
        index_rows,
        [index_key(&tiny.stamp)],
        "the index moved to its table"
    );
    let image_row = &upgraded[&("images".into(), tiny.id.clone())];
    assert!(
        image_row.starts_with(br#"{"v":"1","#) && image_row.len() < 1024,
        "the image row is small: {}",
        String::from_utf8_lossy(image_row)
    );

    // Opening again (read-write and read-only) finds schema 2 and changes nothing.
    let read_only = ReadOnlyStore::open(&dir).unwrap();
    assert_eq!(read_only.schema, Schema::V2);
    assert_eq!(read_only.images().unwrap(), old_images);
    assert_eq!(read_only.clients().unwrap(), old_clients);
    drop(read_only);
    drop(Store::open(&dir).unwrap());
    assert_eq!(dump(&db_path), upgraded);
    std::fs::remove_dir_all(&dir).unwrap();
}
