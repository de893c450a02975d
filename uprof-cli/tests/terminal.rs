//! What uprof shows on a terminal and installs beside itself: `uprof top` driven in tmux (as
//! a person would: keys in, the screen read back), the status line of `uprof record`, shell
//! completions and manual pages.
mod support;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ebpf_turn, leftovers, may_load_ebpf, run, serial, testprog, uprof};

/// Whether a component the test needs is there; under `CI=true` its absence fails the test.
fn have(program: &str, args: &[&str]) -> bool {
    let found = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: `{program}` is missing (scripts/setup.sh installs it)"
        );
        eprintln!("note: `{program}` is missing: test skipped (scripts/setup.sh installs it)");
    }
    found
}

#[test]
fn bash_completions_parse_and_offer_the_subcommands() {
    if !have("bash", &["-c", "true"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("uprof.bash");
    fs::write(&script, run(uprof().args(["completions", "bash"])).stdout).unwrap();
    run(Command::new("bash").arg("-n").arg(&script));
    // What bash offers after `uprof ` and after `uprof top --`.
    let offered = |words: &str, cword: usize| -> Vec<String> {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             COMP_POINT=${{#COMP_LINE}}; _uprof uprof; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = run(Command::new("bash").args(["-c", &probe]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let subcommands = offered("uprof ''", 1);
    for sub in [
        "record",
        "report",
        "compare",
        "check",
        "doctor",
        "top",
        "agent",
        "completions",
        "man",
    ] {
        assert!(
            subcommands.iter().any(|w| w == sub),
            "{sub}: {subcommands:?}"
        );
    }
    let top_options = offered("uprof top --", 2);
    for option in ["--pid", "--output", "--tier"] {
        assert!(
            top_options.iter().any(|w| w == option),
            "{option}: {top_options:?}"
        );
    }
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let out = run(uprof().args(["completions", shell]));
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["record", "report", "top", "man"] {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
}

/// A roff page rendered by `man -l` (or groff): no warnings, and the sections a reader looks
/// for.
fn assert_renders(page: &Path, name: &str) {
    let out = run(Command::new("man")
        .args(["--warnings", "-l", "-P", "cat"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env_remove("MAN_KEEP_FORMATTING"));
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "{name}: {warnings}");
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"] {
        assert!(text.contains(section), "{name} has no {section}:\n{text}");
    }
    assert!(text.contains(name), "{name}:\n{text}");
}

#[test]
fn the_manual_pages_render() {
    if !have("man", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("stdout.1");
    fs::write(&main, run(uprof().arg("man")).stdout).unwrap();
    assert_renders(&main, "uprof");
    let top = dir.path().join("top.1");
    fs::write(&top, run(uprof().args(["man", "top"])).stdout).unwrap();
    assert_renders(&top, "uprof-top");

    let pages = dir.path().join("man1");
    fs::create_dir(&pages).unwrap();
    run(uprof().arg("man").arg("--dir").arg(&pages));
    let mut written: Vec<String> = fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let expected = [
        "uprof-agent.1",
        "uprof-check.1",
        "uprof-compare.1",
        "uprof-completions.1",
        "uprof-doctor.1",
        "uprof-man.1",
        "uprof-record.1",
        "uprof-report.1",
        "uprof-top.1",
        "uprof.1",
    ];
    assert_eq!(written, expected);
    for page in expected {
        assert_renders(&pages.join(page), page.trim_end_matches(".1"));
    }

    let out = uprof().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("uprof: error: no subcommand `nope`"),
        "{err}"
    );
}

#[test]
fn top_refuses_a_pipe_in_one_line() {
    let out = uprof()
        .args(["top", "-p", &std::process::id().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("uprof record --interval 1s"), "{err}");
}

/// The status line shows on a terminal, and never on a pipe.
#[test]
fn the_status_line_is_for_terminals_only() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let mut target = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = target.id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("status.uprof");
    let record = || {
        let mut cmd = uprof();
        cmd.args(["record", "-d", "1500ms", "-p", &pid, "-o"])
            .arg(&file);
        cmd
    };
    let piped = run(&mut record());
    let piped = String::from_utf8_lossy(&piped.stderr).into_owned();

    let on_terminal = |cmd: &mut Command| {
        let (mut master, slave) = support::pty::open();
        support::pty::attach(cmd, &slave);
        let mut child = cmd.spawn().unwrap();
        drop(slave);
        let mut screen = String::new();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
            screen.push_str(&master.read_available());
            sleep(Duration::from_millis(100));
        }
        screen.push_str(&master.read_available());
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}: {screen}");
        screen
    };
    let screen = on_terminal(&mut record());
    // Interval rows on the same terminal: no status line in their midst.
    let with_rows = on_terminal(record().args(["--interval", "500ms"]));
    target.kill().unwrap();
    target.wait().unwrap();
    assert!(screen.contains("uprof: recording "), "{screen}");
    assert!(
        screen.contains("uprof: stopped (duration reached)"),
        "{screen}"
    );
    assert!(with_rows.contains("no thread active"), "{with_rows}");
    assert!(!with_rows.contains("uprof: recording "), "{with_rows}");
    assert!(!piped.contains("uprof: recording "), "{piped}");
    assert!(
        piped.contains("uprof: stopped (duration reached)"),
        "{piped}"
    );
}

/// A private tmux server with one fixed-size window running a plain shell.
struct Tmux {
    socket: String,
}

impl Tmux {
    const WIDTH: u32 = 132;
    const HEIGHT: u32 = 40;

    fn start() -> Tmux {
        let tmux = Tmux {
            socket: format!("uprof-test-{}", std::process::id()),
        };
        let size = [Self::WIDTH.to_string(), Self::HEIGHT.to_string()];
        run(tmux.command().args([
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &size[0],
            "-y",
            &size[1],
            "env PS1='$ ' bash --norc --noprofile",
        ]));
        tmux
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket, "-f", "/dev/null"]);
        cmd
    }

    fn keys(&self, keys: &[&str]) {
        run(self.command().args(["send-keys", "-t", "t"]).args(keys));
    }

    fn screen(&self) -> String {
        let out = run(self.command().args(["capture-pane", "-p", "-t", "t"]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `#{format}` of the pane, e.g. `#{alternate_on}`.
    fn pane(&self, format: &str) -> String {
        let out = run(self.command().args(["display", "-p", "-t", "t", format]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the screen satisfies `done`; returns it.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "waited a minute for {what}; the screen:\n{screen}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the shell runs nothing in the foreground: what it ran has exited.
    fn wait_for_shell(&self) {
        let started = Instant::now();
        while self.pane("#{pane_current_command}") != "bash" {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "still running {}:\n{}",
                self.pane("#{pane_current_command}"),
                self.screen()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// The terminal is as a shell leaves it: main screen, cursor shown, line editing on.
    fn assert_terminal_back(&self, after: &str) {
        assert_eq!(
            self.pane("#{alternate_on}"),
            "0",
            "after {after}: alternate screen"
        );
        assert_eq!(
            self.pane("#{cursor_flag}"),
            "1",
            "after {after}: cursor hidden"
        );
        self.keys(&["stty -a | grep -o -- '-\\?icanon' ; echo ==", "Enter"]);
        let screen = self.wait_for("stty", |s| s.contains("\n==") || s.ends_with("=="));
        assert!(
            screen.lines().any(|l| l.trim() == "icanon"),
            "after {after}: the terminal is still raw:\n{screen}"
        );
        self.keys(&["clear", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// The figures of `uprof top`'s threads table for thread `tid`: the cells of its row.
fn row_of<'s>(screen: &'s str, first_cells: &[&str]) -> Option<Vec<&'s str>> {
    screen.lines().find_map(|line| {
        let cells: Vec<&str> = line
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .split_whitespace()
            .collect();
        cells.starts_with(first_cells).then_some(cells)
    })
}

/// `uprof top -p` on uprof-demo in tmux: the demo's threads and fds appear with the rates the
/// demo itself reports, `q` quits and gives the shell a normal terminal back, SIGTERM does the
/// same, and nothing uprof loaded stays attached.
#[test]
fn top_shows_the_demo_and_leaves_a_clean_terminal() {
    if !may_load_ebpf() || !have("tmux", &["-V"]) {
        return;
    }
    let _serial = serial();
    leftovers::adopt_orphans();
    let tmux = Tmux::start();
    let uprof = env!("CARGO_BIN_EXE_uprof");

    // The demo holds still until uprof top shows its screen, then runs for 6 s.
    let mut demo = Command::new(testprog("uprof-demo"))
        .args(["--duration-ms", "6000", "--json", "--trigger-signal"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut demo_err = BufReader::new(demo.stderr.take().unwrap());
    let ready = support::line_starting(&mut demo_err, "ready ");
    let pid: u32 = ready.trim().trim_start_matches("ready ").parse().unwrap();

    tmux.keys(&[&format!("{uprof} top -p {pid}"), "Enter"]);
    tmux.wait_for("uprof top's screen", |s| s.contains("uprof top: pid"));
    // SAFETY: kill has no memory effects.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR2) }, 0);
    // Two whole seconds of the demo's loop.
    sleep(Duration::from_millis(3300));
    let screen = tmux.screen();
    tmux.keys(&["s"]);
    let sorted = tmux.wait_for("the new order", |s| s.contains("(now: waits/s)"));
    tmux.keys(&["q"]);
    tmux.wait_for_shell();
    tmux.assert_terminal_back("q");

    let out = demo.wait_with_output().unwrap();
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rest = String::new();
    for line in demo_err.lines() {
        rest.push_str(&line.unwrap());
    }
    // "uprof-demo (pid N) ran its event loop for 6.00 s."
    let elapsed: f64 = rest
        .split("ran its event loop for ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the demo's account: {rest}"));

    for thread in said["threads"].as_array().unwrap() {
        let tid = thread["tid"].as_u64().unwrap().to_string();
        let comm = thread["comm"].as_str().unwrap();
        let calls: u64 = thread["calls"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| name.starts_with("epoll_wait"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum();
        let rate = calls as f64 / elapsed;
        let row = row_of(&screen, &[&pid.to_string(), &tid, comm])
            .unwrap_or_else(|| panic!("no row for {comm} {tid}:\n{screen}"));
        let shown: f64 = row[3].parse().unwrap();
        assert!(
            (shown - rate).abs() <= 0.3 * rate,
            "{comm}: {shown} waits/s shown, the demo made {rate:.1}/s:\n{screen}"
        );
        assert!(row_of(&sorted, &[&pid.to_string(), &tid, comm]).is_some());
    }
    for epoll in said["epolls"].as_array().unwrap() {
        let epfd = epoll["epfd"].to_string();
        for fd in epoll["fds"].as_array().unwrap() {
            // Only the fds delivered to every second (not the listener's one connection).
            if (fd["delivered"].as_u64().unwrap() as f64) < 5.0 * elapsed {
                continue;
            }
            let (number, kind) = (fd["fd"].to_string(), fd["kind"].as_str().unwrap());
            let row = row_of(&screen, &[&pid.to_string(), &epfd, &number])
                .unwrap_or_else(|| panic!("no row for fd {number} on {epfd}:\n{screen}"));
            assert_eq!(row[3], kind, "fd {number}:\n{screen}");
            let deliveries: f64 = row[4].parse().unwrap();
            assert!(deliveries > 0.0, "fd {number}:\n{screen}");
        }
    }

    // SIGTERM (a system shutting down, `kill`) ends it as cleanly.
    let mut target = Command::new("sleep").arg("60").spawn().unwrap();
    tmux.keys(&[&format!("{uprof} top -p {}", target.id()), "Enter"]);
    tmux.wait_for("uprof top's screen", |s| s.contains("uprof top: pid"));
    let uprof_pid = find_uprof_top(target.id());
    // SAFETY: kill has no memory effects.
    assert_eq!(unsafe { libc::kill(uprof_pid as i32, libc::SIGTERM) }, 0);
    tmux.wait_for_shell();
    tmux.assert_terminal_back("SIGTERM");
    let screen = tmux.screen();
    drop(tmux);
    target.kill().unwrap();
    target.wait().unwrap();
    let left = leftovers::take_leftovers(Path::new(uprof));
    assert!(left.is_empty(), "left behind: {left:?}\n{screen}");
}

/// The pid of the `uprof top` watching `target`.
fn find_uprof_top(target: u32) -> u32 {
    let wanted = format!("top\0-p\0{target}\0");
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&wanted))
        })
        .expect("uprof top is running")
}
