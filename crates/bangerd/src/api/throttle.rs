//! Byte-progress updates are sent when the step changes or at least 1% more
//! is done, so a fast copy does not flood the stream.

#[derive(Debug, Default)]
pub struct Throttle {
    what: String,
    last_percent: Option<u64>,
}

impl Throttle {
    pub fn due(&mut self, what: &str, done: u64, total: u64) -> bool {
        let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
        if self.what != what {
            self.what = what.to_owned();
            self.last_percent = Some(percent);
            return true;
        }
        if self.last_percent.is_none_or(|p| percent > p) {
            self.last_percent = Some(percent);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_update_per_percent_and_per_step() {
        let mut t = super::Throttle::default();
        let sent = (0..=1000).filter(|i| t.due("rootfs", *i, 1000)).count();
        assert_eq!(sent, 101);
        assert!(t.due("kernel", 0, 10));
    }
}
