//! Files that make up images and VM disks: fast copies and format checks.

pub mod copy;
pub mod debugfs;
pub mod format;
mod grow;

pub use copy::{CopyMethod, clone_file, copy_tree};
pub use grow::grow_ext4;
