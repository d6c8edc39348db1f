//! The coordinator against a database that fails on demand (a redb backend with a switch).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use clap::Parser;
use dataplane::{Catalog, CatalogHandle, DhcpSeen, Outcome, Protocol};
use redb::backends::FileBackend;
use redb::{Database, StorageBackend};

use super::*;

/// A file backend whose writes fail while `fail` is set, as on a full or failing disk.
#[derive(Debug)]
struct Faulty {
    file: FileBackend,
    fail: Arc<AtomicBool>,
}

impl Faulty {
    fn check(&self) -> std::io::Result<()> {
        if self.fail.load(Relaxed) {
            return Err(std::io::Error::other("injected write failure"));
        }
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

/// A coordinator on a fresh data dir whose database fails while the returned switch is set.
fn coordinator(dir: &Path) -> (Coordinator, Arc<AtomicBool>) {
    let fail = Arc::new(AtomicBool::new(false));
    let switch = fail.clone();
    let opener: crate::store::Opener = Box::new(move |path| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Database::builder().create_with_backend(Faulty {
            file: FileBackend::new(file)?,
            fail: switch.clone(),
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
    };
    let menu = MenuSettings {
        title: "t".into(),
        timeout: Duration::ZERO,
        default: None,
    };
    let c = Coordinator::new(
        Settings::resolve(&args).unwrap(),
        store,
        Publisher::new(CatalogHandle::new(Catalog::default()), Vec::new()),
        site,
        menu,
        Arc::default(),
    )
    .unwrap();
    (c, fail)
}

fn dhcp(mac: Mac) -> BootEvent {
    BootEvent {
        protocol: Protocol::Dhcp,
        client: "10.0.0.5:68".parse().unwrap(),
        object: String::new(),
        bytes: 0,
        duration: Duration::ZERO,
        outcome: Outcome::Complete,
        detail: dataplane::Detail::Dhcp(DhcpSeen {
            mac,
            firmware: "bios".into(),
            vendor_class: "PXEClient".into(),
            xid: 1,
            ipxe: false,
            guid: None,
            port: 67,
        }),
    }
}

fn stored(store: &Store) -> Vec<Mac> {
    store.clients().unwrap().iter().map(|c| c.mac).collect()
}

#[test]
fn a_failed_save_is_retried_not_forgotten() {
    let dir = std::env::temp_dir().join(format!("fleetboot-coord-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut c, fail) = coordinator(&dir);
    let seen: Mac = "52:54:00:00:00:01".parse().unwrap();
    let operator: Mac = "52:54:00:00:00:02".parse().unwrap();

    fail.store(true, Relaxed);
    c.on_events(&[dhcp(seen)]);
    c.save();
    assert!(c.save_at.is_some(), "a retry is scheduled");
    // An operator's change that cannot be saved is refused and undone.
    let answer = c.on_request(Request::Unassign {
        mac: operator.to_string(),
    });
    assert!(matches!(answer, Response::Error(_)), "{answer:?}");
    assert!(c.clients.get(&operator).is_none());

    // The disk is back: the next try saves what the failed one could not.
    fail.store(false, Relaxed);
    c.save();
    assert_eq!(c.retry, None);
    drop(c.finish());
    let store = Store::open(&dir).unwrap();
    assert_eq!(stored(&store), [seen]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
