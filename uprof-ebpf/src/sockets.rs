//! The socket tier, for kernels that refuse probes on `ep_poll_callback`: `sock:sk_data_ready`
//! (a socket received data or a connection) on the sockets traced threads put in epoll
//! instances. Sockets are named by inode number, which user space can also read from
//! `/proc/PID/fd`; user space maps them back to the fds and epoll instances that registered them.
use uprof_common::{SockReady, Socket};

use crate::{
    emit::{current, header, now, send},
    kernel::{file_of, read},
    maps::{SOCKETS, offsets},
};

/// `S_IFMT` and `S_IFSOCK` of `inode.i_mode`.
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;

/// Whether the socket tier is loaded.
#[inline(always)]
pub fn enabled() -> bool {
    offsets::get(&offsets::SOCKET_TIER) != 0
}

/// A traced thread added `fd` to an epoll instance: if it is a socket, watch it and tell user
/// space which socket the fd is.
#[inline(always)]
pub fn learn(fd: i32, ts: u64, task: (u32, u32)) {
    let file = file_of(fd);
    if file == 0 {
        return;
    }
    let inode: u64 = read(file, &offsets::FILE_INODE);
    let mode: u16 = read(inode, &offsets::INODE_MODE);
    if mode & S_IFMT != S_IFSOCK {
        return;
    }
    let ino: u64 = read(inode, &offsets::INODE_INO);
    let _ = SOCKETS.insert(&ino, &1, 0);
    send(Socket {
        header: header::<Socket>(ts, task),
        fd,
        _pad: 0,
        ino,
    });
}

/// `sk_data_ready(sk)`: reports the readiness if the socket is watched.
#[inline(always)]
pub fn sk_data_ready(sk: u64) {
    let socket: u64 = read(sk, &offsets::SOCK_SOCKET);
    if socket == 0 {
        return;
    }
    let ino: u64 = read(socket, &offsets::SOCKET_INO);
    if unsafe { SOCKETS.get(&ino) }.is_none() {
        return;
    }
    send(SockReady {
        header: header::<SockReady>(now(), current()),
        ino,
    });
}
