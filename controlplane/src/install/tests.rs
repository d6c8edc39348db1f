use std::collections::BTreeMap;

use super::render::{render, Vars};
use super::*;

#[test]
fn every_starter_compiles_and_renders_with_and_without_secrets() {
    let vars = Vars {
        hostname: "web-01".into(),
        mac: "52:54:00:12:34:56".into(),
        url: "http://@fleetboot-server@/t/abc".into(),
        done_url: "http://@fleetboot-server@/t/abc/done".into(),
        ..Vars::default()
    };
    let secrets = BTreeMap::from([("password_hash".to_owned(), "$6$salt$hash".to_owned())]);
    for t in starters() {
        let family = families::by_id(&t.family).unwrap();
        let names: Vec<&String> = t.files.keys().collect();
        let mut expected: Vec<&String> = family.files.iter().collect();
        expected.sort();
        assert_eq!(names, expected, "{}", t.name);
        for secrets in [&secrets, &BTreeMap::new()] {
            let files = render(&t, &vars, secrets).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            let all: String = files.iter().map(|(_, text)| text.as_str()).collect();
            assert!(all.contains("web-01"), "{}: no hostname", t.name);
            if t.family != "nocloud" || files.iter().any(|(f, _)| f == "user-data") {
                assert!(all.contains("/t/abc/done"), "{}: no done URL", t.name);
            }
        }
    }
}

#[test]
fn a_missing_secret_fails_the_render_and_names_it() {
    let t = Template {
        name: "x".into(),
        family: "kickstart".into(),
        description: String::new(),
        files: BTreeMap::from([("ks.cfg".into(), "rootpw {{ secret(\"root\") }}".into())]),
        builtin: false,
    };
    let err = render(&t, &Vars::default(), &BTreeMap::new()).unwrap_err();
    assert!(err.contains("ks.cfg") && err.contains("\"root\""), "{err}");
}

#[test]
fn checks_refuse_bad_names_families_files_and_syntax() {
    let mut t = Template {
        name: "web".into(),
        family: "kickstart".into(),
        description: String::new(),
        files: BTreeMap::from([("ks.cfg".into(), "text\n".into())]),
        builtin: false,
    };
    assert_eq!(check(&t), Ok(()));
    t.files.insert("user-data".into(), String::new());
    assert!(check(&t).unwrap_err().contains("user-data"));
    t.files.remove("user-data");
    t.files.insert("ks.cfg".into(), "{% if %}".into());
    assert!(check(&t).unwrap_err().starts_with("ks.cfg"));
    t.name = "starter-kickstart".into();
    assert!(check(&t).is_err());
    t.name = "web".into();
    t.family = "nope".into();
    assert!(check(&t).unwrap_err().contains("kickstart"));
}

#[test]
fn tokens_are_per_machine_and_per_key() {
    let a: Mac = "52:54:00:00:00:01".parse().unwrap();
    let b: Mac = "52:54:00:00:00:02".parse().unwrap();
    assert_eq!(token(b"k", a), token(b"k", a));
    assert_ne!(token(b"k", a), token(b"k", b));
    assert_ne!(token(b"k", a), token(b"l", a));
    assert_eq!(token(b"k", a).len(), 32);
}
