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

    // Files both ways as tar streams: 3 MiB in, read back through the guest.
    let mut b = tar::Builder::new(Vec::new());
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    let mut h = tar::Header::new_gnu();
    h.set_size(big.len() as u64);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "bin/tool with space", big.as_slice())
        .unwrap();
    let tar_in = b.into_inner().unwrap();
    client.put_tar("/root/in", tar_in.as_slice()).await.unwrap();
    let sum = client
        .exec(&["sh", "-c", "sha256sum '/root/in/bin/tool with space'; stat -c %a '/root/in/bin/tool with space'"], None)
        .await
        .unwrap();
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&big));
    let out = String::from_utf8_lossy(&sum.stdout).into_owned();
    assert!(out.starts_with(&want) && out.ends_with("755\n"), "{out}");
    let mut tar_out = Vec::new();
    client.get_tar("/root/in/bin", &mut tar_out).await.unwrap();
    let mut archive = tar::Archive::new(tar_out.as_slice());
    let mut found = false;
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("tool with space") {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            found = data == big;
        }
    }
    assert!(found, "the file came back whole");
    let missing = client.get_tar("/nope", &mut Vec::new()).await.unwrap_err();
    assert!(missing.to_string().contains("/nope"), "{missing}");

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
