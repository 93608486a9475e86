//! The CLI's tests run on the workspace's test kit (crates/banger-testkit);
//! the registry helpers for `image pull` tests are theirs alone.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod registry;

pub use banger_testkit::*;
