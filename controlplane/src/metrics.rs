//! Prometheus metrics (`GET /metrics`), in the OpenMetrics text format that Prometheus
//! scrapes. Two kinds: counters of boot events, kept here and updated by [`Metrics::observe`]
//! as the coordinator consumes the event stream; and the data plane's own counters and gauges
//! ([`Stats`]), which live in atomics already and are only read at scrape time, so nothing is
//! counted twice. Job progress gauges are set by whoever runs the jobs.
//!
//! Every label value comes from a bounded set: protocols, the data plane's `&'static str`
//! reasons, firmware names (option 93, at most 65536), image ids of the catalog, job ids.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use dataplane::{BootEvent, CatalogHandle, Detail, Drops, Outcome, Protocol, ScriptServed, Stats};
use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::clients::table::Counters;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prefix of every metric name.
const PREFIX: &str = "fleetboot";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    protocol: &'static str,
    /// `not_found`, `refused` or `failed`.
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArchLabel {
    arch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImageLabel {
    image: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

/// The metrics kept by the control plane. Shared by reference (`Arc`): every method takes
/// `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<ProtocolLabel, Counter>,
    bytes: Family<ProtocolLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    dhcp_answers: Family<ArchLabel, Counter>,
    boots: Family<ImageLabel, Counter>,
    once_consumed: Counter,
    job_done: Family<JobLabel, Gauge<u64, AtomicU64>>,
    job_total: Family<JobLabel, Gauge<u64, AtomicU64>>,
    /// The data plane's multicast sessions, read at scrape time.
    multicast: Option<dataplane::multicast::Sessions>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty counters, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let m = Metrics {
            requests: Family::default(),
            bytes: Family::default(),
            errors: Family::default(),
            dhcp_answers: Family::default(),
            boots: Family::default(),
            once_consumed: Counter::default(),
            job_done: Family::default(),
            job_total: Family::default(),
            multicast: None,
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Boot requests served or refused: TFTP transfers, HTTP requests, proxyDHCP answers",
            m.requests.clone(),
        );
        registry.register("bytes", "Payload bytes delivered", m.bytes.clone());
        registry.register(
            "errors",
            "Requests that were not found, refused, or failed midway",
            m.errors.clone(),
        );
        registry.register(
            "dhcp_answers",
            "proxyDHCP answers by client firmware (DHCP option 93)",
            m.dhcp_answers.clone(),
        );
        registry.register(
            "boots",
            "Assigned images served by /boot.ipxe",
            m.boots.clone(),
        );
        registry.register(
            "once_consumed",
            "Next-boot-once assignments used up",
            m.once_consumed.clone(),
        );
        registry.register(
            "job_bytes_done",
            "Bytes done by each running job",
            m.job_done.clone(),
        );
        registry.register(
            "job_bytes_expected",
            "Bytes each running job expects in all (0: unknown)",
            m.job_total.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one boot event.
    pub fn observe(&self, event: &BootEvent) {
        let protocol = protocol_name(event.protocol);
        self.requests
            .get_or_create(&ProtocolLabel { protocol })
            .inc();
        self.bytes
            .get_or_create(&ProtocolLabel { protocol })
            .inc_by(event.bytes);
        let error = match event.outcome {
            Outcome::Complete | Outcome::NoBody => None,
            Outcome::NotFound => Some(("not_found", "not found")),
            Outcome::Refused(reason) => Some(("refused", reason)),
            Outcome::Failed(reason) => Some(("failed", reason)),
        };
        if let Some((outcome, reason)) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    protocol,
                    outcome,
                    reason,
                })
                .inc();
            return;
        }
        match &event.detail {
            Detail::Transfer | Detail::Install(_) => {}
            Detail::Dhcp(seen) => {
                self.dhcp_answers
                    .get_or_create(&ArchLabel {
                        arch: seen.firmware.clone(),
                    })
                    .inc();
            }
            Detail::BootScript(seen) => {
                if let ScriptServed::Image { id, once } = &seen.served {
                    self.boots
                        .get_or_create(&ImageLabel { image: id.clone() })
                        .inc();
                    if *once {
                        self.once_consumed.inc();
                    }
                }
            }
        }
    }

    /// Sets job `id`'s progress: `done` bytes of `total` (0: not known yet).
    pub fn set_job(&self, id: &str, done: u64, total: u64) {
        let job = JobLabel { job: id.into() };
        self.job_done.get_or_create(&job).set(done);
        self.job_total.get_or_create(&job).set(total);
    }

    /// Also reports `sessions`' counters: bytes and datagrams sent, sessions active.
    pub fn with_multicast(mut self, sessions: dataplane::multicast::Sessions) -> Metrics {
        self.multicast = Some(sessions);
        self
    }

    /// Forgets job `id` (finished, failed or cancelled): its series disappear.
    pub fn remove_job(&self, id: &str) {
        let job = JobLabel { job: id.into() };
        self.job_done.remove(&job);
        self.job_total.remove(&job);
    }

    /// The exposition: this module's counters, then the data plane's and the client table's,
    /// read now.
    pub fn render(
        &self,
        stats: &Stats,
        clients: &Counters,
        events_dropped: &Drops,
        catalog: &CatalogHandle,
    ) -> String {
        let mut now = read_now(stats, clients, events_dropped, catalog);
        if let Some(sessions) = &self.multicast {
            read_multicast(&mut now, sessions);
        }
        let mut out = String::new();
        // Writing to a String cannot fail; the encoder's own errors are formatting ones.
        let written = text::encode_registry(&mut out, &self.registry)
            .and_then(|()| text::encode_registry(&mut out, &now))
            .and_then(|()| text::encode_eof(&mut out));
        if let Err(e) = written {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tftp => "tftp",
        Protocol::Http => "http",
        Protocol::Dhcp => "dhcp",
    }
}

