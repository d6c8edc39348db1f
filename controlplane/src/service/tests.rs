//! The service against a database that fails on demand (a redb backend with a switch), and
//! its rules, driven directly: no thread, no socket.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use clap::Parser;
use redb::backends::FileBackend;
use redb::{Database, StorageBackend};

/// The disk under the test's database.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    /// Writes fail while set, as on a full or failing disk.
    pub(crate) fail: AtomicBool,
    /// Writes done.
    pub(crate) writes: AtomicU64,
}

/// A file backend on a [`Disk`].
#[derive(Debug)]
struct Faulty {
    file: FileBackend,
    disk: Arc<Disk>,
}

impl Faulty {
    fn check(&self) -> std::io::Result<()> {
        if self.disk.fail.load(Relaxed) {
            return Err(std::io::Error::other("injected write failure"));
        }
        self.disk.writes.fetch_add(1, Relaxed);
        Ok(())
    }
}

impl StorageBackend for Faulty {
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> std::io::Result<()> {
        self.file.close()
    }
}

use std::time::{Duration, Instant};

use dataplane::Mac;

use super::*;
use crate::clients::tests_support::dhcp;
use crate::service::clients::ClientPatch;
use crate::service::settings::SettingsPatch;
use crate::users::Role;

/// A service on a fresh data dir, its database on the returned disk.
pub(crate) fn service(dir: &Path) -> (Service, Arc<Disk>) {
    let _ = std::fs::remove_dir_all(dir);
    let disk = Arc::new(Disk::default());
    let under = disk.clone();
    let opener: crate::store::Opener = Box::new(move |path| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Database::builder().create_with_backend(Faulty {
            file: FileBackend::new(file)?,
            disk: under.clone(),
        })?)
    });
    let store = Store::open_with(dir, opener).unwrap();
    let cli =
        crate::cli::Cli::parse_from(["fleetboot", "serve", "--data-dir", dir.to_str().unwrap()]);
    let crate::cli::Command::Serve(args) = cli.command else {
        unreachable!("parsed as serve")
    };
    let site = Site {
        base: "http://192.0.2.1:8080".into(),
        kernel_args: String::new(),
        has_wimboot: false,
        has_memdisk: false,
    };
    let s = Service::new(
        &Settings::resolve(&args).unwrap(),
        store,
        site,
        Arc::default(),
        Arc::default(),
    )
    .unwrap();
    (s, disk)
}

pub(super) fn dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fleetboot-service-{tag}-{}", std::process::id()))
}

fn stored(store: &Store) -> Vec<Mac> {
    store.clients().unwrap().iter().map(|c| c.mac).collect()
}

