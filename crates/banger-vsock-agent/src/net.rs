//! The guest's network, from the kernel command line: bangerd passes the
//! address it allocated in the kernel's own `ip=` syntax, and the agent
//! applies it over netlink at start. No DHCP and no guest tools (`ip`,
//! ifupdown, networkd) are needed, so every image gets the same network.
//!
//! `ip=<client>::<gateway>:<netmask>:<hostname>:<device>:off`
//! `banger.dns=<a>,<b>` -> /etc/resolv.conf

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    pub device: Option<String>,
    pub dns: Vec<Ipv4Addr>,
}

/// The network banger asked for, if the command line has an `ip=`.
pub fn from_cmdline(cmdline: &str) -> Result<Option<NetConfig>, String> {
    let mut cfg = None;
    let mut dns = Vec::new();
    for word in cmdline.split_whitespace() {
        if let Some(v) = word.strip_prefix("ip=") {
            cfg = Some(parse_ip(v)?);
        } else if let Some(v) = word.strip_prefix("banger.dns=") {
            for a in v.split(',').filter(|a| !a.is_empty()) {
                dns.push(
                    a.parse()
                        .map_err(|_| format!("banger.dns: bad address {a:?}"))?,
                );
            }
        }
    }
    Ok(cfg.map(|c| NetConfig { dns, ..c }))
}

fn parse_ip(v: &str) -> Result<NetConfig, String> {
    let f: Vec<&str> = v.split(':').collect();
    let field = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
    let addr = |i: usize, what: &str| -> Result<Option<Ipv4Addr>, String> {
        field(i)
            .map(|s| s.parse().map_err(|_| format!("ip=: bad {what} {s:?}")))
            .transpose()
    };
    let address = addr(0, "address")?.ok_or("ip=: no address")?;
    let mask = addr(3, "netmask")?.unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(format!("ip=: netmask {mask} is not contiguous"));
    }
    Ok(NetConfig {
        address,
        prefix: bits.leading_ones() as u8,
        gateway: addr(2, "gateway")?,
        hostname: field(4).map(str::to_owned),
        device: field(5).map(str::to_owned),
        dns: Vec::new(),
    })
}

/// Applies what the kernel command line asks for; `Ok(None)` when it asks
/// for nothing.
pub fn configure_from_cmdline() -> Result<Option<NetConfig>, String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").map_err(|e| e.to_string())?;
    let Some(cfg) = from_cmdline(&cmdline)? else {
        return Ok(None);
    };
    apply(&cfg)?;
    Ok(Some(cfg))
}

fn apply(cfg: &NetConfig) -> Result<(), String> {
    let mut nl = Netlink::open()?;
    let links = nl.links()?;
    if let Some((lo, _)) = links.iter().find(|(_, n)| n == "lo") {
        nl.link_up(*lo)?;
    }
    let (index, name) = links
        .iter()
        .find(|(_, n)| Some(n) == cfg.device.as_ref())
        // The NIC's name depends on the guest's udev; there is only one.
        .or_else(|| links.iter().find(|(_, n)| n != "lo"))
        .ok_or("the guest has no network interface")?;
    nl.link_up(*index)?;
    nl.add_address(*index, cfg.address, cfg.prefix)
        .map_err(|e| format!("{name}: adding {}/{}: {e}", cfg.address, cfg.prefix))?;
    if let Some(gw) = cfg.gateway {
        nl.add_default_route(*index, gw)
            .map_err(|e| format!("{name}: default route via {gw}: {e}"))?;
    }
    if let Some(h) = &cfg.hostname {
        // SAFETY: sethostname(2) reads `len` bytes of a live buffer.
        let rc = unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) };
        if rc != 0 {
            return Err(format!("hostname {h}: {}", std::io::Error::last_os_error()));
        }
        // A read-only or odd /etc costs a slow name lookup, not the network.
        if let Err(e) = write_hosts(h) {
            eprintln!("banger-vsock-agent: {e}");
        }
    }
    if !cfg.dns.is_empty() {
        write_resolv_conf(&cfg.dns)?;
    }
    Ok(())
}

/// The hostname resolves to 127.0.1.1 (Debian's convention), so programs
/// that look their own name up (git's default identity, sudo) answer at
/// once instead of asking a DNS server, which may be unreachable and then
/// costs them seconds each.
fn write_hosts(hostname: &str) -> Result<(), String> {
    let existing = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let tmp = "/etc/.hosts.banger";
    std::fs::write(tmp, hosts_with(&existing, hostname))
        .and_then(|_| std::fs::rename(tmp, "/etc/hosts"))
        .map_err(|e| format!("/etc/hosts: {e}"))
}

