//! Activity, for `auto_stop_stale_after`: a VM is active while the host
//! holds an SSH connection to it, while a `vm exec` runs in it (`Busy`) or
//! a session runs in it (the monitor asks its agent), and when it was
//! started or its agent was used on a user's behalf (`vm ports`, workspace,
//! session commands). The daemon's own health polling does not count.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// Commands in flight in each VM on a client's behalf, by VM name: an
/// agent mid-task through `vm exec` may print nothing for an hour.
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<Mutex<HashMap<String, usize>>>);

/// One command in flight; dropping it ends it.
#[derive(Debug)]
pub struct Held {
    busy: Busy,
    vm: String,
}

impl Busy {
    pub fn hold(&self, vm: &str) -> Held {
        *self.0.lock().unwrap().entry(vm.to_owned()).or_default() += 1;
        Held {
            busy: self.clone(),
            vm: vm.to_owned(),
        }
    }

    pub fn is_busy(&self, vm: &str) -> bool {
        self.0.lock().unwrap().get(vm).is_some_and(|n| *n > 0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.busy.0.lock().unwrap();
        if let Some(n) = map.get_mut(&self.vm) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.vm);
            }
        }
    }
}

/// Whether this network namespace has an established TCP connection to
/// `ip:port` (the `vm ssh` client, or any ssh the user runs). Read from
/// /proc/net/tcp: no round trip into the guest.
pub fn connected_to(ip: Ipv4Addr, port: u16) -> bool {
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| established(&t, ip, port))
        .unwrap_or(false)
}

/// Rows look like `0: 0100007F:A1B2 0200A8C0:0016 01 ...`: local, remote
/// (address as the kernel's in-memory u32 in hex, port in hex), state
/// (01 = ESTABLISHED).
fn established(table: &str, ip: Ipv4Addr, port: u16) -> bool {
    table.lines().skip(1).any(|row| {
        let f: Vec<&str> = row.split_whitespace().collect();
        let (Some(remote), Some(state)) = (f.get(2), f.get(3)) else {
            return false;
        };
        let Some((addr, p)) = remote.split_once(':') else {
            return false;
        };
        let addr = u32::from_str_radix(addr, 16).map(|a| Ipv4Addr::from(a.to_ne_bytes()));
        *state == "01" && addr == Ok(ip) && u16::from_str_radix(p, 16) == Ok(port)
    })
}

/// When a VM started or was last used, whichever is later.
pub fn idle_since(started_at: Option<u64>, last_activity: Option<u64>) -> u64 {
    started_at.unwrap_or(0).max(last_activity.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_established_connections_from_proc() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 010010AC:C350 020010AC:0016 01 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
            1: 010010AC:C351 030010AC:0016 06 00000000:00000000 00:00000000 00000000     0        0 2 1\n";
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(established(table, ip("172.16.0.2"), 22));
        assert!(
            !established(table, ip("172.16.0.3"), 22),
            "TIME_WAIT is not a session"
        );
        assert!(!established(table, ip("172.16.0.2"), 80));
    }

    #[test]
    fn sees_a_real_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!connected_to(Ipv4Addr::LOCALHOST, port));
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _server = listener.accept().unwrap();
        assert!(connected_to(Ipv4Addr::LOCALHOST, port));
    }

    #[test]
    fn a_vm_is_busy_while_any_of_its_commands_is_held() {
        let busy = Busy::default();
        let first = busy.hold("a");
        let second = busy.hold("a");
        assert!(busy.is_busy("a") && !busy.is_busy("b"));
        drop(first);
        assert!(busy.is_busy("a"), "one command still runs");
        drop(second);
        assert!(!busy.is_busy("a"));
    }

    #[test]
    fn idle_counts_from_the_later_of_start_and_use() {
        assert_eq!(idle_since(Some(100), Some(250)), 250);
        assert_eq!(idle_since(Some(300), Some(250)), 300);
        assert_eq!(idle_since(None, None), 0);
    }
}