#[test]
fn a_failed_save_is_retried_not_forgotten() {
    let dir = dir("retry");
    let (mut s, disk) = service(&dir);
    let fail = &disk.fail;
    let seen: Mac = "52:54:00:00:00:01".parse().unwrap();
    let operator = "52:54:00:00:00:02";

    fail.store(true, Relaxed);
    s.on_events(&[dhcp(seen, "10.0.0.5:68")]);
    s.save();
    assert!(
        s.saving.due(Instant::now() + Duration::from_secs(2)),
        "a retry is scheduled"
    );
    // An operator's change that cannot be saved is refused and undone.
    let patch = ClientPatch {
        name: Some(Some("rack1".into())),
        ..ClientPatch::default()
    };
    let answer = s.patch_client(operator, patch);
    assert!(answer.is_err(), "{answer:?}");
    assert!(s.client(operator).is_err());

    // The disk is back: the next try saves what the failed one could not.
    fail.store(false, Relaxed);
    s.save();
    assert_eq!(s.saving.retry, None);
    drop(s.finish());
    let store = Store::open(&dir).unwrap();
    assert_eq!(stored(&store), [seen]);
    assert_eq!(
        store.history(None, None, 10).unwrap().len(),
        1,
        "the boot event's record"
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn assignments_name_existing_images_and_unassign_clears_both_slots() {
    let dir = dir("assign");
    let (mut s, _) = service(&dir);
    let mac = "52:54:00:00:00:03";
    let assign = ClientPatch {
        assigned: Some(Some("no-such-image".into())),
        ..ClientPatch::default()
    };
    let refused = s.patch_client(mac, assign).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::NotFound, "{refused}");
    assert_eq!(
        s.patch_client("not-a-mac", ClientPatch::default())
            .unwrap_err()
            .kind,
        ErrorKind::BadRequest
    );
    let named = ClientPatch {
        name: Some(Some("web-01".into())),
        notes: Some(Some("rack 4".into())),
        ..ClientPatch::default()
    };
    let c = s.patch_client(mac, named).unwrap();
    assert_eq!(c.name.as_deref(), Some("web-01"));
    assert!(s.take_effects().contains(&Effect::Republish));
    let unassign = ClientPatch {
        assigned: Some(None),
        next_boot: Some(None),
        ..ClientPatch::default()
    };
    let c = s.patch_client(mac, unassign).unwrap();
    assert_eq!((c.assigned, c.next_boot), (None, None));
    assert_eq!(c.name.as_deref(), Some("web-01"), "a field left out stays");
    s.delete_client(mac).unwrap();
    assert_eq!(s.client(mac).unwrap_err().kind, ErrorKind::NotFound);
    drop(s.finish());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sessions_and_tokens_check_revoke_and_survive_a_reopen() {
    let dir = dir("grants");
    let (mut s, _) = service(&dir);
    let session = s.open_session("admin", Role::Admin, 3600).unwrap();
    let token = s.create_token("admin", "ci", Role::Viewer).unwrap();
    assert_eq!(
        s.create_token("admin", "ci", Role::Viewer)
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    let caller = s.grants.check(&token.token).unwrap();
    assert_eq!((caller.user.as_str(), caller.role), ("admin", Role::Viewer));
    assert!(s.grants.check("fbs_not-issued").is_none());
    let expired = s.open_session("admin", Role::Admin, 0).unwrap();
    assert!(s.grants.check(&expired.token).is_none(), "expired at once");
    s.revoke(std::slice::from_ref(&session.id)).unwrap();
    assert!(s.grants.check(&session.token).is_none());
    drop(s.finish());
    // A second service on the same database: the token still works, the session does not.
    let store = Store::open(&dir).unwrap();
    let grants = Grants::default();
    grants.load(store.grants().unwrap());
    assert!(grants.check(&token.token).is_some());
    assert!(grants.check(&session.token).is_none());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_patch_validates_stores_and_resets_to_configured() {
    let dir = dir("settings");
    let (mut s, _) = service(&dir);
    let configured = s.settings();
    let patch = SettingsPatch {
        menu_title: Some(Some("Lab".into())),
        scan_interval_ms: Some(Some(5000)),
        ..SettingsPatch::default()
    };
    let now = s.patch_settings(patch).unwrap();
    assert_eq!(now.menu_title, "Lab");
    assert_eq!(now.overridden, ["menu_title", "scan_interval_ms"]);
    assert!(s
        .take_effects()
        .contains(&Effect::ScanEvery(Duration::from_secs(5))));
    let bad = SettingsPatch {
        menu_timeout_secs: Some(Some(99_999)),
        ..SettingsPatch::default()
    };
    assert_eq!(
        s.patch_settings(bad).unwrap_err().kind,
        ErrorKind::BadRequest
    );
    let reset = SettingsPatch {
        menu_title: Some(None),
        ..SettingsPatch::default()
    };
    assert_eq!(
        s.patch_settings(reset).unwrap().menu_title,
        configured.menu_title
    );
    drop(s.finish());
    let store = Store::open(&dir).unwrap();
    assert_eq!(
        store.setting_overrides().unwrap().scan_interval_ms,
        Some(5000)
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Debian-installer image as a scan would report it.
pub(super) fn debian_image() -> crate::images::Image {
    let stamp = crate::store::FileRecord {
        path: "isos/debian.iso".into(),
        size: 1,
        mtime_ns: 0,
        inode: 1,
    };
    crate::images::Image {
        id: "debian-abc123".into(),
        path: "debian.iso".into(),
        group: Vec::new(),
        size: 1,
        stamp,
        index: Err("not indexed in this test".into()),
        recipe: Some(crate::distro::BootRecipe {
            layout: "debian-installer".into(),
            distro: "Debian".into(),
            method: crate::distro::Method::Kernel,
            kernel: Some("install.amd/vmlinuz".into()),
            initrds: vec!["install.amd/initrd.gz".into()],
            cmdline: "vga=788 ---".into(),
            reason: String::new(),
            netboot_url: None,
        }),
    }
}

pub(super) fn event(mac: Mac, detail: dataplane::Detail) -> dataplane::BootEvent {
    let mut e = dhcp(mac, "10.0.0.5:68");
    e.protocol = dataplane::Protocol::Http;
    e.detail = detail;
    e
}

#[test]
fn a_machine_gets_its_own_template_else_its_groups_else_its_images_and_boots_its_disk_when_done() {
    use crate::install::{Group, Source};
    use crate::service::images::ImagePatch;
    use dataplane::install::{InstallReport, InstallStage};

    let dir = dir("install");
    let (mut s, _) = service(&dir);
    s.images.push(debian_image());
    let mac: Mac = "52:54:00:00:00:09".parse().unwrap();
    let text = mac.to_string();
    let assign = ClientPatch {
        assigned: Some(Some("debian-abc123".into())),
        name: Some(Some("db-01".into())),
        ..ClientPatch::default()
    };
    s.patch_client(&text, assign).unwrap();
    assert!(
        s.install_view(&text).unwrap().problem.is_some(),
        "no template yet"
    );

    let image_default = ImagePatch {
        template: Some(Some("starter-preseed".into())),
        ..ImagePatch::default()
    };
    s.patch_image("debian-abc123", image_default).unwrap();
    s.put_secret("password_hash", Some("$6$very$secret".into()))
        .unwrap();
    let view = s.install_view(&text).unwrap();
    assert_eq!(view.source, Some(Source::Image("debian-abc123".into())));
    let mine = crate::service::install::TemplateBody {
        family: "preseed".into(),
        description: String::new(),
        files: std::collections::BTreeMap::from([(
            "preseed.cfg".into(),
            "d-i netcfg/get_hostname string {{ hostname }} {{ metadata.rack }}\n".into(),
        )]),
    };
    s.put_template("mine", mine).unwrap();
    s.put_group(Group {
        name: "db".into(),
        template: Some("mine".into()),
        metadata: std::collections::BTreeMap::from([("rack".into(), "r4".into())]),
    })
    .unwrap();
    let join = ClientPatch {
        group: Some(Some("db".into())),
        ..ClientPatch::default()
    };
    s.patch_client(&text, join).unwrap();
    assert_eq!(
        s.install_view(&text).unwrap().source,
        Some(Source::Group("db".into()))
    );
    let own = ClientPatch {
        template: Some(Some("starter-preseed".into())),
        ..ClientPatch::default()
    };
    s.patch_client(&text, own).unwrap();
    let view = s.install_view(&text).unwrap();
    assert_eq!(view.source, Some(Source::Client));
    let token = crate::install::token(&s.install.key, mac);
    let args = view.kernel_args.unwrap();
    assert_eq!(
        args,
        format!("auto=true priority=critical url=http://@fleetboot-server@/t/{token}/preseed.cfg")
    );

    // The boot script names the URL, never the secret; the menu names neither.
    let policy = s.policy();
    let (script, _) = policy.script_for(dataplane::Asker::Machine(mac), None, dataplane::Use::Peek);
    assert!(script.contains(&args), "{script}");
    assert!(!script.contains("very$secret"), "{script}");
    let (menu, _) = policy.script_for(dataplane::Asker::Unconfirmed, None, dataplane::Use::Peek);
    assert!(!menu.contains(&token));
    let files = s.rendered(&text).unwrap();
    assert!(files[0].1.contains("db-01") && files[0].1.contains("$6$very$secret"));

    // Served its script: the install runs; the installer reports done: it boots its disk.
    let served = dataplane::Detail::BootScript(Box::new(dataplane::BootScriptSeen {
        inventory: dataplane::Inventory {
            mac: Some(mac),
            ..Default::default()
        },
        served: dataplane::ScriptServed::Image {
            id: "debian-abc123".into(),
            once: false,
        },
        refused: None,
    }));
    s.on_events(&[event(mac, served)]);
    let install = s.client(&text).unwrap().install.unwrap();
    assert_eq!(install.state, crate::clients::InstallState::Running);
    let done = dataplane::Detail::Install(InstallReport {
        mac,
        stage: InstallStage::Done,
        message: "installed".into(),
    });
    s.on_events(&[event(mac, done)]);
    let c = s.client(&text).unwrap();
    assert_eq!(c.install.unwrap().state, crate::clients::InstallState::Done);
    assert!(c.local_boot && c.assigned.is_none());
    let policy = s.policy();
    let (script, served) =
        policy.script_for(dataplane::Asker::Machine(mac), None, dataplane::Use::Peek);
    assert!(script.contains("exit"), "{script}");
    assert_eq!(
        served,
        dataplane::ScriptServed::Image {
            id: crate::boot::LOCAL.into(),
            once: false
        }
    );
    drop(s.finish());
    // Saved: a restart boots it from its disk too.
    let store = Store::open(&dir).unwrap();
    let saved = store.clients().unwrap();
    assert!(saved.iter().any(|c| c.mac == mac && c.local_boot));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
