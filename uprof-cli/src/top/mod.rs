//! `uprof top`: a live view of the traced loops, redrawn every second from a capture's
//! output made while recording ([`uprof_output::top::Feed`]); the keys and the terminal are
//! here, the figures and the drawing in `uprof-output`.
mod terminal;

use std::cell::RefCell;
use std::io::IsTerminal as _;
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt as _;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use uprof_capture::{Capture, Destination, Progress, Stop};
use uprof_output::Source;
use uprof_output::top::view::{self, Action, Choices, Status};
use uprof_output::top::{Feed, Snapshot};
use uprof_record::Output;

use crate::cli::TopArgs;
use crate::record::{self, signals::Signals};

pub fn run(args: TopArgs) -> Result<()> {
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        bail!(
            "uprof top draws on a terminal, and stdin or stdout is not one: for rows on a pipe \
             or in a file, use `uprof record --interval 1s`"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(top(args));
    // As in `uprof record`: a load given up on for a signal may still run on its thread.
    runtime.shutdown_background();
    result
}

async fn top(args: TopArgs) -> Result<()> {
    let mut signals = Signals::install()?;
    let target = record::target(&args.tracing, &args.command)?;
    let destination = match &args.output {
        Some(path) => Destination::File(Output::create(path)?),
        None => Destination::Nowhere,
    };
    let tracer =
        match record::load(record::tracer_options(&args.tracing.probes), &mut signals).await? {
            Ok(tracer) => tracer,
            Err(stop) => bail!("{stop} while the eBPF programs were loading: nothing was recorded"),
        };
    let mut snapshots = None;
    let mut capture = Capture::start(tracer, &target, destination, |header| {
        let (feed, from_feed) = Feed::new(&Source::of(header));
        snapshots = Some(from_feed);
        Some(Box::new(feed))
    })?;
    let snapshots = snapshots.context("the capture asked for no live output")?;
    let status = Status {
        target: record::who(capture.pids()),
        tier: capture.tracer().tier().name().to_owned(),
        records: 0,
        records_per_s: 0.0,
        file: args.output.as_ref().map(|p| p.display().to_string()),
    };
    let screen = Rc::new(RefCell::new(Screen::open(status, snapshots)?));
    let keys = {
        let screen = Rc::clone(&screen);
        async move {
            tokio::select! {
                stop = signals.next() => stop,
                stop = read_keys(&screen) => stop,
            }
        }
    };
    let stop = capture
        .run(keys, |progress| screen.borrow_mut().tick(progress))
        .await;
    // The terminal is put back before anything else is said.
    drop(screen);
    let stop = stop?;
    let finished = capture.finish(stop)?;
    record::say_stopped(stop, &finished, args.output.as_deref());
    Ok(())
}

/// Reads keys until one says to quit; the others change the screen. The terminal going away
/// is a hang-up.
async fn read_keys(screen: &RefCell<Screen>) -> Stop {
    let mut events = EventStream::new();
    loop {
        match events.next().await {
            Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => match meaning(key) {
                Key::Quit => return Stop::Interrupted,
                Key::Act(action) => screen.borrow_mut().act(action),
                Key::Nothing => {}
            },
            Some(Ok(Event::Resize(..))) => screen.borrow_mut().draw(),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Stop::HungUp,
        }
    }
}

enum Key {
    Quit,
    Act(Action),
    Nothing,
}

/// What a key does: q, Esc and Ctrl-C quit (raw mode turns Ctrl-C into a key).
fn meaning(key: KeyEvent) -> Key {
    const PAGE: isize = 10;
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
        KeyCode::Char('q') | KeyCode::Esc => Key::Quit,
        KeyCode::Tab | KeyCode::BackTab => Key::Act(Action::SwitchTable),
        KeyCode::Char('s') => Key::Act(Action::NextOrder),
        KeyCode::Up | KeyCode::Char('k') => Key::Act(Action::Scroll(-1)),
        KeyCode::Down | KeyCode::Char('j') => Key::Act(Action::Scroll(1)),
        KeyCode::PageUp => Key::Act(Action::Scroll(-PAGE)),
        KeyCode::PageDown => Key::Act(Action::Scroll(PAGE)),
        KeyCode::Home => Key::Act(Action::Top),
        _ => Key::Nothing,
    }
}

/// The screen: the terminal while drawing, and what is drawn on it.
struct Screen {
    terminal: Terminal<CrosstermBackend<std::io::Stdout>>,
    status: Status,
    choices: Choices,
    snapshots: Receiver<Snapshot>,
    last: Option<Snapshot>,
    /// Records and time at the last snapshot: the record rate.
    counted: (u64, Instant),
    // Dropped last: the terminal is put back after ratatui's last write.
    _drawing: terminal::Drawing,
}

impl Screen {
    fn open(status: Status, snapshots: Receiver<Snapshot>) -> Result<Screen> {
        let drawing = terminal::Drawing::start(terminal::stdout_fd())
            .context("cannot set the terminal up")?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
            .context("cannot draw on the terminal")?;
        let mut screen = Screen {
            terminal,
            status,
            choices: Choices::default(),
            snapshots,
            last: None,
            counted: (0, Instant::now()),
            _drawing: drawing,
        };
        screen.draw();
        Ok(screen)
    }

    /// Every tick of the capture: new figures are drawn as they come.
    fn tick(&mut self, progress: Progress) {
        let Some(latest) = self.snapshots.try_iter().last() else {
            return;
        };
        let (records, at) = self.counted;
        let seconds = at.elapsed().as_secs_f64();
        if seconds > 0.0 {
            self.status.records_per_s = progress.records.saturating_sub(records) as f64 / seconds;
        }
        self.counted = (progress.records, Instant::now());
        self.status.records = progress.records;
        self.last = Some(latest);
        self.draw();
    }

    fn act(&mut self, action: Action) {
        self.choices.apply(action);
        self.draw();
    }

    /// Draws; a terminal that refuses (it hung up) is left alone: the signal or the key
    /// reader stops the recording.
    fn draw(&mut self) {
        let (status, last, choices) = (&self.status, self.last.as_ref(), &self.choices);
        let _ = self
            .terminal
            .draw(|frame| view::draw(frame, status, last, choices));
        terminal::flush();
    }
}
