//! banger's golden image (Debian bookworm with systemd, built from Debian
//! packages by scripts/build-golden-image.sh) boots as a banger VM: the
//! injected systemd unit starts the agent, the work disk is /root, sshd is
//! configured key-only with this VM's own host keys, and a stop is a clean
//! systemd shutdown.

mod common;

use common::TestHome;
use std::path::Path;

#[test]
fn debian_guest_runs_the_injected_units() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_golden_image("bookworm");
    let deb1 = home.vm("deb1").image("bookworm").create();
    let (vm, dir) = (&deb1.shown, &deb1.dir);
    let run = |argv: &[&str]| deb1.run(argv);

    assert_eq!(
        run(&["systemctl", "is-active", "banger-vsock-agent"]),
        "active"
    );
    assert_eq!(run(&["findmnt", "-no", "SOURCE", "/root"]), "/dev/vdb");
    let key = std::fs::read_to_string(home.ssh_key().with_extension("pub")).unwrap();
    assert_eq!(run(&["cat", "/root/.ssh/authorized_keys"]), key.trim());
    assert_eq!(
        run(&[
            "stat",
            "-c",
            "%a %U",
            "/root/.ssh",
            "/root/.ssh/authorized_keys"
        ]),
        "700 root\n600 root"
    );
    // This VM's own host key, made at first boot (the image has none).
    let fingerprint = run(&["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    assert!(fingerprint.contains("ED25519"), "{fingerprint}");
    let sshd = run(&["sshd", "-T"]);
    for want in [
        "permitrootlogin yes",
        "passwordauthentication no",
        "strictmodes no",
    ] {
        assert!(sshd.lines().any(|l| l == want), "sshd -T lacks {want:?}");
    }
    assert_eq!(run(&["systemctl", "is-active", "ssh"]), "active");

    // `vm ssh`: the system ssh with banger's key, trusting only the host
    // key banger learned through the agent.
    let ip = vm["ip"].as_str().unwrap();
    assert_eq!(vm["ssh_host_keys"], true);
    let known = std::fs::read_to_string(home.root().join("config/banger/ssh/known_hosts")).unwrap();
    let host_key = run(&["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    let key_part: Vec<&str> = host_key.split_whitespace().take(2).collect();
    assert!(
        known.contains(&format!("{ip} {} {}", key_part[0], key_part[1])),
        "{known}"
    );
    let uname = home
        .banger(&["vm", "ssh", "deb1", "--", "uname", "-r"])
        .ok();
    assert_eq!(uname.stdout.trim(), run(&["uname", "-r"]));
    assert_eq!(home.banger(&["vm", "ssh", "deb1", "--", "exit 3"]).code, 3);
    let ports = home.banger(&["vm", "ports", "deb1"]).ok().stdout;
    assert!(
        ports.contains(&format!("guest address {ip}"))
            && ports
                .lines()
                .any(|l| l.contains(" 22 ") && l.contains("sshd")),
        "{ports}"
    );
    // A host key that is not the guest's is refused, never accepted.
    let forged = known.replace(
        key_part[1],
        "AAAAC3NzaC1lZDI1NTE5AAAAIOv1lDTa0Kq5qGmWTyD0wm7FcT4ZbYVaOTVnBqJ3rB7s",
    );
    std::fs::write(home.root().join("config/banger/ssh/known_hosts"), forged).unwrap();
    let refused = home.banger(&["vm", "ssh", "deb1", "--", "true"]);
    assert_eq!(refused.code, 255, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("Host key verification failed"),
        "{}",
        refused.stderr
    );
    std::fs::write(home.root().join("config/banger/ssh/known_hosts"), &known).unwrap();
    assert_ne!(
        run(&["cat", "/etc/machine-id"]),
        "",
        "systemd gave the VM a machine id"
    );

    // A stop is a clean shutdown through systemd; the next boot finds the disk as left.
    run(&["sh", "-c", "echo persisted > /root/mark"]);
    home.banger(&["vm", "stop", "deb1"]).ok();
    let console = std::fs::read_to_string(Path::new(dir).join("console.log")).unwrap();
    assert!(
        console.contains("reboot: Restarting system"),
        "clean systemd shutdown expected"
    );
    home.banger(&["vm", "start", "deb1"]).ok();
    assert_eq!(run(&["cat", "/root/mark"]), "persisted");
    let fp_again = run(&["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    assert_eq!(
        fp_again, fingerprint,
        "host keys are kept across restarts of the same VM"
    );
    home.banger(&["vm", "delete", "deb1", "--force"]).ok();
}
