//! SSH into guests: readiness (sshd greets on the guest's address), the
//! guest's host keys learned through the agent, and the known_hosts file
//! `banger vm ssh` trusts, so no connection ever skips host key checking.

use super::VmError;
use crate::agent::{AgentClient, AgentError};
use crate::store::Store;
use banger_config::Paths;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Whether an SSH server accepts a connection at `addr` and sends its
/// version line.
pub async fn greets(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.ok()?;
        Some(&buf == b"SSH-")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Some(true))
    )
}

const HOST_KEYS: &[&str] = &[
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/ssh/ssh_host_rsa_key.pub",
];

/// The guest's host public keys as `type base64` lines. Read through the
/// agent (vsock, host-only), so a machine on the bridge cannot inject its
/// own key into what banger trusts.
pub async fn learn_host_keys(agent: &AgentClient) -> Result<String, VmError> {
    let mut argv = vec!["cat"];
    argv.extend(HOST_KEYS);
    // cat fails for the key types a guest lacks and prints the others.
    let out = agent.exec(&argv, None).await?;
    let keys = parse_host_keys(&String::from_utf8_lossy(&out.stdout));
    if keys.is_empty() {
        return Err(AgentError::Guest(format!(
            "no SSH host key in {}: {}",
            HOST_KEYS.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    Ok(keys)
}

fn parse_host_keys(text: &str) -> String {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (kind, key) = (f.next()?, f.next()?);
            (kind.starts_with("ssh-") || kind.starts_with("ecdsa-"))
                .then(|| format!("{kind} {key}\n"))
        })
        .collect()
}

/// Rewrites known_hosts from the VM records: one line per key of every VM
/// that has an address and known keys. Deleted VMs drop out, so a reused
/// address never meets a stale key. Written whole and renamed into place.
pub fn write_known_hosts(paths: &Paths, store: &Store) -> Result<(), VmError> {
    let mut text =
        String::from("# written by bangerd from the guests' host keys; edits are lost\n");
    for vm in store.vms()? {
        if let (Some(ip), Some(keys)) = (&vm.ip, &vm.host_keys) {
            for key in keys.lines() {
                text.push_str(&format!("{ip} {key} banger-vm-{}\n", vm.name));
            }
        }
    }
    let path = paths.known_hosts();
    let tmp = path.with_extension("tmp");
    let io = |source| VmError::KnownHosts {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_keep_type_and_key_only() {
        let text =
            "ssh-ed25519 AAAAC3Nz root@image\necdsa-sha2-nistp256 AAAAE2V root@image\n\ngarbage\n";
        assert_eq!(
            parse_host_keys(text),
            "ssh-ed25519 AAAAC3Nz\necdsa-sha2-nistp256 AAAAE2V\n"
        );
    }
}