/// The values read at scrape time, as a registry of constants.
fn read_now(
    stats: &Stats,
    clients: &Counters,
    events_dropped: &Drops,
    catalog: &CatalogHandle,
) -> Registry {
    let mut r = Registry::with_prefix(PREFIX);
    let gauge = |r: &mut Registry, name: &str, help: &str, v: &AtomicUsize| {
        let value = i64::try_from(v.load(Relaxed)).unwrap_or(i64::MAX);
        r.register(name, help, ConstGauge::new(value));
    };
    gauge(
        &mut r,
        "tftp_active",
        "TFTP transfers in progress",
        &stats.tftp_active,
    );
    gauge(
        &mut r,
        "http_connections",
        "Open boot HTTP connections",
        &stats.http_connections,
    );
    gauge(
        &mut r,
        "http_inflight",
        "Boot HTTP responses being written",
        &stats.http_inflight,
    );
    let (tftp_objects, http_objects) = catalog.snapshot().len();
    for (name, help, n) in [
        ("tftp_objects", "Files served over TFTP", tftp_objects),
        ("http_objects", "Files served over HTTP", http_objects),
    ] {
        r.register(
            name,
            help,
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)),
        );
    }
    let read = Stats::read;
    let counters = [
        (
            "tftp_transfers",
            "TFTP transfers started",
            read(&stats.tftp_transfers),
        ),
        (
            "tftp_duplicate_requests",
            "Retransmitted TFTP requests for a transfer already running",
            read(&stats.tftp_duplicate_requests),
        ),
        (
            "tftp_busy",
            "TFTP transfers refused at the concurrency cap",
            read(&stats.tftp_busy),
        ),
        (
            "tftp_malformed",
            "Datagrams on a TFTP port that did not parse",
            read(&stats.tftp_malformed),
        ),
        (
            "tftp_per_ip_refused",
            "TFTP transfers refused at the per-address cap",
            read(&stats.tftp_per_ip_refused),
        ),
        (
            "tftp_unanswered",
            "TFTP transfers never acknowledged",
            read(&stats.tftp_unanswered),
        ),
        (
            "tftp_unreachable",
            "TFTP transfers ended by ICMP port unreachable",
            read(&stats.tftp_unreachable),
        ),
        (
            "tftp_netascii_refused",
            "TFTP netascii requests refused: the conversion memory budget was spent",
            read(&stats.tftp_netascii_refused),
        ),
        (
            "http_requests",
            "Boot HTTP requests answered",
            read(&stats.http_requests),
        ),
        (
            "http_timeouts",
            "Boot HTTP connections closed for a timeout",
            read(&stats.http_timeouts),
        ),
        (
            "http_busy",
            "Boot HTTP connections refused at the connection cap",
            read(&stats.http_busy),
        ),
        (
            "http_per_ip_refused",
            "Boot HTTP connections refused at the per-address cap",
            read(&stats.http_per_ip_refused),
        ),
        (
            "http_slow_readers",
            "Boot HTTP connections closed for reading below the minimum rate",
            read(&stats.http_slow_readers),
        ),
        (
            "boot_mac_refused",
            "/boot.ipxe MACs not believed (neighbour entry mismatch)",
            read(&stats.boot_mac_refused),
        ),
        (
            "bytes_sent",
            "Payload bytes sent, TFTP and HTTP",
            read(&stats.bytes_sent),
        ),
        (
            "dhcp_answered",
            "proxyDHCP replies sent",
            read(&stats.dhcp_answered),
        ),
        (
            "dhcp_ignored",
            "Well-formed DHCP messages not for this server",
            read(&stats.dhcp_ignored),
        ),
        (
            "dhcp_malformed",
            "Datagrams on a DHCP port that did not parse",
            read(&stats.dhcp_malformed),
        ),
        (
            "clients_refused_source",
            "New MACs refused: their source's budget was spent",
            read(&clients.refused_source),
        ),
        (
            "clients_refused_full",
            "New MACs refused: the client table was full",
            read(&clients.refused_full),
        ),
        (
            "clients_expired",
            "Unknown client records expired",
            read(&clients.expired),
        ),
        (
            "events_dropped",
            "Boot events lost because the control plane lagged",
            events_dropped.get(),
        ),
    ];
    for (name, help, value) in counters {
        r.register(name, help, ConstCounter::new(value));
    }
    r
}

/// The multicast sessions' counters, read now.
fn read_multicast(r: &mut Registry, sessions: &dataplane::multicast::Sessions) {
    let (bytes, datagrams) = sessions.totals();
    r.register(
        "multicast_bytes",
        "Payload bytes sent to multicast groups",
        ConstCounter::new(bytes),
    );
    r.register(
        "multicast_datagrams",
        "Datagrams sent to multicast groups",
        ConstCounter::new(datagrams),
    );
    let active = i64::try_from(sessions.active()).unwrap_or(i64::MAX);
    r.register(
        "multicast_sessions_active",
        "Multicast sessions preparing, waiting or sending",
        ConstGauge::new(active),
    );
}

#[cfg(test)]
mod tests;
