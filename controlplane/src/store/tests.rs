//! The store on a real file: inventory sync, ISO index rows, undecodable records, the legacy
//! admin password, a newer schema.

use std::collections::BTreeMap;

use super::*;
use crate::iso::{Entry, Extent, IsoIndex, Kind, Namespace};

#[test]
fn files_sync() {
    let dir = std::env::temp_dir().join(format!("fleetboot-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let a = FileRecord {
        path: "isos/a.iso".into(),
        size: 1,
        mtime_ns: 2,
        inode: 3,
    };
    let b = FileRecord {
        path: "files/b".into(),
        ..a.clone()
    };
    assert_eq!(store.sync_files(&[a.clone(), b.clone()]).unwrap(), 2);
    assert_eq!(store.sync_files(&[a.clone(), b]).unwrap(), 0);
    assert_eq!(store.sync_files(std::slice::from_ref(&a)).unwrap(), 1);
    assert_eq!(store.files().unwrap(), vec![a]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_undecodable_client_record_is_skipped_not_fatal() {
    let dir = std::env::temp_dir().join(format!("fleetboot-store-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let client = |last: u8| {
        let mut c = Client::new(format!("52:54:00:00:00:{last:02x}").parse().unwrap(), 1);
        c.assigned = Some(format!("image-{last}"));
        c
    };
    store
        .save_clients(&[client(1), client(3)], &BTreeSet::new())
        .unwrap();
    // A record from a newer version, or damaged by hand, between the two.
    let txn = store.db().unwrap().begin_write().unwrap();
    txn.open_table(CLIENTS)
        .unwrap()
        .insert("52:54:00:00:00:02", b"{\"mac\": 12".as_slice())
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(store.clients().unwrap(), vec![client(1), client(3)]);
    drop(store);
    let read_only = ReadOnlyStore::open(&dir).unwrap();
    assert_eq!(read_only.clients().unwrap(), vec![client(1), client(3)]);
    drop(read_only);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_legacy_admin_password_keeps_working_until_replaced() {
    use crate::users::{self, Role};
    let dir = std::env::temp_dir().join(format!("fleetboot-store-legacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // What the version before users wrote: the admin password's hash in `meta`, no users.
    let store = Store::open(&dir).unwrap();
    let txn = store.db().unwrap().begin_write().unwrap();
    {
        let mut users = txn.open_table(USERS).unwrap();
        users.retain(|_, _| false).unwrap();
        // sha256("salt" ‖ 0 ‖ "old-password"), as that version computed it.
        let hash = hex_sha256(b"salt\0old-password");
        txn.open_table(META)
            .unwrap()
            .insert("admin_password", format!("sha256:salt:{hash}").as_str())
            .unwrap();
    }
    txn.commit().unwrap();
    drop(store);

    let store = Store::open(&dir).unwrap();
    assert_eq!(
        users::ensure_first_admin(&store).unwrap(),
        None,
        "admin exists"
    );
    let admin = &store.users().unwrap()[0];
    assert_eq!((admin.name.as_str(), admin.role), ("admin", Role::Admin));
    assert!(admin.legacy_password);
    let verify = |pw| users::verify(&store, "admin", pw).unwrap();
    assert_eq!(verify("old-password"), Some(Role::Admin));
    assert_eq!(verify("old-passwore"), None);

    let hash = users::hash_password("new-password").unwrap();
    let name = "admin".into();
    users::apply(&store, users::UserRequest::SetPassword { name, hash }).unwrap();
    assert_eq!(verify("old-password"), None);
    assert_eq!(verify("new-password"), Some(Role::Admin));
    assert!(!store.users().unwrap()[0].legacy_password);
    let txn = store.db().unwrap().begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert!(
        meta.get("admin_password").unwrap().is_none(),
        "moved, not copied"
    );
    drop((meta, txn, store));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh directory for one test (removed first, in case a run before left it).
pub(super) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetboot-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn image(path: &str, mtime_ns: i128, index: Result<IsoIndex, String>) -> Image {
    let stamp = FileRecord {
        path: format!("isos/{path}"),
        size: 4096,
        mtime_ns,
        inode: 77,
    };
    Image {
        id: crate::images::image_id(path),
        path: path.into(),
        group: crate::images::group_of(path),
        size: stamp.size,
        stamp,
        index,
        recipe: None,
    }
}

fn iso_index(volume_id: &str) -> IsoIndex {
    IsoIndex {
        volume_id: volume_id.into(),
        names: Namespace::Joliet,
        entries: vec![Entry {
            path: "boot/vmlinuz".into(),
            kind: Kind::File,
            size: 10,
            extents: vec![Extent {
                offset: 8192,
                len: 10,
            }],
        }],
        boot: Vec::new(),
    }
}

/// The `iso_indexes` rows, decoded.
fn index_rows(store: &Store) -> BTreeMap<String, IsoIndex> {
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(ISO_INDEXES).unwrap();
    table
        .iter()
        .unwrap()
        .map(|row| {
            let (k, v) = row.unwrap();
            let stored: StoredIndex = serde_json::from_slice(v.value()).unwrap();
            (k.value().to_owned(), stored.into_index())
        })
        .collect()
}

#[test]
fn an_index_is_written_once_per_file_version_and_dropped_when_unused() {
    let dir = temp_dir("indexes");
    let store = Store::open(&dir).unwrap();
    let a = image("linux/a.iso", 1, Ok(iso_index("A")));
    let broken = image("b.iso", 1, Err("not an ISO 9660 image".into()));
    store.sync_images(&[a.clone(), broken.clone()]).unwrap();
    let key = index_key(&a.stamp);
    assert_eq!(
        index_rows(&store),
        BTreeMap::from([(key.clone(), iso_index("A"))]),
        "one row, for the image that has an index"
    );
    assert_eq!(
        store.images().unwrap(),
        vec![a.clone(), broken.clone()],
        "by id"
    );

    // Mark the stored row: a rescan of the same file version must not rewrite it.
    let txn = store.db().unwrap().begin_write().unwrap();
    let marked = serde_json::to_vec(&StoredIndex::new(&iso_index("marked"))).unwrap();
    txn.open_table(ISO_INDEXES)
        .unwrap()
        .insert(key.as_str(), marked.as_slice())
        .unwrap();
    txn.commit().unwrap();
    store.sync_images(&[a.clone(), broken.clone()]).unwrap();
    assert_eq!(
        index_rows(&store)[&key],
        iso_index("marked"),
        "not rewritten"
    );
    let joined = store.images().unwrap();
    assert_eq!(
        joined[0].index,
        Ok(iso_index("marked")),
        "images() reads the index from its own table"
    );

    // The file changed: the new version's index replaces the old one's row.
    let a2 = image("linux/a.iso", 2, Ok(iso_index("A2")));
    store.sync_images(&[a2.clone(), broken.clone()]).unwrap();
    assert_eq!(
        index_rows(&store),
        BTreeMap::from([(index_key(&a2.stamp), iso_index("A2"))])
    );
    assert_eq!(store.images().unwrap(), vec![a2, broken.clone()]);

    // The ISO is gone: so is its index.
    store.sync_images(std::slice::from_ref(&broken)).unwrap();
    assert!(index_rows(&store).is_empty());
    assert_eq!(store.images().unwrap(), vec![broken]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_image_whose_index_row_is_lost_is_left_out_to_be_indexed_again() {
    let dir = temp_dir("lost-index");
    let store = Store::open(&dir).unwrap();
    let a = image("a.iso", 1, Ok(iso_index("A")));
    let b = image("b.iso", 1, Ok(iso_index("B")));
    store.sync_images(&[a.clone(), b.clone()]).unwrap();
    let txn = store.db().unwrap().begin_write().unwrap();
    txn.open_table(ISO_INDEXES)
        .unwrap()
        .remove(index_key(&a.stamp).as_str())
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(store.images().unwrap(), vec![b]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_database_of_a_newer_schema_is_refused_untouched() {
    let dir = temp_dir("newer");
    let store = Store::open(&dir).unwrap();
    let txn = store.db().unwrap().begin_write().unwrap();
    txn.open_table(META).unwrap().insert("schema", "3").unwrap();
    txn.commit().unwrap();
    drop(store);

    let refusal = |e: StoreError| {
        assert!(
            matches!(e, StoreError::NewerSchema { schema: 3, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("written by a newer fleetboot (schema 3; this one knows up to schema 2)"),
            "{text}"
        );
        assert!(text.contains("fleetboot.redb"), "names the file: {text}");
    };
    refusal(Store::open(&dir).err().unwrap());
    refusal(ReadOnlyStore::open(&dir).err().unwrap());
    let db = Database::open(dir.join("fleetboot.redb")).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema").unwrap().unwrap().value(), "3");
    drop((meta, txn, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deploys_are_stored_as_versioned_records_and_listed_by_id() {
    use crate::deploy::{Deploy, DeployClient};
    let dir = std::env::temp_dir().join(format!("fleetboot-store-deploys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let deploy = |id: u64| Deploy {
        id,
        image: "disks/a.img".into(),
        disk: "/dev/vda".into(),
        group: Some("rack1".into()),
        rate_mbit: Some(500),
        min_receivers: None,
        max_wait_secs: Some(30),
        timeout_secs: 3600,
        session: Some("0badcafe".into()),
        created: 1,
        cancelled: None,
        clients: vec![DeployClient::pending("52:54:00:00:00:01".parse().unwrap())],
    };
    let mut second = deploy(10);
    store.save_deploy(&second).unwrap();
    store.save_deploy(&deploy(9)).unwrap();
    second.cancelled = Some(2);
    store.save_deploy(&second).unwrap();
    assert_eq!(store.deploys().unwrap(), vec![deploy(9), second.clone()]);
    // The row carries its version beside the record.
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(deploys::DEPLOYS).unwrap();
    let row: serde_json::Value =
        serde_json::from_slice(table.get("10").unwrap().unwrap().value()).unwrap();
    assert_eq!(row["v"], "1");
    assert_eq!(row["deploy"]["cancelled"], 2);
    drop((table, txn, store));
    std::fs::remove_dir_all(&dir).unwrap();
}
