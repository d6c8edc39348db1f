//! What the receiver works from, parsed and checked at the edge: the manifest URL given on
//! the command line, and the manifest the server answers (input like any other).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use multicast::{hex, ChunkHash, Encoding, Geometry, Manifest, SessionState};
use ureq::http::Uri;

/// The manifest URL: `http://SERVER:PORT/multicast/<session hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URL as given, without a trailing slash; `/report` and `/data` hang below it.
    pub(crate) url: String,
    /// The session id it names.
    pub(crate) session: u32,
    /// Server host and port, to resolve.
    host: String,
    port: u16,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let bad = |why: &str| {
            format!("{url} is not a session URL ({why}): expected http://SERVER:PORT/multicast/<session hex>")
        };
        let url = url.trim_end_matches('/');
        let uri: Uri = url.parse().map_err(|_| bad("unparsable"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only plain http is spoken"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let hex = uri
            .path()
            .strip_prefix("/multicast/")
            .ok_or_else(|| bad("path"))?;
        if hex.is_empty() || hex.len() > 8 || uri.query().is_some() {
            return Err(bad("session id"));
        }
        let session = u32::from_str_radix(hex, 16).map_err(|_| bad("session id"))?;
        Ok(Target {
            url: url.to_string(),
            session,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: uri.port_u16().unwrap_or(80),
        })
    }

    /// The server's address, to find the interface that reaches it.
    pub(crate) fn server(&self) -> Result<SocketAddr, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("cannot resolve server {}", self.host))
    }
}

/// A checked manifest.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) geometry: Geometry,
    pub(crate) encoding: Encoding,
    pub(crate) sha256: [u8; 32],
    pub(crate) chunk_hashes: Vec<ChunkHash>,
    pub(crate) group: SocketAddr,
    pub(crate) state: SessionState,
    pub(crate) report_interval: Duration,
}

impl Session {
    /// Checks `manifest`, fetched from `target`.
    pub(crate) fn from_manifest(manifest: Manifest, target: &Target) -> Result<Session, String> {
        let bad = |why: String| format!("invalid manifest at {}: {why}", target.url);
        if manifest.session != target.session {
            return Err(bad(format!(
                "session {:x}, but the URL names {:x}",
                manifest.session, target.session
            )));
        }
        let geometry = manifest.geometry;
        geometry.validate().map_err(|e| bad(e.to_string()))?;
        let sha256 = hex::decode(&manifest.sha256).ok_or_else(|| bad("sha256".into()))?;
        if manifest.chunk_xxh3.len() != geometry.chunks() as usize {
            return Err(bad(format!(
                "{} chunk hashes for {} chunks",
                manifest.chunk_xxh3.len(),
                geometry.chunks()
            )));
        }
        let chunk_hashes = manifest
            .chunk_xxh3
            .iter()
            .map(|h| hex::decode(h))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("chunk_xxh3".into()))?;
        let group: IpAddr = manifest
            .group
            .parse()
            .map_err(|_| bad(format!("group {:?}", manifest.group)))?;
        if !group.is_multicast() || manifest.port == 0 {
            return Err(bad(format!(
                "{}:{} is not a multicast group",
                group, manifest.port
            )));
        }
        if !(10..=60_000).contains(&manifest.report_interval_ms) {
            return Err(bad(format!(
                "report interval {} ms",
                manifest.report_interval_ms
            )));
        }
        Ok(Session {
            id: manifest.session,
            name: manifest.name,
            geometry,
            encoding: manifest.encoding,
            sha256,
            chunk_hashes,
            group: SocketAddr::new(group, manifest.port),
            state: manifest.state,
            report_interval: Duration::from_millis(u64::from(manifest.report_interval_ms)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_urls() {
        let t = Target::parse("http://10.0.0.1:8080/multicast/00c0ffee/").unwrap();
        assert_eq!(t.session, 0xc0ffee);
        assert_eq!(t.url, "http://10.0.0.1:8080/multicast/00c0ffee");
        assert_eq!(t.server().unwrap(), "10.0.0.1:8080".parse().unwrap());
        let v6 = Target::parse("http://[fd00::1]/multicast/1").unwrap();
        assert_eq!(v6.server().unwrap(), "[fd00::1]:80".parse().unwrap());
        for bad in [
            "https://10.0.0.1/multicast/1",
            "http://10.0.0.1/multicast/",
            "http://10.0.0.1/multicast/123456789",
            "http://10.0.0.1/multicast/xyz",
            "http://10.0.0.1/boot.ipxe",
            "10.0.0.1/multicast/1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    fn manifest() -> Manifest {
        let geometry = Geometry::for_size(1344 * 512 + 1);
        Manifest {
            session: 7,
            name: "disk.img".into(),
            geometry,
            encoding: Encoding::Raw,
            sha256: "ab".repeat(32),
            chunk_xxh3: vec!["0F".repeat(16), "00".repeat(16)],
            group: "239.255.70.66".into(),
            port: 7000,
            state: SessionState::Sending,
            report_interval_ms: 500,
        }
    }

    #[test]
    fn manifests_are_checked() {
        let target = Target::parse("http://127.0.0.1:8080/multicast/7").unwrap();
        let s = Session::from_manifest(manifest(), &target).unwrap();
        assert_eq!(s.chunk_hashes[0], [0x0f; 16]);
        assert_eq!(s.group, "239.255.70.66:7000".parse().unwrap());
        let broken: [fn(&mut Manifest); 7] = [
            |m| m.session = 8,
            |m| m.sha256.pop().map(drop).unwrap_or(()),
            |m| m.chunk_xxh3.truncate(1),
            |m| m.chunk_xxh3[1] = "zz".repeat(16),
            |m| m.group = "10.0.0.1".into(),
            |m| m.geometry.symbol_size = 0,
            |m| m.report_interval_ms = 0,
        ];
        for (i, breakage) in broken.iter().enumerate() {
            let mut m = manifest();
            breakage(&mut m);
            assert!(Session::from_manifest(m, &target).is_err(), "breakage {i}");
        }
    }
}
