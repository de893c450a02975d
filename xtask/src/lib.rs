//! Developer tasks of the uprof workspace, one module per `cargo xtask` command.

pub mod bench;
pub mod build;
pub mod fuzz;
pub mod loops;
pub mod perfetto_proto;
pub mod release;
pub mod soak;
pub mod vm;
pub mod vm_test;
