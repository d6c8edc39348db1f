//! UDP beside the ring: a TFTP window or a multicast burst leaves in one `sendmmsg`, or, where
//! the kernel can segment it, as one UDP GSO send; and the multicast interface by index. Mapped file bytes go to the kernel by pointer only (see
//! the module rule in [`super`]).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

use crate::blob::BlobSlice;

/// Most datagrams handed to one `sendmmsg` call: a TFTP window is sent in batches of this.
pub const MAX_BATCH: usize = 64;

/// Sends up to [`MAX_BATCH`] datagrams on a connected UDP socket with one `sendmmsg`. Datagram
/// `i` is `headers[i]` followed by bytes `ranges[i] = (offset, len)` of `body`. Returns how
/// many were sent; `WouldBlock` when the socket buffer is full and nothing was sent.
///
/// # Errors
/// `InvalidInput` if a range lies outside `body`; otherwise the `sendmmsg` error (`EFAULT` if
/// the file under the mapping was truncated).
pub fn send_datagrams<const H: usize>(
    fd: RawFd,
    headers: &[[u8; H]],
    body: &BlobSlice,
    ranges: &[(u64, usize)],
) -> io::Result<usize> {
    let n = headers.len().min(ranges.len()).min(MAX_BATCH);
    let mut iovecs = [[libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2]; MAX_BATCH];
    for i in 0..n {
        iovecs[i] = datagram_iovecs(&headers[i], body, ranges[i])?;
    }
    // SAFETY: mmsghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        msgs[i].msg_hdr.msg_iov = iovecs[i].as_mut_ptr();
        msgs[i].msg_hdr.msg_iovlen = if iovecs[i][1].iov_len == 0 { 1 } else { 2 };
    }
    // SAFETY: `msgs[..n]` are initialised msghdrs whose iovecs point into `headers` (borrowed
    // for the call) and into `body`'s blob within its bounds (checked above; the slice keeps
    // the blob alive for the call). The kernel only reads them. The socket is connected, so no
    // address is needed; MSG_DONTWAIT keeps the call from blocking the core.
    let sent =
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// The two pieces of one datagram: `header`, then bytes `offset..offset + len` of `body`
/// straight from its blob (never read here: only its address is taken).
///
/// # Errors
/// `InvalidInput` if the range lies outside `body`.
fn datagram_iovecs<const H: usize>(
    header: &[u8; H],
    body: &BlobSlice,
    (offset, len): (u64, usize),
) -> io::Result<[libc::iovec; 2]> {
    let in_bounds = offset
        .checked_add(len as u64)
        .is_some_and(|end| end <= body.len() as u64);
    if !in_bounds {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "block outside the blob",
        ));
    }
    Ok([
        libc::iovec {
            iov_base: header.as_ptr() as *mut libc::c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: body.as_ptr().wrapping_add(offset as usize) as *mut libc::c_void,
            iov_len: len,
        },
    ])
}

/// Takes the socket's pending error (`SO_ERROR`, which the read clears): `ECONNREFUSED` after
/// an ICMP port unreachable on a connected socket.
pub fn take_error(fd: RawFd) -> Option<io::Error> {
    // SAFETY: the caller's socket owns `fd` for the duration of the call; the borrow ends
    // before this function returns, and a closed descriptor is an error return, not UB.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd).take_error().ok().flatten()
}

