//! Creating the watched fds and moving bytes through them. None of these syscalls is counted
//! (uprof does not trace them); closing goes through [`crate::caller::Caller::close`].
//!
//! Every fd is close-on-exec, and all but the report pipe are non-blocking so that
//! [`drain`] can read until `EAGAIN`.

use std::io;
use std::mem;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use libc::{c_int, c_void};

use crate::caller::Fd;
use crate::report::FdKind;

fn check(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn pipe_with(flags: c_int) -> io::Result<(Fd, Fd)> {
    let mut ends = [0 as c_int; 2];
    // SAFETY: pipe2 writes two fds into `ends`.
    check(unsafe { libc::pipe2(ends.as_mut_ptr(), flags) })?;
    let end = |fd| Fd {
        fd,
        kind: FdKind::Pipe,
    };
    Ok((end(ends[0]), end(ends[1])))
}

/// A non-blocking pipe: `(read end, write end)`.
pub fn pipe() -> io::Result<(Fd, Fd)> {
    pipe_with(libc::O_CLOEXEC | libc::O_NONBLOCK)
}

/// A blocking pipe `(read end, write end)`, for passing a child's report to its parent.
pub fn blocking_pipe() -> io::Result<(Fd, Fd)> {
    pipe_with(libc::O_CLOEXEC)
}

/// A connected pair of Unix stream sockets.
pub fn unix_socketpair() -> io::Result<(Fd, Fd)> {
    socketpair_of(libc::SOCK_STREAM)
}

/// A connected pair of Unix datagram sockets: each send is one wake-up of the receiver.
pub fn unix_datagram_pair() -> io::Result<(Fd, Fd)> {
    socketpair_of(libc::SOCK_DGRAM)
}

fn socketpair_of(kind: c_int) -> io::Result<(Fd, Fd)> {
    let mut ends = [0 as c_int; 2];
    let ty = kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: socketpair writes two fds into `ends`.
    check(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, ends.as_mut_ptr()) })?;
    let end = |fd| Fd {
        fd,
        kind: FdKind::Socket,
    };
    Ok((end(ends[0]), end(ends[1])))
}

pub fn eventfd() -> io::Result<Fd> {
    // SAFETY: no pointer arguments.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    Ok(Fd {
        fd,
        kind: FdKind::EventFd,
    })
}

/// A monotonic timerfd that expires every `period`, starting one period from now.
pub fn periodic_timerfd(period: Duration) -> io::Result<Fd> {
    let flags = libc::TFD_CLOEXEC | libc::TFD_NONBLOCK;
    // SAFETY: no pointer arguments.
    let fd = check(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) })?;
    let every = libc::timespec {
        tv_sec: period.as_secs() as libc::time_t,
        tv_nsec: period.subsec_nanos().into(),
    };
    let spec = libc::itimerspec {
        it_interval: every,
        it_value: every,
    };
    // SAFETY: `spec` is a live itimerspec; the old value is not wanted.
    check(unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) })?;
    Ok(Fd {
        fd,
        kind: FdKind::TimerFd,
    })
}

fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

const SOCKADDR_IN_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

fn tcp_socket() -> io::Result<Fd> {
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: no pointer arguments.
    let fd = check(unsafe { libc::socket(libc::AF_INET, ty, 0) })?;
    Ok(Fd {
        fd,
        kind: FdKind::Socket,
    })
}

/// A TCP socket listening on an ephemeral loopback port: `(listener, port)`.
pub fn tcp_listener() -> io::Result<(Fd, u16)> {
    let mut listener = tcp_socket()?;
    listener.kind = FdKind::Listener;
    let mut addr = loopback(0);
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `addr` is a live sockaddr_in of `len` bytes for bind and getsockname.
    unsafe {
        check(libc::bind(listener.fd, (&raw const addr).cast(), len))?;
        check(libc::listen(listener.fd, 16))?;
        check(libc::getsockname(
            listener.fd,
            (&raw mut addr).cast(),
            &mut len,
        ))?;
    }
    Ok((listener, u16::from_be(addr.sin_port)))
}

/// Starts connecting a non-blocking TCP socket to the loopback `port`. The handshake completes
/// in the kernel, so the listener becomes readable without further help.
pub fn tcp_connect(port: u16) -> io::Result<Fd> {
    let socket = tcp_socket()?;
    let addr = loopback(port);
    // SAFETY: `addr` is a live sockaddr_in.
    let ret = unsafe { libc::connect(socket.fd, (&raw const addr).cast(), SOCKADDR_IN_LEN) };
    match check(ret) {
        Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
        _ => Ok(socket),
    }
}

/// Accepts one pending connection (TCP or Unix) as a non-blocking socket.
pub fn accept(listener: Fd) -> io::Result<Fd> {
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: null address pointers ask for no peer address.
    let fd = check(unsafe {
        libc::accept4(
            listener.fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            flags,
        )
    })?;
    Ok(Fd {
        fd,
        kind: FdKind::Socket,
    })
}

