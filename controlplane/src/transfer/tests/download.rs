//! Download jobs against the test servers of `http_server`: resume, restart, checksum,
//! cancel, queueing, https with a site CA.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::http_server::{serve, Spec};
use super::{content, incoming, scratch, sha256_hex, wait_until};
use crate::netboot::Trust;
use crate::transfer::{
    DownloadOptions, DownloadRequest, JobId, JobState, JobStatus, Jobs, TransferError, MAX_RUNNING,
};

fn jobs(data: &Path, trust: Trust) -> Jobs {
    Jobs::new(
        data,
        DownloadOptions {
            trust,
            max_bytes: 64 << 20,
            retry_attempts: 3,
            retry_delay: Duration::from_millis(10),
        },
    )
}

fn request(url: &str, sha256: Option<String>, path: Option<&str>) -> DownloadRequest {
    DownloadRequest {
        url: url.to_owned(),
        sha256,
        path: path.map(str::to_owned),
    }
}

/// Waits for job `id` to end; returns its last status.
fn finished(jobs: &Jobs, id: JobId) -> JobStatus {
    let mut last = None;
    wait_until("the job to end", || {
        last = jobs.get(id);
        last.as_ref().is_some_and(|s| s.state.is_finished())
    });
    last.unwrap()
}

#[test]
fn a_download_is_verified_placed_and_reported() {
    let data = scratch("dl-ok");
    let body = content(1 << 20);
    let server = serve(
        Spec {
            body: body.clone(),
            ..Spec::default()
        },
        None,
    );
    let jobs = jobs(&data, Trust::default());
    let mut events = jobs.subscribe();
    let url = format!("{}/pub/debian.iso", server.base);
    let id = jobs
        .start_download(request(
            &url,
            Some(sha256_hex(&body).to_uppercase()),
            Some("d/deb.iso"),
        ))
        .unwrap();
    let status = finished(&jobs, id);
    assert_eq!(status.state, JobState::Done, "{status:?}");
    assert_eq!(
        (status.bytes_done, status.bytes_total),
        (1 << 20, Some(1 << 20))
    );
    assert_eq!(status.sha256, Some(sha256_hex(&body)));
    assert_eq!(status.path, "d/deb.iso");
    assert_eq!(fs::read(data.join("isos/d/deb.iso")).unwrap(), body);
    assert!(incoming(&data).is_empty());

    let mut states = Vec::new();
    while let Ok(s) = events.try_recv() {
        assert_eq!(s.id, id);
        if states.last() != Some(&s.state) {
            states.push(s.state);
        }
    }
    assert_eq!(
        states,
        [JobState::Queued, JobState::Running, JobState::Done]
    );
    assert_eq!(jobs.list(), [status]);

    // The URL's name is the default path; a taken one is refused before any request.
    let id = jobs.start_download(request(&url, None, None)).unwrap();
    assert_eq!(finished(&jobs, id).state, JobState::Done);
    assert!(data.join("isos/debian.iso").is_file());
    let again = jobs.start_download(request(&url, None, None));
    assert_eq!(again, Err(TransferError::Exists("debian.iso".into())));
    assert_eq!(server.ranges.lock().unwrap().len(), 2);
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    let data = scratch("dl-resume");
    let body = content(1 << 20);
    let spec = Spec {
        body: body.clone(),
        cut_once_at: Some(300_000),
        ..Spec::default()
    };
    let server = serve(spec, None);
    let jobs = jobs(&data, Trust::default());
    let url = format!("{}/x.iso", server.base);
    let id = jobs
        .start_download(request(&url, Some(sha256_hex(&body)), None))
        .unwrap();
    let status = finished(&jobs, id);
    assert_eq!(status.state, JobState::Done, "{status:?}");
    assert_eq!(fs::read(data.join("isos/x.iso")).unwrap(), body);
    assert_eq!(
        *server.ranges.lock().unwrap(),
        [None, Some("bytes=300000-".to_owned())]
    );
}

#[test]
fn a_server_that_ignores_range_is_read_again_from_the_start() {
    let data = scratch("dl-restart");
    let body = content(1 << 20);
    let spec = Spec {
        body: body.clone(),
        cut_once_at: Some(300_000),
        ignore_range: true,
        ..Spec::default()
    };
    let server = serve(spec, None);
    let jobs = jobs(&data, Trust::default());
    let url = format!("{}/x.iso", server.base);
    let id = jobs
        .start_download(request(&url, Some(sha256_hex(&body)), None))
        .unwrap();
    assert_eq!(finished(&jobs, id).state, JobState::Done);
    assert_eq!(fs::read(data.join("isos/x.iso")).unwrap(), body);
    assert_eq!(server.ranges.lock().unwrap().len(), 2);
}

