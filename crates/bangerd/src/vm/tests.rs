//! The VM lifecycle with no VM and no root: a fake VMM (vmm/fake.rs) whose
//! "guest" is a sleeping process plus a stand-in agent, a host whose links
//! live in memory (net/fake.rs), a real SQLite store and real ext4 disks.
//! Each failure path of create and start is checked for what it leaves.

use super::*;
use crate::image::tests::Fixture;
use crate::net::HostNet;
use crate::net::fake::FakeLinks;
use crate::vmm::fake::{FakeVmm, Guest};
use crate::vmm::{NoVmm, VmmSlot};
use banger_api::image::RegisterImage;
use banger_api::vm::CreateVm;
use banger_config::{Config, VmmChoice};
use std::path::PathBuf;
use std::sync::Arc;

mod warm;

const BRIDGE: &str = "br-test";

struct Harness {
    f: Fixture,
    config: Config,
    net: HostNet,
    links: Arc<FakeLinks>,
    fake: Arc<FakeVmm>,
    vmm: VmmSlot,
    agent: Option<PathBuf>,
}

impl Harness {
    /// `cidr` (in 10.9.0.0) less the bridge's 10.9.0.1 are the guest addresses.
    fn with_pool(guest: Guest, cidr: &str) -> Harness {
        let f = Fixture::new();
        let config = Config {
            bridge_name: BRIDGE.into(),
            bridge_ipcidr: cidr.parse().unwrap(),
            bridge_host: "10.9.0.1".parse().unwrap(),
            tap_pool_size: 1,
            ..Default::default()
        };
        let links = Arc::new(FakeLinks::default());
        let net = HostNet::new(&config, Box::new(links.clone()));
        let fake = FakeVmm::new(guest);
        let agent = Some(f.file("banger-vsock-agent", "#!/bin/sh\n"));
        let image = RegisterImage {
            name: "base".into(),
            rootfs: f.ext4("root.ext4").display().to_string(),
            work_seed: None,
            kernel: Some(f.vmlinux().display().to_string()),
            initrd: None,
            modules: None,
            kernel_ref: None,
        };
        crate::image::register(&f.store, image, 1).unwrap();
        Harness {
            vmm: Ok(fake.chosen()),
            f,
            config,
            net,
            links,
            fake,
            agent,
        }
    }

    fn new(guest: Guest) -> Harness {
        Harness::with_pool(guest, "10.9.0.0/29")
    }

    fn env(&self) -> VmEnv<'_> {
        VmEnv {
            paths: &self.f.paths,
            store: &self.f.store,
            config: &self.config,
            agent: self.agent.as_deref(),
            ssh_public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0 banger",
            net: &self.net,
            vmm: &self.vmm,
        }
    }

    async fn create(&self, name: &str) -> Result<Vm, VmError> {
        let req = CreateVm {
            name: Some(name.into()),
            image: Some("base".into()),
            disk_size_mib: Some(64),
            ..Default::default()
        };
        create(&self.env(), req, &mut |_| {}).await
    }

    fn row(&self, name: &str) -> Option<crate::store::VmRow> {
        self.f.store.vm(name).unwrap()
    }

    fn taps(&self) -> Vec<String> {
        self.links.on(BRIDGE)
    }

    /// The VM directories there are.
    fn vm_dirs(&self) -> Vec<String> {
        match std::fs::read_dir(self.f.paths.vms_dir()) {
            Ok(d) => d
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect(),
            Err(_) => vec![],
        }
    }

    /// Nothing of a failed create stays: no record, no directory, no
    /// staging, and its address is free again (the next VM gets it).
    async fn assert_nothing_left(&self, name: &str) {
        assert!(self.row(name).is_none(), "{name} is still recorded");
        assert!(self.vm_dirs().is_empty(), "left {:?}", self.vm_dirs());
        let staging: Vec<_> = std::fs::read_dir(self.f.paths.staging_dir())
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(staging.is_empty(), "staging left: {staging:?}");
    }
}

