//! Bridge, TAP pool, NAT and what guests may reach on the host, made
//! idempotently: every step first reads what exists (unprivileged) and
//! changes only what is missing, so a restarted daemon, or one sharing the
//! host with running VMs, finds its network as it left it.
//!
//! As root the changes are `ip`, `nft` and `sysctl` commands. A daemon that
//! is not root makes each change as one call of the privileged helper
//! (`banger-net-helper`, through `sudo -n`), which checks what it is asked
//! and then does the same steps as root: see `net/helper.rs`.

use super::{NetError, Runner};
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

#[derive(Debug)]
pub struct HostNet {
    pub bridge: String,
    pub net: Ipv4Net,
    pub host: Ipv4Addr,
    pub pool_size: u32,
    /// Guests may reach each other (`allow_guest_to_guest`).
    pub guest_to_guest: bool,
    /// The DNS servers guests are given: reachable even at a host address.
    pub dns: Vec<Ipv4Addr>,
    /// Owner of the TAPs, so a non-root VMM can open them.
    uid: u32,
    run: Box<dyn Runner>,
    /// TAPs handed out but not yet recorded against their VM.
    reserved: Mutex<BTreeSet<String>>,
    /// Not root: the helper every change goes through.
    helper: Option<std::path::PathBuf>,
}

#[derive(serde::Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
}

#[derive(serde::Deserialize)]
struct AddrInfo {
    #[serde(default)]
    addr_info: Vec<Addr>,
}

#[derive(serde::Deserialize)]
struct Addr {
    local: String,
    prefixlen: u8,
}

impl HostNet {
    pub fn new(config: &banger_config::Config, run: Box<dyn Runner>) -> HostNet {
        HostNet {
            bridge: config.bridge_name.clone(),
            net: config.bridge_ipcidr,
            host: config.bridge_host,
            pool_size: config.tap_pool_size,
            guest_to_guest: config.allow_guest_to_guest,
            dns: config.default_dns.clone(),
            uid: rustix::process::getuid().as_raw(),
            run,
            reserved: Mutex::default(),
            helper: None,
        }
    }

    /// Every change through `helper` (run privileged, i.e. with `sudo -n`).
    pub fn with_helper(mut self, helper: std::path::PathBuf) -> HostNet {
        self.helper = Some(helper);
        self
    }

    /// The user new TAPs belong to (the helper makes them for its caller).
    pub fn with_owner(mut self, uid: u32) -> HostNet {
        self.uid = uid;
        self
    }

    /// `helper OP ARGS...`, privileged.
    fn helper(&self, helper: &std::path::Path, args: &[&str]) -> Result<(), NetError> {
        let helper = helper.to_string_lossy();
        let mut argv = vec![helper.as_ref()];
        argv.extend(args);
        self.run.run(true, &argv, None).map(drop)
    }

    /// The arguments of the helper's `ensure`: everything it sets up.
    pub fn ensure_args(&self) -> Vec<String> {
        let dns: Vec<String> = self.dns.iter().map(|a| a.to_string()).collect();
        vec![
            "ensure".into(),
            self.bridge.clone(),
            format!("{}/{}", self.host, self.net.prefix_len()),
            dns.join(","),
            if self.guest_to_guest { "allow" } else { "deny" }.into(),
        ]
    }

    /// TAP names are the bridge's name, `t`, and a number; at most 15 bytes.
    pub fn tap_prefix(&self) -> String {
        format!("{}t", &self.bridge[..self.bridge.len().min(9)])
    }

    /// The nftables table holding banger's rules for this bridge.
    pub fn nft_table(&self) -> String {
        let safe: String = self
            .bridge
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("banger_{safe}")
    }

    fn links(&self, args: &[&str]) -> Result<Vec<Link>, NetError> {
        let mut argv = vec!["ip", "-j", "link", "show"];
        argv.extend(args);
        let out = self.run.run(false, &argv, None)?;
        parse(&argv, &out)
    }

    fn priv_ip(&self, args: &[&str]) -> Result<(), NetError> {
        let mut argv = vec!["ip"];
        argv.extend(args);
        self.run.run(true, &argv, None).map(drop)
    }