/// Reads one datagram from a connected UDP socket without waiting.
///
/// # Errors
/// `WouldBlock` when none is queued; otherwise the kernel's (`ECONNREFUSED` after an ICMP
/// port unreachable).
pub fn recv_nowait(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes for the whole call, and
    // MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Most segments the kernel accepts in one UDP GSO send (`UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// The largest UDP payload over IPv4: the GSO super-datagram must fit in one.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// `UDP_SEGMENT` (linux/udp.h), the GSO segment size as a control message.
const UDP_SEGMENT: libc::c_int = 103;

/// How many datagrams of `segment` bytes one GSO send may carry.
pub fn segments_per_send(segment: usize) -> usize {
    (MAX_UDP_PAYLOAD / segment.max(1)).min(MAX_SEGMENTS)
}

/// Sends datagrams `headers[i]` + bytes `ranges[i]` of `body` on a connected UDP socket as one
/// UDP GSO send: the kernel cuts the concatenation into datagrams of `segment` bytes, so every
/// datagram but the last must be exactly `segment` long (a header and a full block), and
/// there may be at most [`segments_per_send`] of them. One trip through the IP stack for the
/// whole batch instead of one per datagram; the kernel (or the NIC) segments. All or nothing:
/// returns how many were sent.
///
/// # Errors
/// `InvalidInput` for a range outside `body` or sizes that do not segment; `WouldBlock` when
/// the send buffer is full; `EIO` where the device cannot checksum-offload (no GSO there) and
/// `EINVAL` where the segment exceeds the route's MTU: send those with [`send_datagrams`].
pub fn send_segmented<const H: usize>(
    fd: RawFd,
    headers: &[[u8; H]],
    body: &BlobSlice,
    ranges: &[(u64, usize)],
    segment: usize,
) -> io::Result<usize> {
    let n = headers.len().min(ranges.len());
    let invalid = |why| io::Error::new(io::ErrorKind::InvalidInput, why);
    if n == 0 || n > segments_per_send(segment) {
        return Err(invalid("segment count out of range"));
    }
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2 * MAX_SEGMENTS];
    for i in 0..n {
        let datagram = headers[i].len() + ranges[i].1;
        if datagram > segment || (i + 1 < n && datagram != segment) {
            return Err(invalid(
                "only the last datagram may be shorter than a segment",
            ));
        }
        let [head, block] = datagram_iovecs(&headers[i], body, ranges[i])?;
        iovecs[2 * i] = head;
        iovecs[2 * i + 1] = block;
    }
    let segment = u16::try_from(segment).map_err(|_| invalid("segment too large"))?;
    // Room for one cmsghdr with a u16, 8-byte aligned as cmsghdr requires.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iovecs.as_mut_ptr();
    msg.msg_iovlen = 2 * n;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: `msg_control` points at `control` (32 bytes, 8-aligned), at least the
    // CMSG_SPACE(2) = 24 bytes `msg_controllen` claims, so CMSG_FIRSTHDR returns a pointer to
    // a whole cmsghdr inside it and CMSG_DATA one to its 2 data bytes, also inside; both are
    // written through before the call and nothing else aliases `control`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
    // SAFETY: `msg` describes `2n` initialised iovecs pointing into `headers` (borrowed for the
    // call) and into `body`'s blob within its bounds (checked above; the slice keeps the blob
    // alive), plus the control message built above; the kernel only reads them. The socket is
    // connected, so no address; MSG_DONTWAIT keeps the call from blocking the core.
    let sent = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n)
}

/// Sends an IPv4 socket's multicast out of interface `ifindex`: `IP_MULTICAST_IF` with an
/// `ip_mreqn` names the interface by index, so it holds for an interface with several
/// addresses, or one shared with another interface (socket2 only takes an address).
///
/// # Errors
/// The kernel's (`ENODEV` for an unknown index).
pub fn set_multicast_if_v4(fd: RawFd, ifindex: u32) -> io::Result<()> {
    let request = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?,
    };
    // SAFETY: IP_MULTICAST_IF reads an `ip_mreqn` (Linux accepts it beside `in_addr`) from a
    // pointer and length that describe `request`, a plain C struct alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&request as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;
    use crate::blob::Blob;

    fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        (tx, rx)
    }

    #[test]
    fn a_segmented_send_arrives_as_one_datagram_per_block() {
        let body: Vec<u8> = (0..=255u8).cycle().take(4 * 100 + 37).collect();
        let slice = BlobSlice::whole(Blob::from_vec(body.clone(), 0));
        let headers: Vec<[u8; 4]> = (1..=5u8).map(|b| [0, 3, 0, b]).collect();
        let ranges: Vec<(u64, usize)> = (0..5u64)
            .map(|i| (i * 100, if i < 4 { 100 } else { 37 }))
            .collect();
        let (tx, rx) = pair();
        match send_segmented(tx.as_raw_fd(), &headers, &slice, &ranges, 104) {
            Ok(n) => assert_eq!(n, 5),
            // A kernel without UDP GSO: the caller falls back to sendmmsg; nothing to check.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return,
            Err(e) => panic!("{e}"),
        }
        let mut buf = [0u8; 2048];
        for i in 0..5 {
            let n = rx.recv(&mut buf).unwrap();
            let (offset, len) = ranges[i];
            assert_eq!(&buf[..4], &headers[i]);
            assert_eq!(
                &buf[4..n],
                &body[offset as usize..offset as usize + len],
                "datagram {i}"
            );
        }
    }

    #[test]
    fn segments_must_be_full_but_the_last_and_fit_one_send() {
        let slice = BlobSlice::whole(Blob::from_vec(vec![7; 300], 0));
        let (tx, _rx) = pair();
        let fd = tx.as_raw_fd();
        let headers = [[0, 3, 0, 1], [0, 3, 0, 2]];
        let short_first = [(0, 50), (50, 100)];
        let outside = [(0, 100), (250, 100)];
        for ranges in [&short_first[..], &outside[..]] {
            let e = send_segmented(fd, &headers, &slice, ranges, 104).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{ranges:?}");
        }
        assert_eq!(segments_per_send(1472), 44);
        assert_eq!(segments_per_send(516), MAX_SEGMENTS);
        assert_eq!(segments_per_send(65_468), 1);
    }
}
