//! The Python of the venv scripts/setup.sh makes (`UPROF_VENV` overrides its place), which holds
//! the independent readers the tests check uprof's exports with.
use std::path::PathBuf;
use std::process::Command;

/// The venv's Python if it can `import module`; outside CI, `None` (the test is skipped, and
/// says so loudly); under `CI=true`, a failure.
pub fn with(module: &str, package: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("UPROF_VENV")
        .map_or_else(|| PathBuf::from("/usr/local/lib/uprof-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let usable = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if usable {
        return Some(python);
    }
    let why = format!(
        "{} cannot import {module} (PyPI {package}): run scripts/setup.sh",
        python.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("\n*** SKIPPED: {why} ***\n");
    None
}
