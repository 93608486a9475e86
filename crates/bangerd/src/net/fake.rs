//! A host whose links exist only in memory: `ip` commands change them and
//! `ip -j link show` reports them, so unit tests see the TAP pool grow,
//! hand out and take back TAPs as on a real host, with no root. Every
//! command is recorded like `RecordingRunner` does.

use super::{NetError, Runner};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeLinks {
    /// (name, master, up)
    links: Mutex<Vec<(String, Option<String>, bool)>>,
    /// Names of the links made as bridges; the rest are TAPs.
    bridges: Mutex<Vec<String>>,
    addrs: Mutex<Vec<(String, String)>>,
    calls: Mutex<Vec<String>>,
    /// A privileged command starting with this fails (a refused `ip`).
    pub fail: Mutex<Option<String>>,
}

impl FakeLinks {
    /// Links on `bridge` (its TAPs), in name order.
    pub fn on(&self, bridge: &str) -> Vec<String> {
        let mut v: Vec<String> = (self.links.lock().unwrap().iter())
            .filter(|l| l.1.as_deref() == Some(bridge))
            .map(|l| l.0.clone())
            .collect();
        v.sort();
        v
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn show(&self, master: Option<&str>, kind: Option<&str>) -> String {
        let links = self.links.lock().unwrap();
        let bridges = self.bridges.lock().unwrap();
        let shown: Vec<serde_json::Value> = links
            .iter()
            .filter(|l| master.is_none() || l.1.as_deref() == master)
            .filter(|l| match kind {
                Some("bridge") => bridges.contains(&l.0),
                Some(_) => !bridges.contains(&l.0),
                None => true,
            })
            .map(|l| {
                let flags: Vec<&str> = if l.2 { vec!["UP"] } else { vec![] };
                serde_json::json!({"ifname": l.0, "flags": flags})
            })
            .collect();
        serde_json::to_string(&shown).unwrap()
    }
}

impl Runner for FakeLinks {
    fn run(
        &self,
        privileged: bool,
        argv: &[&str],
        _stdin: Option<&str>,
    ) -> Result<String, NetError> {
        let command = argv.join(" ");
        self.calls
            .lock()
            .unwrap()
            .push(format!("{} {command}", if privileged { "#" } else { "$" }));
        if privileged
            && let Some(prefix) = self.fail.lock().unwrap().as_deref()
            && command.starts_with(prefix)
        {
            return Err(NetError::Command {
                command,
                stderr: "refused by the test".into(),
            });
        }
        let mut links = self.links.lock().unwrap();
        match argv {
            ["ip", "-j", "link", "show"] => {
                drop(links);
                return Ok(self.show(None, None));
            }
            ["ip", "-j", "link", "show", "master", m] => {
                drop(links);
                return Ok(self.show(Some(m), None));
            }
            ["ip", "-j", "link", "show", "type", kind] => {
                drop(links);
                return Ok(self.show(None, Some(kind)));
            }
            ["ip", "-j", "addr", "show", "dev", d] => {
                let addrs = self.addrs.lock().unwrap();
                let info: Vec<serde_json::Value> = (addrs.iter())
                    .filter(|a| a.0 == *d)
                    .map(|a| {
                        let (local, len) = a.1.split_once('/').unwrap();
                        serde_json::json!({"local": local, "prefixlen": len.parse::<u8>().unwrap()})
                    })
                    .collect();
                return Ok(serde_json::json!([{ "addr_info": info }]).to_string());
            }
            ["ip", "link", "add", "name", n, "type", "bridge"] => {
                links.push((n.to_string(), None, false));
                self.bridges.lock().unwrap().push(n.to_string());
            }
            ["ip", "tuntap", "add", "dev", n, ..] => links.push((n.to_string(), None, false)),
            ["ip", "addr", "add", cidr, "dev", d] => {
                self.addrs
                    .lock()
                    .unwrap()
                    .push((d.to_string(), cidr.to_string()));
            }
            ["ip", "link", "set", n, rest @ ..] => {
                let l =
                    (links.iter_mut().find(|l| l.0 == *n)).ok_or_else(|| NetError::Command {
                        command: command.clone(),
                        stderr: format!("Cannot find device \"{n}\""),
                    })?;
                if let ["master", m, ..] = rest {
                    l.1 = Some(m.to_string());
                }
                l.2 |= rest.last() == Some(&"up");
            }
            ["ip", "link", "del", n] => {
                links.retain(|l| l.0 != *n);
                self.bridges.lock().unwrap().retain(|b| b != n);
            }
            ["sysctl", "-n", ..] => return Ok("1\n".into()),
            _ => {}
        }
        Ok(String::new())
    }
}
