//! The privileged network helper a non-root daemon runs through `sudo -n`;
//! see `bangerd::net::helper`.

fn main() -> std::process::ExitCode {
    bangerd::net::helper::main()
}
