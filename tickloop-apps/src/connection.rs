//! One server connection's I/O, independent of the event loop driving it (tickloop or mio).
//!
//! Reads until the socket would block and writes replies as they are produced. If the peer
//! does not take a reply fast enough, the rest waits in an outbox and reading stops until it
//! is flushed (back-pressure). Reading to `EAGAIN` makes it correct for edge-triggered
//! readiness too.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};

use crate::protocol::Protocol;

/// Size of the buffer one read fills.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// The buffer reads fill, one per thread: a fresh zeroed stack array per call cost the
    /// servers a 16 KiB memset per wakeup, about 1,670 instructions (`cargo xtask bench loops`).
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// What the connection needs from its event loop next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait until readable.
    Read,
    /// Wait until writable (an outbox is pending).
    Write,
    /// Close the connection.
    Close,
}

/// Protocol state plus unsent output.
pub struct Connection<P> {
    protocol: P,
    outbox: Vec<u8>,
    closing: bool,
}

impl<P: Protocol> Connection<P> {
    /// A fresh connection.
    pub fn new(protocol: P) -> Self {
        Connection {
            protocol,
            outbox: Vec::new(),
            closing: false,
        }
    }

    /// Does all the I/O that is possible now, whatever readiness was reported.
    pub fn on_ready<S: Read + Write>(&mut self, stream: &mut S) -> Next {
        READ_BUFFER.with_borrow_mut(|buf| self.io(stream, buf))
    }

    fn io<S: Read + Write>(&mut self, stream: &mut S, buf: &mut [u8]) -> Next {
        loop {
            match self.flush(stream) {
                Ok(true) => {}
                Ok(false) => return Next::Write,
                Err(_) => return Next::Close,
            }
            if self.closing {
                return Next::Close;
            }
            match stream.read(buf) {
                Ok(0) => return Next::Close,
                Ok(n) => self.closing = !self.protocol.on_input(&buf[..n], &mut self.outbox),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Read,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Writes as much of the outbox as the socket takes; true when it is empty.
    fn flush<S: Write>(&mut self, stream: &mut S) -> std::io::Result<bool> {
        let mut written = 0;
        let result = loop {
            if written == self.outbox.len() {
                break Ok(true);
            }
            match stream.write(&self.outbox[written..]) {
                Ok(0) => break Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.outbox.drain(..written);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Echo;
    use std::io::Cursor;

    /// A stream that yields `input` then would-block, and accepts at most `write_room` bytes.
    struct Scripted {
        input: Cursor<Vec<u8>>,
        written: Vec<u8>,
        write_room: usize,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.input.read(buf)? {
                0 => Err(ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.write_room);
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.write_room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn echoes_until_would_block() {
        let mut stream = Scripted {
            input: Cursor::new(b"hello".to_vec()),
            written: Vec::new(),
            write_room: usize::MAX,
        };
        let mut conn = Connection::new(Echo);
        assert_eq!(conn.on_ready(&mut stream), Next::Read);
        assert_eq!(stream.written, b"hello");
    }

    #[test]
    fn full_socket_switches_to_write_and_resumes() {
        let mut stream = Scripted {
            input: Cursor::new(b"hello".to_vec()),
            written: Vec::new(),
            write_room: 2,
        };
        let mut conn = Connection::new(Echo);
        assert_eq!(conn.on_ready(&mut stream), Next::Write);
        assert_eq!(stream.written, b"he");
        stream.write_room = 10;
        assert_eq!(conn.on_ready(&mut stream), Next::Read);
        assert_eq!(stream.written, b"hello");
    }
}
