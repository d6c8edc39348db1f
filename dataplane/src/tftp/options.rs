//! TFTP option negotiation: RFC 2347 (the OACK), RFC 2348 blksize, RFC 2349 timeout and tsize,
//! RFC 7440 windowsize. [`negotiate`] turns a request's options and the server's [`Limits`]
//! into the [`Negotiated`] parameters a [`Transfer`](super::session::Transfer) runs with.

use std::fmt;
use std::time::Duration;

use crate::wire::tftp::{AckedOptions, RequestOptions};

/// RFC 1350's block size, used when the client asks for none.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Smallest blksize RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// Largest blksize RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;
/// Largest windowsize ever granted, whatever the settings say: a window is sent in one burst
/// from one core, and 64 blocks of 65464 bytes is already 4 MiB.
pub const MAX_WINDOWSIZE: u16 = 64;

/// Server-side bounds on what a client may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest blksize granted (at most 65464).
    pub max_blksize: u16,
    /// Largest windowsize granted (at most [`MAX_WINDOWSIZE`]).
    pub max_windowsize: u16,
    /// Retransmission timeout when the client asks for none.
    pub default_timeout: Duration,
    /// Longest retransmission timeout a client's `timeout` option may set.
    pub max_timeout: Duration,
    /// Retransmissions allowed in a row without progress; the next timeout fails the transfer.
    pub max_retries: u8,
    /// Retransmissions allowed before the client's first ACK: a request that is never
    /// acknowledged (a spoofed source, a scan) must not hold its slot for long.
    pub first_retries: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: MAX_WINDOWSIZE,
            default_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(5),
            max_retries: 5,
            first_retries: 2,
        }
    }
}

/// Outcome of option negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Payload bytes per DATA packet.
    pub blksize: u16,
    /// Blocks sent before waiting for an ACK.
    pub windowsize: u16,
    /// Retransmission timeout.
    pub timeout: Duration,
    /// What to put in the OACK; `None` for a classic RFC 1350 transfer.
    pub oack: Option<AckedOptions>,
}

/// An option the server will not accept; answer with ERROR 8 (RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationError {
    /// The option is out of its RFC range; the text says which.
    OptionRefused(&'static str),
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::OptionRefused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// RFC 2347/2348/2349/7440: blksize clamp to [8, max_blksize] (values above max are lowered,
/// below 8 are refused); tsize: in a RRQ, reply with the file length; timeout 1..=255 seconds
/// accepted up to max_timeout, a longer one is left out of the OACK (RFC 2349 lets the server
/// only echo the value or ignore it) and the server retransmits after max_timeout; windowsize
/// 1..=65535 clamped to max_windowsize and [`MAX_WINDOWSIZE`]. If no option is acknowledged,
/// oack is None (classic RFC 1350 transfer, first packet is DATA 1).
pub fn negotiate(
    requested: &RequestOptions,
    file_len: u64,
    limits: &Limits,
) -> Result<Negotiated, NegotiationError> {
    let mut acked = AckedOptions::default();
    let mut blksize = DEFAULT_BLKSIZE;
    if let Some(asked) = requested.blksize {
        if asked < MIN_BLKSIZE {
            return Err(NegotiationError::OptionRefused("blksize below 8"));
        }
        // Why clamp the limit too: a misconfigured limit must not yield unsendable packets.
        blksize = asked.min(limits.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE));
        acked.blksize = Some(blksize);
    }
    if requested.tsize.is_some() {
        acked.tsize = Some(file_len);
    }
    let mut timeout = limits.default_timeout;
    if let Some(seconds) = requested.timeout {
        if seconds == 0 {
            return Err(NegotiationError::OptionRefused("timeout must be 1..255"));
        }
        let asked = Duration::from_secs(u64::from(seconds));
        // Why not echo a lower value: RFC 2349 allows the server only to echo or ignore it.
        if asked <= limits.max_timeout {
            timeout = asked;
            acked.timeout = Some(seconds);
        } else {
            timeout = limits.max_timeout.max(Duration::from_millis(1));
        }
    }
    let mut windowsize = 1;
    if let Some(asked) = requested.windowsize {
        if asked == 0 {
            return Err(NegotiationError::OptionRefused(
                "windowsize must be 1..65535",
            ));
        }
        windowsize = asked.min(limits.max_windowsize.clamp(1, MAX_WINDOWSIZE));
        acked.windowsize = Some(windowsize);
    }
    let any = acked != AckedOptions::default();
    Ok(Negotiated {
        blksize,
        windowsize,
        timeout,
        oack: any.then_some(acked),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tftp::session::tests::plain;

    #[test]
    fn negotiation() {
        let lim = Limits::default();
        let ask = |blksize, tsize, timeout, windowsize| RequestOptions {
            blksize,
            tsize,
            timeout,
            windowsize,
        };
        for bad in [
            ask(Some(7), None, None, None),
            ask(None, None, Some(0), None),
            ask(None, None, None, Some(0)),
        ] {
            let Err(NegotiationError::OptionRefused(why)) = negotiate(&bad, 0, &lim) else {
                panic!("{bad:?} accepted");
            };
            assert!(!why.is_empty());
        }
        let n = negotiate(&RequestOptions::default(), 123, &lim).unwrap();
        assert_eq!(n, plain(512, 1, false));

        // 70000 on the wire saturates to 65535 in the codec, then is lowered to the limit.
        // A timeout over the cap is not acknowledged; the server retransmits at the cap.
        let all = ask(Some(u16::MAX), Some(0), Some(255), Some(1000));
        let n = negotiate(&all, 4242, &lim).unwrap();
        assert_eq!((n.blksize, n.windowsize), (65_464, 64));
        assert_eq!(n.timeout, Duration::from_secs(5));
        let oack = n.oack.unwrap();
        assert_eq!((oack.blksize, oack.tsize), (Some(65_464), Some(4242)));
        assert_eq!((oack.timeout, oack.windowsize), (None, Some(64)));
        let n = negotiate(&ask(None, None, Some(5), None), 0, &lim).unwrap();
        assert_eq!(
            (n.timeout, n.oack.unwrap().timeout),
            (lim.max_timeout, Some(5))
        );

        let n = negotiate(&ask(Some(8), Some(0), None, None), 9, &lim).unwrap();
        assert_eq!(n.blksize, 8);
        let oack = n.oack.unwrap();
        assert_eq!(
            (oack.tsize, oack.timeout, oack.windowsize),
            (Some(9), None, None)
        );

        let capped = Limits {
            max_blksize: 1468,
            max_windowsize: 0,
            ..lim
        };
        let n = negotiate(&ask(Some(9000), None, None, Some(16)), 0, &capped).unwrap();
        assert_eq!((n.blksize, n.windowsize), (1468, 1));
        // A limit set above the hard cap still grants no more than the cap.
        let wide = Limits {
            max_windowsize: 1000,
            ..lim
        };
        let n = negotiate(&ask(None, None, None, Some(500)), 0, &wide).unwrap();
        assert_eq!(n.windowsize, MAX_WINDOWSIZE);
    }
}