#[test]
fn a_wrong_hash_an_oversized_file_and_a_dead_server_fail_and_leave_nothing() {
    let data = scratch("dl-fail");
    let body = content(100_000);
    let server = serve(
        Spec {
            body: body.clone(),
            ..Spec::default()
        },
        None,
    );
    let jobs = jobs(&data, Trust::default());
    let url = format!("{}/x.iso", server.base);
    let id = jobs
        .start_download(request(&url, Some("0".repeat(64)), None))
        .unwrap();
    let status = finished(&jobs, id);
    assert_eq!(status.state, JobState::Failed);
    assert!(status.error.unwrap().contains("SHA-256 mismatch"));

    let small = Jobs::new(
        &data,
        DownloadOptions {
            max_bytes: 50_000,
            ..DownloadOptions::default()
        },
    );
    let status = finished(
        &small,
        small.start_download(request(&url, None, None)).unwrap(),
    );
    assert!(status.error.unwrap().contains("larger than 50000"));

    // Nothing listens there any more: a few quick retries, then failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = format!("http://{port}/x.iso");
    let status = finished(
        &jobs,
        jobs.start_download(request(&dead, None, None)).unwrap(),
    );
    assert!(status.error.unwrap().contains("gave up after 4 tries"));

    assert!(!data.join("isos/x.iso").exists());
    assert!(incoming(&data).is_empty());
}

#[test]
fn bad_requests_are_refused_up_front() {
    let data = scratch("dl-bad");
    let jobs = jobs(&data, Trust::default());
    for (url, sha, path) in [
        ("ftp://h/x.iso", None, None),
        ("http://h/x.iso", Some("abc".to_owned()), None),
        ("http://h/dir/", None, None),
        ("http://h/x.iso", None, Some("../x.iso")),
        ("http://h/x.iso", None, Some("a/x.tar")),
    ] {
        let got = jobs.start_download(request(url, sha, path));
        assert!(
            matches!(got, Err(TransferError::BadInput(_))),
            "{url}: {got:?}"
        );
    }
    assert!(jobs.list().is_empty());
    assert_eq!(
        jobs.cancel(JobId(7)),
        Err(TransferError::NotFound("7".into()))
    );
}

#[test]
fn cancel_stops_running_and_queued_jobs_and_leaves_nothing() {
    let data = scratch("dl-cancel");
    let spec = Spec {
        body: content(4 << 20),
        slow: true,
        ..Spec::default()
    };
    let server = serve(spec, None);
    let jobs = jobs(&data, Trust::default());
    let mut events = jobs.subscribe();
    let began = std::time::Instant::now();
    let ids: Vec<JobId> = (0..MAX_RUNNING + 1)
        .map(|i| {
            let url = format!("{}/{i}.iso", server.base);
            jobs.start_download(request(&url, None, None)).unwrap()
        })
        .collect();
    wait_until("downloads under way", || {
        jobs.list().iter().filter(|s| s.bytes_done > 0).count() == MAX_RUNNING
    });
    let states: Vec<JobState> = jobs.list().iter().map(|s| s.state).collect();
    let mut expected = vec![JobState::Running; MAX_RUNNING];
    expected.push(JobState::Queued);
    assert_eq!(states, expected);
    // Progress comes at most 4 times a second per job, plus the changes of state.
    std::thread::sleep(Duration::from_millis(1200));
    let mut seen = 0;
    while let Ok(s) = events.try_recv() {
        seen += usize::from(s.id == ids[0]);
    }
    let allowed = (began.elapsed().as_secs_f64() * 4.0).ceil() as usize + 1 + 2;
    assert!(
        (3..=allowed).contains(&seen),
        "{seen} updates, {allowed} allowed"
    );
    // Same path as a job under way: refused.
    let url = format!("{}/0.iso", server.base);
    assert!(matches!(
        jobs.start_download(request(&url, None, None)),
        Err(TransferError::Exists(_))
    ));

    for id in &ids {
        assert_eq!(jobs.cancel(*id).unwrap().state, JobState::Cancelled);
    }
    wait_until("temp files removed", || incoming(&data).is_empty());
    assert!(jobs.list().iter().all(|s| s.state == JobState::Cancelled));
    let isos: Vec<_> = fs::read_dir(data.join("isos")).unwrap().flatten().collect();
    assert_eq!(isos.len(), 1, "only .incoming is left");
    // The queued one never asked the server.
    assert_eq!(server.ranges.lock().unwrap().len(), MAX_RUNNING);
}

/// A server config for 127.0.0.1 signed by a fresh CA, and that CA's PEM.
fn test_ca() -> (Arc<rustls::ServerConfig>, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleetboot test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (Arc::new(config), ca.pem())
}

#[test]
fn https_works_with_the_sites_ca_and_fails_without_it() {
    let data = scratch("dl-https");
    let body = content(200_000);
    let (config, ca) = test_ca();
    let server = serve(
        Spec {
            body: body.clone(),
            ..Spec::default()
        },
        Some(config),
    );
    let url = format!("{}/x.iso", server.base);

    let untrusting = jobs(&data, Trust::default());
    let status = finished(
        &untrusting,
        untrusting
            .start_download(request(&url, None, None))
            .unwrap(),
    );
    assert_eq!(status.state, JobState::Failed);
    assert!(status.error.unwrap().contains("TLS"));

    fs::write(data.join("ca.pem"), ca).unwrap();
    let trusting = jobs(&data, Trust::with_ca_file(&data.join("ca.pem")).unwrap());
    let id = trusting
        .start_download(request(&url, Some(sha256_hex(&body)), None))
        .unwrap();
    assert_eq!(finished(&trusting, id).state, JobState::Done);
    assert_eq!(fs::read(data.join("isos/x.iso")).unwrap(), body);
    assert!(incoming(&data).is_empty());
}
