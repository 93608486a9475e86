use super::*;
use crate::net::RecordingRunner;
use std::sync::Arc;

fn net(pool: u32) -> (HostNet, Arc<RecordingRunner>) {
    let config = banger_config::Config {
        bridge_name: "br-dev".into(),
        bridge_ipcidr: "10.7.0.0/24".parse().unwrap(),
        bridge_host: "10.7.0.1".parse().unwrap(),
        tap_pool_size: pool,
        ..Default::default()
    };
    let rec = Arc::new(RecordingRunner::default());
    let mut n = HostNet::new(&config, Box::new(rec.clone()));
    n.uid = 1000;
    (n, rec)
}

fn privileged(rec: &RecordingRunner) -> Vec<String> {
    rec.calls()
        .into_iter()
        .filter(|c| c.starts_with('#'))
        .collect()
}

#[test]
fn a_fresh_host_gets_bridge_address_forwarding_and_nat() {
    let (n, rec) = net(0);
    rec.answer("sysctl -n", Ok("0\n"));
    n.ensure().unwrap();
    let p = privileged(&rec);
    assert_eq!(p[0], "# ip link add name br-dev type bridge");
    assert_eq!(p[1], "# ip addr add 10.7.0.1/24 dev br-dev");
    assert_eq!(p[2], "# ip link set br-dev up");
    assert_eq!(p[3], "# sysctl -w net.ipv4.ip_forward=1");
    assert!(
        p[4].starts_with("# nft -f - <<table ip banger_br_dev\ndelete table ip banger_br_dev\n"),
        "{}",
        p[4]
    );
    assert!(
        p[4].contains("ip saddr 10.7.0.0/24 oifname != \"br-dev\" masquerade"),
        "{}",
        p[4]
    );
    assert_eq!(p.len(), 5);
}

