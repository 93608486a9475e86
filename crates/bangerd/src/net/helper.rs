//! `banger-net-helper`: the one program a daemon that is not root runs with
//! root's rights (`sudo -n`), so the sudoers rule banger advises allows no
//! more than banger needs. `ip`, `nft` and `sysctl` with any argument amount
//! to root (`ip netns exec ... sh`, `nft -f` including any file); this takes
//! four fixed operations, checks every argument with the config file's own
//! rules, and then does the step as root with the code the daemon runs when
//! it is root:
//!
//! - `ensure BRIDGE HOST/PREFIX DNS[,DNS...] allow|deny`: the bridge (only a
//!   bridge: an existing device of another kind is refused), its address,
//!   forwarding, and banger's nftables tables for it, made here from these
//!   values (no rule text is taken from the caller);
//! - `tap-add BRIDGE TAP`: a TAP named with the bridge's prefix, new, owned
//!   by the calling user (`SUDO_UID`), on the bridge;
//! - `tap-del BRIDGE TAP`: such a TAP (a tun device with that prefix);
//! - `teardown BRIDGE`: its TAPs, the bridge and banger's tables for it.
//!
//! No file is read or written, nothing of the caller's environment is used
//! but `SUDO_UID`, and no program runs but `ip`, `nft` and `sysctl`.

use super::{HostNet, NetError, SystemRunner};
use banger_config::Config;
use std::path::{Path, PathBuf};

pub const HELPER_BIN: &str = "banger-net-helper";

#[derive(Debug)]
pub enum Op {
    Ensure(Config),
    TapAdd(Config, String),
    TapDel(Config, String),
    Teardown(Config),
}

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(
        "usage: banger-net-helper ensure BRIDGE HOST/PREFIX DNS[,DNS...] allow|deny | tap-add BRIDGE TAP | tap-del BRIDGE TAP | teardown BRIDGE"
    )]
    Usage,
    #[error("{0}")]
    Invalid(String),
    #[error("run through sudo: SUDO_UID names the user the TAP devices are for")]
    NoCaller,
    #[error(transparent)]
    Net(#[from] NetError),
}

/// A config holding only what the caller asked for, checked as the
/// config file's values are (`bridge_name`, `bridge_ipcidr`, ...).
fn config(pairs: &[(&str, toml::Value)]) -> Result<Config, HelperError> {
    let table: toml::Table = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Config::parse(&table.to_string(), Path::new("arguments"), None)
        .map_err(|e| HelperError::Invalid(e.to_string()))
}

fn bridge(name: &str) -> (&'static str, toml::Value) {
    ("bridge_name", toml::Value::String(name.to_owned()))
}

pub fn parse(args: &[String]) -> Result<Op, HelperError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(match args.as_slice() {
        ["ensure", br, cidr, dns, policy] => {
            let dns: Vec<toml::Value> = dns
                .split(',')
                .map(|a| toml::Value::String(a.to_owned()))
                .collect();
            let allow = match *policy {
                "allow" => true,
                "deny" => false,
                _ => return Err(HelperError::Usage),
            };
            Op::Ensure(config(&[
                bridge(br),
                ("bridge_ipcidr", toml::Value::String((*cidr).to_owned())),
                ("default_dns", toml::Value::Array(dns)),
                ("allow_guest_to_guest", toml::Value::Boolean(allow)),
            ])?)
        }
        ["tap-add", br, tap] => Op::TapAdd(config(&[bridge(br)])?, (*tap).to_owned()),
        ["tap-del", br, tap] => Op::TapDel(config(&[bridge(br)])?, (*tap).to_owned()),
        ["teardown", br] => Op::Teardown(config(&[bridge(br)])?),
        _ => return Err(HelperError::Usage),
    })
}

/// Does `op` as root. `caller` is the user TAPs are made for.
pub fn run(op: Op, caller: Option<u32>) -> Result<(), HelperError> {
    let net = |c: &Config| HostNet::new(c, Box::new(SystemRunner::new()));
    match op {
        Op::Ensure(c) => net(&c).ensure()?,
        Op::TapAdd(c, tap) => {
            let uid = caller.ok_or(HelperError::NoCaller)?;
            let net = net(&c).with_owner(uid);
            // New only: an existing device is not taken over.
            if net.exists(&tap)? {
                return Err(HelperError::Invalid(format!("`{tap}` exists already")));
            }
            net.add_tap(&tap)?
        }
        Op::TapDel(c, tap) => net(&c).del_tap(&tap)?,
        Op::Teardown(c) => net(&c).teardown()?,
    }
    Ok(())
}

/// The helper's `main`: arguments and `SUDO_UID` in, one line on stderr
/// and status 1 on failure.
pub fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let caller = std::env::var("SUDO_UID")
        .ok()
        .and_then(|u| u.parse::<u32>().ok());
    match parse(&args).and_then(|op| run(op, caller)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, the chain joined: the daemon embeds it in its error.
            eprintln!("banger-net-helper: {:#}", anyhow::Error::new(e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The helper beside the daemon, where the agent is looked for too.
pub fn locate() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    crate::agent::beside_daemon(exe.parent()?, HELPER_BIN)
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_are_checked_like_the_config_file() {
        let op = parse(&args(&[
            "ensure",
            "banger0",
            "172.16.0.1/24",
            "1.1.1.1,9.9.9.9",
            "deny",
        ]))
        .unwrap();
        let Op::Ensure(c) = op else { panic!("{op:?}") };
        assert_eq!(c.bridge_name, "banger0");
        assert_eq!(c.bridge_host.to_string(), "172.16.0.1");
        assert_eq!(c.default_dns.len(), 2);
        assert!(!c.allow_guest_to_guest);
        for bad in [
            &["ensure", "banger0", "172.16.0.1/24", "1.1.1.1", "maybe"][..],
            &["ensure", "a b", "172.16.0.1/24", "1.1.1.1", "deny"],
            &["ensure", "banger0", "not-a-cidr", "1.1.1.1", "deny"],
            &[
                "ensure",
                "banger0",
                "172.16.0.1/24",
                "1.1.1.1\"\nvmm = \"qemu",
                "deny",
            ],
            &["tap-add", "banger0/../x", "banger0t0"],
            &["netns", "exec", "x", "sh"],
            &["teardown"],
            &[],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        let e = parse(&args(&[
            "ensure",
            "waytoolongbridgename",
            "10.0.0.1/24",
            "1.1.1.1",
            "deny",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("bridge_name"), "{e}");
    }
}
