//! A pulled image boots as a banger VM: banger's golden Debian image, made
//! an OCI image and pushed to a registry in the test's network namespace,
//! is pulled, booted, and reached with `vm ssh`; so is the same system
//! running OpenRC.

mod common;

use common::TestHome;
use common::registry::{Layout, Registry};
use std::fs;

#[test]
fn a_pulled_debian_image_boots_and_answers_over_ssh() {
    let (layout, tag) = Layout::golden();
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let registry = Registry::start_in(home.ns());
    let reference = registry.push(&layout, &tag, "banger/debian:bookworm");

    let image = home
        .banger(&[
            "image",
            "pull",
            &reference,
            "--kernel-ref",
            "debian",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(image["name"], "debian-bookworm");
    home.banger(&[
        "vm",
        "create",
        "--image",
        "debian-bookworm",
        "--name",
        "pulled",
    ])
    .ok();
    let os = home
        .banger(&["vm", "ssh", "pulled", "--", "cat", "/etc/os-release"])
        .ok()
        .stdout;
    assert!(os.contains("Debian GNU/Linux 12 (bookworm)"), "{os}");
    // The work disk is /root, seeded from the image's own /root.
    let root = home
        .banger(&[
            "vm",
            "ssh",
            "pulled",
            "--",
            "findmnt -no SOURCE /root && test -f /root/.bashrc && echo seeded",
        ])
        .ok()
        .stdout;
    assert_eq!(root, "/dev/vdb\nseeded\n");
    home.banger(&["vm", "delete", "--force", "pulled"]).ok();
}

/// `image pull REFERENCE --name NAME` on the test kernel, which must succeed.
fn pull_as(home: &TestHome, reference: &str, name: &str) {
    home.banger(&[
        "image",
        "pull",
        reference,
        "--kernel-ref",
        "debian",
        "--name",
        name,
    ])
    .ok();
}

/// Pulled OpenRC and runit images (Debian's sysvinit running OpenRC and
/// runit as init, images/openrc and images/runit, as OCI images) boot with
/// the agent as their init's service, and `vm ssh` reaches the sshd that
/// init started.
#[test]
fn pulled_openrc_and_runit_images_run_the_agent_as_their_inits_service() {
    let layouts = ["openrc", "runit"].map(|r| std::thread::spawn(move || Layout::recipe(r)));
    let layouts = layouts.map(|t| t.join().unwrap());
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let registry = Registry::start_in(home.ns());
    for ((layout, tag), (name, pid1, status, running)) in layouts.iter().zip([
        (
            "openrc",
            "init",
            "rc-service banger-vsock-agent status",
            "started",
        ),
        ("runit", "runit", "sv status banger-vsock-agent", "run: "),
    ]) {
        let reference = registry.push(layout, tag, &format!("banger/{name}:1"));
        pull_as(&home, &reference, name);
        let vm = format!("{name}1");
        home.banger(&["vm", "create", "--image", name, "--name", &vm])
            .ok();
        let ssh = |cmd: &str| home.banger(&["vm", "ssh", &vm, "--", cmd]).ok().stdout;
        assert_eq!(ssh("cat /proc/1/comm"), format!("{pid1}\n"));
        let said = ssh(status);
        assert!(
            said.contains(running),
            "the agent is {name}'s service: {said}"
        );
        assert_eq!(ssh("findmnt -no SOURCE /root"), "/dev/vdb\n");
        home.banger(&["vm", "delete", "--force", &vm]).ok();
    }
}

/// A container image with no init (busybox, no systemd, no sshd): the
/// agent is its pid 1, mounts the work disk, runs the first-boot sshd
/// install (which finds no package manager here), and stops it cleanly.
#[test]
fn a_container_image_without_init_runs_the_agent_as_pid_1() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    layout.new_image("box");
    layout.layer("box", |root| {
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in ["sh", "cat"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        fs::create_dir_all(root.join("root")).unwrap();
        fs::write(root.join("root/hello"), "from the image\n").unwrap();
    });
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let registry = Registry::start_in(home.ns());
    let reference = registry.push(&layout, "box", "banger/box:1");
    pull_as(&home, &reference, "box");
    home.banger(&["vm", "create", "--image", "box", "--name", "c1"])
        .ok();
    let exec = |cmd: &str| {
        home.banger(&["vm", "exec", "c1", "--", "/bin/busybox", "sh", "-c", cmd])
            .ok()
            .stdout
    };
    assert_eq!(
        exec("/bin/busybox readlink /proc/1/exe"),
        "/usr/local/lib/banger/banger-vsock-agent\n"
    );
    assert_eq!(
        exec("/bin/busybox grep -c ' /root ext4 ' /proc/mounts"),
        "1\n"
    );
    assert_eq!(exec("/bin/busybox cat /root/hello"), "from the image\n");
    assert!(
        exec("/bin/busybox touch /written && echo rw").contains("rw"),
        "/ is read-write"
    );
    // The first-boot install ran, and says why it could not install sshd.
    let mut log = String::new();
    for _ in 0..50 {
        log = exec("/bin/busybox cat /var/log/banger-install-sshd.log 2>/dev/null; true");
        if !log.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        log.contains("no known package manager"),
        "{log}\nconsole:\n{}",
        home.banger(&["vm", "logs", "c1"]).stdout
    );
    // No sshd: `vm ssh` says why. Once the guest has a host key (as after
    // the first-boot install), `vm ssh` learns it without a restart.
    let no_ssh = home.banger(&["vm", "ssh", "c1", "--", "true"]);
    assert_ne!(no_ssh.code, 0);
    assert!(
        no_ssh.stderr.contains("has no sshd host keys yet"),
        "{}",
        no_ssh.stderr
    );
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBangerTestKeyBangerTestKeyBangerTestKey0";
    exec(&format!(
        "/bin/busybox mkdir -p /etc/ssh && echo '{key} root@c1' > /etc/ssh/ssh_host_ed25519_key.pub"
    ));
    let _ = home.banger(&["vm", "ssh", "c1", "--", "true"]); // no sshd to answer
    let vm = home.banger(&["vm", "show", "c1", "--json"]).ok().json();
    assert_eq!(vm["ssh_host_keys"], true, "{vm}");
    let known = fs::read_to_string(home.root().join("config/banger/ssh/known_hosts")).unwrap();
    assert!(known.contains(key), "{known}");
    // A clean stop (the agent reboots the guest) and a second boot.
    home.banger(&["vm", "stop", "c1"]).ok();
    let vm = home.banger(&["vm", "show", "c1", "--json"]).ok().json();
    assert_eq!(vm["state"], "stopped", "{vm}");
    home.banger(&["vm", "start", "c1"]).ok();
    assert_eq!(exec("/bin/busybox cat /written && echo kept"), "kept\n");
    home.banger(&["vm", "delete", "--force", "c1"]).ok();
}
