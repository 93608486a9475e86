//! banger's guest agent. It is built static (see the Makefile) because it
//! runs inside arbitrary guests, glibc and musl alike, and as `/init` of the
//! initramfs banger generates, where there is no libc at all.
//!
//! - as pid 1 named `/init`: the initrd's init (`init.rs`);
//! - as pid 1 by any other name: the init of an image that has none
//!   (`pid1.rs`; `image pull` links `/sbin/init` here), with `boot-services`
//!   (sshd or its first-boot install) as its helper;
//! - `serve`: the agent bangerd talks to over vsock (`server.rs`);
//! - `serve --unix PATH`: the same on a Unix socket, for tests.

/// A line on the console from either init (`init.rs`, `pid1.rs`).
macro_rules! say {
    ($($arg:tt)*) => { println!("banger-init: {}", format!($($arg)*)) };
}

mod exec;
mod init;
mod net;
mod outbox;
mod pid1;
mod ports;
mod server;
mod sessions;
mod transfer;

fn main() {
    if std::process::id() == 1 {
        match std::env::args().next().as_deref() {
            Some("/init") => init::run(),
            _ => pid1::run(),
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["--version"] | ["-V"] => {
            println!("banger-vsock-agent {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["serve"] => server::serve(server::Listen::Vsock(banger_agent_proto::AGENT_PORT)),
        ["serve", "--port", port] => match port.parse() {
            Ok(p) => server::serve(server::Listen::Vsock(p)),
            Err(_) => Err(format!("--port {port}: not a port number")),
        },
        ["serve", "--unix", path] => server::serve(server::Listen::Unix(path.into())),
        ["boot-services"] => pid1::boot_services(),
        _ => {
            eprintln!(
                "banger-vsock-agent {}\nusage: banger-vsock-agent serve [--port N | --unix PATH]\n       banger-vsock-agent --version",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("banger-vsock-agent: {e}");
        std::process::exit(1);
    }
}
