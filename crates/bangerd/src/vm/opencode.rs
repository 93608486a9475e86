//! A dev box's guest opencode service (port 4096) answers only with its
//! VM's own password: made here at `vm create` (a re-created VM gets a new
//! one), written into the VM's root filesystem by `inject`, kept in the
//! store apart from what describes a VM, and handed out only by
//! `GET /v1/vms/{name}/opencode` (what `banger vm opencode` attaches with).

use super::{VmEnv, VmError};
use banger_api::vm::{OpencodeAccess, VmState};

pub const PORT: u16 = 4096;
/// opencode's default basic-auth user.
pub const USERNAME: &str = "opencode";

/// A password that never shows itself in a debug print.
pub struct Password(String);

impl Password {
    /// 192 random bits, hex: safe in an environment file and a header.
    pub fn generate() -> Password {
        Password(crate::staging::random_hex(24))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// The URL and credentials of a running VM's opencode service.
pub fn access(env: &VmEnv<'_>, name: &str) -> Result<OpencodeAccess, VmError> {
    let mut vm = super::row(env.store, name)?;
    super::refresh(env.paths, env.store, &mut vm)?;
    let Some(password) = env.store.opencode_secret(&vm.id)? else {
        return Err(VmError::NoOpencode(vm.name));
    };
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name));
    }
    let ip = vm.ip.ok_or_else(|| VmError::NotRunning(vm.name.clone()))?;
    Ok(OpencodeAccess {
        vm: vm.name,
        url: format!("http://{ip}:{PORT}"),
        username: USERNAME.into(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_hidden_from_debug() {
        let (a, b) = (Password::generate(), Password::generate());
        assert_eq!(a.expose().len(), 48);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "Password(<hidden>)");
    }
}
