//! The daemon's agent client reaches the agent inside a real guest: QEMU
//! microvm with vhost-device-vsock, whose host side is the same hybrid vsock
//! socket as Firecracker's. Ping, exec, ports, and a shutdown that ends the VM.

mod common;

use bangerd::agent::AgentClient;
use bangerd::vmm::qemu::{Accel, QemuSpec, qemu_args, vhost_vsock_args};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = "\
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
hostname banger-test
httpd -p 8080 -h /tmp
/usr/bin/banger-vsock-agent serve &
exec sleep 100000";

#[tokio::test(flavor = "multi_thread")]
async fn host_talks_to_the_agent_in_a_qemu_guest_over_vsock() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (paths, kernel) = common::kernel_store(root);
    let kdir = paths.kernel_dir("debian");
    let agent = common::static_agent();
    let rootfs = common::busybox_rootfs(root, INIT, &[("/usr/bin/banger-vsock-agent", &agent)]);
    let (vhost_sock, uds, console) = (
        root.join("vhost.sock"),
        root.join("vm.vsock"),
        root.join("console.log"),
    );

    let vhost = Command::new("vhost-device-vsock")
        .args(vhost_vsock_args(4, "agent-vsock-test", &vhost_sock, &uds))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vhost-device-vsock (cargo install vhost-device-vsock)");
    let mut procs = common::Procs(vec![vhost]);
    common::wait_for_file(&vhost_sock, Duration::from_secs(10));
    let spec = QemuSpec {
        kernel: kdir.join("vmlinux"),
        initrd: Some(kdir.join("initrd.img")),
        cmdline: "root=/dev/vda rw".into(),
        drives: vec![rootfs],
        vhost_vsock_socket: vhost_sock,
        memory_mib: 512,
        vcpus: 1,
        accel: Accel::Tcg,
        console_log: console.clone(),
        net: None,
    };
    let qemu = Command::new("qemu-system-x86_64")
        .args(qemu_args(&spec))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(qemu);

    let client = AgentClient::hybrid_vsock(&uds);
    let pong = client
        .wait_ready(Duration::from_secs(150))
        .await
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", common::console_tail(&console)));
    match pong {
        banger_agent_proto::Response::Pong { hostname, .. } => assert_eq!(hostname, "banger-test"),
        other => panic!("{other:?}"),
    }

    let uname = client.exec(&["uname", "-r"], None).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uname.stdout).trim(),
        kernel.version
    );
    assert_eq!(uname.status, 0);

    let mixed = client
        .exec(
            &["sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
            Some("/root"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            mixed.stdout.as_slice(),
            mixed.stderr.as_slice(),
            mixed.status
        ),
        (&b"to-out\n"[..], &b"to-err\n"[..], 7)
    );

    let missing = client
        .exec(&["no-such-tool"], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("in the guest: cannot run no-such-tool"),
        "{missing}"
    );

    let ports = client.ports().await.unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p.port == 8080 && p.proto == "tcp" && p.process.as_deref() == Some("httpd")),
        "{ports:?}"
    );

    client.shutdown().await.unwrap();
    let qemu = procs.0.last_mut().unwrap();
    let start = Instant::now();
    while qemu.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the guest did not stop after Shutdown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
