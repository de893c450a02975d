//! Echo server on tokio, for comparison with tickloop-echo.

use std::cell::Cell;
use std::rc::Rc;

use anyhow::{Context, Result};
use clap::Parser;
use tickloop_apps::cli::ServerArgs;
use tickloop_apps::net;
use tickloop_apps::report::{ServerReport, process_cpu_micros};
use tickloop_apps::server::SERVER_FD_LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};

/// Echoes every byte back, on tokio's single-threaded runtime (one core, like the other
/// servers). Same protocol, signals and reports as tickloop-echo.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn report(open: u64) -> ServerReport {
    ServerReport {
        server: "tokio".into(),
        cpu_micros: process_cpu_micros(),
        open_connections: open,
        loop_stats: None,
    }
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn serve(listener: TcpListener) -> Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut dump = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
    let open = Rc::new(Cell::new(0u64));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.context("accept")?;
                stream.set_nodelay(true)?;
                let open = Rc::clone(&open);
                open.set(open.get() + 1);
                tokio::task::spawn_local(async move {
                    // A peer that resets the connection is not the server's error.
                    let _ = echo(stream).await;
                    open.set(open.get() - 1);
                });
            }
            _ = dump.recv() => report(open.get()).print(),
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    report(open.get()).print();
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    net::raise_fd_limit(SERVER_FD_LIMIT)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("building the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let std_listener = net::listen_loopback(cli.server.port)?;
        net::announce(&std_listener)?;
        serve(TcpListener::from_std(std_listener)?).await
    })
}
