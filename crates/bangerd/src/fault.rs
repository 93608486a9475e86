//! Crash points for tests: `BANGER_FAULT=<point>` in the daemon's
//! environment makes it kill itself (SIGKILL: no destructor, no cleanup,
//! as a power cut or the OOM killer would) when it reaches that point, so a
//! test can prove what the next start recovers from each step. Compiled
//! into debug builds only (the test suite's); in a release build `point`
//! is empty.
//!
//! The points, in order within each operation:
//! - `vm create`: `vm-create:recorded`, `vm-create:cloned`,
//!   `vm-create:rootfs-injected`, `vm-create:booted`
//! - `image promote`: `image-promote:staged`, `image-promote:committed`
//! - `image pull`: `image-pull:staged`, `image-pull:committed`
//! - `kernel import` and `kernel pull`: `kernel-install:staged`,
//!   `kernel-install:committed`
//! - `vm workspace prepare`: `workspace-prepare:sent` (the files are in
//!   the guest, the workspace not yet finished)
//! - `image build`: `image-build:recorded` (the build and its staging
//!   directory), `image-build:vm-made` (the build VM's record, disks and
//!   inputs), `image-build:booted` (the build VM running); publishing is
//!   `staging.commit` then the record, as a pull's

/// The daemon dies here when `BANGER_FAULT` names this point.
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BANGER_FAULT").is_some_and(|f| f == name) {
        tracing::error!(point = name, "BANGER_FAULT: the daemon kills itself here");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
