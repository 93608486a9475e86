//! What the CLI and the daemon must agree on without asking each other:
//! the configuration file, where every file lives, and banger's SSH key.

pub mod config;
pub mod dirs;
pub mod paths;
pub mod process;
pub mod ssh_key;

pub use config::{Config, ConfigError, Origin, VmmChoice};
pub use dirs::{ImageDir, KernelDir, VmDir};
pub use paths::{Env, Paths, PathsError};
