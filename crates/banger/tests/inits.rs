//! Guests whose init is not systemd, built from Debian packages like the
//! golden image: sysvinit running OpenRC (images/openrc) and runit as init
//! (images/runit). banger injects its agent as that init's own service, and
//! they are used as the systemd guests are: the agent answers, /root is the
//! work disk, `vm ssh` reaches sshd started by the init with this VM's own
//! host keys, a stop is the init's own clean shutdown, and the work disk
//! keeps its data across a restart. Create -> ready is printed for each
//! beside the systemd golden image, same kernel, same run.

mod common;

use common::TestHome;
use std::path::Path;
use std::time::Instant;

#[test]
fn openrc_and_runit_guests_run_the_agent_as_their_own_service() {
    // The images build side by side (debootstrap waits on the network and
    // the disk more than on a core); cached after the first run.
    let golden = std::thread::spawn(common::golden_image);
    let images: Vec<_> = ["openrc", "runit"]
        .map(|recipe| std::thread::spawn(move || (recipe, common::init_image(recipe))))
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    golden.join().unwrap();
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_golden_image("systemd");
    for (recipe, image) in &images {
        home.register_image(recipe, image, "debian");
    }
    let mut ready = Vec::new();
    for (image, pid1, service, stopping) in [
        ("systemd", "systemd", None, "reboot: Restarting system"),
        (
            "openrc",
            "init",
            Some(&["rc-service", "banger-vsock-agent", "status"][..]),
            "Stopping banger-vsock-agent",
        ),
        (
            "runit",
            "runit",
            Some(&["sv", "status", "banger-vsock-agent"][..]),
            "leave stage",
        ),
    ] {
        let t = Instant::now();
        let vm = home.vm(&format!("{image}1")).image(image).create();
        ready.push((image, t.elapsed()));
        assert_eq!(vm.run(&["cat", "/proc/1/comm"]), pid1);
        if let Some(status) = service {
            let s = vm.run(status);
            assert!(
                s.contains("started") || s.starts_with("run:"),
                "{image}: {s}"
            );
        }
        assert_eq!(vm.run(&["findmnt", "-no", "SOURCE", "/root"]), "/dev/vdb");
        // sshd, started by the init, with this VM's own host key.
        let host_key = vm.run(&["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
        assert!(host_key.starts_with("ssh-ed25519 "), "{image}: {host_key}");
        let name = vm.name.clone();
        let uname = home.banger(&["vm", "ssh", &name, "--", "uname", "-r"]).ok();
        assert_eq!(uname.stdout.trim(), vm.run(&["uname", "-r"]));

        // A stop through the agent is the init's own shutdown; the next
        // boot finds the work disk as it was left.
        vm.run(&["sh", "-c", "echo kept > /root/mark"]);
        home.banger(&["vm", "stop", &name]).ok();
        let console = std::fs::read_to_string(Path::new(&vm.dir).join("console.log")).unwrap();
        assert!(
            console.contains(stopping),
            "{image}: no {stopping:?} on the console:\n{}",
            &console[console.len().saturating_sub(3000)..]
        );
        home.banger(&["vm", "start", &name]).ok();
        assert_eq!(vm.run(&["cat", "/root/mark"]), "kept");
        home.banger(&["vm", "delete", &name, "--force"]).ok();
    }
    eprintln!("vm create -> ready, same kernel, one run (TCG): {ready:?}");
}
