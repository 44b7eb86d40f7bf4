//! The live view: an indicatif spinner redrawn ten times a second on a terminal, or one plain
//! line a second when stdout is not a terminal (CI, pipes).

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use grove::process::SystemInfo;
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stats::Counts;

/// Rates are averaged over this window.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Without a terminal, one line per this period.
const PLAIN_PERIOD: Duration = Duration::from_secs(1);

/// What the view shows at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Time since the tree started.
    pub elapsed: Duration,
    /// Live processes now.
    pub processes: usize,
    /// Most live processes seen so far.
    pub peak_processes: usize,
    /// Tasks waiting for a worker thread.
    pub run_queue: usize,
    /// The counters.
    pub counts: Counts,
    /// Messages per second, over the last second.
    pub messages_per_sec: f64,
    /// Restarts per second, over the last second.
    pub restarts_per_sec: f64,
}

/// Turns samples of the counters into rates and tracks the peak process count.
pub struct Meter {
    started: Instant,
    window: VecDeque<(Instant, Counts)>,
    peak_processes: usize,
}

impl Meter {
    /// A meter whose clock starts now.
    pub fn start() -> Meter {
        Meter {
            started: Instant::now(),
            window: VecDeque::new(),
            peak_processes: 0,
        }
    }

    /// Records a sample and returns the frame to show.
    pub fn sample(&mut self, counts: Counts, info: &SystemInfo) -> Frame {
        let now = Instant::now();
        self.peak_processes = self.peak_processes.max(info.process_count);
        self.window.push_back((now, counts));
        while self.window.len() > 2 && now - self.window[1].0 >= RATE_WINDOW {
            self.window.pop_front();
        }
        let (since, old) = self.window.front().copied().unwrap_or((now, counts));
        let seconds = (now - since).as_secs_f64();
        let rate = |new: u64, old: u64| {
            if seconds > 0.0 {
                new.saturating_sub(old) as f64 / seconds
            } else {
                0.0
            }
        };
        Frame {
            elapsed: now - self.started,
            processes: info.process_count,
            peak_processes: self.peak_processes,
            run_queue: info.run_queue,
            counts,
            messages_per_sec: rate(counts.messages(), old.messages()),
            restarts_per_sec: rate(counts.restarts(), old.restarts()),
        }
    }

    /// Most live processes seen so far.
    pub fn peak_processes(&self) -> usize {
        self.peak_processes
    }

    /// Time since the meter started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Where frames go.
pub struct View {
    bar: ProgressBar,
    live: bool,
    limit: Option<Duration>,
    next_plain_line: Duration,
}

impl View {
    /// A live view on a terminal stdout, plain lines otherwise. `limit` is the planned run time.
    pub fn new(limit: Option<Duration>) -> View {
        let live = std::io::stdout().is_terminal();
        let bar = if live {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout())
        } else {
            ProgressBar::hidden()
        };
        let template = match limit {
            Some(_) => "{spinner:.green} {prefix:.bold} [{bar:30.cyan/blue}] {msg}",
            None => "{spinner:.green} {prefix:.bold} {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
        }
        if let Some(limit) = limit {
            bar.set_length(limit.as_millis().try_into().unwrap_or(u64::MAX));
        }
        bar.set_prefix("grove-demo");
        View {
            bar,
            live,
            limit,
            next_plain_line: PLAIN_PERIOD,
        }
    }

    /// The progress bar, so log lines can be printed without tearing it.
    pub fn bar(&self) -> ProgressBar {
        self.bar.clone()
    }

    /// Shows a frame: redraws the live view, or prints a plain line once a second.
    pub fn show(&mut self, frame: &Frame) {
        if self.live {
            self.bar
                .set_position(frame.elapsed.as_millis().try_into().unwrap_or(u64::MAX));
            self.bar.set_message(self.live_message(frame));
            self.bar.tick();
        } else if frame.elapsed >= self.next_plain_line {
            self.next_plain_line += PLAIN_PERIOD;
            print_line(&plain_line(frame));
        }
    }

    /// Removes the live view, before the summary is printed.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    fn live_message(&self, frame: &Frame) -> String {
        let time = match self.limit {
            Some(limit) => format!(
                "{:.1}s of {}s",
                frame.elapsed.as_secs_f64(),
                limit.as_secs()
            ),
            None => format!("{:.1}s (Ctrl-C to stop)", frame.elapsed.as_secs_f64()),
        };
        let c = &frame.counts;
        format!(
            "{time}\n  \
             tree      {} processes (peak {}), run queue {}\n  \
             restarts  {} ({} panics, {} errors), {}/s\n  \
             messages  {}/s, {} jobs done, {} unanswered",
            frame.processes,
            frame.peak_processes,
            frame.run_queue,
            HumanCount(c.restarts()),
            HumanCount(c.panics),
            HumanCount(c.errors),
            HumanCount(frame.restarts_per_sec as u64),
            HumanCount(frame.messages_per_sec as u64),
            HumanCount(c.results),
            HumanCount(c.unanswered()),
        )
    }
}

/// Prints a line on stdout; a closed stdout (`| head`) is not worth a panic.
pub fn print_line(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn plain_line(frame: &Frame) -> String {
    let c = &frame.counts;
    format!(
        "[{:>5.1}s] processes {} (peak {}) | restarts {} ({} panics, {} errors) | {} msgs/s | run queue {}",
        frame.elapsed.as_secs_f64(),
        frame.processes,
        frame.peak_processes,
        HumanCount(c.restarts()),
        HumanCount(c.panics),
        HumanCount(c.errors),
        HumanCount(frame.messages_per_sec as u64),
        frame.run_queue,
    )
}
