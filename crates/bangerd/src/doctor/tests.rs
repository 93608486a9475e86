use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A host in a temp dir: PATH holds scripts that print a version.
struct FakeHost {
    _dir: tempfile::TempDir,
    host: Host,
    bin: PathBuf,
    paths: Paths,
}

impl FakeHost {
    fn new(tools: &[&str]) -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let dev = dir.path().join("dev");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dev.join("net")).unwrap();
        std::fs::create_dir_all(dir.path().join("sys/module")).unwrap();
        // A regular file stands in for the tun device: doctor only opens it.
        std::fs::write(dev.join("net/tun"), "").unwrap();
        let env = banger_config::Env {
            home: Some(dir.path().join("home")),
            tmp_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let fake = FakeHost {
            host: Host {
                path: vec![bin.clone()],
                dev_root: dev,
                sys_root: dir.path().join("sys"),
                is_root: true,
                net_helper: None,
            },
            paths: Paths::resolve(&env).unwrap(),
            bin,
            _dir: dir,
        };
        for t in tools {
            fake.script(t, &format!("echo '{t} 1.0'"));
        }
        fake
    }

    fn script(&self, name: &str, body: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    async fn run(&self, config: &Config) -> DoctorReport {
        let mut streamed = Vec::new();
        let report = run(
            &self.host,
            config,
            &self.paths,
            Some(Path::new("/agent")),
            |c| {
                streamed.push(c);
                async {}
            },
        )
        .await;
        assert_eq!(streamed, report.checks, "every check is streamed, in order");
        report
    }
}

const ALL: &[&str] = &[
    "depmod",
    "qemu-system-x86_64",
    "vhost-device-vsock",
    "mkfs.ext4",
    "debugfs",
    "e2fsck",
    "ip",
    "ssh",
    "git",
    "nft",
];

fn check<'a>(r: &'a DoctorReport, name: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {r:#?}"))
}

#[tokio::test]
async fn a_complete_host_without_kvm_uses_qemu_tcg() {
    let fake = FakeHost::new(ALL);
    let r = fake.run(&Config::default()).await;
    assert_eq!(check(&r, "kvm").status, CheckStatus::Warn);
    assert_eq!(check(&r, "tool:mkfs.ext4").status, CheckStatus::Ok);
    assert!(check(&r, "tool:mkfs.ext4").detail.contains("mkfs.ext4 1.0"));
    assert_eq!(check(&r, "tool:firecracker").status, CheckStatus::Warn);
    let vmm = check(&r, "vmm");
    assert_eq!(vmm.status, CheckStatus::Ok);
    assert!(
        vmm.detail.contains("qemu (tcg)") && vmm.detail.contains("/dev/kvm does not exist"),
        "{}",
        vmm.detail
    );
    assert_eq!(r.auto_vmm.as_deref(), Some("qemu (tcg)"));
    assert_eq!(check(&r, "sudo").detail, "not needed: running as root");
    assert_ne!(r.overall(), CheckStatus::Fail, "{r:#?}");
}

#[tokio::test]
async fn missing_required_tool_fails_with_a_hint() {
    let fake = FakeHost::new(
        &ALL.iter()
            .copied()
            .filter(|t| *t != "debugfs")
            .collect::<Vec<_>>(),
    );
    let r = fake.run(&Config::default()).await;
    let c = check(&r, "tool:debugfs");
    assert_eq!(c.status, CheckStatus::Fail);
    assert_eq!(c.hint.as_deref(), Some("apt-get install e2fsprogs"));
    assert_eq!(r.overall(), CheckStatus::Fail);
}

#[tokio::test]
async fn missing_nft_only_warns() {
    let fake = FakeHost::new(
        &ALL.iter()
            .copied()
            .filter(|t| *t != "nft")
            .collect::<Vec<_>>(),
    );
    let r = fake.run(&Config::default()).await;
    assert_eq!(check(&r, "tool:nft").status, CheckStatus::Warn);
    assert_ne!(r.overall(), CheckStatus::Fail);
}

#[tokio::test]
async fn no_vmm_at_all_fails() {
    let fake = FakeHost::new(&["mkfs.ext4", "debugfs", "e2fsck", "ip", "ssh", "git", "nft"]);
    let r = fake.run(&Config::default()).await;
    let vmm = check(&r, "vmm");
    assert_eq!(vmm.status, CheckStatus::Fail);
    assert!(
        vmm.detail
            .contains("qemu-system-x86_64 and vhost-device-vsock are missing"),
        "{}",
        vmm.detail
    );
    assert_eq!(r.auto_vmm, None);
}

#[tokio::test]
async fn configured_firecracker_without_kvm_fails() {
    let fake = FakeHost::new(ALL);
    fake.script("firecracker", "echo 'Firecracker v1.13.1'");
    let config = Config {
        vmm: VmmChoice::Firecracker,
        ..Config::default()
    };
    let r = fake.run(&config).await;
    assert!(
        check(&r, "tool:firecracker")
            .detail
            .contains("Firecracker v1.13.1")
    );
    assert_eq!(check(&r, "kvm").status, CheckStatus::Fail);
    assert!(check(&r, "vmm").detail.contains("Firecracker needs KVM"));
}

#[tokio::test]
async fn a_tool_that_prints_nothing_is_broken() {
    let fake = FakeHost::new(ALL);
    fake.script("git", "exit 3");
    let r = fake.run(&Config::default()).await;
    let c = check(&r, "tool:git");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.detail.contains("printed nothing"), "{}", c.detail);
}

#[tokio::test]
async fn configured_binary_path_is_used() {
    let fake = FakeHost::new(ALL);
    let other = fake.bin.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let fc = other.join("fc");
    std::fs::write(&fc, "#!/bin/sh\necho 'Firecracker v1.12.0'\n").unwrap();
    std::fs::set_permissions(&fc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = Config {
        firecracker_bin: Some(fc.clone()),
        ..Config::default()
    };
    let r = fake.run(&config).await;
    assert!(
        check(&r, "tool:firecracker")
            .detail
            .starts_with(&fc.display().to_string())
    );
}

#[tokio::test]
async fn missing_tun_and_agent_fail() {
    let fake = FakeHost::new(ALL);
    std::fs::remove_file(fake.host.dev_root.join("net/tun")).unwrap();
    let r = fake.run(&Config::default()).await;
    assert_eq!(check(&r, "tun").status, CheckStatus::Fail);
    let none = run(
        &fake.host,
        &Config::default(),
        &fake.paths,
        None,
        |_| async {},
    )
    .await;
    assert_eq!(check(&none, "agent").status, CheckStatus::Fail);
}

#[tokio::test]
async fn non_root_without_sudo_fails() {
    let mut fake = FakeHost::new(ALL);
    fake.host.is_root = false;
    let r = fake.run(&Config::default()).await;
    assert!(
        check(&r, "sudo")
            .detail
            .contains("banger-net-helper is not installed"),
        "{:?}",
        check(&r, "sudo")
    );
    fake.host.net_helper = Some("/usr/local/lib/banger/banger-net-helper".into());
    let r = fake.run(&Config::default()).await;
    assert_eq!(check(&r, "sudo").status, CheckStatus::Fail);
    // Only `sudo -n -l HELPER` is asked: the narrow rule, not `sudo true`.
    fake.script(
        "sudo",
        "[ \"$*\" = \"-n -l /usr/local/lib/banger/banger-net-helper\" ] && exit 0; exit 1",
    );
    let r = fake.run(&Config::default()).await;
    assert_eq!(
        check(&r, "sudo").status,
        CheckStatus::Ok,
        "{:?}",
        check(&r, "sudo")
    );
}
