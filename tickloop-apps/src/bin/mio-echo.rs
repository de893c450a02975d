//! Echo server on mio, for comparison with tickloop-echo.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tickloop::signal::SignalFd;
use tickloop_apps::cli::ServerArgs;
use tickloop_apps::connection::{Connection, Next};
use tickloop_apps::net;
use tickloop_apps::protocol::Echo;
use tickloop_apps::report::{ServerReport, process_cpu_micros};
use tickloop_apps::server::SERVER_FD_LIMIT;

/// Echoes every byte back, on mio (edge-triggered epoll). Same protocol, signals and
/// reports as tickloop-echo.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

fn report(open: usize, wait_returns: u64) -> ServerReport {
    ServerReport {
        server: "mio".into(),
        cpu_micros: process_cpu_micros(),
        open_connections: open as u64,
        loop_stats: None,
        wait_returns: Some(wait_returns),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let signals = SignalFd::new(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1])?;
    net::raise_fd_limit(SERVER_FD_LIMIT)?;
    let mut poll = Poll::new().context("creating the mio poll")?;
    let std_listener = net::listen_loopback(cli.server.port)?;
    net::announce(&std_listener)?;
    let mut listener = TcpListener::from_std(std_listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    poll.registry().register(
        &mut SourceFd(&signals.as_raw_fd()),
        SIGNALS,
        Interest::READABLE,
    )?;
    // Each connection with the interest it is registered with, so mio is only asked to
    // reregister when that changes (as tickloop's watcher queue does).
    let mut connections: HashMap<Token, (TcpStream, Connection<Echo>, Interest)> = HashMap::new();
    let mut next_token = FIRST_CONNECTION;
    let mut events = Events::with_capacity(1024);
    let mut wait_returns = 0;
    'serve: loop {
        let polled = poll.poll(&mut events, None);
        wait_returns += 1;
        if let Err(e) = polled {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("mio poll");
        }
        for event in &events {
            match event.token() {
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let token = Token(next_token);
                            next_token += 1;
                            stream.set_nodelay(true)?;
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE)?;
                            connections
                                .insert(token, (stream, Connection::new(Echo), Interest::READABLE));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e).context("accept"),
                    }
                },
                SIGNALS => {
                    while let Some(signal) = signals.read()? {
                        if signal == libc::SIGUSR1 {
                            report(connections.len(), wait_returns).print();
                        } else {
                            break 'serve;
                        }
                    }
                }
                token => {
                    let Some((stream, connection, registered)) = connections.get_mut(&token) else {
                        continue;
                    };
                    let interest = match connection.on_ready(stream) {
                        Next::Read => Interest::READABLE,
                        Next::Write => Interest::WRITABLE,
                        Next::Close => {
                            let (mut stream, ..) = connections.remove(&token).expect("present");
                            poll.registry().deregister(&mut stream)?;
                            continue;
                        }
                    };
                    if interest != *registered {
                        poll.registry().reregister(stream, token, interest)?;
                        *registered = interest;
                    }
                }
            }
        }
    }
    report(connections.len(), wait_returns).print();
    Ok(())
}
