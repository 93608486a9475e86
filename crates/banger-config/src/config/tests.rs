use super::*;
use std::path::Path;

const FILE: &str = "/cfg/config.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE), Some(Path::new("/home/u")))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn defaults_match_the_documentation() {
    let c = parse("").unwrap();
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.web_listen_addr, Some("127.0.0.1:7777".parse().unwrap()));
    assert_eq!(c.bridge_name, "banger0");
    assert_eq!(c.bridge_ipcidr.to_string(), "172.16.0.0/24");
    assert_eq!(c.bridge_host, Ipv4Addr::new(172, 16, 0, 1));
    assert_eq!(c.tap_pool_size, 4);
    assert!(!c.allow_guest_to_guest, "guests are kept apart by default");
    assert_eq!(c.warm_pool_size, 0, "no warm pool unless asked for");
    assert!(c.warm_pool_images.is_empty());
    assert_eq!(c.vmm, VmmChoice::Auto);
    assert_eq!(c.auto_stop_stale_after, None);
    assert_eq!(c.stats_poll_interval, Duration::from_secs(10));
    assert_eq!(c.metrics_poll_interval, Duration::from_secs(30));
    assert!(c.firecracker_bin.is_none() && c.ssh_key_path.is_none());
    assert!(c.entries().iter().all(|(_, _, o)| *o == Origin::Default));
}

