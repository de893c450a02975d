//! Command-line arguments shared by the servers.

use clap::{Args, ValueEnum};
use tickloop::BackendKind;

/// `--backend` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Level-triggered epoll.
    Epoll,
    /// Edge-triggered epoll.
    EpollEt,
    /// poll(2).
    Poll,
    /// select(2), descriptors below FD_SETSIZE only.
    Select,
}

impl From<BackendArg> for BackendKind {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Epoll => BackendKind::Epoll,
            BackendArg::EpollEt => BackendKind::EpollEdge,
            BackendArg::Poll => BackendKind::Poll,
            BackendArg::Select => BackendKind::Select,
        }
    }
}

/// Arguments every server takes.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the chosen address is printed first).
    #[arg(long, default_value_t = 7878)]
    pub port: u16,
}

/// Arguments of the tickloop servers.
#[derive(Args, Debug, Clone)]
pub struct LoopServerArgs {
    /// Readiness backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Epoll)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub server: ServerArgs,
}
