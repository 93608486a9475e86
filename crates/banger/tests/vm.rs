//! VMs through the CLI and a real daemon, booted under QEMU (TCG here):
//! Debian's cloud kernel imported by banger, and a small busybox image
//! whose init mounts /root from the fstab banger injects and starts the
//! agent banger injects.

mod common;

use common::{TestHome, alive, guest, kill};
use std::path::Path;

/// A live (not zombie) qemu process whose command line names the VM dir.
fn qemu_running_for(vm_dir: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        let pid: i32 = p.file_name().to_string_lossy().parse().unwrap_or(0);
        let cmdline =
            String::from_utf8_lossy(&std::fs::read(p.path().join("cmdline")).unwrap_or_default())
                .into_owned();
        pid > 0 && alive(pid) && cmdline.contains("qemu-system") && cmdline.contains(vm_dir)
    })
}

#[test]
fn vm_lifecycle_with_real_guests() {
    // Room for one guest (.2; .1 is the host), and no spare TAPs.
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:0\"\nstats_poll_interval = \"1s\"\nmetrics_poll_interval = \"1s\"\n\
         bridge_ipcidr = \"172.16.0.0/30\"\ntap_pool_size = 0\ndefault_dns = [\"192.0.2.53\"]\n",
    );
    let upstream = home.ns().with_upstream();
    let image = home.with_busybox("busy");

    // Refusals that must leave nothing behind.
    let missing = home.banger(&["vm", "create", "--image", "nope", "--name", "x"]);
    assert!(
        missing.stderr.contains("no image named `nope`"),
        "{}",
        missing.stderr
    );
    let no_default = home.banger(&["vm", "create"]);
    assert!(
        no_default
            .stderr
            .contains("no --image given and no default_image_name"),
        "{}",
        no_default.stderr
    );
    assert_eq!(
        home.banger(&["vm", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );

    // Create: boots and answers.
    let created = home
        .banger(&["vm", "create", "--image", "busy", "--name", "t1", "--json"])
        .ok();
    for step in ["clone: ", "inject: ", "boot: t1", "agent: "] {
        assert!(
            created.stderr.contains(step),
            "no {step:?} in:\n{}",
            created.stderr
        );
    }
    let vm = created.json();
    assert_eq!(vm["state"], "running");
    assert_eq!(vm["backend"], "qemu (tcg)");
    let dir = vm["dir"].as_str().unwrap().to_owned();
    assert!(qemu_running_for(&dir));

    // Network: the address from the pool, applied by the agent with the
    // name and DNS; reachable from the host, and out through the NAT.
    assert_eq!(vm["ip"], "172.16.0.2");
    let tap = vm["tap"].as_str().unwrap().to_owned();
    assert!(home.ns().links().contains(&tap), "{tap} exists");
    let (code, out) = guest(
        &dir,
        &[
            "sh",
            "-c",
            "ip -4 addr show eth0; ip route; hostname; cat /etc/resolv.conf",
        ],
    );
    assert_eq!(code, 0, "{out}");
    for want in [
        "inet 172.16.0.2/30",
        "default via 172.16.0.1",
        "t1\n",
        "nameserver 192.0.2.53",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    let (code, out) = home.ns().sh("busybox ping -c 1 -W 5 172.16.0.2");
    assert_eq!(code, 0, "host -> guest: {out}");
    let (code, out) = guest(&dir, &["ping", "-c", "1", "-W", "5", "10.200.0.2"]);
    assert_eq!(
        code, 0,
        "guest -> upstream works only when masqueraded (upstream has no route back): {out}"
    );
    drop(upstream);
    let exhausted = home.banger(&[
        "vm",
        "create",
        "--image",
        "busy",
        "--name",
        "t2",
        "--no-start",
    ]);
    assert!(
        exhausted
            .stderr
            .contains("no free guest address in 172.16.0.0/30 (1 in use by VMs)"),
        "{}",
        exhausted.stderr
    );
    assert_eq!(
        home.banger(&["vm", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused VM left no record"
    );
    let dup = home.banger(&["vm", "create", "--image", "busy", "--name", "t1"]);
    assert!(
        dup.stderr.contains("a VM named `t1` already exists"),
        "{}",
        dup.stderr
    );

    // The image's files were cloned, the user's image untouched.
    assert!(
        Path::new(&dir).join("rootfs.ext4").is_file()
            && Path::new(&dir).join("work.ext4").is_file()
    );
    let ports = home.banger(&["vm", "ports", "t1", "--json"]).ok().json();
    assert!(
        ports["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 8080),
        "{ports}"
    );
    let (code, out) = guest(
        &dir,
        &[
            "sh",
            "-c",
            "mount | grep ' /root '; echo kept > /root/note; sync",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("/dev/vdb on /root type ext4"),
        "work disk mounted at /root from the injected fstab: {out}"
    );

    // `vm exec`: through the daemon's relay to the agent; streams apart,
    // stdin forwarded, exit status and 128+N for a signal.
    let ran = home.banger(&[
        "vm",
        "exec",
        "t1",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (7, "out\n", "err\n")
    );
    let killed = home.banger(&["vm", "exec", "t1", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.code, 137, "{}", killed.stderr);
    let fed = home.banger_with_input(
        &[
            "vm",
            "exec",
            "t1",
            "--cwd",
            "/root",
            "--env",
            "X=y",
            "--",
            "sh",
            "-c",
            "pwd; echo $X; tr a-z A-Z",
        ],
        b"hello\n",
    );
    assert_eq!(
        (fed.code, fed.stdout.as_str()),
        (0, "/root\ny\nHELLO\n"),
        "{}",
        fed.stderr
    );
    let missing = home.banger(&["vm", "exec", "t1", "--", "no-such-tool"]);
    assert!(
        missing.stderr.contains("cannot run no-such-tool"),
        "{}",
        missing.stderr
    );

    // Deleting the image under a VM is refused.
    let refused = home.banger(&["image", "delete", "busy"]);
    assert!(
        refused.stderr.contains("image `busy` is used by VM(s) t1"),
        "{}",
        refused.stderr
    );

    // Stop / start: the work disk persists.
    home.banger(&["vm", "stop", "t1"]).ok();
    assert!(!qemu_running_for(&dir));
    let stopped = home.banger(&["vm", "exec", "t1", "--", "true"]);
    assert!(
        stopped.stderr.contains("VM `t1` is not running"),
        "{}",
        stopped.stderr
    );
    assert!(
        !home.ns().links().contains(&tap),
        "with tap_pool_size = 0 a stopped VM's TAP goes away"
    );
    assert_eq!(
        home.banger(&["vm", "show", "t1", "--json"]).ok().json()["state"],
        "stopped"
    );
    home.banger(&["vm", "start", "t1"]).ok();
    assert_eq!(guest(&dir, &["cat", "/root/note"]), (0, "kept\n".into()));

    // kill -9 of the daemon: the VM keeps running and is re-adopted.
    let vmm_pid = home.banger(&["vm", "show", "t1", "--json"]).ok().json()["vmm_pid"].clone();
    let daemon = home.daemon_pid().unwrap();
    kill(daemon, libc::SIGKILL);
    common::wait_gone(daemon);
    home.banger(&["daemon", "start"]).ok();
    let after = home.banger(&["vm", "show", "t1", "--json"]).ok().json();
    assert_eq!(
        (after["state"].clone(), after["vmm_pid"].clone()),
        ("running".into(), vmm_pid.clone())
    );
    assert!(
        home.banger(&["vm", "ports", "t1"])
            .ok()
            .stdout
            .contains("8080")
    );

    // The daemon samples the running VMM's resource use.
    let sampled = (0..50).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let v = home.banger(&["vm", "show", "t1", "--json"]).ok().json();
        v["rss_mib"].as_u64().filter(|r| *r > 0).map(|_| v)
    });
    let sampled = sampled.expect("no metrics within 10s");
    assert!(sampled["cpu_percent"].as_f64().is_some(), "{sampled}");
    assert!(home.banger(&["vm", "list"]).ok().stdout.contains('%'));

    // A VMM that dies is noticed by the daemon itself, with the console's end.
    let pid = vmm_pid.as_i64().unwrap() as i32;
    kill(pid, libc::SIGKILL);
    common::wait_gone(pid);
    let noticed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::read_to_string(home.log_file())
            .unwrap_or_default()
            .contains("VMM is gone")
    });
    assert!(noticed, "the daemon did not notice the dead VMM by itself");
    let crashed = home.banger(&["vm", "show", "t1", "--json"]).ok().json();
    assert_eq!(crashed["state"], "crashed");
    assert_eq!(crashed["last_error"], "the VMM exited unexpectedly");
    assert!(
        crashed["console_tail"]
            .as_str()
            .unwrap()
            .contains("banger-init"),
        "{crashed}"
    );
    let text = home.banger(&["vm", "show", "t1"]).ok().stdout;
    assert!(
        text.contains("state      crashed") && text.contains("console (last lines):"),
        "{text}"
    );
    assert!(
        home.banger(&["vm", "logs", "t1"])
            .ok()
            .stdout
            .contains("Linux version")
    );

    // Crashed VMs start again.
    home.banger(&["vm", "start", "t1"]).ok();
    let refused = home.banger(&["vm", "delete", "t1"]);
    assert!(
        refused
            .stderr
            .contains("VM `t1` is running; stop it first, or use --force"),
        "{}",
        refused.stderr
    );
    home.banger(&["vm", "delete", "t1", "--force"]).ok();
    assert!(!Path::new(&dir).exists(), "disks removed");
    assert!(!qemu_running_for(&dir), "no VMM left");
    assert_eq!(
        home.banger(&["vm", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
    assert!(image.is_file());
    assert!(
        !home.ns().links().iter().any(|l| l.starts_with("banger0t")),
        "no TAP left: {:?}",
        home.ns().links()
    );
    // The freed address is handed out again.
    let again = home
        .banger(&[
            "vm",
            "create",
            "--image",
            "busy",
            "--name",
            "t3",
            "--no-start",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(again["ip"], "172.16.0.2");
    home.banger(&["vm", "delete", "t3"]).ok();

    // A daemon that dies right after a VM booted (BANGER_FAULT, see
    // tests/crash.rs for the steps before): the next one adopts the VM,
    // running and reachable.
    home.crash_at(
        "vm-create:booted",
        &["vm", "create", "--image", "busy", "--name", "t4"],
    );
    let t4 = home.banger(&["vm", "show", "t4", "--json"]).ok().json();
    assert_eq!(t4["state"], "running", "{t4}");
    assert!(qemu_running_for(t4["dir"].as_str().unwrap()));
    let said = home
        .banger(&["vm", "exec", "t4", "--", "echo", "adopted"])
        .ok();
    assert_eq!(said.stdout, "adopted\n");
    home.banger(&["vm", "delete", "t4", "--force"]).ok();

    // A daemon that stops with no VM running takes its network along.
    assert!(home.ns().links().contains(&"banger0".to_owned()));
    home.banger(&["daemon", "stop"]).ok();
    let (_, rules) = home.ns().sh("nft list tables");
    assert!(
        !home.ns().links().contains(&"banger0".to_owned()) && !rules.contains("banger_banger0"),
        "{:?} {rules}",
        home.ns().links()
    );
}

/// Two VMs at once: distinct addresses on one bridge, spare TAPs kept at
/// tap_pool_size around them. By default neither reaches the other (not
/// its :22, not its :4096, not even a ping) while the host reaches both
/// and both reach the host; `allow_guest_to_guest = true` (a daemon
/// restart) lets them talk, the VMs running on through the switch.
#[test]
fn vms_are_kept_apart_unless_allowed() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\ntap_pool_size = 2\n");
    home.with_busybox("busy");
    let a = home.vm("a").image("busy").create();
    let b = home.vm("b").image("busy").create();
    let ip = |vm: &common::TestVm| vm.shown["ip"].as_str().unwrap().to_owned();
    let (ip_a, ip_b) = (ip(&a), ip(&b));
    assert_eq!((ip_a.as_str(), ip_b.as_str()), ("172.16.0.2", "172.16.0.3"));
    assert_ne!(a.shown["tap"], b.shown["tap"]);
    // Each serves "open" on :22 and :4096, to any number of connections.
    for vm in [&a, &b] {
        let serve = "printf '#!/bin/sh\\necho open\\n' > /tmp/open && chmod +x /tmp/open \
                     && for p in 22 4096; do nc -ll -p $p -e /tmp/open </dev/null >/dev/null 2>&1 & done";
        let (code, out) = vm.guest(&["sh", "-c", serve]);
        assert_eq!(code, 0, "{out}");
    }
    let reach = |from: &common::TestVm, to: &str, port: &str| {
        let (_, out) = from.guest(&["sh", "-c", &format!("nc -w 5 {to} {port} </dev/null")]);
        out.contains("open")
    };
    // The host reaches both guests (its own listener up first), both reach
    // the host.
    let from_host = |to: &str| {
        let (code, out) = home
            .ns()
            .sh(&format!("busybox nc -w 5 {to} 4096 </dev/null"));
        code == 0 && out.contains("open")
    };
    assert!(
        wait_until(|| from_host(&ip_a) && from_host(&ip_b)),
        "the host reaches both"
    );
    for vm in [&a, &b] {
        let (code, out) = vm.guest(&["ping", "-c", "1", "-W", "5", "172.16.0.1"]);
        assert_eq!(code, 0, "{} -> the host: {out}", vm.name);
    }
    for (from, to) in [(&a, &ip_b), (&b, &ip_a)] {
        for port in ["22", "4096"] {
            assert!(!reach(from, to, port), "{} reached {to}:{port}", from.name);
        }
        let (code, out) = from.guest(&["ping", "-c", "1", "-W", "2", to]);
        assert_ne!(code, 0, "{} pinged {to}: {out}", from.name);
    }
    // Routed through the host (each guest's route to the other via the
    // host's address, both ways) instead of bridged: refused as well.
    let via_host = |vm: &common::TestVm, peer: &str| {
        let (code, out) = vm.guest(&[
            "ip",
            "route",
            "replace",
            &format!("{peer}/32"),
            "via",
            "172.16.0.1",
        ]);
        assert_eq!(code, 0, "{out}");
    };
    via_host(&a, &ip_b);
    via_host(&b, &ip_a);
    assert!(!reach(&a, &ip_b, "4096"), "routed via the host");

    let list = home.banger(&["vm", "list"]).ok().stdout;
    assert!(
        list.contains("172.16.0.2") && list.contains("172.16.0.3"),
        "{list}"
    );
    let taps = |home: &TestHome| {
        home.ns()
            .links()
            .into_iter()
            .filter(|l| l.starts_with("banger0t"))
            .count()
    };
    assert_eq!(taps(&home), 4, "two in use, two spare");

    // Allowed: the daemon restarts with the key, the VMs run on.
    home.banger(&["daemon", "stop"]).ok();
    home.write_config(
        "web_listen_addr = \"127.0.0.1:0\"\ntap_pool_size = 2\nallow_guest_to_guest = true\n",
    );
    home.banger(&["daemon", "start"]).ok();
    for (from, to) in [(&a, &ip_b), (&b, &ip_a)] {
        for port in ["22", "4096"] {
            assert!(reach(from, to, port), "{} -> {to}:{port}", from.name);
        }
        let (code, out) = from.guest(&["ping", "-c", "1", "-W", "5", to]);
        assert_eq!(code, 0, "{} -> {to}: {out}", from.name);
    }
    let (_, rules) = home.ns().sh("nft list tables");
    assert!(!rules.contains("bridge banger_banger0"), "{rules}");

    home.banger(&["vm", "delete", "--force", "a"]).ok();
    home.banger(&["vm", "delete", "--force", "b"]).ok();
    assert_eq!(taps(&home), 2, "the pool stays at tap_pool_size");
}

/// What a guest reaches beyond its bridge: the host at the bridge address
/// and the outside through NAT, but no other address of the host (a
/// service bound to another interface) unless it is a configured DNS
/// server's port 53, and no link-local address (a cloud's metadata service
/// at 169.254.169.254), whatever route the guest is given.
#[test]
fn guests_reach_the_host_only_at_the_bridge_address() {
    // The host's veth address, 10.200.0.1, doubles as the guests' DNS.
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:0\"\ntap_pool_size = 0\ndefault_dns = \"10.200.0.1\"\n",
    );
    let upstream = home.ns().with_upstream();
    // Upstream holds the metadata address, routed to from the host as a
    // cloud host's is.
    upstream.ip(&["link", "set", "lo", "up"]);
    upstream.ip(&["addr", "add", "169.254.169.254/32", "dev", "lo"]);
    home.ns()
        .ip(&["route", "add", "169.254.169.254/32", "via", "10.200.0.2"]);
    let _services = [
        home.ns().serve_open(4000),
        home.ns().serve_open(53),
        upstream.serve_open(4000),
    ];
    home.with_busybox("busy");
    let vm = home.vm("g").image("busy").create();
    let reach = |to: &str, port: &str| {
        let (_, out) = vm.guest(&["sh", "-c", &format!("nc -w 5 {to} {port} </dev/null")]);
        out.contains("open")
    };
    assert!(
        wait_until(|| reach("172.16.0.1", "4000")),
        "the host at the bridge address"
    );
    assert!(reach("10.200.0.2", "4000"), "the outside through NAT");
    assert!(reach("10.200.0.1", "53"), "DNS at a host address");
    assert!(
        !reach("10.200.0.1", "4000"),
        "a host service on another interface"
    );
    assert!(!reach("169.254.169.254", "4000"), "the metadata address");
}

/// Polls `f` for up to a minute (a guest under emulation starts its
/// listeners when it gets to them).
fn wait_until(f: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    false
}

/// A guest that cannot boot (its root filesystem has no init, so the kernel
/// panics): `vm create` fails fast instead of waiting out its timeout, says
/// why with the console's end, and the VM is kept as `crashed` to inspect.
#[test]
fn a_kernel_panic_is_reported_as_a_crash() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\ntap_pool_size = 0\n");
    home.with_test_kernel("debian");
    let empty = common::mkfs(&home.root().join("noinit.ext4"), "64M", None);
    home.banger(&[
        "image",
        "register",
        "--name",
        "noinit",
        "--rootfs",
        empty.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();

    let started = std::time::Instant::now();
    let out = home.banger(&["vm", "create", "--image", "noinit", "--name", "broken"]);
    assert_eq!(out.code, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "failed fast, not at the 300 s timeout"
    );
    assert!(
        out.stderr
            .contains("error: VM `broken` did not become ready; its console ended with:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("banger-init: FATAL: the root filesystem on /dev/vda has no /sbin/init"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("caused by: the VM stopped after"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Kernel panic"), "{}", out.stderr);

    let vm = home.banger(&["vm", "show", "broken", "--json"]).ok().json();
    assert_eq!(vm["state"], "crashed");
    assert!(
        vm["last_error"]
            .as_str()
            .unwrap()
            .starts_with("did not become ready"),
        "{vm}"
    );
    assert!(
        vm["console_tail"]
            .as_str()
            .unwrap()
            .contains("Kernel panic"),
        "{vm}"
    );
    assert!(
        !home.ns().links().iter().any(|l| l.starts_with("banger0t")),
        "the failed boot's TAP went back to the (empty) pool: {:?}",
        home.ns().links()
    );
    home.banger(&["vm", "delete", "broken"]).ok();
}

/// auto_stop_stale_after: agent use, an open SSH connection, a quiet
/// `vm exec` and a quiet session keep a VM running past the limit; once
/// idle that long, the daemon stops it.
#[test]
fn idle_vms_are_stopped() {
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:0\"\nauto_stop_stale_after = \"10s\"\nstats_poll_interval = \"1s\"\n",
    );
    home.with_busybox("busy");
    let vm = home
        .banger(&[
            "vm", "create", "--image", "busy", "--name", "idle1", "--json",
        ])
        .ok()
        .json();
    let dir = vm["dir"].as_str().unwrap().to_owned();
    let state = || home.banger(&["vm", "show", "idle1", "--json"]).ok().json()["state"].clone();
    let wait = |secs: u64| std::thread::sleep(std::time::Duration::from_secs(secs));

    // Longer than the limit in all, with gaps well under it even when the
    // machine is busy.
    let used = std::time::Instant::now();
    while used.elapsed() < std::time::Duration::from_secs(14) {
        wait(1);
        home.banger(&["vm", "ports", "idle1"]).ok();
    }
    assert_eq!(state(), "running", "agent use is activity");

    // Something listening on the guest's port 22, and a connection held open.
    let (code, out) = guest(
        &dir,
        &[
            "sh",
            "-c",
            "nc -l -p 22 -e cat </dev/null >/dev/null 2>&1 &",
        ],
    );
    assert_eq!(code, 0, "{out}");
    wait(1);
    let mut client = home
        .ns()
        .command(Path::new("busybox"))
        .args(["nc", "172.16.0.2", "22"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait(14);
    assert_eq!(state(), "running", "an SSH connection is activity");
    client.kill().unwrap();
    client.wait().unwrap();

    // An agent mid-task prints nothing for longer than the limit. (Each
    // waits for a file the test makes: the guest's clock under emulation
    // is no measure of host seconds.)
    let mut exec = home
        .command(&common::banger_bin())
        .args(["vm", "exec", "idle1", "--", "sh", "-c"])
        .arg("until [ -e /tmp/exec-done ]; do sleep 1; done")
        .spawn()
        .unwrap();
    wait(14);
    assert_eq!(state(), "running", "a running vm exec is activity");
    assert_eq!(guest(&dir, &["touch", "/tmp/exec-done"]).0, 0);
    assert!(exec.wait().unwrap().success());
    home.banger(&[
        "vm",
        "session",
        "start",
        "idle1",
        "--name",
        "quiet",
        "--",
        "sh",
        "-c",
        "until [ -e /tmp/session-done ]; do sleep 1; done",
    ])
    .ok();
    wait(14);
    assert_eq!(state(), "running", "a running session is activity");
    assert_eq!(guest(&dir, &["touch", "/tmp/session-done"]).0, 0);

    let stopped = (0..60).any(|_| {
        wait(1);
        state() == "stopped"
    });
    assert!(stopped, "the idle VM was not stopped");
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(
        log.contains("stopping idle VM (auto_stop_stale_after)"),
        "{log}"
    );
    assert!(!qemu_running_for(&dir));
}

/// A guest stuck on its disk (seen under TCG: a request that never
/// completes) prints the kernel's hung-task report and goes quiet. Here the
/// guest prints that report itself and then idles: a `vm exec` waiting on
/// it ends with the reason instead of waiting for ever, and `vm show` says
/// it while the VM still runs. (A guest that keeps working after such a
/// report is not stuck: vmm::stall's unit tests.)
#[test]
fn a_stuck_guest_is_reported_not_waited_on() {
    let home =
        TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\nstats_poll_interval = \"1s\"\n");
    home.with_busybox("busy");
    home.banger(&["vm", "create", "--image", "busy", "--name", "stuck"])
        .ok();

    let started = std::time::Instant::now();
    let out = home.banger(&[
        "vm",
        "exec",
        "stuck",
        "--",
        "sh",
        "-c",
        "echo '<3>INFO: task jbd2/vda-8:112 blocked for more than 120 seconds.' >/dev/kmsg; \
         sleep 240",
    ]);
    // Unnoticed, the command would end well after its 240 s, with status 0.
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("the guest is stuck: its kernel reports \"INFO: task jbd2/vda-8:112 blocked for more than 120 seconds.\""),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(200),
        "said when certain, not after the guest's sleep"
    );

    let shown = |_| home.banger(&["vm", "show", "stuck", "--json"]).ok().json();
    let vm = (0..30)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            shown(i)
        })
        .find(|vm| vm["last_error"].as_str().is_some())
        .expect("the monitor recorded the stall");
    assert_eq!(vm["state"], "running", "{vm}");
    assert!(
        vm["last_error"]
            .as_str()
            .unwrap()
            .starts_with("the guest is stuck"),
        "{vm}"
    );
    home.banger(&["vm", "stop", "stuck"]).ok();
    assert_eq!(shown(0)["state"], "stopped");
    home.banger(&["vm", "delete", "stuck"]).ok();
}

/// A failure while the VM's disks are made (here: a root filesystem with no
/// room for the agent) removes the half-made VM: no record, no directory,
/// and its address is free again.
#[test]
fn a_failed_create_leaves_nothing_behind() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let tree = home.root().join("full-tree");
    std::fs::create_dir_all(tree.join("sbin")).unwrap();
    std::fs::write(tree.join("sbin/init"), "#!/bin/sh\n").unwrap();
    // Incompressible and unsparse: it really takes the space.
    let filler: Vec<u8> = (0..13_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tree.join("filler"), filler).unwrap();
    let full = common::mkfs(&home.root().join("full.ext4"), "16M", Some(&tree));
    home.banger(&[
        "image",
        "register",
        "--name",
        "full",
        "--rootfs",
        full.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();

    let out = home.banger(&["vm", "create", "--image", "full", "--name", "f1"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("installing banger's guest parts into the VM's disks"),
        "{}",
        out.stderr
    );
    assert_eq!(
        home.banger(&["vm", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let vms = home.root().join("data/banger/vms");
    let left: Vec<_> = std::fs::read_dir(&vms)
        .unwrap_or_else(|e| panic!("{}: {e}", vms.display()))
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", vms.display());
    let staging = home.root().join("data/banger/tmp");
    let staged: Vec<_> = std::fs::read_dir(&staging)
        .unwrap_or_else(|e| panic!("{}: {e}", staging.display()))
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(staged.is_empty(), "staging: {staged:?}");
}

/// The host's coding-agent credentials reach the guest's /root at start,
/// root-owned 0600, and nowhere else: not the daemon log, `vm show`, the
/// console log or the web UI.
#[test]
fn agent_credentials_reach_the_guest_and_nowhere_else() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_busybox("busy");
    let files = [
        (".local/share/opencode/auth.json", "OPENCODE-7f3a9c"),
        (".claude/.credentials.json", "CLAUDE-51be02"),
        (".pi/agent/auth.json", "PI-c4d8e1"),
    ];
    for (rel, marker) in files {
        let p = home.root().join("home").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{{\"token\":\"{marker}\"}}\n")).unwrap();
    }
    let vm = home.vm("creds").image("busy").create();
    for (rel, marker) in files {
        let guest_path = format!("/root/{rel}");
        assert_eq!(
            vm.run(&["cat", &guest_path]),
            format!("{{\"token\":\"{marker}\"}}")
        );
        assert_eq!(vm.run(&["stat", "-c", "%a %u", &guest_path]), "600 0");
    }

    let url = home.status()["web_url"].as_str().unwrap().to_owned();
    let web = home
        .ns()
        .command(Path::new("busybox"))
        .args(["wget", "-qO-", &url])
        .output()
        .unwrap();
    assert!(web.status.success());
    let said = [
        String::from_utf8_lossy(&web.stdout).into_owned(),
        std::fs::read_to_string(home.log_file()).unwrap(),
        home.banger(&["vm", "show", "creds", "--json"]).ok().stdout,
        std::fs::read_to_string(Path::new(&vm.dir).join("console.log")).unwrap(),
    ];
    for (_, marker) in files {
        for text in &said {
            assert!(!text.contains(marker), "{marker} leaked into:\n{text}");
        }
    }
    assert!(
        said[1].contains("synced the coding agents' credentials"),
        "the log says which were synced"
    );
}
