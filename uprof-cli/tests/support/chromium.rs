//! Debian's `chromium`, headless (scripts/setup.sh installs it): a real browser loads uprof's
//! HTML pages in the tests, and says what its console said.
use std::path::{Path, PathBuf};
use std::process::Command;

/// A page as the browser loaded it.
pub struct Loaded {
    /// The document after loading, serialized (`--dump-dom`).
    pub dom: String,
    /// Messages the page logged to the console (errors, CSP violations...).
    pub console: Vec<String>,
}

/// The browser, if installed; outside CI, `None` (the test is skipped, and says so loudly);
/// under `CI=true`, a failure.
pub fn find() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    let works = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(path);
    }
    let why = format!("{} is missing: run scripts/setup.sh", path.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("\n*** SKIPPED: {why} ***\n");
    None
}

/// Headless flags: as root the sandbox cannot start; no GPU on a server; a profile of its own
/// per run, so runs do not share state; loading stops after 30 s (a page that never finishes
/// loading fails the test's checks instead of hanging it).
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--timeout=30000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Loads `page` and returns its DOM and what it logged to the console.
pub fn load(chromium: &Path, page: &Path) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let out = super::run(
        headless(chromium, profile.path())
            .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
            .arg(url(page)),
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    Loaded {
        dom: String::from_utf8(out.stdout).expect("the DOM is UTF-8"),
        console,
    }
}

fn url(page: &Path) -> String {
    format!("file://{}", page.canonicalize().unwrap().display())
}
