//! Parsers for the kinds of value config keys take. Each returns a reason
//! string; the caller adds the file, line and key.

use ipnet::Ipv4Net;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Which VMM backend runs guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmmChoice {
    /// Firecracker when it and a KVM that can run guests exist, QEMU otherwise.
    Auto,
    Firecracker,
    Qemu,
}

impl VmmChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            VmmChoice::Auto => "auto",
            VmmChoice::Firecracker => "firecracker",
            VmmChoice::Qemu => "qemu",
        }
    }
}

pub type Parsed<T> = Result<T, String>;

pub fn string(v: &Value) -> Parsed<&str> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, found {}", v.type_str()))
}

pub fn log_level(v: &Value) -> Parsed<LogLevel> {
    match string(v)?.to_ascii_lowercase().as_str() {
        "error" => Ok(LogLevel::Error),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        other => Err(format!(
            "`{other}` is not a log level (error, warn, info, debug, trace)"
        )),
    }
}

pub fn vmm(v: &Value) -> Parsed<VmmChoice> {
    match string(v)? {
        "auto" => Ok(VmmChoice::Auto),
        "firecracker" => Ok(VmmChoice::Firecracker),
        "qemu" => Ok(VmmChoice::Qemu),
        other => Err(format!("`{other}` is not a VMM (auto, firecracker, qemu)")),
    }
}

/// `""` disables the listener.
pub fn listen_addr(v: &Value) -> Parsed<Option<SocketAddr>> {
    let s = string(v)?;
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("`{s}` is not an IP:PORT address (or \"\" to disable)"))
}

/// Human durations: "90s", "2h", "1h 30m". A bare number is refused: its unit
/// would be a guess.
pub fn duration(v: &Value) -> Parsed<Duration> {
    let s = match v {
        Value::Integer(_) | Value::Float(_) => {
            return Err(format!(
                "{v} has no unit: write a duration like \"90s\" or \"2h\""
            ));
        }
        other => string(other)?,
    };
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); examples: \"90s\", \"2h\""))
}

pub fn interval(v: &Value) -> Parsed<Duration> {
    let d = duration(v)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

/// `"0s"`, `"off"` or `""` disable.
pub fn optional_duration(v: &Value) -> Parsed<Option<Duration>> {
    if let Some("" | "off" | "never") = v.as_str() {
        return Ok(None);
    }
    let d = duration(v)?;
    Ok((!d.is_zero()).then_some(d))
}

/// Absolute, `~/`-relative, or (when `bare_ok`) a bare command name looked up in PATH.
pub fn path(v: &Value, home: Option<&Path>, bare_ok: bool) -> Parsed<PathBuf> {
    let s = string(v)?;
    if s.is_empty() {
        return Err("must not be empty (remove the key to use the default)".into());
    }
    if let Some(rest) = s.strip_prefix("~/") {
        return home
            .map(|h| h.join(rest))
            .ok_or_else(|| "starts with ~/ but HOME is not set".into());
    }
    let p = PathBuf::from(s);
    if p.is_absolute() || (bare_ok && !s.contains('/')) {
        Ok(p)
    } else if bare_ok {
        Err(format!(
            "`{s}` must be an absolute path, ~/path, or a command name found in PATH"
        ))
    } else {
        Err(format!("`{s}` must be an absolute path or ~/path"))
    }
}

/// Names of images, VMs and kernels share one alphabet so they are safe in
/// paths, URLs and shell commands.
pub fn name(v: &Value) -> Parsed<String> {
    let s = string(v)?;
    check_name(s)?;
    Ok(s.to_owned())
}

pub fn check_name(s: &str) -> Parsed<()> {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if s.is_empty() || s.len() > 64 || !ok_chars || s.starts_with(['.', '-']) {
        return Err(format!(
            "`{s}` is not a valid name (1-64 of a-z A-Z 0-9 . _ -, not starting with . or -)"
        ));
    }
    Ok(())
}

/// Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
pub fn ifname(v: &Value) -> Parsed<String> {
    let s = string(v)?;
    let ok = !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if !ok {
        return Err(format!(
            "`{s}` is not a network interface name (1-15 characters, no '/', ':' or spaces)"
        ));
    }
    Ok(s.to_owned())
}

/// `172.16.0.1/24` (host address written out) or `172.16.0.0/24` (the host
/// takes the first address). Returns (network, host address).
pub fn bridge_cidr(v: &Value) -> Parsed<(Ipv4Net, Ipv4Addr)> {
    let s = string(v)?;
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 CIDR like \"172.16.0.1/24\""))?;
    if !(8..=30).contains(&net.prefix_len()) {
        return Err(format!(
            "prefix /{} leaves no room for guests or is too wide; use /8 to /30",
            net.prefix_len()
        ));
    }
    let network = net.trunc();
    let host = if net.addr() == network.network() {
        Ipv4Addr::from(u32::from(network.network()) + 1)
    } else {
        net.addr()
    };
    if host == network.broadcast() {
        return Err(format!("{host} is the broadcast address of {network}"));
    }
    Ok((network, host))
}

