//! A VM in a test, made through the real CLI: `home.vm("web").image("bb")
//! .create()` and then what the test wants of it, the way a user would.

use crate::guest::guest;
use crate::home::{Run, TestHome};

/// How a test VM is made; `create` runs `banger vm create`.
#[derive(Debug)]
pub struct VmBuilder<'h> {
    home: &'h TestHome,
    name: String,
    args: Vec<String>,
}

impl<'h> VmBuilder<'h> {
    pub fn image(mut self, image: &str) -> Self {
        self.args.extend(["--image".into(), image.into()]);
        self
    }

    /// Any other `vm create` flag, e.g. `.arg("--memory").arg("512")`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Creates and boots it; panics with banger's output if that fails.
    pub fn create(self) -> TestVm<'h> {
        let mut args = vec!["vm", "create", "--name", &self.name, "--json"];
        args.extend(self.args.iter().map(String::as_str));
        let shown = self.home.banger(&args).ok().json();
        TestVm {
            home: self.home,
            dir: shown["dir"]
                .as_str()
                .expect("vm create --json names the dir")
                .into(),
            name: self.name,
            shown,
        }
    }

    /// Runs `banger vm create` expecting it to fail; its output.
    pub fn create_fails(self) -> Run {
        let mut args = vec!["vm", "create", "--name", &self.name];
        args.extend(self.args.iter().map(String::as_str));
        let run = self.home.banger(&args);
        assert_ne!(run.code, 0, "vm create {} succeeded", self.name);
        run
    }
}

/// A VM that was created (and booted) by a test.
#[derive(Debug)]
pub struct TestVm<'h> {
    pub home: &'h TestHome,
    pub name: String,
    /// Its directory on the host.
    pub dir: String,
    /// `vm create --json` as it answered.
    pub shown: serde_json::Value,
}

impl TestVm<'_> {
    /// `banger vm ARGS... NAME REST...`.
    pub fn banger(&self, verb: &str, rest: &[&str]) -> Run {
        let mut args = vec!["vm", verb, &self.name];
        args.extend(rest);
        self.home.banger(&args)
    }

    /// `banger vm show NAME --json`.
    pub fn show(&self) -> serde_json::Value {
        self.banger("show", &["--json"]).ok().json()
    }

    /// `argv` in the guest through its agent (not through banger): status
    /// and output.
    pub fn guest(&self, argv: &[&str]) -> (i32, String) {
        guest(&self.dir, argv)
    }

    /// `argv` in the guest, which must succeed; its output, trimmed.
    pub fn run(&self, argv: &[&str]) -> String {
        let (code, out) = self.guest(argv);
        assert_eq!(code, 0, "{argv:?} in {}: {out}", self.name);
        out.trim().to_owned()
    }
}

impl TestHome {
    /// A VM named `name`, to be made with `.create()`.
    pub fn vm(&self, name: &str) -> VmBuilder<'_> {
        VmBuilder {
            home: self,
            name: name.into(),
            args: Vec::new(),
        }
    }
}
