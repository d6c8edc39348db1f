//! The coordinator against a database that fails on demand (a redb backend with a switch).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use clap::Parser;
use dataplane::{Catalog, CatalogHandle};
use redb::backends::FileBackend;
use redb::{Database, StorageBackend};

use super::*;
use crate::clients::tests_support::dhcp;

/// The disk under the test's database.
#[derive(Debug, Default)]
struct Disk {
    /// Writes fail while set, as on a full or failing disk.
    fail: AtomicBool,
    /// Writes done.
    writes: AtomicU64,
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

/// A coordinator on a fresh data dir, its database on the returned disk.
fn coordinator(dir: &Path) -> (Coordinator, Arc<Disk>) {
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
    (c, disk)
}

fn stored(store: &Store) -> Vec<Mac> {
    store.clients().unwrap().iter().map(|c| c.mac).collect()
}

#[test]
fn a_failed_save_is_retried_not_forgotten() {
    let dir = std::env::temp_dir().join(format!("fleetboot-coord-{}", std::process::id()));
    let (mut c, disk) = coordinator(&dir);
    let fail = &disk.fail;
    let seen: Mac = "52:54:00:00:00:01".parse().unwrap();
    let operator: Mac = "52:54:00:00:00:02".parse().unwrap();

    fail.store(true, Relaxed);
    c.on_events(&[dhcp(seen, "10.0.0.5:68")]);
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

#[test]
fn saves_are_not_put_off_by_a_steady_stream_of_events() {
    let dir = std::env::temp_dir().join(format!("fleetboot-coord-stream-{}", std::process::id()));
    let (c, disk) = coordinator(&dir);
    let (events, event_rx) = crossbeam_channel::unbounded();
    let (_messages, message_rx) = crossbeam_channel::unbounded();
    let running = std::thread::spawn(move || c.run(event_rx, message_rx));
    let before = disk.writes.load(Relaxed);
    let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
    // A few events every millisecond: the channel is never idle, as in a boot storm.
    let started = Instant::now();
    let mut saved_after = None;
    while started.elapsed() < SAVE_DELAY * 5 {
        for _ in 0..4 {
            events.send(dhcp(mac, "10.0.0.5:68")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
        if disk.writes.load(Relaxed) > before {
            saved_after = Some(started.elapsed());
            break;
        }
    }
    drop(events);
    drop(running.join().unwrap());
    assert!(
        saved_after.is_some(),
        "nothing saved during {:?} of events",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
