use std::time::Duration;

use dataplane::{BootScriptSeen, Catalog, EventSink, Inventory, Mac};

use super::*;
use crate::clients::tests_support;

fn transfer(protocol: Protocol, bytes: u64, outcome: Outcome) -> BootEvent {
    BootEvent {
        protocol,
        client: "192.0.2.10:2000".parse().unwrap(),
        object: "vmlinuz".into(),
        bytes,
        duration: Duration::from_millis(5),
        outcome,
        detail: Detail::Transfer,
    }
}

fn script(served: ScriptServed) -> BootEvent {
    BootEvent {
        detail: Detail::BootScript(Box::new(BootScriptSeen {
            inventory: Inventory::default(),
            served,
            refused: None,
        })),
        object: "boot.ipxe".into(),
        ..transfer(Protocol::Http, 300, Outcome::Complete)
    }
}

fn efi(mut event: BootEvent) -> BootEvent {
    if let Detail::Dhcp(seen) = &mut event.detail {
        seen.firmware = "efi-x64".into();
    }
    event
}

/// The rendered lines that are not comments.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

fn render(m: &Metrics, stats: &Stats) -> String {
    let (sink, _rx) = EventSink::bounded(1);
    let catalog = CatalogHandle::new(Catalog::default());
    m.render(stats, &Counters::default(), &sink.drops(), &catalog)
}

#[test]
fn events_are_counted_by_protocol_outcome_arch_and_image() {
    let m = Metrics::new();
    let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
    for event in [
        transfer(Protocol::Tftp, 1000, Outcome::Complete),
        transfer(Protocol::Tftp, 24, Outcome::Failed("timed out")),
        transfer(Protocol::Tftp, 0, Outcome::NotFound),
        transfer(Protocol::Http, 5000, Outcome::Complete),
        transfer(Protocol::Http, 0, Outcome::Refused("busy")),
        tests_support::dhcp(mac, "192.0.2.10:68"),
        tests_support::dhcp(mac, "192.0.2.10:68"),
        efi(tests_support::dhcp(mac, "192.0.2.11:68")),
        script(ScriptServed::Menu),
        script(ScriptServed::Image {
            id: "debian-12".into(),
            once: false,
        }),
        script(ScriptServed::Image {
            id: "debian-12".into(),
            once: true,
        }),
    ] {
        m.observe(&event);
    }
    let text = render(&m, &Stats::default());
    let lines = samples(&text);
    for want in [
        r#"fleetboot_requests_total{protocol="tftp"} 3"#,
        r#"fleetboot_requests_total{protocol="http"} 5"#,
        r#"fleetboot_requests_total{protocol="dhcp"} 3"#,
        r#"fleetboot_bytes_total{protocol="tftp"} 1024"#,
        r#"fleetboot_bytes_total{protocol="http"} 5900"#,
        r#"fleetboot_bytes_total{protocol="dhcp"} 0"#,
        r#"fleetboot_errors_total{protocol="tftp",outcome="failed",reason="timed out"} 1"#,
        r#"fleetboot_errors_total{protocol="tftp",outcome="not_found",reason="not found"} 1"#,
        r#"fleetboot_errors_total{protocol="http",outcome="refused",reason="busy"} 1"#,
        r#"fleetboot_dhcp_answers_total{arch="bios"} 2"#,
        r#"fleetboot_dhcp_answers_total{arch="efi-x64"} 1"#,
        r#"fleetboot_boots_total{image="debian-12"} 2"#,
        "fleetboot_once_consumed_total 1",
    ] {
        assert!(lines.contains(&want), "no {want:?} in\n{text}");
    }
    let families = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(families("fleetboot_errors_total"), 3, "{text}");
    assert_eq!(families("fleetboot_boots_total"), 1, "{text}");
    assert!(
        text.contains("# TYPE fleetboot_requests counter\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn data_plane_counters_and_gauges_are_read_at_scrape_time() {
    let m = Metrics::new();
    let stats = Stats::default();
    stats.tftp_active.store(3, Relaxed);
    stats.http_connections.store(7, Relaxed);
    Stats::bump(&stats.tftp_busy);
    Stats::bump(&stats.tftp_busy);
    stats.bytes_sent.store(1 << 40, Relaxed);
    Stats::bump(&stats.dhcp_answered);
    let text = render(&m, &stats);
    let lines = samples(&text);
    for want in [
        "fleetboot_tftp_active 3",
        "fleetboot_http_connections 7",
        "fleetboot_http_inflight 0",
        "fleetboot_tftp_busy_total 2",
        "fleetboot_bytes_sent_total 1099511627776",
        "fleetboot_dhcp_answered_total 1",
        "fleetboot_events_dropped_total 0",
        "fleetboot_clients_expired_total 0",
        "fleetboot_tftp_objects 0",
    ] {
        assert!(lines.contains(&want), "no {want:?} in\n{text}");
    }
    assert!(
        text.contains("# TYPE fleetboot_tftp_active gauge\n"),
        "{text}"
    );
    stats.tftp_active.store(0, Relaxed);
    assert!(samples(&render(&m, &stats)).contains(&"fleetboot_tftp_active 0"));
}

#[test]
fn job_gauges_come_and_go() {
    let m = Metrics::new();
    m.set_job("j1", 10, 100);
    m.set_job("j2", 5, 0);
    m.set_job("j1", 60, 100);
    let text = render(&m, &Stats::default());
    let lines = samples(&text);
    for want in [
        r#"fleetboot_job_bytes_done{job="j1"} 60"#,
        r#"fleetboot_job_bytes_expected{job="j1"} 100"#,
        r#"fleetboot_job_bytes_done{job="j2"} 5"#,
        r#"fleetboot_job_bytes_expected{job="j2"} 0"#,
    ] {
        assert!(lines.contains(&want), "no {want:?} in\n{text}");
    }
    m.remove_job("j1");
    let text = render(&m, &Stats::default());
    assert!(!text.contains(r#"job="j1""#), "{text}");
    assert!(
        text.contains(r#"fleetboot_job_bytes_done{job="j2"} 5"#),
        "{text}"
    );
}