pub fn boolean(v: &Value) -> Parsed<bool> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", v.type_str()))
}

pub fn pool_size(v: &Value) -> Parsed<u32> {
    count(v, 256)
}

/// An integer from 0 to `max`.
fn count(v: &Value, max: u32) -> Parsed<u32> {
    let n = v
        .as_integer()
        .ok_or_else(|| format!("expected an integer, found {}", v.type_str()))?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{n} is out of range (0 to {max})"))
}

pub fn warm_pool_size(v: &Value) -> Parsed<u32> {
    count(v, 16)
}

/// A list of image (or VM, kernel) names.
pub fn names(v: &Value) -> Parsed<Vec<String>> {
    let Value::Array(items) = v else {
        return Err(format!("expected a list of names, found {}", v.type_str()));
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let n = name(item)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// One address or a list of up to three (what resolv.conf honours).
pub fn dns(v: &Value) -> Parsed<Vec<Ipv4Addr>> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() || items.len() > 3 {
        return Err("give one to three IPv4 addresses".into());
    }
    items
        .into_iter()
        .map(|item| {
            let s = string(item)?;
            s.parse::<Ipv4Addr>()
                .map_err(|_| format!("`{s}` is not an IPv4 address"))
        })
        .collect()
}

/// A catalog location: http(s):// or file:// URL, or an absolute path;
/// `""` means the built-in catalog.
pub fn catalog(v: &Value) -> Parsed<Option<String>> {
    let s = string(v)?;
    let ok = s.is_empty()
        || s.starts_with('/')
        || ["http://", "https://", "file:///"]
            .iter()
            .any(|p| s.starts_with(p) && s.len() > p.len());
    if !ok {
        return Err(format!(
            "`{s}` is not a catalog location (an http(s):// or file:// URL, or an absolute path)"
        ));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// An npm registry's base URL, without a trailing slash.
pub fn registry_url(v: &Value) -> Parsed<String> {
    let s = string(v)?.trim_end_matches('/');
    let ok = ["http://", "https://"]
        .iter()
        .any(|p| s.starts_with(p) && s.len() > p.len())
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(format!("`{s}` is not an http:// or https:// URL"));
    }
    Ok(s.to_owned())
}

/// A list of registry hosts (`host` or `host:port`), as they appear in image
/// references.
pub fn registries(v: &Value) -> Parsed<Vec<String>> {
    let Value::Array(items) = v else {
        return Err(format!(
            "expected a list of registries, found {}",
            v.type_str()
        ));
    };
    items
        .iter()
        .map(|item| {
            let s = string(item)?;
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !ok {
                return Err(format!(
                    "`{s}` is not a registry host (`host` or `host:port`, no scheme or path)"
                ));
            }
            Ok(s.to_owned())
        })
        .collect()
}
