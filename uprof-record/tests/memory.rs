//! What a file claims cannot make the reader allocate more than the file holds: memory follows
//! the bytes actually read. Measured with a counting allocator (this test binary's own).
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::*;
use uprof_record::{DamageKind, Reader};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_chunk_claiming_16_mib_in_a_small_file_costs_what_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims.uprof");
    write_chunks(&path, &[one_of_each_kind(1)], false);
    let mut bytes = fs::read(&path).unwrap();
    // An EVTS frame claiming the largest payload allowed, followed by 100 bytes.
    let frame_at = bytes.len();
    bytes.extend_from_slice(b"EVTS");
    bytes.extend_from_slice(&(16u32 << 20).to_le_bytes());
    bytes.extend_from_slice(&[0; 12]);
    bytes.extend_from_slice(&[0xab; 100]);
    fs::write(&path, &bytes).unwrap();

    let mut reader = Reader::open(&path).unwrap();
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let summary = reader.for_each_record(|_| {}).unwrap();
    let grown = PEAK.load(Relaxed) - before;
    let damage = summary.damage.unwrap();
    assert_eq!(
        (damage.kind, damage.offset),
        (DamageKind::TruncatedChunk, frame_at as u64)
    );
    assert!(
        grown < 1 << 20,
        "reading a {}-byte file allocated {grown} bytes",
        bytes.len()
    );
}
