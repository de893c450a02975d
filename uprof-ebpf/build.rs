//! Rebuild the programs when bpf-linker changes (cargo cannot track it as a dependency).
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
