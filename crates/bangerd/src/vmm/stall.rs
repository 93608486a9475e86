//! A guest that is stuck, told apart from one that is slow.
//!
//! Seen under QEMU's TCG: a virtio-blk completion never arrives, every task
//! that touches the disk waits for ever, the kernel's hung-task detector
//! prints `INFO: task jbd2/vda-8:... blocked for more than N seconds` on the
//! console, and the VMM goes quiet (no CPU, no I/O). Nothing recovers such a
//! guest; whoever waits on it (a boot, a build step, a `vm exec`) would wait
//! until its own limit, or for ever. A guest that is merely slow (a slow
//! host disk, a busy host) may print the same line, but its VMM keeps
//! working. So the verdict takes both: a hung-task report on the console
//! since the watch began, and a VMM that did (almost) nothing for `QUIET`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// On every guest's kernel command line: the hung-task report after 60 s
/// rather than the default 120 s, so a stuck boot is told well before the
/// boot limit (the report alone changes nothing in the guest). Kernels
/// before 5.8 pass it to init as an unused variable.
pub const KERNEL_ARG: &str = "sysctl.kernel.hung_task_timeout_secs=60";

/// How long the VMM must stay quiet, after a hung-task report, to be stuck.
pub const QUIET: Duration = Duration::from_secs(30);

/// Below this share of one CPU the VMM is quiet (an idle TCG guest costs
/// well under 1%; any guest work costs far more).
const QUIET_CPU_PERCENT: f64 = 3.0;

/// Below this many bytes read and written (all file descriptors: disk
/// images, TAP, event fds) over `QUIET` the VMM is quiet: an idle main loop
/// reads a few bytes per wake-up, a disk that still moves data moves more.
const QUIET_IO_BYTES: u64 = 1 << 20;

/// How often the console and the VMM are looked at; `check` may be called
/// more often (it returns at once in between).
const EVERY: Duration = Duration::from_secs(2);

/// The most console bytes read per look: a guest printing without end must
/// not make the waiter read it all (the hung-task line is short and recent).
const READ_CAP: u64 = 256 << 10;

/// The kernel's first line at every boot.
const BOOT_BANNER: &str = "Linux version ";

/// What the kernel prints when a task waited too long in D state.
const HUNG_TASK: &str = "blocked for more than";

/// A stuck guest, as the waiter reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the guest is stuck: its kernel reports \"{report}\" and its VMM has done no work for {}s \
     (seen under QEMU's TCG as a disk request that never completes); stop the VM and start it again",
    quiet.as_secs()
)]
pub struct Stall {
    pub report: String,
    pub quiet: Duration,
}

/// Ends with the stall's reason once the guest is stuck (for a relay to
/// select on); never while it is not.
pub async fn stuck(mut watch: StallWatch) -> String {
    loop {
        tokio::time::sleep(EVERY).await;
        if let Some(s) = watch.check() {
            return s.to_string();
        }
    }
}

/// CPU time and I/O of one process, cumulative.
#[derive(Debug, Clone, Copy)]
struct Activity {
    ticks: u64,
    io_bytes: u64,
    at: Instant,
}

fn activity(pid: u32) -> Option<Activity> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    // rchar/wchar: bytes through read and write calls of all the threads.
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Activity {
        ticks,
        io_bytes: field("rchar:") + field("wchar:"),
        at: Instant::now(),
    })
}

impl Activity {
    fn quiet_since(&self, before: &Activity) -> bool {
        let secs = self.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let cpu = self.ticks.saturating_sub(before.ticks) as f64
            / rustix::param::clock_ticks_per_second() as f64
            / secs
            * 100.0;
        cpu < QUIET_CPU_PERCENT && self.io_bytes.saturating_sub(before.io_bytes) < QUIET_IO_BYTES
    }
}

/// Watches one running guest: its console from where it ends now, and its
/// VMM process.
#[derive(Debug)]
pub struct StallWatch {
    console: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    vmm: u32,
    quiet_for: Duration,
    report: Option<String>,
    /// The VMM's activity when it was last seen working (or when the
    /// report came): quiet is measured from there.
    mark: Option<Activity>,
    next: Instant,
}

