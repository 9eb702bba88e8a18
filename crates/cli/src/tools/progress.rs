//! A progress indicator for tool runs that can take long: a line on stderr, redrawn in place,
//! shown only when stderr is a terminal (never in pipes, files or tests) and when the tool's
//! own output does not share that terminal. Cleared when the run ends, so the lines a tool
//! prints (Kafka's "Processed a total of N messages") are unchanged.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to show a progress indicator: stderr is a terminal, and the tool's data does not go
/// to that terminal (stdin or stdout is redirected: a long, non-interactive run).
pub fn wanted(stderr_is_terminal: bool, data_is_redirected: bool) -> bool {
    stderr_is_terminal && data_is_redirected
}

/// Whether this process's stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress indicator; does nothing when hidden.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn make(show: bool, len: Option<u64>, template: &str) -> Progress {
        if !show {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let style = ProgressStyle::with_template(template)
            .expect("progress templates are valid")
            .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr()).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A counter of records with a message (`12000 records written (4000/s)`).
    pub fn records(show: bool, what: &str) -> Progress {
        let p = Progress::make(show, None, "{spinner} {msg} ({elapsed})");
        p.bar.set_message(format!("0 records {what}"));
        p
    }

    /// A bar over `total` bytes (`[=====>    ] 12.00 MiB/40.00 MiB`).
    pub fn bytes(show: bool, total: u64, label: &str) -> Progress {
        let p = Progress::make(
            show,
            Some(total),
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
        );
        p.bar.set_message(label.to_string());
        p
    }

    /// Replaces the message.
    pub fn message(&self, msg: String) {
        if !self.is_hidden() {
            self.bar.set_message(msg);
        }
    }

    /// Sets the position (bytes scanned).
    pub fn position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Whether nothing is drawn.
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_only_on_a_terminal_stderr_with_redirected_data() {
        assert!(wanted(true, true));
        assert!(!wanted(false, true), "never when stderr is a pipe or file");
        assert!(
            !wanted(true, false),
            "not when the data shares the terminal"
        );
        assert!(!wanted(false, false));
    }

    #[test]
    fn a_hidden_indicator_draws_nothing() {
        let p = Progress::records(false, "written");
        p.message("5 records written".into());
        assert!(p.is_hidden());
        let b = Progress::bytes(false, 100, "x");
        b.position(50);
        assert!(b.is_hidden());
    }
}
