//! banger's test kit, shared by every crate's tests: a banger installation
//! in a temporary home (`TestHome`: its own XDG dirs, config and daemon,
//! torn down even when a test fails), VMs made through the real CLI
//! (`TestVm`), network namespaces for everything that makes bridges and
//! TAPs (`NetNs`), the artifacts real guests boot (Debian's kernel package,
//! the golden image, busybox root filesystems, the static agent), and a
//! way into a guest through its agent.
//!
//! A test that boots a VM reads like the feature:
//!
//! ```no_run
//! let home = banger_testkit::TestHome::networked("");
//! home.with_busybox("bb");
//! let vm = home.vm("one").image("bb").create();
//! assert_eq!(vm.run(&["cat", "/proc/sys/kernel/hostname"]), "one");
//! ```

pub mod artifacts;
pub mod browser;
pub mod git;
pub mod guest;
pub mod home;
pub mod netns;
pub mod piped;
pub mod process;
pub mod terminal;
pub mod vm;

pub use artifacts::{
    build_cache, busybox_image, busybox_rootfs, golden_image, init_image, mkfs, test_deb,
};
pub use browser::Browser;
pub use git::git;
pub use guest::guest;
pub use home::{Run, TestHome, banger_bin, bangerd_bin, target_bin};
pub use netns::NetNs;
pub use piped::Piped;
pub use process::{Procs, alive, kill, wait_for_file, wait_gone};
pub use terminal::Terminal;
pub use vm::{TestVm, VmBuilder};