impl StallWatch {
    pub fn new(console: PathBuf, vmm: u32) -> Self {
        Self::with_quiet(console, vmm, QUIET)
    }

    /// From the start of the guest's current boot, as far as the recent
    /// console shows it (the console is appended to across restarts; a
    /// report before the last kernel banner is an earlier boot's). For a
    /// watcher that may first look after the report was printed (the
    /// daemon's monitor).
    pub fn since_boot(console: PathBuf, vmm: u32) -> Self {
        let mut w = Self::new(console, vmm);
        let window = w.offset.min(READ_CAP);
        let from = w.offset - window;
        let mut recent = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&w.console)
            && f.seek(SeekFrom::Start(from)).is_ok()
        {
            let _ = f.take(window).read_to_end(&mut recent);
        }
        let banner = recent
            .windows(BOOT_BANNER.len())
            .rposition(|b| b == BOOT_BANNER.as_bytes());
        w.offset = from + banner.unwrap_or(0) as u64;
        w
    }

    /// With another quiet period (tests).
    pub fn with_quiet(console: PathBuf, vmm: u32, quiet_for: Duration) -> Self {
        let offset = std::fs::metadata(&console).map(|m| m.len()).unwrap_or(0);
        Self {
            console,
            offset,
            partial: Vec::new(),
            vmm,
            quiet_for,
            report: None,
            mark: None,
            next: Instant::now(),
        }
    }

    /// The stall, once the guest is stuck; `None` while it is not (or not
    /// yet known to be). Cheap between looks.
    pub fn check(&mut self) -> Option<Stall> {
        let now = Instant::now();
        if now < self.next {
            return None;
        }
        self.next = now + EVERY.min(self.quiet_for / 4).max(Duration::from_millis(50));
        if self.report.is_none() {
            self.report = self.read_console();
            self.report.as_ref()?;
        }
        let current = activity(self.vmm)?;
        let Some(mark) = self.mark else {
            self.mark = Some(current);
            return None;
        };
        if !current.quiet_since(&mark) {
            // Working again: a slow guest, not a stuck one.
            self.mark = Some(current);
            return None;
        }
        let quiet = current.at.duration_since(mark.at);
        (quiet >= self.quiet_for).then(|| Stall {
            report: self.report.clone().unwrap_or_default(),
            quiet,
        })
    }

    /// The first hung-task line in what the console gained since the last look.
    fn read_console(&mut self) -> Option<String> {
        let mut f = std::fs::File::open(&self.console).ok()?;
        let len = f.metadata().ok()?.len();
        if len < self.offset {
            // Rotated (log_rotation): what came since is at the start.
            self.offset = 0;
            self.partial.clear();
        }
        if len.saturating_sub(self.offset) > READ_CAP {
            // Far behind: only the recent part matters.
            self.offset = len - READ_CAP;
            self.partial.clear();
        }
        f.seek(SeekFrom::Start(self.offset)).ok()?;
        let mut got = Vec::new();
        f.take(READ_CAP).read_to_end(&mut got).ok()?;
        self.offset += got.len() as u64;
        self.partial.extend_from_slice(&got);
        let complete = self
            .partial
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + 1)?;
        let lines: Vec<u8> = self.partial.drain(..complete).collect();
        if self.partial.len() > 64 << 10 {
            // A line without end is no kernel report.
            self.partial.clear();
        }
        String::from_utf8_lossy(&lines)
            .lines()
            .find(|l| l.contains(HUNG_TASK) && l.contains("task"))
            .map(|l| {
                // Without the kernel's timestamp, and never the guest's escapes.
                let l = l.trim();
                let l = match (l.starts_with('['), l.find("] ")) {
                    (true, Some(i)) => &l[i + 2..],
                    _ => l,
                };
                banger_api::text::printable(l).chars().take(200).collect()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Child, Command};

    const REPORT: &str =
        "[  242.81] INFO: task jbd2/vda-8:112 blocked for more than 120 seconds.\n";

    struct Proc(Child);
    impl Drop for Proc {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    fn quiet_process() -> Proc {
        Proc(Command::new("sleep").arg("600").spawn().unwrap())
    }
    fn busy_process() -> Proc {
        Proc(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap(),
        )
    }
    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
    /// A console holding `text`, in a directory of its own.
    fn console_with(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let console = dir.path().join("console.log");
        append(&console, text);
        (dir, console)
    }

    /// Checks until a verdict or `for_at_most`.
    fn watch(w: &mut StallWatch, for_at_most: Duration) -> Option<Stall> {
        let end = Instant::now() + for_at_most;
        while Instant::now() < end {
            if let Some(s) = w.check() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[test]
    fn a_hung_task_report_and_a_quiet_vmm_are_a_stall() {
        let (_dir, console) = console_with("booting\n");
        let vmm = quiet_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(600));
        assert!(watch(&mut w, Duration::from_millis(300)).is_none());
        append(&console, REPORT);
        let stall = watch(&mut w, Duration::from_secs(10)).expect("a stall");
        assert_eq!(
            stall.report,
            "INFO: task jbd2/vda-8:112 blocked for more than 120 seconds."
        );
        assert!(stall.quiet >= Duration::from_millis(600));
        let shown = stall.to_string();
        assert!(
            shown.contains("the guest is stuck") && shown.contains("jbd2/vda-8"),
            "{shown}"
        );
    }

    #[test]
    fn a_vmm_that_keeps_working_is_slow_not_stuck() {
        let (_dir, console) = console_with("");
        let vmm = busy_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(600));
        append(&console, REPORT);
        assert!(watch(&mut w, Duration::from_secs(3)).is_none());
    }

    #[test]
    fn a_quiet_vmm_without_a_report_is_idle_not_stuck() {
        let (_dir, console) = console_with("login: \n");
        let vmm = quiet_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(300));
        assert!(watch(&mut w, Duration::from_secs(2)).is_none());
    }

    #[test]
    fn a_report_from_before_the_watch_is_not_this_waiter_s() {
        let (_dir, console) = console_with(REPORT);
        let vmm = quiet_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(300));
        assert!(watch(&mut w, Duration::from_secs(2)).is_none());
    }

    #[test]
    fn since_boot_sees_this_boot_s_report_and_not_an_earlier_one_s() {
        let (_dir, console) = console_with("");
        let vmm = quiet_process();
        let quiet = Duration::from_millis(300);
        append(&console, "[    0.000000] Linux version 6.1.0\n");
        append(&console, REPORT);
        append(&console, "reboot: Restarting system\n");
        append(&console, "[    0.000000] Linux version 6.1.0\n");
        append(&console, "login: \n");
        let mut w = StallWatch::since_boot(console.clone(), vmm.0.id());
        w.quiet_for = quiet;
        assert!(watch(&mut w, Duration::from_secs(2)).is_none());
        append(&console, REPORT);
        let mut w = StallWatch::since_boot(console.clone(), vmm.0.id());
        w.quiet_for = quiet;
        assert!(watch(&mut w, Duration::from_secs(10)).is_some());
    }

    #[test]
    fn a_report_after_rotation_or_in_pieces_is_seen() {
        let (_dir, console) = console_with("");
        append(&console, &"x".repeat(4096));
        append(&console, "\n");
        let vmm = quiet_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(300));
        // Rotated: the file starts again, shorter than where the watch was.
        std::fs::write(&console, "").unwrap();
        let (a, b) = REPORT.split_at(30);
        append(&console, a);
        assert!(watch(&mut w, Duration::from_millis(200)).is_none());
        append(&console, b);
        assert!(watch(&mut w, Duration::from_secs(10)).is_some());
    }

    #[test]
    fn the_report_is_printable_and_short() {
        let (_dir, console) = console_with("");
        let vmm = quiet_process();
        let mut w = StallWatch::with_quiet(console.clone(), vmm.0.id(), Duration::from_millis(300));
        append(
            &console,
            &format!(
                "INFO: task \x1b[31mevil blocked for more than 1 seconds {}\n",
                "y".repeat(5000)
            ),
        );
        let stall = watch(&mut w, Duration::from_secs(10)).expect("a stall");
        assert!(!stall.report.contains('\x1b'), "{:?}", stall.report);
        assert!(stall.report.chars().count() <= 200);
    }
}
