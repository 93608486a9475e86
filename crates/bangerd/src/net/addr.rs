//! Guest addresses: which ones the bridge network offers, and how a guest
//! learns its own (the kernel's `ip=` syntax, applied by the agent).

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The addresses guests may get, lowest first: the network's hosts minus
/// the bridge's own address.
pub fn guest_addresses(net: Ipv4Net, host: Ipv4Addr) -> impl Iterator<Item = Ipv4Addr> {
    net.hosts().filter(move |a| *a != host)
}

/// A locally administered unicast MAC derived from the address, so a guest
/// keeps its MAC across restarts and no two guests share one.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("06:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNet {
    pub ip: Ipv4Addr,
    pub net: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: String,
}

impl GuestNet {
    /// Kernel command line words read by banger-vsock-agent (net.rs).
    /// `net.ifnames=0` keeps the NIC `eth0` whatever the guest's udev does.
    pub fn cmdline(&self) -> String {
        let mut c = format!(
            "ip={}::{}:{}:{}:eth0:off net.ifnames=0",
            self.ip,
            self.gateway,
            self.net.netmask(),
            self.hostname
        );
        if !self.dns.is_empty() {
            let dns: Vec<String> = self.dns.iter().map(ToString::to_string).collect();
            c.push_str(&format!(" banger.dns={}", dns.join(",")));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_every_host_address_but_the_bridges() {
        let net: Ipv4Net = "172.16.0.0/29".parse().unwrap();
        let all: Vec<String> = guest_addresses(net, "172.16.0.1".parse().unwrap())
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            all,
            [
                "172.16.0.2",
                "172.16.0.3",
                "172.16.0.4",
                "172.16.0.5",
                "172.16.0.6"
            ]
        );
        let tiny: Ipv4Net = "10.9.0.0/30".parse().unwrap();
        assert_eq!(
            guest_addresses(tiny, "10.9.0.1".parse().unwrap()).count(),
            1
        );
    }

    #[test]
    fn command_line_and_mac() {
        let g = GuestNet {
            ip: "172.16.0.7".parse().unwrap(),
            net: "172.16.0.0/24".parse().unwrap(),
            gateway: "172.16.0.1".parse().unwrap(),
            dns: vec!["1.1.1.1".parse().unwrap(), "9.9.9.9".parse().unwrap()],
            hostname: "dev-1".into(),
        };
        assert_eq!(
            g.cmdline(),
            "ip=172.16.0.7::172.16.0.1:255.255.255.0:dev-1:eth0:off net.ifnames=0 banger.dns=1.1.1.1,9.9.9.9"
        );
        assert_eq!(mac_for(g.ip), "06:00:ac:10:00:07");
    }
}
