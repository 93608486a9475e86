//! Listening sockets, from `/proc/net/{tcp,tcp6,udp,udp6}`, with the process
//! that owns each (matched through `/proc/<pid>/fd` socket inodes).

use banger_agent_proto::ListeningPort;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

pub fn listening(proc_root: &str) -> Vec<ListeningPort> {
    let owners = socket_owners(proc_root);
    let mut ports = Vec::new();
    for (file, proto, v6) in [
        ("tcp", "tcp", false),
        ("tcp6", "tcp", true),
        ("udp", "udp", false),
        ("udp6", "udp", true),
    ] {
        let Ok(text) = std::fs::read_to_string(format!("{proc_root}/net/{file}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            // TCP_LISTEN is 0A; an unconnected UDP socket is 07.
            let listening = if proto == "tcp" {
                f[3] == "0A"
            } else {
                f[3] == "07"
            };
            if !listening {
                continue;
            }
            let Some((address, port)) = parse_addr(f[1], v6) else {
                continue;
            };
            let owner = owners.get(f[9]);
            ports.push(ListeningPort {
                proto: proto.into(),
                address,
                port,
                pid: owner.map(|o| o.0),
                process: owner.map(|o| o.1.clone()),
            });
        }
    }
    ports.sort_by(|a, b| (a.port, &a.proto, &a.address).cmp(&(b.port, &b.proto, &b.address)));
    ports.dedup();
    ports
}

/// `0100007F:0016` -> ("127.0.0.1", 22); the address words are host-endian.
fn parse_addr(field: &str, v6: bool) -> Option<(String, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = if v6 {
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        Ipv6Addr::from(bytes).to_string()
    } else {
        Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.to_le_bytes()).to_string()
    };
    Some((addr, port))
}

fn socket_owners(proc_root: &str) -> HashMap<String, (u32, String)> {
    let mut owners = HashMap::new();
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return owners;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(p.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    owners
                        .entry(inode.to_owned())
                        .or_insert((pid, comm.clone()));
                }
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_decode() {
        assert_eq!(
            parse_addr("0100007F:0016", false),
            Some(("127.0.0.1".into(), 22))
        );
        assert_eq!(
            parse_addr("00000000000000000000000000000000:1000", true),
            Some(("::".into(), 4096))
        );
    }

    #[test]
    fn sees_a_socket_this_test_listens_on() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listening("/proc");
        let me = found
            .iter()
            .find(|p| p.port == port && p.proto == "tcp")
            .expect("own listener listed");
        assert_eq!(me.address, "127.0.0.1");
        assert_eq!(me.pid, Some(std::process::id()));
    }
}
