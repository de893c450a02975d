//! Socket set-up shared by servers and the load generator.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};
use socket2::{Domain, Socket, Type};

/// Accept backlog: large enough that thousands of back-to-back connects never overflow it
/// (std's default of 128 would make the kernel drop SYNs and stall the client for a second).
const BACKLOG: i32 = 4096;

/// A non-blocking listener on 127.0.0.1:`port`.
pub fn listen_loopback(port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).context("creating a socket")?;
    socket.set_reuse_address(true).context("SO_REUSEADDR")?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    socket.listen(BACKLOG).context("listen")?;
    socket.set_nonblocking(true).context("O_NONBLOCK")?;
    Ok(socket.into())
}

/// Prints the line programs that start a server wait for: `listening on ADDR`.
pub fn announce(listener: &TcpListener) -> Result<SocketAddr> {
    use std::io::Write;
    let addr = listener.local_addr().context("local_addr")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    Ok(addr)
}

/// A blocking connection to a loopback address that resets instead of lingering in
/// TIME_WAIT when closed, so repeated benchmark runs do not exhaust ephemeral ports.
pub fn connect_loopback(addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "refusing to connect to {addr}: only loopback addresses are allowed"
    );
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).context("creating a socket")?;
    socket
        .connect_timeout(&addr.into(), timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    socket
        .set_linger(Some(Duration::ZERO))
        .context("SO_LINGER")?;
    socket.set_tcp_nodelay(true).context("TCP_NODELAY")?;
    Ok(socket.into())
}

/// Raises RLIMIT_NOFILE's soft limit to `wanted`, raising the hard limit too where allowed
/// (root with CAP_SYS_RESOURCE) and otherwise stopping at it. Returns the soft limit now in
/// force.
pub fn raise_fd_limit(wanted: u64) -> Result<u64> {
    // SAFETY: getrlimit/setrlimit with a live struct.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
        }
        if limit.rlim_cur >= wanted {
            return Ok(limit.rlim_cur);
        }
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return Ok(wanted);
        }
        let capped = libc::rlimit {
            rlim_cur: limit.rlim_max.min(wanted),
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &capped) != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("raising RLIMIT_NOFILE to {}", capped.rlim_cur));
        }
        Ok(capped.rlim_cur)
    }
}
