//! A tickloop server: accepts on a loopback port, speaks a [`Protocol`] on each connection,
//! prints a [`ServerReport`] on SIGUSR1, and exits cleanly on SIGINT/SIGTERM.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use anyhow::{Context, Result};
use tickloop::signal::SignalFd;
use tickloop::{BackendKind, EventLoop, Interest, LoopError, RunMode};

use crate::connection::{Connection, Next};
use crate::net;
use crate::protocol::Protocol;
use crate::report::{ServerReport, process_cpu_micros};

/// File descriptors a server may need: ten thousand connections and then some.
pub const SERVER_FD_LIMIT: u64 = 65_536;

/// Runs until SIGINT or SIGTERM; prints the final report before returning.
pub fn serve<P: Protocol + 'static>(
    backend: BackendKind,
    port: u16,
    new_protocol: fn() -> P,
) -> Result<()> {
    let signals = SignalFd::new(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1])?;
    net::raise_fd_limit(SERVER_FD_LIMIT)?;
    let mut lp = EventLoop::new(backend)?;
    let listener = net::listen_loopback(port)?;
    let open = Rc::new(Cell::new(0u64));
    let name = format!("tickloop-{backend}");
    let report = {
        let open = Rc::clone(&open);
        move |lp: &EventLoop| ServerReport {
            server: name.clone(),
            cpu_micros: process_cpu_micros(),
            open_connections: open.get(),
            loop_stats: Some(lp.stats()),
            wait_returns: Some(lp.stats().polls),
        }
    };
    let on_signal_report = report.clone();
    lp.watch(signals.as_raw_fd(), Interest::READABLE, move |lp, _, _| {
        while let Ok(Some(signal)) = signals.read() {
            if signal == libc::SIGUSR1 {
                on_signal_report(lp).print();
            } else {
                lp.stop();
            }
        }
    })?;
    net::announce(&listener)?;
    watch_listener(&mut lp, listener, open, new_protocol)?;
    lp.run(RunMode::Default).context("running the loop")?;
    report(&lp).print();
    Ok(())
}

fn watch_listener<P: Protocol + 'static>(
    lp: &mut EventLoop,
    listener: TcpListener,
    open: Rc<Cell<u64>>,
    new_protocol: fn() -> P,
) -> Result<()> {
    let mut refused_logged = false;
    lp.watch(listener.as_raw_fd(), Interest::READABLE, move |lp, _, _| {
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    return;
                }
            };
            match watch_connection(lp, stream, Rc::clone(&open), new_protocol()) {
                Ok(()) => open.set(open.get() + 1),
                // Dropping the stream closes it: the client sees the refusal as a reset.
                Err(e @ LoopError::FdBeyondSelectLimit { .. }) if !refused_logged => {
                    eprintln!("refusing connections: {e}");
                    refused_logged = true;
                }
                Err(LoopError::FdBeyondSelectLimit { .. }) => {}
                Err(e) => eprintln!("cannot watch a connection: {e}"),
            }
        }
    })?;
    Ok(())
}

fn watch_connection<P: Protocol + 'static>(
    lp: &mut EventLoop,
    mut stream: TcpStream,
    open: Rc<Cell<u64>>,
    protocol: P,
) -> tickloop::Result<()> {
    stream
        .set_nonblocking(true)
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| LoopError::Io {
            op: "configuring an accepted socket".into(),
            source: e,
        })?;
    let mut connection = Connection::new(protocol);
    lp.watch(
        stream.as_raw_fd(),
        Interest::READABLE,
        move |lp, handle, _| {
            let interest = match connection.on_ready(&mut stream) {
                Next::Read => Interest::READABLE,
                Next::Write => Interest::WRITABLE,
                Next::Close => {
                    lp.close(handle).expect("the running watcher is open");
                    open.set(open.get() - 1);
                    return;
                }
            };
            lp.set_interest(handle, interest)
                .expect("the running watcher is open");
        },
    )?;
    Ok(())
}
