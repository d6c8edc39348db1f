//! The store on a real file: inventory sync, undecodable records, the legacy admin password.

use super::*;

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
