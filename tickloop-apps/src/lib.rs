//! Programs on tickloop: echo and HTTP servers, the mio and tokio echo servers they are
//! compared with, a load generator and the benchmark that drives them all.
//!
//! The binaries in `src/bin` are thin: argument parsing and a call into these modules.

pub mod cli;
pub mod connection;
pub mod loadgen;
pub mod net;
pub mod protocol;
pub mod report;
pub mod server;
pub mod server_process;
pub mod tokio_echo;
