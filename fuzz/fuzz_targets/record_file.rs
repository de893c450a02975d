//! libFuzzer target: the input is a whole record file (see `uprof_fuzz::read_and_report`).
#![no_main]

libfuzzer_sys::fuzz_target!(|file: &[u8]| uprof_fuzz::fuzz_one(file));
