//! Showing a long operation's progress events: a live bar on a terminal,
//! one plain line per step otherwise (logs, CI, pipes). Always on stderr, so
//! stdout stays clean for `--json`.

use banger_api::progress::{Progress, Stage};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

#[derive(Debug)]
pub struct ProgressView {
    tty: bool,
    bar: Option<ProgressBar>,
    /// The step shown now; none before the first event.
    step: Option<(Stage, String)>,
}

impl ProgressView {
    pub fn new() -> ProgressView {
        ProgressView {
            tty: std::io::stderr().is_terminal(),
            bar: None,
            step: None,
        }
    }

    pub fn update(&mut self, p: Progress) {
        let step = Some((p.stage, p.detail.clone()));
        if step != self.step {
            self.finish_bar();
            self.step = step;
            if self.tty {
                let bar = match p.total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner(),
                };
                bar.set_message(format!("{}: {}", p.stage, p.detail));
                self.bar = Some(bar);
            } else {
                let size = p
                    .total
                    .map(|t| format!(" ({})", human_bytes(t)))
                    .unwrap_or_default();
                eprintln!("{}: {}{size}", p.stage, p.detail);
            }
        }
        if let (Some(bar), Some(done)) = (&self.bar, p.done) {
            bar.set_position(done);
        } else if let Some(bar) = &self.bar {
            bar.tick();
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Drop for ProgressView {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_read_well() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(16 << 20), "16.0 MiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}
