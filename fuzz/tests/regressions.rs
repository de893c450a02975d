//! Every input the fuzzer ever found a crash with (kept in `fuzz/regressions/`) runs through
//! the target again, in a debug build, where integer overflow panics.
use std::fs;
use std::path::Path;

#[test]
fn past_findings_no_longer_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut inputs = 0;
    for entry in fs::read_dir(&dir).expect("fuzz/regressions exists") {
        let path = entry.expect("a readable directory").path();
        let input = fs::read(&path).expect("a readable input");
        eprintln!("{}", path.display());
        uprof_fuzz::fuzz_one(&input);
        inputs += 1;
    }
    assert!(inputs >= 3, "the known findings are in {}", dir.display());
}
