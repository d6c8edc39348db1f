//! Downloads of netboot tarballs over `http://` and `https://` (ureq, rustls): redirects
//! followed a few times, connect and per-read timeouts, the whole download bounded by
//! [`Limits::deadline`] and [`Limits::download`], the body streamed to a file while it is
//! hashed. ureq's default proxy from the environment (`ALL_PROXY`, `HTTPS_PROXY`,
//! `HTTP_PROXY`, `NO_PROXY`) is kept: sites that fetch through a proxy need nothing more.
//!
//! Certificates are checked against Mozilla's roots compiled in (webpki-root-certs) plus the
//! CAs of [`Trust::with_ca_file`], not against the host's store: the same URL is trusted the
//! same way on every host, a minimal container without `ca-certificates` included, and a
//! site's own CA is trusted only where it is named.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::{Limits, NetbootError};

/// Redirects followed, at most.
const MAX_REDIRECTS: u32 = 3;
/// Connect and per-read/write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The certificate authorities https downloads trust: Mozilla's, plus any added.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    extra: Vec<Certificate<'static>>,
}

impl Trust {
    /// Mozilla's roots plus every certificate in the PEM file at `path` (a site's own CA).
    ///
    /// # Errors
    /// [`NetbootError::Tls`] if the file cannot be read or holds no certificate.
    pub fn with_ca_file(path: &Path) -> Result<Trust, NetbootError> {
        let bad = |why: String| NetbootError::Tls(format!("CA file {}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let mut extra = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let PemItem::Certificate(cert) = item.map_err(|e| bad(e.to_string()))? {
                extra.push(cert);
            }
        }
        if extra.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        Ok(Trust { extra })
    }

    fn roots(&self) -> RootCerts {
        let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der));
        RootCerts::Specific(Arc::new(
            mozilla.chain(self.extra.iter().cloned()).collect(),
        ))
    }
}

/// The agent every outbound fetch uses: redirects followed a few times, connect and
/// per-read/write timeouts, the whole exchange bounded by `deadline` when given, certificates
/// checked against `trust`.
pub(crate) fn agent(trust: &Trust, deadline: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(MAX_REDIRECTS)
        .user_agent("fleetboot")
        .timeout_connect(Some(IO_TIMEOUT))
        .timeout_per_read(Some(IO_TIMEOUT))
        .timeout_per_write(Some(IO_TIMEOUT))
        .timeout_global(deadline)
        .tls_config(TlsConfig::builder().root_certs(trust.roots()).build())
        .build()
        .new_agent()
}

/// Streams `url`'s body into `path`, following redirects; returns its SHA-256 (hex).
pub(super) fn download_to(
    url: &str,
    path: &Path,
    trust: &Trust,
    limits: &Limits,
) -> Result<String, NetbootError> {
    check_url(url)?;
    let agent = agent(trust, Some(limits.deadline));
    let failed = |e| fetch_error(url, Some(limits.deadline), e);
    let mut response = agent.get(url).call().map_err(failed)?;
    let too_big = || NetbootError::Http(format!("{url} is larger than {} bytes", limits.download));
    if response
        .body()
        .content_length()
        .is_some_and(|n| n > limits.download)
    {
        return Err(too_big());
    }
    let mut body = response.body_mut().as_reader().take(limits.download + 1);
    let mut out = File::create(path)?;
    let mut hash = Sha256::new();
    let (mut got, mut buf) = (0u64, vec![0u8; 64 << 10]);
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| failed(ureq::Error::from(e)))?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > limits.download {
            return Err(too_big());
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Refuses what is not an `http://` or `https://` URL with a host before any I/O.
pub(crate) fn check_url(url: &str) -> Result<(), NetbootError> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| NetbootError::Url(format!("{url}: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(NetbootError::Url(format!(
            "{url}: not an http:// or https:// URL"
        )));
    }
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(NetbootError::Url(format!("{url}: no host")));
    };
    // The parser keeps a port it cannot read (`:99999`) as no port at all.
    let port = authority.as_str().rsplit_once(':').map(|(_, p)| p);
    if authority.port().is_none() && port.is_some_and(|p| !p.is_empty() && !p.contains(']')) {
        return Err(NetbootError::Url(format!("{url}: bad port")));
    }
    Ok(())
}

/// A ureq failure as a [`NetbootError`] that says what to do about it where it can;
/// `deadline` is the one the agent was built with.
pub(crate) fn fetch_error(url: &str, deadline: Option<Duration>, e: ureq::Error) -> NetbootError {
    use ureq::Error as E;
    match e {
        E::StatusCode(code) => NetbootError::Http(format!("{url}: HTTP status {code}")),
        E::TooManyRedirects => {
            NetbootError::Http(format!("{url}: more than {MAX_REDIRECTS} redirects"))
        }
        E::Timeout(ureq::Timeout::Global) => NetbootError::Http(match deadline {
            Some(d) => format!("{url}: download took longer than {} s", d.as_secs_f32()),
            None => format!("{url}: timed out"),
        }),
        E::Timeout(which) => NetbootError::Http(format!("{url}: timed out ({which})")),
        E::BadUri(m) => NetbootError::Url(format!("{url}: {m}")),
        E::Http(m) => NetbootError::Url(format!("{url}: {m}")),
        E::Rustls(e) => tls_error(url, &e),
        // The handshake runs inside reads, so its failures come wrapped in an io::Error.
        E::Io(e) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => tls_error(url, tls),
            None => NetbootError::Http(format!("{url}: {e}")),
        },
        other => NetbootError::Http(format!("{url}: {other}")),
    }
}

fn tls_error(url: &str, e: &rustls::Error) -> NetbootError {
    let hint = match e {
        rustls::Error::InvalidCertificate(_) => {
            " (for a site's own CA, pass its PEM file with --ca-file)"
        }
        _ => "",
    };
    NetbootError::Tls(format!("{url}: TLS: {e}{hint}"))
}
