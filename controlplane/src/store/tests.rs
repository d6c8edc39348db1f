//! The store on a real file: inventory sync, the admin password, undecodable records.

use super::*;

#[test]
fn files_sync_and_password_roundtrip() {
    let dir = std::env::temp_dir().join(format!("fleetboot-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let pw = store
        .ensure_admin_password()
        .unwrap()
        .expect("created on first start");
    assert!(store.ensure_admin_password().unwrap().is_none());
    assert!(store.verify_admin_password(&pw).unwrap());
    assert!(!store.verify_admin_password("wrong").unwrap());
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
