//! banger's nftables rules for the guests' network, as the one transaction
//! `HostNet::ensure` loads. Every table is declared, dropped and made anew,
//! so a reload replaces the rules instead of adding copies, and a changed
//! `allow_guest_to_guest` takes effect.
//!
//! What a guest reaches:
//! - the host at the bridge address (any port; replies to the host's own
//!   connections, SSH among them), and DNS at the `default_dns` servers
//!   wherever they are, the host's other addresses included;
//! - the outside world through NAT, except link-local addresses
//!   (169.254.0.0/16: the cloud metadata services at 169.254.169.254 hand
//!   out the host's credentials);
//! - no other address of the host (services bound to another interface),
//!   and over IPv6 only the bridge's own link (neighbour discovery, the
//!   host's link-local address): no IPv6 forwarding;
//! - another guest only with `allow_guest_to_guest`. Kept apart at both
//!   layers a packet could take: bridged between two of our TAPs (the
//!   `bridge` table; any protocol, ARP and IPv6 included), and routed by
//!   the host back into the bridge (a guest using the host as its gateway
//!   for a neighbour's address).
//!
//! The host reaching a guest passes none of these hooks.

use super::HostNet;

pub fn ruleset(n: &HostNet) -> String {
    let (t, br, net, host) = (n.nft_table(), &n.bridge, n.net, n.host);
    let dns: Vec<String> = n.dns.iter().map(|a| a.to_string()).collect();
    let dns_accept = if dns.is_empty() {
        String::new()
    } else {
        format!(
            "\t\tiifname \"{br}\" ip daddr {{ {} }} meta l4proto {{ tcp, udp }} th dport 53 accept\n",
            dns.join(", ")
        )
    };
    let hairpin = if n.guest_to_guest {
        String::new()
    } else {
        format!("\t\tiifname \"{br}\" oifname \"{br}\" drop\n")
    };
    let mut rules = format!(
        "table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {net} oifname != \"{br}\" masquerade\n\t}}\n\
         \tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{br}\" ip daddr {host} accept\n\
         \t\tiifname \"{br}\" ct state established,related accept\n\
         {dns_accept}\
         \t\tiifname \"{br}\" drop\n\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{br}\" ip daddr 169.254.0.0/16 drop\n\
         {hairpin}\
         \t\tiifname \"{br}\" accept\n\
         \t\toifname \"{br}\" ct state established,related accept\n\t}}\n}}\n\
         table ip6 {t}\ndelete table ip6 {t}\ntable ip6 {t} {{\n\
         \tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{br}\" ip6 daddr {{ fe80::/10, ff00::/8 }} accept\n\
         \t\tiifname \"{br}\" drop\n\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{br}\" drop\n\t}}\n}}\n\
         table bridge {t}\ndelete table bridge {t}\n"
    );
    if !n.guest_to_guest {
        let taps = format!("{}*", n.tap_prefix());
        rules.push_str(&format!(
            "table bridge {t} {{\n\
             \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tiifname \"{taps}\" oifname \"{taps}\" drop\n\t}}\n}}\n"
        ));
    }
    rules
}

/// Removes every table `ruleset` makes.
pub fn teardown(n: &HostNet) -> String {
    let t = n.nft_table();
    ["ip", "ip6", "bridge"]
        .iter()
        .map(|family| format!("table {family} {t}\ndelete table {family} {t}\n"))
        .collect()
}
