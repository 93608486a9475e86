//! A VMM's resource use, sampled from /proc: CPU time (utime + stime) and
//! resident memory, turned into a CPU percentage between two samples.

use std::time::Instant;

/// One VMM's resource use, from two samples of its CPU time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub cpu_percent: f64,
    pub rss_mib: u64,
}

/// CPU ticks (utime + stime) and resident memory of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    ticks: u64,
    rss_kib: u64,
    at: Instant,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is 3rd, utime 14th, stime 15th.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some(Sample {
        ticks,
        rss_kib,
        at: Instant::now(),
    })
}

/// CPU use between two samples, as a percentage of one CPU.
pub fn metrics(before: Sample, after: Sample) -> Metrics {
    let ticks_per_sec = rustix::param::clock_ticks_per_second() as f64;
    let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let cpu = after.ticks.saturating_sub(before.ticks) as f64 / ticks_per_sec / secs * 100.0;
    Metrics {
        cpu_percent: (cpu * 10.0).round() / 10.0,
        rss_mib: after.rss_kib / 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_busy_process_shows_cpu_and_memory() {
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let before = sample(busy.id()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let after = sample(busy.id()).unwrap();
        busy.kill().unwrap();
        busy.wait().unwrap();
        let m = metrics(before, after);
        assert!(m.cpu_percent > 20.0, "{m:?}");
        assert!(sample(std::process::id()).unwrap().rss_kib > 1024);
        assert!(sample(u32::MAX).is_none());
    }
}
