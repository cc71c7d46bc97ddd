//! Progress bars for commands that run many simulations.
//!
//! A bar appears only when stdout and stderr are terminals, without `--quiet`, and once the
//! work has taken more than a second, so quick runs, pipes and CI logs stay clean. Ticks come
//! from rayon workers; the count is atomic and the bar is created once.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Tasks {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    started: Instant,
    enabled: bool,
    bar: OnceLock<ProgressBar>,
}

impl Tasks {
    pub fn new(what: &'static str, total: usize, quiet: bool) -> Tasks {
        Tasks {
            what,
            total: total as u64,
            done: AtomicU64::new(0),
            started: Instant::now(),
            enabled: !quiet && std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
            bar: OnceLock::new(),
        }
    }

    /// One more task finished.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            // Count from the start of the work, not from when the bar first shows.
            let b = ProgressBar::new(self.total)
                .with_elapsed(self.started.elapsed())
                .with_position(done);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:40}] {pos}/{len} elapsed {elapsed} eta {eta}",
                )
                .expect("valid template"),
            );
            b.set_message(self.what);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        bar.set_position(done);
    }

    pub fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}