/// The address of a Unix socket: an abstract one's name is every byte up to its length.
#[derive(Clone, Copy)]
pub struct UnixAddr {
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

/// A Unix stream socket listening on a fresh abstract address (no file), and that address.
pub fn unix_listener() -> io::Result<(Fd, UnixAddr)> {
    let mut listener = unix_stream_socket()?;
    listener.kind = FdKind::Listener;
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid (empty) address.
    let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // Only the family: the kernel picks an unused abstract name (unix(7), "autobind").
    let family_only = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
    let mut len = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr_un; bind reads its family, getsockname writes at most
    // `len` bytes.
    unsafe {
        check(libc::bind(
            listener.fd,
            (&raw const addr).cast(),
            family_only,
        ))?;
        check(libc::listen(listener.fd, 16))?;
        check(libc::getsockname(
            listener.fd,
            (&raw mut addr).cast(),
            &mut len,
        ))?;
    }
    Ok((listener, UnixAddr { addr, len }))
}

/// Connects a Unix stream socket to `addr`: the connection waits in the listener's queue, so
/// [`accept`] returns at once.
pub fn unix_connect(addr: &UnixAddr) -> io::Result<Fd> {
    let socket = unix_stream_socket()?;
    // SAFETY: `addr.addr` is a live sockaddr_un of at least `addr.len` bytes.
    check(unsafe { libc::connect(socket.fd, (&raw const addr.addr).cast(), addr.len) })?;
    Ok(socket)
}

fn unix_stream_socket() -> io::Result<Fd> {
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: no pointer arguments.
    let fd = check(unsafe { libc::socket(libc::AF_UNIX, ty, 0) })?;
    Ok(Fd {
        fd,
        kind: FdKind::Socket,
    })
}

/// Makes the reading side of `fd` readable: adds 1 to an eventfd, writes one byte to a pipe's
/// write end or a socket.
pub fn poke(fd: Fd) -> Result<()> {
    let one = 1u64.to_ne_bytes();
    let bytes: &[u8] = match fd.kind {
        FdKind::EventFd => &one,
        FdKind::Pipe | FdKind::Socket => b"!",
        kind => bail!("cannot poke fd {} of kind {kind:?}", fd.fd),
    };
    write_all(fd, bytes).with_context(|| format!("poking fd {}", fd.fd))
}

/// Writes all of `bytes` (sockets with `MSG_NOSIGNAL`, so a gone peer is an error, not a
/// SIGPIPE).
pub fn write_all(fd: Fd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let (ptr, len) = (bytes.as_ptr().cast::<c_void>(), bytes.len());
        // SAFETY: `ptr` points to `len` readable bytes.
        let ret = unsafe {
            match fd.kind {
                FdKind::Socket => libc::send(fd.fd, ptr, len, libc::MSG_NOSIGNAL),
                _ => libc::write(fd.fd, ptr, len),
            }
        };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
            continue;
        }
        bytes = &bytes[ret as usize..];
    }
    Ok(())
}

/// Reads until the fd would block or reaches end of file (so a blocking fd is read to its end);
/// returns the bytes read. For an eventfd or a timerfd that is one 8-byte counter.
pub fn drain(fd: Fd) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is writable for its whole length.
        let ret = unsafe { libc::read(fd.fd, buf.as_mut_ptr().cast(), buf.len()) };
        match ret {
            0 => return Ok(out),
            n if n > 0 => out.extend_from_slice(&buf[..n as usize]),
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(out),
                    Some(libc::EINTR) => {}
                    _ => return Err(e),
                }
            }
        }
    }
}

/// Reads the 8-byte counter of a drained eventfd or timerfd (timer expirations, eventfd sum).
pub fn counter(bytes: &[u8]) -> Result<u64> {
    // Draining may read the counter more than once (a timer can expire again between two
    // reads): each read gives 8 bytes, and the counts add up.
    let (counters, rest) = bytes.as_chunks::<8>();
    if counters.is_empty() || !rest.is_empty() {
        anyhow::bail!("expected 8-byte counters, got {} bytes", bytes.len());
    }
    Ok(counters.iter().map(|c| u64::from_ne_bytes(*c)).sum())
}

/// Raises the soft limit on open fds to at least `wanted` (up to the hard limit).
pub fn raise_fd_limit(wanted: u64) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live rlimit.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })
        .context("getrlimit(RLIMIT_NOFILE)")?;
    if limit.rlim_cur >= wanted {
        return Ok(());
    }
    if limit.rlim_max < wanted {
        bail!(
            "need {wanted} open fds but the hard limit is {}",
            limit.rlim_max
        );
    }
    limit.rlim_cur = wanted;
    // SAFETY: `limit` is a live rlimit.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })
        .context("setrlimit(RLIMIT_NOFILE)")?;
    Ok(())
}
