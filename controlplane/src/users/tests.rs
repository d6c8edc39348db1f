//! The user rules on a real store: argon2id hashes, the login check, the first and the last
//! admin, names.

use super::*;

fn with_store(tag: &str, test: impl FnOnce(&Store)) {
    let dir = std::env::temp_dir().join(format!("fleetboot-users-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    test(&Store::open(&dir).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn name(s: &str) -> Username {
    s.parse().unwrap()
}

fn add(store: &Store, name: &str, role: Role, password: &str) -> Result<Vec<User>, UserError> {
    let hash = hash_password(password)?;
    let name = name.into();
    apply(store, UserRequest::Add { name, role, hash })
}

fn set_password(store: &Store, name: &str, password: &str) -> Result<Vec<User>, UserError> {
    let hash = hash_password(password)?;
    let name = name.into();
    apply(store, UserRequest::SetPassword { name, hash })
}

fn delete(store: &Store, name: &str) -> Result<Vec<User>, UserError> {
    let name = name.into();
    apply(store, UserRequest::Delete { name })
}

#[test]
fn the_first_admin_is_created_once_with_an_argon2id_hash() {
    with_store("first", |store| {
        let pw = ensure_first_admin(store).unwrap().expect("first start");
        assert_eq!(ensure_first_admin(store).unwrap(), None, "only once");
        let (hash, role) = store.credentials(&name("admin")).unwrap().unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(role, Role::Admin);
        assert_eq!(verify(store, "admin", &pw).unwrap(), Some(Role::Admin));
        assert_eq!(verify(store, "admin", "wrong").unwrap(), None);
        assert_eq!(verify(store, "nobody", &pw).unwrap(), None);
        assert_eq!(verify(store, "bad name!", &pw).unwrap(), None);
    });
}

#[test]
fn users_are_added_changed_and_deleted_but_never_the_last_admin() {
    with_store("lifecycle", |store| {
        ensure_first_admin(store).unwrap();
        add(store, "ann.b-c_1", Role::Viewer, "pw1").unwrap();
        assert!(matches!(
            add(store, "ann.b-c_1", Role::Admin, "pw2"),
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            add(store, "zed", Role::Viewer, ""),
            Err(UserError::EmptyPassword)
        ));
        assert_eq!(
            verify(store, "ann.b-c_1", "pw1").unwrap(),
            Some(Role::Viewer)
        );
        set_password(store, "ann.b-c_1", "pw3").unwrap();
        assert_eq!(verify(store, "ann.b-c_1", "pw1").unwrap(), None);
        assert_eq!(
            verify(store, "ann.b-c_1", "pw3").unwrap(),
            Some(Role::Viewer)
        );
        assert!(matches!(
            set_password(store, "zed", "x"),
            Err(UserError::NotFound(_))
        ));

        // A viewer does not count as an admin.
        assert!(matches!(
            delete(store, "admin"),
            Err(UserError::LastAdmin(_))
        ));
        add(store, "root2", Role::Admin, "pw").unwrap();
        delete(store, "admin").unwrap();
        assert!(matches!(
            delete(store, "root2"),
            Err(UserError::LastAdmin(_))
        ));
        delete(store, "ann.b-c_1").unwrap();
        assert!(matches!(
            delete(store, "ann.b-c_1"),
            Err(UserError::NotFound(_))
        ));
        let names: Vec<_> = store.users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["root2"]);
        assert!(matches!(
            add(store, "bad name", Role::Viewer, "pw"),
            Err(UserError::InvalidName(_))
        ));
    });
}

#[test]
fn only_argon2id_hashes_are_stored_as_new_passwords() {
    with_store("hashes", |store| {
        ensure_first_admin(store).unwrap();
        let legacy = "sha256:abcd:0123".to_owned();
        for hash in [
            legacy,
            "plain".into(),
            "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        ] {
            let name = "admin".into();
            assert!(matches!(
                apply(store, UserRequest::SetPassword { name, hash }),
                Err(UserError::BadHash)
            ));
        }
    });
}

#[test]
fn bad_names_are_refused() {
    let long = "a".repeat(65);
    for bad in ["", "a b", "ann/..", "é", "a:b", "tab\t", long.as_str()] {
        assert!(
            matches!(bad.parse::<Username>(), Err(UserError::InvalidName(_))),
            "{bad:?}"
        );
    }
    for good in ["a", "Admin.2", "x_y-z", &"a".repeat(64)] {
        assert_eq!(good.parse::<Username>().unwrap().as_str(), good);
    }
}
