//! The CLI's tests run on the workspace's test kit (crates/banger-testkit);
//! the registry helpers for `image pull` tests are theirs alone.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod registry;

pub use banger_testkit::*;

/// A home whose config names a kernel catalog (served from a file) with one
/// kernel, `tiny`, not yet pulled: any x86-64 ELF will do, for images that
/// are checked, not booted.
pub fn tiny_catalog_home() -> TestHome {
    use std::fs;
    let home = TestHome::new();
    let dir = home.root().join("catalog");
    fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("vmlinux");
    fs::copy(banger_bin(), &kernel).unwrap();
    let bytes = fs::read(&kernel).unwrap();
    let catalog = serde_json::json!({
        "schema": 1,
        "kernels": [{
            "name": "tiny", "version": "6.1.0-tiny", "arch": "x86_64", "description": "test",
            "artifacts": { "kernel": {
                "url": "vmlinux", "size": bytes.len(),
                "sha256": registry::sha256_hex(&bytes)
            } }
        }]
    });
    fs::write(dir.join("catalog.json"), catalog.to_string()).unwrap();
    home.write_config(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nkernel_catalog = \"{}\"\n",
        dir.join("catalog.json").display()
    ));
    home
}
