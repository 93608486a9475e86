//! The table of config keys: one row per key, used both to parse the file
//! and to show the effective configuration, so the two cannot disagree.

use super::Config;
use super::values as v;
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use toml::Value;

type Apply = fn(&mut Config, &Value, Option<&Path>) -> Result<(), String>;
type Show = fn(&Config) -> Json;

#[derive(Debug)]
pub struct KeySpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub(super) apply: Apply,
    pub(super) show: Show,
}

fn opt_path(p: &Option<PathBuf>) -> Json {
    p.as_ref().map_or(Json::Null, |p| json!(p))
}

fn opt_secs(d: Option<std::time::Duration>) -> Json {
    d.map_or(json!("off"), |d| {
        json!(humantime::format_duration(d).to_string())
    })
}

pub static KEYS: &[KeySpec] = &[
    KeySpec {
        name: "log_level",
        doc: "daemon log level: error, warn, info, debug, trace",
        apply: |c, x, _| {
            c.log_level = v::log_level(x)?;
            Ok(())
        },
        show: |c| json!(c.log_level.as_str()),
    },
    KeySpec {
        name: "web_listen_addr",
        doc: "IP:PORT of the local web UI; \"\" disables it",
        apply: |c, x, _| {
            c.web_listen_addr = v::listen_addr(x)?;
            Ok(())
        },
        show: |c| json!(c.web_listen_addr.map(|a| a.to_string()).unwrap_or_default()),
    },
    KeySpec {
        name: "firecracker_bin",
        doc: "firecracker binary (absolute, ~/, or a name in PATH); default: firecracker in PATH",
        apply: |c, x, h| {
            c.firecracker_bin = Some(v::path(x, h, true)?);
            Ok(())
        },
        show: |c| opt_path(&c.firecracker_bin),
    },
    KeySpec {
        name: "ssh_key_path",
        doc: "private key used to reach guests; default: banger's own, created on first need",
        apply: |c, x, h| {
            c.ssh_key_path = Some(v::path(x, h, false)?);
            Ok(())
        },
        show: |c| opt_path(&c.ssh_key_path),
    },
    KeySpec {
        name: "default_image_name",
        doc: "image used when vm create / vm run omit --image",
        apply: |c, x, _| {
            c.default_image_name = Some(v::name(x)?);
            Ok(())
        },
        show: |c| json!(c.default_image_name),
    },
    KeySpec {
        name: "auto_stop_stale_after",
        doc: "stop VMs idle (no ssh, session or agent activity) this long; \"off\" disables",
        apply: |c, x, _| {
            c.auto_stop_stale_after = v::optional_duration(x)?;
            Ok(())
        },
        show: |c| opt_secs(c.auto_stop_stale_after),
    },
    KeySpec {
        name: "stats_poll_interval",
        doc: "how often the daemon checks VM health",
        apply: |c, x, _| {
            c.stats_poll_interval = v::interval(x)?;
            Ok(())
        },
        show: |c| opt_secs(Some(c.stats_poll_interval)),
    },
    KeySpec {
        name: "metrics_poll_interval",
        doc: "how often the daemon samples VMM resource use",
        apply: |c, x, _| {
            c.metrics_poll_interval = v::interval(x)?;
            Ok(())
        },
        show: |c| opt_secs(Some(c.metrics_poll_interval)),
    },
    KeySpec {
        name: "bridge_name",
        doc: "host bridge the VMs' TAP devices join",
        apply: |c, x, _| {
            c.bridge_name = v::ifname(x)?;
            Ok(())
        },
        show: |c| json!(c.bridge_name),
    },
    KeySpec {
        name: "bridge_ipcidr",
        doc: "guest network; the host takes the address written (or the first one)",
        apply: |c, x, _| {
            let (net, host) = v::bridge_cidr(x)?;
            c.bridge_ipcidr = net;
            c.bridge_host = host;
            Ok(())
        },
        show: |c| {
            json!(format!(
                "{}/{}",
                c.bridge_host,
                c.bridge_ipcidr.prefix_len()
            ))
        },
    },
    KeySpec {
        name: "tap_pool_size",
        doc: "TAP devices kept ready for fast vm create (0 to 256)",
        apply: |c, x, _| {
            c.tap_pool_size = v::pool_size(x)?;
            Ok(())
        },
        show: |c| json!(c.tap_pool_size),
    },
    KeySpec {
        name: "warm_pool_size",
        doc: "VMs kept booted and ready per warm-pool image, claimed by vm create and vm run (0 to 16; 0: no pool)",
        apply: |c, x, _| {
            c.warm_pool_size = v::warm_pool_size(x)?;
            Ok(())
        },
        show: |c| json!(c.warm_pool_size),
    },
    KeySpec {
        name: "warm_pool_images",
        doc: "the images the warm pool keeps booted (a list of image names; empty: default_image_name)",
        apply: |c, x, _| {
            c.warm_pool_images = v::names(x)?;
            Ok(())
        },
        show: |c| json!(c.warm_pool_images),
    },
    KeySpec {
        name: "allow_guest_to_guest",
        doc: "let VMs on the bridge reach each other (default false: each VM reaches only the host and, through NAT, the outside)",
        apply: |c, x, _| {
            c.allow_guest_to_guest = v::boolean(x)?;
            Ok(())
        },
        show: |c| json!(c.allow_guest_to_guest),
    },
    KeySpec {
        name: "default_dns",
        doc: "DNS server(s) handed to guests: an address or a list of up to three",
        apply: |c, x, _| {
            c.default_dns = v::dns(x)?;
            Ok(())
        },
        show: |c| {
            json!(
                c.default_dns
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
            )
        },
    },
    KeySpec {
        name: "vmm",
        doc: "auto, firecracker or qemu; auto prefers Firecracker when KVM can run guests",
        apply: |c, x, _| {
            c.vmm = v::vmm(x)?;
            Ok(())
        },
        show: |c| json!(c.vmm.as_str()),
    },
    KeySpec {
        name: "qemu_bin",
        doc: "qemu-system-x86_64 binary; default: found in PATH",
        apply: |c, x, h| {
            c.qemu_bin = Some(v::path(x, h, true)?);
            Ok(())
        },
        show: |c| opt_path(&c.qemu_bin),
    },
    KeySpec {
        name: "vhost_vsock_bin",
        doc: "vhost-device-vsock binary (QEMU backend); default: found in PATH",
        apply: |c, x, h| {
            c.vhost_vsock_bin = Some(v::path(x, h, true)?);
            Ok(())
        },
        show: |c| opt_path(&c.vhost_vsock_bin),
    },
    KeySpec {
        name: "kernel_catalog",
        doc: "kernel catalog for `kernel list --available` and `kernel pull`: URL or path; default: built in",
        apply: |c, x, _| {
            c.kernel_catalog = v::catalog(x)?;
            Ok(())
        },
        show: |c| json!(c.kernel_catalog.as_deref().unwrap_or("built-in")),
    },
    KeySpec {
        name: "insecure_registries",
        doc: "registries `image pull` may reach over plain HTTP (`host` or `host:port`); loopback always may",
        apply: |c, x, _| {
            c.insecure_registries = v::registries(x)?;
            Ok(())
        },
        show: |c| json!(c.insecure_registries),
    },
    KeySpec {
        name: "npm_registry",
        doc: "npm registry `image build` fetches Node.js, npm and the coding agents from (http(s):// URL)",
        apply: |c, x, _| {
            c.npm_registry = v::registry_url(x)?;
            Ok(())
        },
        show: |c| json!(c.npm_registry),
    },
    KeySpec {
        name: "debian_mirror",
        doc: "Debian archive `image build --docker` fetches packages from (http(s):// URL; its `-security` sibling too)",
        apply: |c, x, _| {
            c.debian_mirror = v::registry_url(x)?;
            Ok(())
        },
        show: |c| json!(c.debian_mirror),
    },
    KeySpec {
        name: "debian_keyring",
        doc: "OpenPGP keyring the Debian archive's signatures are checked against (`kernel pull` of the built-in catalog's kernels)",
        apply: |c, x, h| {
            c.debian_keyring = v::path(x, h, false)?;
            Ok(())
        },
        show: |c| json!(c.debian_keyring.display().to_string()),
    },
    KeySpec {
        name: "build_cache_dir",
        doc: "where `image build` keeps what it downloads (reused offline); default: the data dir's build-cache/",
        apply: |c, x, h| {
            c.build_cache_dir = Some(v::path(x, h, false)?);
            Ok(())
        },
        show: |c| opt_path(&c.build_cache_dir),
    },
];

/// ", did you mean `x`?" for a near miss, else the list of keys.
pub(super) fn suggestion(unknown: &str) -> String {
    let best = KEYS
        .iter()
        .map(|k| (edit_distance(unknown, k.name), k.name))
        .min();
    match best {
        Some((d, name)) if d <= 3 => format!(", did you mean `{name}`?"),
        _ => format!(
            "; known keys: {}",
            KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
