//! `banger config show` and how config errors reach the user.

mod common;

use common::TestHome;

#[test]
fn show_reports_values_and_where_they_came_from() {
    let home = TestHome::with_config("# banger\nbridge_name = \"br-dev\"\ntap_pool_size = 8\n");
    let out = home.banger(&["config", "show", "--json"]).ok().json();
    let key = |name: &str| {
        out["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == name)
            .unwrap()
            .clone()
    };
    let file = home.config_file().display().to_string();
    assert_eq!(key("bridge_name")["value"], "br-dev");
    assert_eq!(key("bridge_name")["source"], format!("{file}:2"));
    assert_eq!(key("tap_pool_size")["value"], 8);
    assert_eq!(key("tap_pool_size")["source"], format!("{file}:3"));
    assert_eq!(key("web_listen_addr")["value"], "127.0.0.1:7777");
    assert_eq!(key("web_listen_addr")["source"], "default");
    assert_eq!(
        key("ssh_key_path")["value"],
        home.ssh_key().display().to_string()
    );
    let text = home.banger(&["config", "show"]).ok().stdout;
    assert!(
        text.contains("bridge_name") && text.contains(&format!("# {file}:2")),
        "{text}"
    );
    assert!(
        home.daemon_pid().is_none(),
        "config show does not need the daemon"
    );
}

#[test]
fn a_bad_config_is_reported_with_file_line_and_key_and_starts_nothing() {
    let home = TestHome::with_config("log_level = \"info\"\n\nbridge_ipcidr = \"300.1.2.3/24\"\n");
    let out = home.banger(&["daemon", "start"]);
    assert_eq!(out.code, 1);
    let file = home.config_file().display().to_string();
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "error: {file}:3: invalid value for `bridge_ipcidr`: `300.1.2.3/24` is not an IPv4 CIDR like \"172.16.0.1/24\""
        )
    );
    assert!(home.daemon_pid().is_none());
}

#[test]
fn syntax_errors_print_the_chain_once() {
    let home = TestHome::with_config("vmm = \n");
    let out = home.banger(&["config", "show"]);
    assert_eq!(out.code, 1);
    let file = home.config_file().display().to_string();
    assert!(
        out.stderr.starts_with(&format!(
            "error: config file {file} is not valid TOML\n  caused by: "
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);
}

#[test]
fn banger_config_names_an_explicit_file() {
    let home = TestHome::new();
    let out = std::process::Command::new(common::banger_bin())
        .args(["config", "show"])
        .env("HOME", home.root().join("home"))
        .env("XDG_RUNTIME_DIR", home.root().join("run"))
        .env("BANGER_CONFIG", home.root().join("nope.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("nope.toml (named by BANGER_CONFIG) does not exist"),
        "{stderr}"
    );
}
