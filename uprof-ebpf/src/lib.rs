#![no_std]
// The library target lets `cargo check` and the workspace see this crate; the programs are in main.rs.
