//! The warm pool with real guests (banger's golden Debian image under
//! QEMU): `warm_pool_size = 2` boots two VMs ahead; `vm list` marks them
//! and `daemon status` counts them; `vm run` claims one each time, and the
//! claimed VMs are each their own (name, machine-id, SSH host key, address,
//! a clock stepped to the host's even when the warm VM's was far off, a
//! hostname that resolves locally, the host's coding-agent credentials as
//! they are at the claim); `vm ssh` reaches a claimed VM by its
//! new name; the pool refills; idle auto-stop stops the users' VMs and
//! never a warm one; `--cold` leaves the pool alone; `daemon stop` takes
//! the warm VMs with it and leaves the users' running.

mod common;

use common::TestHome;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Waits until the pool holds `ready` ready VMs (none booting).
fn pool_filled(home: &TestHome, ready: u64) -> Value {
    let start = Instant::now();
    loop {
        let pool = home.status()["warm_pool"].clone();
        let image = &pool["images"][0];
        if image["ready"] == ready && image["booting"] == 0 {
            return pool;
        }
        assert!(
            start.elapsed() < Duration::from_secs(400),
            "the pool did not fill: {pool}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn warm_vms(home: &TestHome) -> Vec<Value> {
    let list = home.banger(&["vm", "list", "--json"]).ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .filter(|v| v["warm"] == "ready")
        .cloned()
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What a claimed VM says of itself.
#[derive(Debug)]
struct Facts {
    hostname: String,
    machine_id: String,
    host_key: String,
    clock: u64,
    address: String,
    resolves: String,
}

const PROBE: &str = "hostname; cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub; date +%s; \
     ip -4 -o addr show scope global | awk '{print $4}'; getent hosts \"$(hostname)\"";

fn claim(home: &TestHome, name: &str) -> Facts {
    let before = now();
    let out = home
        .banger(&["vm", "run", "--name", name, "--", "sh", "-c", PROBE])
        .ok();
    let after = now();
    assert!(
        out.stderr.contains("from the warm pool"),
        "{name} was not claimed: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    let facts = Facts {
        hostname: lines[0].into(),
        machine_id: lines[1].into(),
        host_key: lines[2].split_whitespace().nth(1).unwrap().into(),
        clock: lines[3].parse().unwrap(),
        address: lines[4].into(),
        resolves: lines[5].into(),
    };
    // The warm VM's clock was set to 2001; the claim stepped it to now.
    assert!(
        (before.saturating_sub(2)..=after + 2).contains(&facts.clock),
        "{name}'s clock {} is not the host's ({before}..{after})",
        facts.clock
    );
    facts
}

#[test]
fn warm_vms_are_claimed_each_its_own_and_leave_with_the_daemon() {
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:0\"\ndefault_image_name = \"golden\"\nwarm_pool_size = 2\n\
         auto_stop_stale_after = \"30s\"\nstats_poll_interval = \"2s\"\n",
    );
    home.with_golden_image("golden");

    let pool = pool_filled(&home, 2);
    assert_eq!(pool["size"], 2);
    assert_eq!(pool["memory_mib"], 2048, "what the warm VMs hold is shown");
    let text = home.banger(&["daemon", "status"]).ok().stdout;
    assert!(text.contains("golden 2 ready, 0 booting"), "{text}");
    let list = home.banger(&["vm", "list"]).ok().stdout;
    assert_eq!(list.matches("warm:ready").count(), 2, "{list}");
    let warm = warm_vms(&home);
    for vm in &warm {
        let name = vm["name"].as_str().unwrap();
        assert!(name.starts_with("warm-"), "{name}");
        home.banger(&["vm", "exec", name, "--", "date", "-s", "@1000000000"])
            .ok();
    }

    // A coding agent's credentials the host got after the pool booted.
    let auth = home.root().join("home/.local/share/opencode/auth.json");
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(&auth, "{\"token\":\"after-boot\"}").unwrap();

    let a = claim(&home, "a");
    let b = claim(&home, "b");
    assert_eq!((a.hostname.as_str(), b.hostname.as_str()), ("a", "b"));
    assert!(a.resolves.starts_with("127.0.1.1"), "{}", a.resolves);
    assert!(a.resolves.ends_with(" a") || a.resolves.ends_with("\ta"));
    assert_ne!(a.machine_id, b.machine_id);
    assert_eq!(a.machine_id.len(), 32, "{}", a.machine_id);
    assert_ne!(a.host_key, b.host_key);
    assert_ne!(a.address, b.address);
    // Both warm VMs went to the users: the ones listed before, renamed.
    let ids: Vec<Value> = ["a", "b"]
        .iter()
        .map(|n| home.banger(&["vm", "show", n, "--json"]).ok().json()["id"].clone())
        .collect();
    for vm in &warm {
        assert!(ids.contains(&vm["id"]), "{vm} was not claimed");
    }
    // banger's known_hosts follows the rename.
    let ssh = home.banger(&["vm", "ssh", "a", "--", "hostname"]).ok();
    assert_eq!(ssh.stdout.trim(), "a");
    let copied = home
        .banger(&[
            "vm",
            "ssh",
            "a",
            "--",
            "stat -c '%a %U' /root/.local/share/opencode/auth.json && cat /root/.local/share/opencode/auth.json",
        ])
        .ok();
    assert_eq!(copied.stdout, "600 root\n{\"token\":\"after-boot\"}");

    // The claims left the pool short: it fills again. Meanwhile the users'
    // idle VMs are stopped by auto-stop; warm VMs, idle since their boot,
    // never are (the claims above found them running after more than 30 s).
    pool_filled(&home, 2);
    let start = Instant::now();
    for vm in ["a", "b"] {
        while home.banger(&["vm", "show", vm, "--json"]).ok().json()["state"] != "stopped" {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{vm} was not auto-stopped"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    assert_eq!(warm_vms(&home).len(), 2, "auto-stop took a warm VM");
    let cold = home
        .banger(&["vm", "run", "--cold", "--name", "c", "--", "true"])
        .ok();
    assert!(!cold.stderr.contains("warm pool"), "{}", cold.stderr);
    assert_eq!(warm_vms(&home).len(), 2, "--cold left the pool alone");

    // The pool leaves with its daemon; the users' VMs stay.
    let warm_dirs: Vec<String> = warm_vms(&home)
        .iter()
        .map(|v| v["dir"].as_str().unwrap().to_owned())
        .collect();
    let c_pid = home.banger(&["vm", "show", "c", "--json"]).ok().json()["vmm_pid"]
        .as_i64()
        .unwrap();
    home.banger(&["daemon", "stop"]).ok();
    for dir in &warm_dirs {
        assert!(!std::path::Path::new(dir).exists(), "{dir} is left");
    }
    assert!(
        common::alive(c_pid as i32),
        "a user's VM went with the pool"
    );
    for vm in ["a", "b", "c"] {
        home.banger(&["vm", "delete", "--force", vm]).ok();
    }
}
