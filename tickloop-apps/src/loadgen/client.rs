//! The active connections of the load generator and the two ways of pacing them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tickloop::{EventLoop, Interest, IoHandle, Readiness};

use super::framing::ResponseSplitter;
use super::{CONNECT_TIMEOUT, CloseWindow, LoadConfig, Measurements};

/// One active connection.
struct Client {
    stream: TcpStream,
    handle: Option<IoHandle>,
    outbox: Vec<u8>,
    /// When each in-flight request was (meant to be) sent, oldest first.
    in_flight: VecDeque<Instant>,
    responses: ResponseSplitter,
    broken: bool,
}

struct ClientSet {
    clients: Vec<Client>,
    request: Vec<u8>,
    closed_loop: bool,
    /// Requests still to send, when the run has a request count.
    unsent: Option<u64>,
    measurements: Rc<RefCell<Measurements>>,
    /// Called once the request count is sent and answered.
    close_window: CloseWindow,
}

/// The active connections, shared by their watchers and the pacer.
pub(super) struct Clients(Rc<RefCell<ClientSet>>);

impl Clients {
    /// Connects the active connections and watches them for responses; `close_window` ends
    /// the run once a request count is answered.
    pub(super) fn connect(
        lp: &mut EventLoop,
        config: &LoadConfig,
        measurements: Rc<RefCell<Measurements>>,
        close_window: CloseWindow,
    ) -> Result<Clients> {
        let mut clients = Vec::with_capacity(config.active);
        for _ in 0..config.active {
            let stream = crate::net::connect_loopback(config.addr, CONNECT_TIMEOUT)
                .context("opening active connections")?;
            stream.set_nonblocking(true).context("O_NONBLOCK")?;
            clients.push(Client {
                stream,
                handle: None,
                outbox: Vec::new(),
                in_flight: VecDeque::new(),
                responses: config.wire.splitter(),
                broken: false,
            });
        }
        let set = Rc::new(RefCell::new(ClientSet {
            clients,
            request: config.wire.request(),
            closed_loop: config.rate.is_none(),
            unsent: config.requests,
            measurements,
            close_window,
        }));
        for index in 0..config.active {
            let fd = set.borrow().clients[index].stream.as_raw_fd();
            let shared = Rc::clone(&set);
            let handle = lp.watch(fd, Interest::READABLE, move |lp, handle, ready| {
                shared.borrow_mut().on_ready(lp, handle, index, ready);
            })?;
            set.borrow_mut().clients[index].handle = Some(handle);
        }
        Ok(Clients(set))
    }

    /// Every connection sends one request now and the next when its response arrives.
    pub(super) fn start_closed_loop(&self, lp: &mut EventLoop) {
        let mut set = self.0.borrow_mut();
        let now = Instant::now();
        for index in 0..set.clients.len() {
            set.send(lp, index, now);
        }
    }

    /// Requests go out at `rate` per second in total, round-robin over the connections,
    /// whether or not earlier responses have arrived. The pacer timer is re-armed for the next
    /// intended send time, so sends lag their schedule by at most the poll's 1 ms resolution.
    pub(super) fn start_fixed_rate(&self, lp: &mut EventLoop, rate: f64) {
        let set = Rc::clone(&self.0);
        let start = Instant::now();
        let mut issued: u64 = 0;
        let intended = move |n: u64| start + Duration::from_secs_f64(n as f64 / rate);
        lp.start_timer(Duration::ZERO, move |lp, pacer| {
            let now = Instant::now();
            let mut set = set.borrow_mut();
            let count = set.clients.len() as u64;
            while intended(issued) <= now {
                set.send(lp, (issued % count) as usize, intended(issued));
                issued += 1;
            }
            let wait = intended(issued).saturating_duration_since(lp.now());
            lp.restart_timer(pacer, wait).expect("the pacer is running");
        });
    }
}

impl ClientSet {
    fn send(&mut self, lp: &mut EventLoop, index: usize, intended: Instant) {
        let client = &mut self.clients[index];
        if client.broken || self.unsent == Some(0) {
            return;
        }
        if let Some(unsent) = &mut self.unsent {
            *unsent -= 1;
        }
        client.outbox.extend_from_slice(&self.request);
        client.in_flight.push_back(intended);
        self.flush(lp, index);
    }

    fn flush(&mut self, lp: &mut EventLoop, index: usize) {
        let client = &mut self.clients[index];
        let mut written = 0;
        while written < client.outbox.len() {
            match client.stream.write(&client.outbox[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.fail(lp, index),
            }
        }
        client.outbox.drain(..written);
        let interest = if client.outbox.is_empty() {
            Interest::READABLE
        } else {
            Interest::BOTH
        };
        if let Some(handle) = client.handle {
            lp.set_interest(handle, interest)
                .expect("client watchers stay open");
        }
    }

    fn on_ready(&mut self, lp: &mut EventLoop, handle: IoHandle, index: usize, ready: Readiness) {
        debug_assert_eq!(self.clients[index].handle, Some(handle));
        if ready.is_writable() {
            self.flush(lp, index);
        }
        if ready.is_readable() {
            self.read_responses(lp, index);
        }
    }

    fn read_responses(&mut self, lp: &mut EventLoop, index: usize) {
        let mut buf = [0u8; 16 * 1024];
        let mut completed = 0;
        loop {
            let client = &mut self.clients[index];
            match client.stream.read(&mut buf) {
                Ok(0) => return self.fail(lp, index),
                Ok(n) => completed += client.responses.feed(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.fail(lp, index),
            }
        }
        let now = Instant::now();
        for _ in 0..completed {
            let sent = self.clients[index]
                .in_flight
                .pop_front()
                .expect("a response answers a request in flight");
            self.measurements.borrow_mut().record(now - sent);
            if self.closed_loop {
                self.send(lp, index, now);
            }
        }
        if completed > 0 && self.unsent == Some(0) && self.all_answered() {
            (self.close_window)(lp);
        }
    }

    /// Whether every request sent on a working connection has its response.
    fn all_answered(&self) -> bool {
        self.clients
            .iter()
            .all(|client| client.broken || client.in_flight.is_empty())
    }

    fn fail(&mut self, lp: &mut EventLoop, index: usize) {
        let client = &mut self.clients[index];
        if let Some(handle) = client.handle.take() {
            lp.close(handle)
                .expect("client watchers stay open until they fail");
        }
        client.broken = true;
        self.measurements.borrow_mut().error();
    }
}