#[test]
fn an_existing_bridge_is_left_alone() {
    let (n, rec) = net(0);
    rec.answer(
        "ip -j link show",
        Ok(r#"[{"ifname":"lo","flags":["UP"]},{"ifname":"br-dev","flags":["BROADCAST","UP"]}]"#),
    );
    rec.answer(
        "ip -j addr show dev br-dev",
        Ok(r#"[{"addr_info":[{"local":"10.7.0.1","prefixlen":24}]}]"#),
    );
    rec.answer("sysctl -n", Ok("1\n"));
    n.ensure().unwrap();
    let p = privileged(&rec);
    assert_eq!(p.len(), 1, "only the NAT reload: {p:?}");
    assert!(p[0].starts_with("# nft -f -"));
}

#[test]
fn taps_come_from_the_pool_and_are_never_handed_out_twice() {
    let (n, rec) = net(2);
    rec.answer(
        "ip -j link show type bridge",
        Ok(r#"[{"ifname":"br-dev"}]"#),
    );
    rec.answer(
        "ip -j link show master br-dev",
        Ok(r#"[{"ifname":"br-devt0"},{"ifname":"br-devt1"},{"ifname":"other"}]"#),
    );
    let a = n.take_tap(&[]).unwrap();
    let b = n.take_tap(&[]).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("br-devt0", "br-devt1"));
    assert!(privileged(&rec).is_empty(), "spares need no root");
    // Both are taken (one recorded, one reserved): the next one is new.
    n.settle(&a);
    rec.answer(
        "ip -j link show",
        Ok(r#"[{"ifname":"br-devt0"},{"ifname":"br-devt1"}]"#),
    );
    let c = n.take_tap(std::slice::from_ref(&a)).unwrap();
    assert_eq!(c, "br-devt2");
    assert_eq!(
        privileged(&rec),
        [
            "# ip tuntap add dev br-devt2 mode tap user 1000",
            "# ip link set br-devt2 master br-dev up"
        ]
    );
}

#[test]
fn refill_trims_extra_spares_highest_first() {
    let (n, rec) = net(1);
    rec.answer(
        "ip -j link show master br-dev",
        Ok(r#"[{"ifname":"br-devt10"},{"ifname":"br-devt2"},{"ifname":"br-devt0"}]"#),
    );
    rec.answer(
        "ip -j link show type tun",
        Ok(r#"[{"ifname":"br-devt10"},{"ifname":"br-devt2"},{"ifname":"br-devt0"}]"#),
    );
    n.refill(&["br-devt0".into()]).unwrap();
    assert_eq!(privileged(&rec), ["# ip link del br-devt10"]);
}

#[test]
fn only_banger_devices_are_changed() {
    // A bridge_name that names the host's NIC: no address added to it.
    let (n, rec) = net(0);
    rec.answer("ip -j link show type bridge", Ok("[]"));
    rec.answer("ip -j link show type tun", Ok(r#"[{"ifname":"br-devt1"}]"#));
    rec.answer(
        "ip -j link show",
        Ok(r#"[{"ifname":"br-dev","flags":["UP"]}]"#),
    );
    let e = n.ensure().unwrap_err();
    assert!(matches!(e, NetError::NotABridge(_)), "{e}");
    assert!(n.teardown().is_err());
    // Not a TAP, or not named as ours: never deleted.
    for name in ["eth0", "br-devt", "br-devt1x", "br-devt0"] {
        let e = n.del_tap(name).unwrap_err();
        assert!(matches!(e, NetError::NotOurs(_)), "{name}: {e}");
    }
    assert!(privileged(&rec).is_empty(), "{:?}", rec.calls());
    n.del_tap("br-devt1").unwrap();
    assert_eq!(privileged(&rec), ["# ip link del br-devt1"]);
}

#[test]
fn without_root_every_change_is_one_helper_call() {
    let (n, rec) = net(1);
    let n = n.with_helper("/usr/lib/banger/banger-net-helper".into());
    n.ensure().unwrap();
    let tap = n.take_tap(&[]).unwrap();
    n.settle(&tap);
    rec.answer(
        "ip -j link show master br-dev",
        Ok(r#"[{"ifname":"br-devt0"},{"ifname":"br-devt1"}]"#),
    );
    n.refill(&[]).unwrap();
    n.teardown().unwrap();
    assert_eq!(tap, "br-devt0");
    assert_eq!(
        privileged(&rec),
        [
            "# /usr/lib/banger/banger-net-helper ensure br-dev 10.7.0.1/24 1.1.1.1 deny",
            "# /usr/lib/banger/banger-net-helper tap-add br-dev br-devt0",
            "# /usr/lib/banger/banger-net-helper tap-del br-dev br-devt1",
            "# /usr/lib/banger/banger-net-helper teardown br-dev",
        ]
    );
}

#[test]
fn teardown_removes_taps_bridge_and_table() {
    let (n, rec) = net(1);
    rec.answer("ip -j link show master", Ok(r#"[{"ifname":"br-devt0"}]"#));
    rec.answer("ip -j link show", Ok(r#"[{"ifname":"br-dev"}]"#));
    n.teardown().unwrap();
    let p = privileged(&rec);
    assert_eq!(p[0], "# ip link del br-devt0");
    assert_eq!(p[1], "# ip link del br-dev");
    assert!(p[2].contains("delete table ip banger_br_dev"));
    assert!(p[2].contains("delete table bridge banger_br_dev"));
    assert!(p[2].contains("delete table ip6 banger_br_dev"));
}

#[test]
fn guests_reach_the_host_at_the_bridge_address_and_dns_only() {
    let (mut n, _) = net(0);
    n.dns = vec!["10.7.9.53".parse().unwrap(), "1.1.1.1".parse().unwrap()];
    let rules = n.nft_ruleset();
    let input = "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\
                 \t\tiifname \"br-dev\" ip daddr 10.7.0.1 accept\n\
                 \t\tiifname \"br-dev\" ct state established,related accept\n\
                 \t\tiifname \"br-dev\" ip daddr { 10.7.9.53, 1.1.1.1 } meta l4proto { tcp, udp } th dport 53 accept\n\
                 \t\tiifname \"br-dev\" drop\n\t}\n";
    assert!(rules.contains(input), "{rules}");
    // Link-local (cloud metadata) first in forward, before any accept.
    assert!(
        rules.contains(
            "policy accept;\n\t\tiifname \"br-dev\" ip daddr 169.254.0.0/16 drop\n\t\tiifname \"br-dev\" oifname"
        ),
        "{rules}"
    );
    // IPv6: the bridge's own link only, nothing forwarded.
    assert!(
        rules.contains("table ip6 banger_br_dev {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiifname \"br-dev\" ip6 daddr { fe80::/10, ff00::/8 } accept\n\t\tiifname \"br-dev\" drop\n"),
        "{rules}"
    );
    assert!(
        rules.contains("\t\tiifname \"br-dev\" drop\n\t}\n}\ntable bridge"),
        "{rules}"
    );
    // Each table is replaced, not added to.
    for family in ["ip", "ip6", "bridge"] {
        assert!(
            rules.contains(&format!(
                "table {family} banger_br_dev\ndelete table {family} banger_br_dev\n"
            )),
            "{rules}"
        );
    }
    // No DNS servers: no DNS rule (and no empty set, which nft refuses).
    n.dns.clear();
    assert!(!n.nft_ruleset().contains("dport 53"));
}

#[test]
fn guests_are_kept_apart_unless_allowed() {
    let (mut n, _) = net(0);
    let rules = n.nft_ruleset();
    // Bridged between two of our TAPs, and routed back into the bridge.
    assert!(
        rules.contains(
            "table bridge banger_br_dev {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname \"br-devt*\" oifname \"br-devt*\" drop\n"
        ),
        "{rules}"
    );
    let hairpin = "iifname \"br-dev\" oifname \"br-dev\" drop\n\t\tiifname \"br-dev\" accept";
    assert!(rules.contains(hairpin), "drop before the accept: {rules}");

    n.guest_to_guest = true;
    let rules = n.nft_ruleset();
    assert!(
        !rules.contains("oifname \"br-dev\" drop") && !rules.contains("br-devt*"),
        "{rules}"
    );
    // The bridge table of an earlier, isolating load is still removed.
    assert!(
        rules.ends_with("table bridge banger_br_dev\ndelete table bridge banger_br_dev\n"),
        "{rules}"
    );
}

#[test]
fn a_failed_command_is_reported_with_its_stderr() {
    let (n, rec) = net(0);
    rec.answer(
        "ip link add",
        Err("RTNETLINK answers: Operation not permitted"),
    );
    let e = n.ensure().unwrap_err().to_string();
    assert_eq!(
        e,
        "`ip link add name br-dev type bridge` failed: RTNETLINK answers: Operation not permitted"
    );
}