#[test]
fn every_key_is_parsed() {
    let c = parse(
        r#"
log_level = "debug"
web_listen_addr = "127.0.0.1:8080"
firecracker_bin = "/opt/fc/firecracker"
ssh_key_path = "~/.ssh/banger"
default_image_name = "devbox"
auto_stop_stale_after = "2h"
stats_poll_interval = "90s"
metrics_poll_interval = "1m 30s"
bridge_name = "br-test"
bridge_ipcidr = "10.99.0.0/16"
tap_pool_size = 0
allow_guest_to_guest = true
warm_pool_size = 2
warm_pool_images = ["devbox", "alpine", "devbox"]
default_dns = ["9.9.9.9", "1.0.0.1"]
vmm = "qemu"
qemu_bin = "qemu-system-x86_64"
vhost_vsock_bin = "~/.cargo/bin/vhost-device-vsock"
kernel_catalog = "https://kernels.example/catalog.json"
insecure_registries = ["registry.lan:5000", "10.0.0.7"]
npm_registry = "https://npm.mirror.example/"
debian_mirror = "http://mirror.example/debian/"
build_cache_dir = "~/cache/banger-build"
debian_keyring = "~/keys/debian.gpg"
"#,
    )
    .unwrap();
    assert_eq!(c.log_level, LogLevel::Debug);
    assert_eq!(c.web_listen_addr, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(
        c.firecracker_bin.as_deref(),
        Some(Path::new("/opt/fc/firecracker"))
    );
    assert_eq!(
        c.ssh_key_path.as_deref(),
        Some(Path::new("/home/u/.ssh/banger"))
    );
    assert_eq!(c.default_image_name.as_deref(), Some("devbox"));
    assert_eq!(c.auto_stop_stale_after, Some(Duration::from_secs(7200)));
    assert_eq!(c.stats_poll_interval, Duration::from_secs(90));
    assert_eq!(c.metrics_poll_interval, Duration::from_secs(90));
    assert_eq!(c.bridge_name, "br-test");
    assert_eq!(c.bridge_ipcidr.to_string(), "10.99.0.0/16");
    assert_eq!(c.bridge_host, Ipv4Addr::new(10, 99, 0, 1));
    assert_eq!(c.tap_pool_size, 0);
    assert!(c.allow_guest_to_guest);
    assert_eq!(c.warm_pool_size, 2);
    assert_eq!(c.warm_pool_images, ["devbox", "alpine"]);
    assert_eq!(
        c.default_dns,
        vec![Ipv4Addr::new(9, 9, 9, 9), Ipv4Addr::new(1, 0, 0, 1)]
    );
    assert_eq!(c.vmm, VmmChoice::Qemu);
    assert_eq!(c.qemu_bin.as_deref(), Some(Path::new("qemu-system-x86_64")));
    assert_eq!(
        c.vhost_vsock_bin.as_deref(),
        Some(Path::new("/home/u/.cargo/bin/vhost-device-vsock"))
    );
    assert_eq!(
        c.kernel_catalog.as_deref(),
        Some("https://kernels.example/catalog.json")
    );
    assert_eq!(c.insecure_registries, ["registry.lan:5000", "10.0.0.7"]);
    // The trailing slash goes: URLs are built as `{registry}/{package}`.
    assert_eq!(c.npm_registry, "https://npm.mirror.example");
    assert_eq!(c.debian_mirror, "http://mirror.example/debian");
    assert_eq!(
        c.build_cache_dir.as_deref(),
        Some(Path::new("/home/u/cache/banger-build"))
    );
    assert_eq!(c.debian_keyring, Path::new("/home/u/keys/debian.gpg"));
    // Every key in the table was exercised, and each knows its line.
    assert_eq!(c.origins.len(), KEYS.len());
    assert_eq!(
        c.origin("vmm"),
        Origin::File {
            path: FILE.into(),
            line: 17
        }
    );
}

#[test]
fn empty_listen_addr_disables_the_web_ui() {
    assert_eq!(
        parse(r#"web_listen_addr = """#).unwrap().web_listen_addr,
        None
    );
}

#[test]
fn host_address_can_be_written_out() {
    let c = parse(r#"bridge_ipcidr = "192.168.77.5/24""#).unwrap();
    assert_eq!(c.bridge_host, Ipv4Addr::new(192, 168, 77, 5));
    assert_eq!(c.bridge_ipcidr.to_string(), "192.168.77.0/24");
}

#[test]
fn stale_stop_can_be_turned_off() {
    for off in [r#""off""#, r#""0s""#, r#""""#] {
        let c = parse(&format!("auto_stop_stale_after = {off}")).unwrap();
        assert_eq!(c.auto_stop_stale_after, None, "{off}");
    }
}

#[test]
fn single_dns_string_is_accepted() {
    let c = parse(r#"default_dns = "8.8.8.8""#).unwrap();
    assert_eq!(c.default_dns, vec![Ipv4Addr::new(8, 8, 8, 8)]);
}

#[test]
fn unknown_key_names_file_line_and_a_suggestion() {
    let e = err("log_level = \"info\"\nbrige_name = \"x\"\n");
    assert_eq!(
        e,
        "/cfg/config.toml:2: unknown key `brige_name`, did you mean `bridge_name`?"
    );
    let e = err("[network]\nmtu = 1500\n");
    assert!(
        e.contains("unknown key `network`") && e.contains("known keys:"),
        "{e}"
    );
}

#[test]
fn wrong_types_name_the_key_and_line() {
    let e = err("\n\ntap_pool_size = \"four\"\n");
    assert_eq!(
        e,
        "/cfg/config.toml:3: invalid value for `tap_pool_size`: expected an integer, found string"
    );
    assert!(err("log_level = 3").contains("`log_level`: expected a string, found integer"));
    assert!(
        err("allow_guest_to_guest = \"yes\"")
            .contains("`allow_guest_to_guest`: expected true or false, found string")
    );
}

#[test]
fn bad_values_are_explained() {
    let cases = [
        (
            "log_level = \"loud\"",
            "`log_level`: `loud` is not a log level",
        ),
        (
            "web_listen_addr = \"localhost\"",
            "`web_listen_addr`: `localhost` is not an IP:PORT",
        ),
        (
            "stats_poll_interval = \"soon\"",
            "`stats_poll_interval`: `soon` is not a duration",
        ),
        (
            "stats_poll_interval = 90",
            "`stats_poll_interval`: 90 has no unit",
        ),
        (
            "metrics_poll_interval = \"10ms\"",
            "`metrics_poll_interval`: must be at least 1s",
        ),
        (
            "auto_stop_stale_after = \"2 fortnights\"",
            "`auto_stop_stale_after`: `2 fortnights` is not a duration",
        ),
        (
            "bridge_ipcidr = \"172.16.0.1\"",
            "`bridge_ipcidr`: `172.16.0.1` is not an IPv4 CIDR",
        ),
        (
            "bridge_ipcidr = \"172.16.0.0/31\"",
            "`bridge_ipcidr`: prefix /31",
        ),
        ("bridge_ipcidr = \"172.16.0.255/24\"", "broadcast address"),
        (
            "bridge_name = \"a-name-much-too-long\"",
            "`bridge_name`: `a-name-much-too-long` is not a network interface name",
        ),
        ("tap_pool_size = -1", "`tap_pool_size`: -1 is out of range"),
        (
            "warm_pool_size = 17",
            "`warm_pool_size`: 17 is out of range (0 to 16)",
        ),
        (
            "warm_pool_images = \"debian\"",
            "`warm_pool_images`: expected a list of names, found string",
        ),
        (
            "warm_pool_images = [\"ok\", \"../x\"]",
            "`warm_pool_images`: `../x` is not a valid name",
        ),
        (
            "tap_pool_size = 100000",
            "`tap_pool_size`: 100000 is out of range",
        ),
        (
            "default_dns = \"dns.example\"",
            "`default_dns`: `dns.example` is not an IPv4 address",
        ),
        ("default_dns = []", "`default_dns`: give one to three"),
        ("vmm = \"kvmtool\"", "`vmm`: `kvmtool` is not a VMM"),
        (
            "default_image_name = \"../etc\"",
            "`default_image_name`: `../etc` is not a valid name",
        ),
        (
            "ssh_key_path = \"keys/id\"",
            "`ssh_key_path`: `keys/id` must be an absolute path",
        ),
        (
            "firecracker_bin = \"bin/fc\"",
            "`firecracker_bin`: `bin/fc` must be an absolute path, ~/path, or a command name",
        ),
        ("qemu_bin = \"\"", "`qemu_bin`: must not be empty"),
        (
            "kernel_catalog = \"catalog.json\"",
            "`kernel_catalog`: `catalog.json` is not a catalog location",
        ),
        (
            "insecure_registries = [\"http://reg:5000\"]",
            "`insecure_registries`: `http://reg:5000` is not a registry host",
        ),
        (
            "insecure_registries = \"reg:5000\"",
            "`insecure_registries`: expected a list of registries",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.starts_with("/cfg/config.toml:1: "), "{text}: {e}");
        assert!(e.contains(want), "{text}:\n got  {e}\n want {want}");
    }
}

#[test]
fn syntax_errors_carry_the_toml_position() {
    let e = parse("log_level = \n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }));
    let cause = std::error::Error::source(&e).unwrap().to_string();
    assert!(cause.contains("line 1"), "{cause}");
}

#[test]
fn missing_file_is_defaults_unless_named_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    assert_eq!(Config::load(&path, false, None).unwrap(), Config::default());
    let e = Config::load(&path, true, None).unwrap_err();
    assert!(matches!(e, ConfigError::Missing { .. }), "{e}");
}

#[test]
fn an_npm_registry_must_be_an_http_url() {
    let e = parse("npm_registry = \"registry.npmjs.org\"\n").unwrap_err();
    assert!(
        e.to_string().contains("is not an http:// or https:// URL"),
        "{e}"
    );
}
