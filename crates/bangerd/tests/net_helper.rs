//! The network life of VMs as a daemon that is not root lives it: every
//! change through `banger-net-helper`, run by a fake `sudo` that allows
//! exactly the advised rule (`sudo -n -- HELPER ...`, nothing else), in a
//! network namespace of the test's own thread (commands it runs inherit
//! it). And the helper refusing what is not banger's.

use bangerd::net::{HostNet, SystemRunner};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const HELPER: &str = env!("CARGO_BIN_EXE_banger-net-helper");

/// This thread (and what it runs) in a new, empty network namespace.
fn in_new_netns() {
    // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this thread.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
}

/// A `sudo` that allows `sudo -n -- HELPER ...` only (as the sudoers rule
/// does), logs every call, and passes the caller as SUDO_UID.
fn fake_sudo(dir: &Path) -> PathBuf {
    let sudo = dir.join("sudo");
    std::fs::write(
        &sudo,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\n\
             if [ \"$1\" = -n ] && [ \"$2\" = -- ] && [ \"$3\" = {HELPER} ]; then\n\
             shift 2; SUDO_UID=4242 exec \"$@\"\nfi\n\
             echo 'sudo: a password is required' >&2; exit 1\n",
            log = dir.join("sudo.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    sudo
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn net(sudo: &Path, pool: u32) -> HostNet {
    let config = banger_config::Config {
        bridge_name: "bgrh0".into(),
        bridge_ipcidr: "10.77.0.0/24".parse().unwrap(),
        bridge_host: "10.77.0.1".parse().unwrap(),
        tap_pool_size: pool,
        ..Default::default()
    };
    HostNet::new(&config, Box::new(SystemRunner::with_sudo(sudo))).with_helper(HELPER.into())
}

fn taps() -> Vec<String> {
    let out = sh("ip -j link show master bgrh0");
    let v: serde_json::Value =
        serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
            .unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_vms_network_life_goes_through_the_helper_alone() {
    in_new_netns();
    let dir = tempfile::tempdir().unwrap();
    let sudo = fake_sudo(dir.path());
    let n = net(&sudo, 2);

    // The first boot: bridge, address, forwarding, the rules.
    n.ensure().unwrap();
    n.ensure().unwrap();
    assert!(sh("ip -o addr show dev bgrh0").contains("10.77.0.1/24"));
    let tables = sh("nft list tables");
    for t in ["ip banger_bgrh0", "ip6 banger_bgrh0", "bridge banger_bgrh0"] {
        assert!(tables.contains(&format!("table {t}")), "{tables}");
    }
    // A start takes a TAP for the caller; the pool is refilled around it.
    let tap = n.take_tap(&[]).unwrap();
    n.settle(&tap);
    let shown = sh(&format!("ip -d -j link show dev {tap}"));
    assert!(
        shown.contains("\"user\":4242"),
        "owned by the caller: {shown}"
    );
    n.refill(std::slice::from_ref(&tap)).unwrap();
    assert_eq!(taps().len(), 3, "one in use, two spare");
    // A stop or delete with a smaller pool: spares trimmed.
    net(&sudo, 0).refill(std::slice::from_ref(&tap)).unwrap();
    assert_eq!(taps(), std::slice::from_ref(&tap));
    // The daemon stops with nothing running: everything goes.
    n.teardown().unwrap();
    assert!(!sh("ip -o link show").contains("bgrh0"));
    assert!(!sh("nft list tables").contains("banger_bgrh0"));

    // Nothing but the helper went through sudo.
    let log = std::fs::read_to_string(dir.path().join("sudo.log")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(line.starts_with(&format!("-n -- {HELPER} ")), "{line}");
    }
}

#[test]
fn the_helper_refuses_what_is_not_bangers() {
    in_new_netns();
    let helper = |args: &[&str], uid: Option<&str>| {
        let mut c = Command::new(HELPER);
        c.args(args).env_remove("SUDO_UID");
        if let Some(u) = uid {
            c.env("SUDO_UID", u);
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The host's NIC (here a veth) and a veth named like a TAP of it.
    sh("ip link add nic0 type veth peer name nic0t0");

    let (ok, err) = helper(
        &["ensure", "nic0", "10.9.9.1/24", "1.1.1.1", "deny"],
        Some("0"),
    );
    assert!(!ok && err.contains("`nic0` is not a bridge"), "{err}");
    assert!(
        !sh("ip -o addr show dev nic0").contains("10.9.9.1"),
        "no address added"
    );
    let (ok, err) = helper(&["teardown", "nic0"], Some("0"));
    assert!(!ok && err.contains("not a bridge"), "{err}");
    for (bridge, dev) in [("nic0", "nic0t0"), ("bgrh0", "nic0"), ("nic0", "nic0")] {
        let (ok, err) = helper(&["tap-del", bridge, dev], Some("0"));
        assert!(
            !ok && err.contains("is not one of banger's TAP devices"),
            "{err}"
        );
    }
    assert!(sh("ip -o link show").contains("nic0t0"), "nothing deleted");

    // A bridge of banger's: TAPs for the caller only, new ones only.
    let (ok, err) = helper(
        &["ensure", "bgrh0", "10.77.0.1/24", "1.1.1.1", "deny"],
        Some("0"),
    );
    assert!(ok, "{err}");
    let (ok, err) = helper(&["tap-add", "bgrh0", "bgrh0t3"], None);
    assert!(!ok && err.contains("SUDO_UID"), "{err}");
    let (ok, err) = helper(&["tap-add", "bgrh0", "eth7"], Some("7"));
    assert!(!ok && err.contains("not one of banger's"), "{err}");
    assert!(helper(&["tap-add", "bgrh0", "bgrh0t3"], Some("7")).0);
    let (ok, err) = helper(&["tap-add", "bgrh0", "bgrh0t3"], Some("7"));
    assert!(!ok && err.contains("exists already"), "{err}");

    // Someone else's bridge (a port that is not a TAP of ours): torn down
    // to banger's part only, the bridge stays.
    sh(
        "ip link add br9 type bridge && ip link add br9p type veth peer name br9q && ip link set br9p master br9",
    );
    let (ok, err) = helper(&["teardown", "br9"], Some("0"));
    assert!(ok, "{err}");
    assert!(sh("ip -o link show").contains("br9:"), "the bridge stays");

    // Anything else: usage, nothing run.
    for args in [
        &["netns", "exec", "x", "sh"][..],
        &[
            "ensure",
            "bgrh0",
            "10.77.0.1/24",
            "1.1.1.1",
            "deny",
            "extra",
        ],
        &[
            "ensure",
            "bgrh0",
            "10.77.0.1/24",
            "1.1.1.1\"; include \"/etc/shadow",
            "deny",
        ],
        &[],
    ] {
        assert!(!helper(args, Some("0")).0, "{args:?}");
    }
}