    /// The bridge up with the host's address, forwarding on, and the rules
    /// loaded. Cheap when all is in place: three reads and the rules (or,
    /// not root, one call of the helper, which does the same).
    pub fn ensure(&self) -> Result<(), NetError> {
        if let Some(helper) = &self.helper {
            let args = self.ensure_args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return self.helper(helper, &args);
        }
        let bridge = self.bridge.as_str();
        // Bridges only: a device of that name that is not one (the host's
        // NIC) is refused, never given an address.
        let exists = self
            .links(&["type", "bridge"])?
            .into_iter()
            .find(|l| l.ifname == bridge);
        if exists.is_none() {
            if self.exists(bridge)? {
                return Err(NetError::NotABridge(self.bridge.clone()));
            }
            self.priv_ip(&["link", "add", "name", bridge, "type", "bridge"])?;
        }
        let argv = ["ip", "-j", "addr", "show", "dev", bridge];
        let addrs: Vec<AddrInfo> = parse(&argv, &self.run.run(false, &argv, None)?)?;
        let host = self.host.to_string();
        let has_addr = addrs
            .iter()
            .flat_map(|a| &a.addr_info)
            .any(|a| a.local == host && a.prefixlen == self.net.prefix_len());
        if !has_addr {
            let cidr = format!("{host}/{}", self.net.prefix_len());
            self.priv_ip(&["addr", "add", &cidr, "dev", bridge])?;
        }
        if !exists.is_some_and(|l| l.flags.iter().any(|f| f == "UP")) {
            self.priv_ip(&["link", "set", bridge, "up"])?;
        }
        let forwarding = self
            .run
            .run(false, &["sysctl", "-n", "net.ipv4.ip_forward"], None)?;
        if forwarding.trim() != "1" {
            self.run
                .run(true, &["sysctl", "-w", "net.ipv4.ip_forward=1"], None)?;
        }
        self.run
            .run(true, &["nft", "-f", "-"], Some(&self.nft_ruleset()))?;
        Ok(())
    }

    /// The rules `ensure` loads (see `rules.rs`).
    pub fn nft_ruleset(&self) -> String {
        rules::ruleset(self)
    }