fn alive(vm: &crate::store::VmRow, h: &Harness) -> bool {
    vm.vmm_pid
        .is_some_and(|p| crate::vmm::process::is_ours(p, &h.f.paths.vm_dir(&vm.id)))
}

fn kill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn create_boots_with_disks_address_tap_and_the_launch_it_asked_for() {
    let h = Harness::new(Guest::Healthy);
    let vm = h.create("one").await.unwrap();
    assert_eq!(vm.state, VmState::Running);
    assert_eq!(vm.backend, "qemu (tcg)");
    assert_eq!(vm.ip.as_deref(), Some("10.9.0.2"));
    assert_eq!(vm.vcpus, 1, "the backend's default");
    let row = h.row("one").unwrap();
    assert!(alive(&row, &h));
    let tap = row.tap.clone().unwrap();
    // The VM's TAP and one spare (tap_pool_size = 1), both on the bridge.
    assert_eq!(h.taps(), ["br-testt0", "br-testt1"]);
    assert!(h.taps().contains(&tap));

    let launches = h.fake.launches.lock().unwrap().clone();
    assert_eq!(launches.len(), 1);
    let l = &launches[0];
    let dir = h.f.paths.vm_dir(&row.id);
    assert_eq!(l.drives, [dir.rootfs(), dir.work()]);
    assert_eq!(l.tap, tap);
    assert_eq!(l.mac, "06:00:0a:09:00:02");
    assert!(
        l.cmdline
            .starts_with("root=/dev/vda rw ip=10.9.0.2::10.9.0.1:255.255.255.248:one:eth0:off"),
        "{}",
        l.cmdline
    );
    assert!(
        l.cmdline.ends_with(crate::vmm::stall::KERNEL_ARG),
        "{}",
        l.cmdline
    );
    assert_eq!(l.guest_cid, 3);
    // The guest parts went into the VM's own disks, not the image's.
    assert!(crate::disk::debugfs::exists(&dir.rootfs(), crate::guest_layout::AGENT_PATH).unwrap());
    let image_root = h.f.store.image("base").unwrap().unwrap().rootfs;
    assert!(
        !crate::disk::debugfs::exists(
            std::path::Path::new(&image_root),
            crate::guest_layout::AGENT_PATH
        )
        .unwrap()
    );
    assert!(
        crate::disk::debugfs::cat(&dir.work(), "/.ssh/authorized_keys")
            .unwrap()
            .unwrap()
            .contains("banger")
    );
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_shuts_the_guest_down_returns_the_tap_and_keeps_the_disks() {
    let h = Harness::new(Guest::Healthy);
    h.create("one").await.unwrap();
    let vm = stop(&h.env(), "one", &mut |_| {}).await.unwrap();
    assert_eq!(vm.state, VmState::Stopped);
    let row = h.row("one").unwrap();
    assert_eq!((row.tap, row.vmm_pid), (None, None));
    // Asked through the agent, so the backend's own way was not needed.
    assert!(h.fake.shutdown_requests.lock().unwrap().is_empty());
    assert!(console_tail(&h.f.paths.vm_dir(&row.id), 5).contains("reboot: Power down"));
    // The VM's TAP is the pool's spare now; the extra one went away.
    assert_eq!(h.taps(), ["br-testt0"]);
    assert!(h.f.paths.vm_dir(&row.id).work().is_file());

    // It starts again with the same address and the spare TAP.
    let again = start(&h.env(), "one", &mut |_| {}).await.unwrap();
    assert_eq!(again.ip.as_deref(), Some("10.9.0.2"));
    assert_eq!(h.row("one").unwrap().tap.as_deref(), Some("br-testt0"));
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_whose_agent_is_silent_is_stopped_through_the_backend_then_terminated() {
    let h = Harness::new(Guest::Healthy);
    h.create("one").await.unwrap();
    // The agent stops answering (its socket is gone).
    let row = h.row("one").unwrap();
    std::fs::remove_file(h.f.paths.vm_dir(&row.id).vsock()).unwrap();
    let vm = stop(&h.env(), "one", &mut |_| {}).await.unwrap();
    assert_eq!(vm.state, VmState::Stopped);
    assert_eq!(h.fake.shutdown_requests.lock().unwrap().len(), 1);
    assert!(!alive(&row, &h), "the VMM was terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_frees_the_address_the_directory_and_the_tap() {
    let h = Harness::new(Guest::Healthy);
    h.create("one").await.unwrap();
    let row = h.row("one").unwrap();
    let e = delete(&h.env(), "one", false).await.unwrap_err();
    assert!(matches!(e, VmError::Running(_)), "{e}");
    assert_eq!(e.kind(), banger_api::ErrorKind::Conflict);
    delete(&h.env(), "one", true).await.unwrap();
    assert!(h.row("one").is_none());
    assert!(!alive(&row, &h));
    assert!(h.vm_dirs().is_empty());
    assert_eq!(h.taps(), ["br-testt0"], "back to one spare");
    // The address is free again.
    let next = h.create("two").await.unwrap();
    assert_eq!(next.ip, row.ip);
    delete(&h.env(), "two", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vmm_that_dies_is_marked_crashed_and_its_tap_is_free_again() {
    let h = Harness::new(Guest::Healthy);
    h.create("one").await.unwrap();
    let row = h.row("one").unwrap();
    kill(row.vmm_pid.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(&row, &h) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let vm = get(&h.f.paths, &h.f.store, "one").unwrap();
    assert_eq!(vm.state, VmState::Crashed);
    assert_eq!(
        vm.last_error.as_deref(),
        Some("the VMM exited unexpectedly")
    );
    assert!(vm.console_tail.unwrap().contains("fake guest booting"));
    let row = h.row("one").unwrap();
    assert_eq!((row.tap, row.vmm_pid), (None, None));
    assert!(h.f.store.taps_in_use().unwrap().is_empty());
    // It boots again.
    start(&h.env(), "one", &mut |_| {}).await.unwrap();
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_panics_at_boot_is_crashed_with_its_console_and_gives_back_its_tap() {
    let h = Harness::new(Guest::Panics);
    let e = h.create("one").await.unwrap_err();
    let VmError::Boot { tail, source, .. } = &e else {
        panic!("{e}")
    };
    assert!(tail.contains("Kernel panic - not syncing: fake"), "{tail}");
    assert!(matches!(
        source,
        crate::agent::AgentError::GuestStopped { .. }
    ));
    let row = h.row("one").unwrap();
    assert_eq!(row.state, VmState::Crashed);
    assert!(row.last_error.unwrap().starts_with("did not become ready"));
    assert_eq!((row.tap, row.vmm_pid), (None, None));
    assert_eq!(h.taps(), ["br-testt0"], "the TAP went back to the pool");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_never_answers_is_terminated_after_the_backends_limit() {
    let h = Harness::new(Guest::Silent);
    let e = h.create("one").await.unwrap_err();
    let VmError::Boot { source, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(source, crate::agent::AgentError::NotReady { .. }),
        "{source}"
    );
    let row = h.row("one").unwrap();
    assert_eq!(row.state, VmState::Crashed);
    // The backend's own account of the failure is kept with the VM.
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .ends_with("; qemu (tcg): the fake VMM gave up"),
        "{:?}",
        row.last_error
    );
    let launched = h.fake.launches.lock().unwrap()[0].dir.clone();
    let leftover = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| crate::vmm::process::is_ours(pid, &launched));
    assert!(!leftover, "the VMM was terminated");
    assert_eq!(h.taps(), ["br-testt0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vmm_that_cannot_start_leaves_the_vm_stopped_and_the_pool_as_it_was() {
    let h = Harness::new(Guest::Healthy);
    *h.fake.refuse_launch.lock().unwrap() = true;
    let e = h.create("one").await.unwrap_err();
    assert!(matches!(e, VmError::Vmm(_)), "{e}");
    let row = h.row("one").unwrap();
    assert_eq!(row.state, VmState::Stopped, "created, not started");
    assert_eq!(row.tap, None);
    assert_eq!(h.taps(), ["br-testt0"]);
    // Once the VMM works, the VM starts.
    *h.fake.refuse_launch.lock().unwrap() = false;
    start(&h.env(), "one", &mut |_| {}).await.unwrap();
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_failure_at_start_launches_nothing() {
    let h = Harness::new(Guest::Healthy);
    *h.links.fail.lock().unwrap() = Some("ip tuntap add".into());
    let e = h.create("one").await.unwrap_err();
    assert!(matches!(e, VmError::Net(_)), "{e}");
    assert!(h.fake.launches.lock().unwrap().is_empty());
    let row = h.row("one").unwrap();
    assert_eq!((row.state, row.tap), (VmState::Stopped, None));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_record_nothing() {
    let h = Harness::new(Guest::Healthy);
    let req = |f: fn(&mut CreateVm)| {
        let mut r = CreateVm {
            name: Some("x".into()),
            image: Some("base".into()),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    let cases: Vec<(CreateVm, &str, banger_api::ErrorKind)> = vec![
        (
            req(|r| r.name = Some("bad name".into())),
            "invalid VM name",
            banger_api::ErrorKind::BadRequest,
        ),
        (
            req(|r| r.image = Some("nope".into())),
            "no image named `nope`",
            banger_api::ErrorKind::NotFound,
        ),
        (
            req(|r| r.image = None),
            "no --image given",
            banger_api::ErrorKind::BadRequest,
        ),
        (
            req(|r| r.vcpus = Some(64)),
            "--vcpus must be between 1 and 32, not 64",
            banger_api::ErrorKind::BadRequest,
        ),
        (
            req(|r| r.memory_mib = Some(64)),
            "--memory (MiB) must be between",
            banger_api::ErrorKind::BadRequest,
        ),
        (
            req(|r| r.disk_size_mib = Some(1)),
            "--disk-size (MiB) must be between",
            banger_api::ErrorKind::BadRequest,
        ),
    ];
    for (r, want, kind) in cases {
        let e = create(&h.env(), r, &mut |_| {}).await.unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        assert_eq!(e.kind(), kind, "{e}");
        h.assert_nothing_left("x").await;
    }
    assert!(h.fake.launches.lock().unwrap().is_empty());
    assert!(h.links.calls().is_empty(), "the host was not touched");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_agent_kernel_or_vmm_is_refused_before_anything_is_made() {
    let mut h = Harness::new(Guest::Healthy);
    h.agent = None;
    let e = h.create("x").await.unwrap_err();
    assert!(matches!(e, VmError::NoAgent), "{e}");
    h.assert_nothing_left("x").await;

    h.agent = Some(h.f.file("agent", "#!/bin/sh\n"));
    h.vmm = Err(NoVmm {
        choice: VmmChoice::Auto,
        why: "qemu-system-x86_64 is missing".into(),
    });
    let e = h.create("x").await.unwrap_err();
    assert!(
        e.to_string().contains("qemu-system-x86_64 is missing"),
        "{e}"
    );
    h.assert_nothing_left("x").await;

    h.vmm = Ok(h.fake.chosen());
    let kernel = h.f.store.image("base").unwrap().unwrap().kernel.unwrap();
    std::fs::remove_file(&kernel).unwrap();
    let e = h.create("x").await.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("kernel {kernel} is missing")),
        "{e}"
    );
    h.assert_nothing_left("x").await;
    assert!(h.links.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_name_and_an_exhausted_pool_are_refused() {
    // One guest address: 10.9.0.2 (.1 is the bridge).
    let h = Harness::with_pool(Guest::Healthy, "10.9.0.0/30");
    h.create("one").await.unwrap();
    let e = h.create("one").await.unwrap_err();
    assert_eq!(e.kind(), banger_api::ErrorKind::Conflict, "{e}");
    let e = h.create("two").await.unwrap_err();
    assert!(e.to_string().contains("10.9.0.0/30"), "{e}");
    assert_eq!(e.kind(), banger_api::ErrorKind::Conflict);
    assert!(h.row("two").is_none());
    assert_eq!(h.vm_dirs().len(), 1);
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_clone_leaves_nothing_and_frees_the_address() {
    let h = Harness::new(Guest::Healthy);
    let rootfs = h.f.store.image("base").unwrap().unwrap().rootfs;
    let kept = h.f.file("kept.ext4", "");
    std::fs::rename(&rootfs, &kept).unwrap();
    let e = h.create("x").await.unwrap_err();
    assert!(matches!(e, VmError::Disk(_)), "{e}");
    h.assert_nothing_left("x").await;
    std::fs::rename(&kept, &rootfs).unwrap();
    let vm = h.create("y").await.unwrap();
    assert_eq!(vm.ip.as_deref(), Some("10.9.0.2"), "the address was freed");
    delete(&h.env(), "y", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_injection_leaves_nothing() {
    let h = Harness::new(Guest::Healthy);
    // Not an ext4 file system: debugfs cannot write the guest parts.
    let rootfs = h.f.store.image("base").unwrap().unwrap().rootfs;
    std::fs::write(&rootfs, vec![0u8; 1 << 20]).unwrap();
    let e = h.create("x").await.unwrap_err();
    assert!(matches!(e, VmError::Inject(_)), "{e}");
    h.assert_nothing_left("x").await;
    assert!(h.fake.launches.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_adopts_live_vms_and_records_dead_ones() {
    let h = Harness::new(Guest::Healthy);
    h.create("live").await.unwrap();
    h.create("dead").await.unwrap();
    let dead = h.row("dead").unwrap();
    kill(dead.vmm_pid.unwrap());
    while alive(&dead, &h) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(adopt_all(&h.f.paths, &h.f.store).unwrap(), (1, 1));
    assert_eq!(h.row("live").unwrap().state, VmState::Running);
    assert_eq!(h.row("dead").unwrap().state, VmState::Crashed);
    delete(&h.env(), "live", true).await.unwrap();
}

/// The coding agents' credentials present in the host home are on the work
/// disk (the guest's /root) at every start, root-owned 0600 under made
/// parents; absent ones are skipped; a host change lands at the next start;
/// nothing of them reaches the VM's record or what `vm show` answers.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_synced_onto_the_work_disk_at_every_start() {
    let mut h = Harness::new(Guest::Healthy);
    let home = h.f.dir.path().join("home");
    let put = |rel: &str, text: &str| {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put(
        ".local/share/opencode/auth.json",
        "{\"marker\":\"OC-SECRET-1\"}",
    );
    put(
        ".claude/.credentials.json",
        "{\"marker\":\"CLAUDE-SECRET-1\"}",
    );
    // ~/.pi/agent/auth.json is absent: skipped.
    h.f.paths.home = Some(home.clone());

    let vm = h.create("one").await.unwrap();
    let work = h.f.paths.vm_dir(&h.row("one").unwrap().id).work();
    let cat = |p: &str| crate::disk::debugfs::cat(&work, p).unwrap();
    assert_eq!(
        cat("/.local/share/opencode/auth.json").as_deref(),
        Some("{\"marker\":\"OC-SECRET-1\"}")
    );
    assert_eq!(
        cat("/.claude/.credentials.json").as_deref(),
        Some("{\"marker\":\"CLAUDE-SECRET-1\"}")
    );
    assert_eq!(cat("/.pi/agent/auth.json"), None);
    let stats =
        crate::disk::debugfs::stats(&work, &["/.claude/.credentials.json", "/.claude"]).unwrap();
    // debugfs says `Mode:  0600` and `User:     0   Group:     0`.
    let field = |text: &str, name: &str| {
        let at = text
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {text}"));
        text[at + name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let file = stats[0].as_deref().expect("stat of the credentials");
    assert_eq!(
        (
            field(file, "Mode:"),
            field(file, "User:"),
            field(file, "Group:")
        ),
        ("0600".into(), "0".into(), "0".into())
    );
    let dir = stats[1].as_deref().expect("stat of /root/.claude");
    assert_eq!(
        (field(dir, "Mode:"), field(dir, "User:")),
        ("0700".into(), "0".into())
    );

    // A host change (and a file appearing) lands at the next start.
    stop(&h.env(), "one", &mut |_| {}).await.unwrap();
    put(
        ".claude/.credentials.json",
        "{\"marker\":\"CLAUDE-SECRET-2\"}",
    );
    put(".pi/agent/auth.json", "{\"marker\":\"PI-SECRET-1\"}");
    let shown = start(&h.env(), "one", &mut |_| {}).await.unwrap();
    assert_eq!(
        cat("/.claude/.credentials.json").as_deref(),
        Some("{\"marker\":\"CLAUDE-SECRET-2\"}")
    );
    assert_eq!(
        cat("/.pi/agent/auth.json").as_deref(),
        Some("{\"marker\":\"PI-SECRET-1\"}")
    );
    let said = format!(
        "{}{}{:?}",
        serde_json::to_string(&vm).unwrap(),
        serde_json::to_string(&shown).unwrap(),
        h.row("one").unwrap()
    );
    assert!(!said.contains("SECRET"), "{said}");

    // A directory where a credential file should be is refused by name.
    stop(&h.env(), "one", &mut |_| {}).await.unwrap();
    std::fs::remove_file(home.join(".pi/agent/auth.json")).unwrap();
    std::fs::create_dir(home.join(".pi/agent/auth.json")).unwrap();
    let err = start(&h.env(), "one", &mut |_| {}).await.unwrap_err();
    let text = format!("{:#}", anyhow::Error::from(err));
    assert!(
        text.contains(".pi/agent/auth.json: not a regular file"),
        "{text}"
    );
    delete(&h.env(), "one", true).await.unwrap();
}

/// A dev box's VM gets its own opencode password at create, handed out
/// only by `opencode::access`; a re-created VM gets a new one; a VM of an
/// image without opencode has none.
#[tokio::test(flavor = "multi_thread")]
async fn each_dev_box_vm_gets_its_own_opencode_password() {
    let h = Harness::new(Guest::Healthy);
    let tree = h.f.dir.path().join("devbox-tree");
    let unit = tree.join(crate::guest_layout::OPENCODE_UNIT.trim_start_matches('/'));
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(&unit, "[Service]\n").unwrap();
    let rootfs = h.f.dir.path().join("devbox.ext4");
    let made = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&tree)
        .arg(&rootfs)
        .arg("16M")
        .status()
        .unwrap();
    assert!(made.success());
    let image = RegisterImage {
        name: "devbox".into(),
        rootfs: rootfs.display().to_string(),
        work_seed: None,
        kernel: Some(h.f.vmlinux().display().to_string()),
        initrd: None,
        modules: None,
        kernel_ref: None,
    };
    crate::image::register(&h.f.store, image, 2).unwrap();
    let req = |name: &str| CreateVm {
        name: Some(name.into()),
        image: Some("devbox".into()),
        disk_size_mib: Some(64),
        ..Default::default()
    };

    let vm = create(&h.env(), req("dev"), &mut |_| {}).await.unwrap();
    let access = opencode::access(&h.env(), "dev").unwrap();
    assert_eq!(access.url, format!("http://{}:4096", vm.ip.unwrap()));
    assert_eq!(access.username, "opencode");
    let row = h.row("dev").unwrap();
    let on_disk = crate::disk::debugfs::cat(
        &h.f.paths.vm_dir(&row.id).rootfs(),
        crate::guest_layout::OPENCODE_ENV,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        on_disk,
        format!("OPENCODE_SERVER_PASSWORD={}\n", access.password)
    );
    let shown = serde_json::to_string(&view(&h.f.paths, &h.f.store, &row).unwrap()).unwrap();
    assert!(!shown.contains(&access.password), "{shown}");

    delete(&h.env(), "dev", true).await.unwrap();
    create(&h.env(), req("dev"), &mut |_| {}).await.unwrap();
    let again = opencode::access(&h.env(), "dev").unwrap();
    assert_ne!(
        again.password, access.password,
        "re-created: a new password"
    );

    // A stopped VM's opencode cannot be reached.
    stop(&h.env(), "dev", &mut |_| {}).await.unwrap();
    let e = opencode::access(&h.env(), "dev").unwrap_err();
    assert!(matches!(e, VmError::NotRunning(_)), "{e}");

    h.create("plain").await.unwrap();
    let e = opencode::access(&h.env(), "plain").unwrap_err();
    assert!(matches!(e, VmError::NoOpencode(_)), "{e}");
    assert!(e.to_string().contains("not a dev box"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_keeps_a_flooded_console_to_its_cap_and_the_tail_still_reads() {
    use crate::log_rotation::{CAP, previous};
    let h = Harness::new(Guest::Healthy);
    h.create("one").await.unwrap();
    let row = h.row("one").unwrap();
    let dir = h.f.paths.vm_dir(&row.id);
    // A guest that printed more than the cap, then its last words.
    let mut console = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.console())
        .unwrap();
    let line = "y".repeat(1023) + "\n";
    for _ in 0..(CAP / 1024 + 1024) {
        std::io::Write::write_all(&mut console, line.as_bytes()).unwrap();
    }
    std::io::Write::write_all(&mut console, b"the last words\n").unwrap();
    std::fs::create_dir_all(&h.f.paths.state_dir).unwrap();
    std::fs::write(h.f.paths.log_file(), vec![b'd'; CAP as usize + 1]).unwrap();

    crate::monitor::rotate_logs(&h.f.paths, &h.f.store.vms().unwrap()).await;
    assert_eq!(std::fs::metadata(dir.console()).unwrap().len(), 0);
    assert_eq!(
        std::fs::metadata(previous(&dir.console())).unwrap().len(),
        CAP
    );
    assert_eq!(std::fs::metadata(h.f.paths.log_file()).unwrap().len(), 0);
    let tail = console_tail(&dir, 2);
    assert!(tail.ends_with("the last words"), "{tail:.100}");

    // The guest goes on printing, at the start of the emptied file.
    std::io::Write::write_all(&mut console, b"still here\n").unwrap();
    assert_eq!(std::fs::read(dir.console()).unwrap(), b"still here\n");
    assert!(console_tail(&dir, 2).ends_with("the last words\nstill here"));
    // Under the cap: nothing is touched.
    crate::monitor::rotate_logs(&h.f.paths, &h.f.store.vms().unwrap()).await;
    assert_eq!(std::fs::read(dir.console()).unwrap(), b"still here\n");
    delete(&h.env(), "one", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_share_out_addresses_cids_and_taps_and_refuse_the_rest() {
    // Five guest addresses (10.9.0.2 to .6), one spare TAP, eight creates at once.
    let h = Harness::with_pool(Guest::Healthy, "10.9.0.0/29");
    let env = h.env();
    let results = at_once(&env, (0..8).map(|i| format!("p{i}")).collect());
    let made: Vec<&Vm> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(made.len(), 5, "{results:?}");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.kind(), banger_api::ErrorKind::Conflict, "{e}");
        assert!(e.to_string().contains("10.9.0.0/29"), "{e}");
    }
    let rows: Vec<_> = h.f.store.vms().unwrap();
    assert_eq!(rows.len(), 5);
    let distinct = |f: fn(&crate::store::VmRow) -> String| {
        let mut v: Vec<String> = rows.iter().map(f).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    assert_eq!(distinct(|r| r.ip.clone().unwrap()), 5);
    assert_eq!(distinct(|r| r.tap.clone().unwrap()), 5);
    assert_eq!(distinct(|r| r.guest_cid.to_string()), 5);
    assert!(
        rows.iter()
            .all(|r| r.state == VmState::Running && alive(r, &h))
    );
    assert_eq!(h.vm_dirs().len(), 5, "no directory of a refused create");
    assert_eq!(h.taps().len(), 6, "five in use and the spare");

    // The same name four times at once: one VM.
    let rows_before = rows.len();
    for r in &rows {
        delete(&env, &r.name, true).await.unwrap();
    }
    assert_eq!(h.taps(), ["br-testt0"], "{rows_before} TAPs given back");
    let same = at_once(&env, vec!["twin".into(); 4]);
    assert_eq!(same.iter().filter(|r| r.is_ok()).count(), 1, "{same:?}");
    for e in same.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.kind(), banger_api::ErrorKind::Conflict, "{e}");
    }
    assert_eq!(h.vm_dirs().len(), 1);
    assert_eq!(h.f.store.vms().unwrap().len(), 1);
    delete(&env, "twin", true).await.unwrap();
    h.assert_nothing_left("twin").await;
    assert_eq!(h.taps(), ["br-testt0"]);
}

/// `vm create` of each name, all at once: each from a thread of its own
/// (the daemon serves each request on a task of its own), so checks and
/// inserts really interleave.
fn at_once(env: &VmEnv<'_>, names: Vec<String>) -> Vec<Result<Vm, VmError>> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let running: Vec<_> = names
                .into_iter()
                .map(|name| {
                    let runtime = runtime.clone();
                    scope.spawn(move || {
                        let req = CreateVm {
                            name: Some(name),
                            image: Some("base".into()),
                            disk_size_mib: Some(64),
                            ..Default::default()
                        };
                        runtime.block_on(create(env, req, &mut |_| {}))
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().unwrap()).collect()
        })
    })
}

/// A bound on a call that must not hang (a liveness check, not a timing).
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_guest_whose_agent_never_answers_cannot_hold_stop_or_delete() {
    let h = Harness::new(Guest::Mute);
    h.create("one").await.unwrap();
    let row = h.row("one").unwrap();
    let mut steps = Vec::new();
    let vm = within(
        "vm stop",
        stop(&h.env(), "one", &mut |p| steps.push(p.detail)),
    )
    .await
    .unwrap();
    assert_eq!(vm.state, VmState::Stopped);
    assert!(!alive(&row, &h), "the VMM was terminated");
    assert!(
        steps.iter().any(|s| s.contains("terminating the VMM")),
        "{steps:?}"
    );
    assert_eq!(h.taps(), ["br-testt0"]);

    start(&h.env(), "one", &mut |_| {}).await.unwrap();
    let row = h.row("one").unwrap();
    within("vm delete --force", delete(&h.env(), "one", true))
        .await
        .unwrap();
    assert!(!alive(&row, &h));
    h.assert_nothing_left("one").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_removes_half_made_vms_and_directories_no_vm_owns() {
    let h = Harness::new(Guest::Healthy);
    let req = |name: &str| CreateVm {
        name: Some(name.into()),
        image: Some("base".into()),
        disk_size_mib: Some(64),
        no_start: true,
        ..Default::default()
    };
    create(&h.env(), req("whole"), &mut |_| {}).await.unwrap();
    create(&h.env(), req("half"), &mut |_| {}).await.unwrap();
    create(&h.env(), req("gone"), &mut |_| {}).await.unwrap();
    let half = h.row("half").unwrap();
    std::fs::write(h.f.paths.vm_dir(&half.id).creating(), b"").unwrap();
    let gone = h.row("gone").unwrap();
    std::fs::remove_dir_all(h.f.paths.vm_dir(&gone.id)).unwrap();
    std::fs::create_dir_all(h.f.paths.vm_dir("0123456789abcdef")).unwrap();

    assert_eq!(clean_unfinished(&h.f.paths, &h.f.store).unwrap(), 3);
    let names: Vec<String> =
        h.f.store
            .vms()
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
    assert_eq!(names, ["whole"]);
    assert_eq!(h.vm_dirs(), [h.row("whole").unwrap().id]);
    assert_eq!(
        clean_unfinished(&h.f.paths, &h.f.store).unwrap(),
        0,
        "idempotent"
    );
}
