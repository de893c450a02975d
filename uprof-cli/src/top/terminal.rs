//! The terminal as `uprof top` draws on it — raw mode, the alternate screen, no cursor — and
//! put back exactly as it was however uprof ends: [`Drawing`] restores it when dropped (a
//! return, an error, a signal that stopped the recording, a panic unwinding), and a panic hook
//! restores it first, so that the panic's message lands on the normal screen.
use std::io::{self, Write};
use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::{Mutex, Once};

/// Enter the alternate screen, hide the cursor.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l";
/// Show the cursor, leave the alternate screen.
const LEAVE: &[u8] = b"\x1b[?25h\x1b[?1049l";

/// The terminal to put back: its descriptor and its settings before raw mode.
#[derive(Clone, Copy)]
struct Saved {
    fd: RawFd,
    termios: libc::termios,
}

/// What a panic must put back; `None` when nothing is changed.
static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

/// The terminal on `fd` set up for drawing, until dropped.
pub struct Drawing {
    _private: (),
}

impl Drawing {
    /// Raw mode on `fd` (a terminal: the one stdout writes to), the alternate screen and no
    /// cursor.
    pub fn start(fd: RawFd) -> io::Result<Drawing> {
        install_panic_hook();
        // SAFETY: an all-zero termios is a valid value for tcgetattr to fill in.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a termios.
        if unsafe { libc::tcgetattr(fd, &mut termios) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = termios;
        // SAFETY: a valid pointer to a termios.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: a valid pointer to a termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        *lock() = Some(Saved { fd, termios });
        let drawing = Drawing { _private: () };
        write_all(fd, ENTER)?;
        Ok(drawing)
    }
}

impl Drop for Drawing {
    fn drop(&mut self) {
        restore();
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<Saved>> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts the terminal back, once: cursor, screen, then the settings. Errors are ignored (a
/// terminal that hung up takes nothing).
fn restore() {
    let Some(saved) = lock().take() else {
        return;
    };
    let _ = write_all(saved.fd, LEAVE);
    // SAFETY: a valid pointer to the termios saved from this descriptor.
    unsafe { libc::tcsetattr(saved.fd, libc::TCSAFLUSH, &saved.termios) };
}

/// Writes to the descriptor directly: the panic hook cannot take stdout's lock, which the
/// panicking code may hold.
fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid buffer of that length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The descriptor stdout writes to.
pub fn stdout_fd() -> RawFd {
    io::stdout().as_raw_fd()
}

/// Flushes stdout, where ratatui draws.
pub fn flush() {
    let _ = io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read as _;
    use std::os::fd::{FromRawFd as _, OwnedFd};

    use super::*;

    fn pty() -> (File, OwnedFd) {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: valid pointers; null name, termios and window size are allowed.
        let ret = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(ret, 0, "openpty: {}", io::Error::last_os_error());
        // SAFETY: openpty gave us both descriptors.
        unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
    }

    fn lflag(fd: RawFd) -> libc::tcflag_t {
        // SAFETY: as in `Drawing::start`.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag
    }

    /// A panic while drawing leaves the terminal as it was: canonical mode and echo back, the
    /// cursor shown and the alternate screen left, before the panic's message is printed.
    #[test]
    fn a_panic_puts_the_terminal_back() {
        let (mut master, slave) = pty();
        let fd = slave.as_raw_fd();
        let before = lflag(fd);
        assert_ne!(before & libc::ICANON, 0);
        let panicked = std::panic::catch_unwind(|| {
            let _drawing = Drawing::start(fd).unwrap();
            assert_eq!(lflag(fd) & (libc::ICANON | libc::ECHO), 0, "raw mode");
            // Leaked, so that only the panic hook can put the terminal back.
            std::mem::forget(_drawing);
            panic!("drawing failed");
        });
        assert!(panicked.is_err());
        assert_eq!(lflag(fd), before);
        drop(slave);
        let mut written = Vec::new();
        let _ = master.read_to_end(&mut written);
        let written = String::from_utf8_lossy(&written);
        assert!(
            written.ends_with("\x1b[?25h\x1b[?1049l"),
            "the terminal got {written:?}"
        );
    }
}