    /// Whether a device `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, NetError> {
        Ok(self.links(&[])?.iter().any(|l| l.ifname == name))
    }

    /// `bridge_name` names a bridge, not some other device (an address is
    /// never added to, nor the link deleted of, the host's NIC).
    fn check_is_bridge(&self) -> Result<(), NetError> {
        let bridges = self.links(&["type", "bridge"])?;
        if bridges.iter().any(|l| l.ifname == self.bridge) {
            Ok(())
        } else {
            Err(NetError::NotABridge(self.bridge.clone()))
        }
    }

    /// Our TAPs: on the bridge and named with our prefix.
    fn taps(&self) -> Result<Vec<String>, NetError> {
        let prefix = self.tap_prefix();
        Ok(self
            .links(&["master", &self.bridge])?
            .into_iter()
            .map(|l| l.ifname)
            .filter(|n| is_tap_name(&prefix, n))
            .collect())
    }

    /// A TAP for a VM: a spare from the pool, or a new one. `in_use` are
    /// the TAPs recorded against running VMs. Call `settle` once the VM's
    /// record names it.
    pub fn take_tap(&self, in_use: &[String]) -> Result<String, NetError> {
        let mut reserved = self.reserved.lock().expect("net lock");
        let spare = self
            .taps()?
            .into_iter()
            .find(|t| !in_use.contains(t) && !reserved.contains(t));
        let tap = match spare {
            Some(t) => t,
            None => self.create_tap()?,
        };
        reserved.insert(tap.clone());
        Ok(tap)
    }

    pub fn settle(&self, tap: &str) {
        self.reserved.lock().expect("net lock").remove(tap);
    }

    fn create_tap(&self) -> Result<String, NetError> {
        let prefix = self.tap_prefix();
        let existing: Vec<String> = self.links(&[])?.into_iter().map(|l| l.ifname).collect();
        let name = (0..10_000)
            .map(|n| format!("{prefix}{n}"))
            .find(|n| !existing.contains(n))
            .ok_or_else(|| NetError::NoTapName(prefix.clone()))?;
        match &self.helper {
            Some(helper) => self.helper(helper, &["tap-add", &self.bridge, &name])?,
            None => self.add_tap(&name)?,
        }
        Ok(name)
    }

    /// Makes TAP `name` (ours: its name has our prefix, and it must not
    /// exist yet), owned by our user, on the bridge and up.
    pub fn add_tap(&self, name: &str) -> Result<(), NetError> {
        if !is_tap_name(&self.tap_prefix(), name) {
            return Err(NetError::NotOurs(name.to_owned()));
        }
        self.check_is_bridge()?;
        let uid = self.uid.to_string();
        self.priv_ip(&["tuntap", "add", "dev", name, "mode", "tap", "user", &uid])?;
        let joined = self.priv_ip(&["link", "set", name, "master", &self.bridge, "up"]);
        if let Err(e) = joined {
            let _ = self.priv_ip(&["link", "del", name]);
            return Err(e);
        }
        Ok(())
    }

    /// Deletes TAP `name`: only one of ours (our prefix, on our bridge or
    /// on none).
    pub fn del_tap(&self, name: &str) -> Result<(), NetError> {
        if let Some(helper) = &self.helper {
            return self.helper(helper, &["tap-del", &self.bridge, name]);
        }
        let ours = is_tap_name(&self.tap_prefix(), name)
            && self
                .links(&["type", "tun"])?
                .iter()
                .any(|l| l.ifname == name);
        if !ours {
            return Err(NetError::NotOurs(name.to_owned()));
        }
        self.priv_ip(&["link", "del", name])
    }

    /// Keeps `pool_size` spare TAPs: creates the missing ones, deletes the
    /// extra ones (a stopped VM's TAP goes back to the pool or away).
    pub fn refill(&self, in_use: &[String]) -> Result<(), NetError> {
        let reserved = self.reserved.lock().expect("net lock");
        let mut spares: Vec<String> = self
            .taps()?
            .into_iter()
            .filter(|t| !in_use.contains(t) && !reserved.contains(t))
            .collect();
        spares.sort_by_key(|t| tap_number(t));
        while spares.len() > self.pool_size as usize {
            let extra = spares.pop().expect("non-empty");
            self.del_tap(&extra)?;
        }
        for _ in spares.len()..self.pool_size as usize {
            self.create_tap()?;
        }
        Ok(())
    }

    /// Removes the TAPs, the bridge and the NAT table; for a daemon that
    /// stops with no VM running. Missing pieces are not an error.
    pub fn teardown(&self) -> Result<(), NetError> {
        if let Some(helper) = &self.helper {
            return self.helper(helper, &["teardown", &self.bridge]);
        }
        if !self.exists(&self.bridge)? {
            return Ok(());
        }
        self.check_is_bridge()?;
        let ports = self.links(&["master", &self.bridge])?;
        let prefix = self.tap_prefix();
        let (ours, others): (Vec<Link>, Vec<Link>) = ports
            .into_iter()
            .partition(|l| is_tap_name(&prefix, &l.ifname));
        for tap in ours {
            self.priv_ip(&["link", "del", &tap.ifname])?;
        }
        // A bridge with ports that are not banger's TAPs is someone else's
        // too: it stays.
        if others.is_empty() {
            self.priv_ip(&["link", "del", &self.bridge])?;
        } else {
            tracing::warn!(bridge = %self.bridge, "the bridge has ports that are not banger's; left in place");
        }
        self.run
            .run(true, &["nft", "-f", "-"], Some(&rules::teardown(self)))?;
        Ok(())
    }
}

fn is_tap_name(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn tap_number(name: &str) -> u32 {
    let digits = name.len() - name.bytes().rev().take_while(u8::is_ascii_digit).count();
    name[digits..].parse().unwrap_or(0)
}

fn parse<T: serde::de::DeserializeOwned>(argv: &[&str], out: &str) -> Result<T, NetError> {
    // `ip -j` prints nothing at all for an empty list.
    let text = if out.trim().is_empty() { "[]" } else { out };
    serde_json::from_str(text).map_err(|e| NetError::Parse {
        command: argv.join(" "),
        detail: e.to_string(),
    })
}

mod rules;
#[cfg(test)]
mod tests;
