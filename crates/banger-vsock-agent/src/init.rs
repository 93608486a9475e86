//! The initramfs init: load the modules listed in `/banger/modules` (in
//! order), mount the root filesystem named on the kernel command line, and
//! hand over to its init. Every failure is printed on the console with what
//! was missing, then init exits (the kernel panics and, with `panic=-1`,
//! the VM stops instead of hanging).

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

const MODULE_LIST: &str = "/banger/modules";
const NEW_ROOT: &str = "/newroot";
const ROOT_WAIT: Duration = Duration::from_secs(30);

pub fn run() -> ! {
    match boot() {
        Ok(never) => match never {},
        Err(why) => {
            say!("FATAL: {why}");
            say!("the VM cannot boot; see the lines above");
            std::thread::sleep(Duration::from_secs(1));
            std::process::exit(1);
        }
    }
}

enum Never {}

fn boot() -> Result<Never, String> {
    for (src, dir, fstype) in [
        ("devtmpfs", "/dev", "devtmpfs"),
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
    ] {
        let _ = fs::create_dir_all(dir);
        // EBUSY: the kernel may have mounted devtmpfs already.
        if let Err(e) = mount(Some(src), dir, Some(fstype), 0, None)
            && e.raw_os_error() != Some(libc::EBUSY)
        {
            return Err(format!("mounting {dir}: {e}"));
        }
    }
    load_modules()?;
    let cmdline =
        fs::read_to_string("/proc/cmdline").map_err(|e| format!("reading /proc/cmdline: {e}"))?;
    let args = Cmdline::parse(&cmdline);
    let root = args.root.ok_or("no root= on the kernel command line")?;
    wait_for(&root)?;
    fs::create_dir_all(NEW_ROOT).map_err(|e| format!("creating {NEW_ROOT}: {e}"))?;
    let flags = if args.read_only { libc::MS_RDONLY } else { 0 };
    mount(
        Some(&root),
        NEW_ROOT,
        Some(&args.fstype),
        flags,
        args.flags.as_deref(),
    )
    .map_err(|e| format!("mounting {root} ({}) on {NEW_ROOT}: {e}", args.fstype))?;
    let init = args.init.unwrap_or_else(|| "/sbin/init".into());
    let target = format!("{NEW_ROOT}{init}");
    if fs::symlink_metadata(&target).is_err() {
        return Err(format!("the root filesystem on {root} has no {init}"));
    }
    for dir in ["/dev", "/proc", "/sys"] {
        let dest = format!("{NEW_ROOT}{dir}");
        if Path::new(&dest).is_dir() {
            mount(Some(dir), &dest, None, libc::MS_MOVE, None)
                .map_err(|e| format!("moving {dir}: {e}"))?;
        }
    }
    say!("switching to {root}, running {init}");
    std::env::set_current_dir(NEW_ROOT).map_err(|e| format!("chdir {NEW_ROOT}: {e}"))?;
    mount(Some("."), "/", None, libc::MS_MOVE, None)
        .map_err(|e| format!("moving the new root onto /: {e}"))?;
    let dot = CString::new(".").expect("no NUL");
    // SAFETY: chroot with a valid NUL-terminated path.
    if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
        return Err(format!("chroot: {}", std::io::Error::last_os_error()));
    }
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let prog = CString::new(init.clone()).map_err(|_| "init path has a NUL byte")?;
    let argv = [prog.as_ptr(), std::ptr::null()];
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execv(prog.as_ptr(), argv.as_ptr()) };
    Err(format!(
        "executing {init}: {}",
        std::io::Error::last_os_error()
    ))
}

fn load_modules() -> Result<(), String> {
    let list = match fs::read_to_string(MODULE_LIST) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading {MODULE_LIST}: {e}")),
    };
    for path in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let file = fs::File::open(path)
            .map_err(|e| format!("module {path} is missing from the initrd: {e}"))?;
        let params = CString::new("").expect("no NUL");
        // SAFETY: finit_module takes an open fd, a C string and flags.
        let rc =
            unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("loading module {path}: {e}"));
            }
        }
    }
    Ok(())
}

fn wait_for(device: &str) -> Result<(), String> {
    let start = Instant::now();
    while !Path::new(device).exists() {
        if start.elapsed() > ROOT_WAIT {
            return Err(format!(
                "root device {device} did not appear within {}s (is the disk attached, and its driver in the initrd?)",
                ROOT_WAIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[derive(Debug, Default, PartialEq)]
struct Cmdline {
    root: Option<String>,
    fstype: String,
    flags: Option<String>,
    read_only: bool,
    init: Option<String>,
}

impl Cmdline {
    fn parse(text: &str) -> Cmdline {
        let mut c = Cmdline {
            fstype: "ext4".into(),
            // The kernel's own default; systemd remounts per fstab.
            read_only: true,
            ..Cmdline::default()
        };
        for word in text.split_whitespace() {
            match word.split_once('=') {
                Some(("root", v)) => c.root = Some(v.to_owned()),
                Some(("rootfstype", v)) => c.fstype = v.to_owned(),
                Some(("rootflags", v)) => c.flags = Some(v.to_owned()),
                Some(("init", v)) => c.init = Some(v.to_owned()),
                None if word == "rw" => c.read_only = false,
                None if word == "ro" => c.read_only = true,
                _ => {}
            }
        }
        c
    }
}

pub(crate) fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(|_| std::io::Error::other("NUL in mount argument"));
    let (src, target) = (src.map(c).transpose()?, c(target)?);
    let (fstype, data) = (fstype.map(c).transpose()?, data.map(c).transpose()?);
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is null or a valid NUL-terminated string kept alive above.
    let rc = unsafe {
        libc::mount(
            ptr(&src),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_defaults_and_overrides() {
        let c = Cmdline::parse("console=ttyS0 root=/dev/vda rw init=/lib/systemd/systemd quiet");
        assert_eq!(c.root.as_deref(), Some("/dev/vda"));
        assert!(!c.read_only);
        assert_eq!(c.fstype, "ext4");
        assert_eq!(c.init.as_deref(), Some("/lib/systemd/systemd"));
        let d = Cmdline::parse("root=/dev/vdb rootfstype=ext2 rootflags=noatime");
        assert!(d.read_only);
        assert_eq!(
            (d.fstype.as_str(), d.flags.as_deref()),
            ("ext2", Some("noatime"))
        );
    }
}
