//! banger's guest agent. It is built static (see the Makefile) because it
//! runs inside arbitrary guests, glibc and musl alike, and as `/init` of the
//! initramfs banger generates, where there is no libc at all.
//!
//! As pid 1 it is that init (see `init.rs`). Otherwise it identifies itself;
//! the vsock protocol arrives with the VM lifecycle work.

mod init;

fn main() {
    if std::process::id() == 1 {
        init::run();
    }
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => {
            println!("banger-vsock-agent {}", env!("CARGO_PKG_VERSION"))
        }
        _ => {
            eprintln!(
                "banger-vsock-agent {}: usage: banger-vsock-agent --version",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(2);
        }
    }
}
