//! The web UI in a real browser (Debian's chromium through chromedriver)
//! against a daemon with real VMs: the overview lists them with a crashed
//! one's reason first and follows a VM made while it is open, a VM's page
//! shows its console and a running session's output as they grow, the
//! images and kernels page lists what exists, the page reconnects to the
//! next daemon, and an address without the token gets nothing.
//! Screenshots of each page are kept under target/tmp/web-ui/.

mod common;

use common::{Browser, TestHome, kill, wait_gone};
use std::time::Duration;

const SOON: Duration = Duration::from_secs(30);

#[test]
fn the_web_ui_follows_vms_consoles_and_sessions_live() {
    // Port 7777 is free in the test's own namespace, and a fixed port lets
    // the open page find the next daemon.
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:7777\"\nstats_poll_interval = \"1s\"\nmetrics_poll_interval = \"1s\"\n",
    );
    home.with_busybox("busy");
    let web1 = home.vm("web1").image("busy").create();
    let web2 = home.vm("web2").image("busy").create();
    let pid = web2.show()["vmm_pid"].as_i64().unwrap() as i32;
    kill(pid, libc::SIGKILL);
    wait_gone(pid);

    // The browser and this thread's sockets in the daemon's namespace.
    home.ns().enter_this_thread();
    let url = home.status()["web_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:7777/"), "{url}");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    let browser = Browser::start(&shots);

    // Overview: problems first, with the reason; VMs with state and metrics.
    browser.open(&url);
    browser.wait_for("#live", "live", SOON);
    browser.wait_for("#problems", "web2", SOON);
    browser.wait_for("#problems", "the VMM exited unexpectedly", SOON);
    let vms = browser.wait_for("#vms", "web1", SOON);
    assert!(vms.contains("running") && vms.contains("busy"), "{vms}");
    // Samples every second: a CPU figure appears without a reload.
    browser.wait_for("#vms", "%", SOON);
    // A VM made while the page is open appears without a reload.
    let _web3 = home.vm("web3").image("busy").create();
    browser.wait_for("#vms", "web3", SOON);
    browser.screenshot("overview");

    // A VM's page: its console, then what the guest prints to it, live.
    browser.open(&format!("{url}vms/web1"));
    browser.wait_for("#console", "banger-init", SOON);
    web1.banger(
        "exec",
        &["--", "sh", "-c", "echo console-marker-41 > /dev/console"],
    )
    .ok();
    browser.wait_for("#console", "console-marker-41", SOON);
    // A session started while the page is open, its output as it comes.
    home.banger(&[
        "vm",
        "session",
        "start",
        "web1",
        "--name",
        "ticker",
        "--",
        "sh",
        "-c",
        "echo first-line; echo to-stderr >&2; sleep 4; echo second-line; sleep 600",
    ])
    .ok();
    browser.wait_for("#sessions", "ticker", SOON);
    let out = "pre[data-session=\"ticker\"]";
    browser.wait_for(out, "first-line", SOON);
    browser.wait_for(out, "to-stderr", SOON);
    browser.wait_for(out, "second-line", SOON);
    let main = browser.text("main").unwrap();
    assert!(
        main.contains("banger vm session attach web1 ticker"),
        "{main}"
    );
    browser.screenshot("vm");

    // A crashed VM's page says why.
    browser.open(&format!("{url}vms/web2"));
    browser.wait_for("#problem", "the VMM exited unexpectedly", SOON);
    browser.screenshot("crashed-vm");

    // Images and kernels, and which VMs use them.
    browser.open(&format!("{url}artifacts"));
    let images = browser.wait_for("#images", "busy", SOON);
    assert!(images.contains("web1"), "{images}");
    browser.wait_for("#kernels", "debian", SOON);
    browser.screenshot("images-and-kernels");

    // The open page follows the daemon across a restart.
    browser.open(&url);
    browser.wait_for("#vms", "web3", SOON);
    home.banger(&["daemon", "stop"]).ok();
    browser.wait_for("#live", "reconnecting", SOON);
    home.banger(&["daemon", "start"]).ok();
    browser.wait_for("#live", "live", SOON);
    home.banger(&["vm", "stop", "web3"]).ok();
    let vms = browser.wait_for("#vms", "stopped", SOON);
    assert!(vms.contains("web3"), "{vms}");

    // Without the token: refused, nothing shown.
    let origin = url.trim_end_matches('/').rsplit_once('/').unwrap().0;
    browser.open(&format!("{origin}/"));
    let refused = browser.text("body").unwrap_or_default();
    assert!(
        refused.contains("token") && !refused.contains("web1"),
        "{refused}"
    );
}