/// `existing` with its 127.0.1.1 line naming `hostname` (added after the
/// localhost line when there is none); a file with no localhost line gets
/// one.
pub fn hosts_with(existing: &str, hostname: &str) -> String {
    let own = format!("127.0.1.1\t{hostname}\n");
    let mut out = String::new();
    let mut placed = false;
    for line in existing.lines() {
        let first = line.split_whitespace().next();
        if first == Some("127.0.1.1") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if !placed && first == Some("127.0.0.1") {
            out.push_str(&own);
            placed = true;
        }
    }
    if !placed {
        out = format!("127.0.0.1\tlocalhost\n{own}{out}");
    }
    out
}

/// Written as a new file renamed into place, so it replaces a symlink to
/// a resolver the guest does not run (banger configures no local resolver).
fn write_resolv_conf(dns: &[Ipv4Addr]) -> Result<(), String> {
    let text: String = dns.iter().map(|a| format!("nameserver {a}\n")).collect();
    let tmp = "/etc/.resolv.conf.banger";
    std::fs::write(tmp, format!("# written by banger-vsock-agent\n{text}"))
        .and_then(|_| std::fs::rename(tmp, "/etc/resolv.conf"))
        .map_err(|e| format!("/etc/resolv.conf: {e}"))
}

struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    fn open() -> Result<Netlink, String> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink: {e}"))?;
        socket
            .bind_auto()
            .and_then(|_| socket.connect(&SocketAddr::new(0, 0)))
            .map_err(|e| format!("netlink: {e}"))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the answers up to the ACK (or the
    /// end of a dump); a negative ACK is the errno it carries.
    fn call(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, std::io::Error> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut rx = vec![0; 64 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..n])
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let len = m.header.length as usize;
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    fn links(&mut self) -> Result<Vec<(u32, String)>, String> {
        let answers = self
            .call(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| format!("listing links: {e}"))?;
        let mut links: Vec<(u32, String)> = answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => {
                    let name = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })?;
                    Some((l.header.index, name))
                }
                _ => None,
            })
            .collect();
        links.sort();
        Ok(links)
    }

    fn link_up(&mut self, index: u32) -> Result<(), String> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.call(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(drop)
            .map_err(|e| format!("setting link {index} up: {e}"))
    }

    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> std::io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
        ];
        ok_if_exists(self.call(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ))
    }

    fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> std::io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = libc::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
            RouteAttribute::Oif(index),
        ];
        ok_if_exists(self.call(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ))
    }
}

/// A restarted agent finds its earlier work done.
fn ok_if_exists(r: std::io::Result<Vec<RouteNetlinkMessage>>) -> std::io::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hostname_resolves_locally_whatever_hosts_held() {
        let debian = "127.0.0.1\tlocalhost\n127.0.1.1\tbanger\n\n::1 localhost ip6-localhost\n";
        assert_eq!(
            hosts_with(debian, "dev-1"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tdev-1\n\n::1 localhost ip6-localhost\n"
        );
        // Again with another name: still one line, the new name.
        let twice = hosts_with(&hosts_with(debian, "dev-1"), "dev-2");
        assert_eq!(twice.matches("127.0.1.1").count(), 1, "{twice}");
        assert!(twice.contains("127.0.1.1\tdev-2\n"), "{twice}");
        // None at all (busybox images, OCI images without one).
        assert_eq!(hosts_with("", "x"), "127.0.0.1\tlocalhost\n127.0.1.1\tx\n");
        let no_v4 = hosts_with("::1 localhost\n", "x");
        assert_eq!(no_v4, "127.0.0.1\tlocalhost\n127.0.1.1\tx\n::1 localhost\n");
    }

    #[test]
    fn reads_the_kernel_ip_syntax_and_dns() {
        let c = from_cmdline(
            "console=ttyS0 ip=172.16.0.5::172.16.0.1:255.255.255.0:dev-1:eth0:off banger.dns=1.1.1.1,8.8.8.8 root=/dev/vda",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            NetConfig {
                address: Ipv4Addr::new(172, 16, 0, 5),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(172, 16, 0, 1)),
                hostname: Some("dev-1".into()),
                device: Some("eth0".into()),
                dns: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)],
            }
        );
    }

    #[test]
    fn no_ip_means_no_network_and_bad_values_are_named() {
        assert_eq!(from_cmdline("console=ttyS0 root=/dev/vda").unwrap(), None);
        let short = from_cmdline("ip=10.0.0.2::::::off").unwrap().unwrap();
        assert_eq!((short.prefix, short.gateway), (24, None));
        assert!(
            from_cmdline("ip=10.0.0.300")
                .unwrap_err()
                .contains("address")
        );
        assert!(
            from_cmdline("ip=10.0.0.2::10.0.0.1:255.0.255.0")
                .unwrap_err()
                .contains("not contiguous")
        );
        assert!(
            from_cmdline("ip=10.0.0.2 banger.dns=x")
                .unwrap_err()
                .contains("banger.dns")
        );
    }
}
