//! The Firecracker backend against a real `firecracker` binary, given in
//! FIRECRACKER_BIN (Firecracker is in no Debian or crate registry; build it
//! from its public source outside this repository, see README "Test").
//! Where KVM runs guests, the VM must come up like a QEMU one. On hosts whose
//! KVM cannot run ordinary guests (nested paravirtual KVM, as on banger's CI
//! machines), Firecracker accepts the configuration and InstanceStart, the
//! guest then fails, and banger must say so and clean up.

mod common;

use common::{TestHome, alive, guest};

fn firecracker_processes(vm_dir: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            let pid: i32 = p.file_name().to_string_lossy().parse().unwrap_or(0);
            let cmdline = String::from_utf8_lossy(
                &std::fs::read(p.path().join("cmdline")).unwrap_or_default(),
            )
            .into_owned();
            pid > 0 && alive(pid) && cmdline.contains("--api-sock") && cmdline.contains(vm_dir)
        })
        .count()
}

#[test]
fn firecracker_is_configured_started_and_its_failure_reported() {
    let Some(fc) = std::env::var_os("FIRECRACKER_BIN") else {
        eprintln!("skipped: FIRECRACKER_BIN is not set");
        return;
    };
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nvmm = \"firecracker\"\nfirecracker_bin = \"{}\"\ntap_pool_size = 0\n",
        fc.to_string_lossy()
    ));
    home.with_busybox("busy");

    let out = home.banger(&["vm", "create", "--image", "busy", "--name", "fc1"]);
    assert!(
        out.stderr.contains("boot: fc1 (firecracker)"),
        "{}",
        out.stderr
    );
    let vm = home.banger(&["vm", "show", "fc1", "--json"]).ok().json();
    let dir = vm["dir"].as_str().unwrap().to_owned();
    let fc_log = std::fs::read_to_string(std::path::Path::new(&dir).join("firecracker.log"))
        .unwrap_or_default();
    // banger got past InstanceStart only if Firecracker accepted every
    // configuration call and the start: the agent wait follows it.
    assert!(
        out.stderr.contains("agent: waiting for the guest agent"),
        "{}",
        out.stderr
    );
    assert_eq!(vm["backend"], "firecracker");
    if out.code == 0 {
        // A host where KVM runs guests: a working VM.
        assert_eq!(vm["state"], "running");
        assert_eq!(guest(&dir, &["cat", "/proc/cmdline"]).0, 0);
        home.banger(&["vm", "stop", "fc1"]).ok();
    } else {
        eprintln!("guest failed as expected on this host:\n{}", out.stderr);
        assert!(
            out.stderr
                .contains("error: VM `fc1` did not become ready; its console ended with:"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("firecracker.log ended with:"),
            "Firecracker's own account is shown: {}",
            out.stderr
        );
        let started = fc_log
            .split("received a Put request on \"/actions\" with body \"{\\\"action_type\\\":\\\"InstanceStart\\\"}\"")
            .nth(1)
            .unwrap_or_else(|| panic!("no InstanceStart in:\n{fc_log}"));
        assert!(
            started.contains("The request was executed successfully. Status code: 204"),
            "InstanceStart succeeded: {fc_log}"
        );
        assert!(
            vm["last_error"].as_str().unwrap().contains("firecracker: "),
            "Firecracker's first error is recorded: {vm}"
        );
        assert_eq!(vm["state"], "crashed");
        assert!(
            vm["last_error"]
                .as_str()
                .unwrap()
                .starts_with("did not become ready"),
            "{vm}"
        );
    }
    assert_eq!(firecracker_processes(&dir), 0, "no Firecracker left");
    assert!(
        !home.ns().links().iter().any(|l| l.starts_with("banger0t")),
        "the TAP went with the VM: {:?}",
        home.ns().links()
    );
    home.banger(&["vm", "delete", "fc1"]).ok();
    assert!(!std::path::Path::new(&dir).exists());
}
