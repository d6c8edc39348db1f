//! The coordinator's thread under a steady stream of boot events.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use dataplane::Mac;

use super::*;
use crate::clients::tests_support::dhcp;
use crate::service::saving::SAVE_DELAY;
use crate::service::tests::service;

#[test]
fn saves_are_not_put_off_by_a_steady_stream_of_events() {
    let dir = std::env::temp_dir().join(format!("fleetboot-coord-stream-{}", std::process::id()));
    let (s, disk) = service(&dir);
    let (events, event_rx) = crossbeam_channel::unbounded();
    let (messages, message_rx) = crossbeam_channel::unbounded();
    let c = Coordinator::offline(s);
    let running = std::thread::spawn(move || c.run(event_rx, message_rx, messages));
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
