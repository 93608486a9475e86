//! Host health report (`banger doctor`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable identifier, e.g. `kvm`, `tool:mkfs.ext4`.
    pub name: String,
    pub status: CheckStatus,
    /// What was found: a path and version, a measurement.
    pub detail: String,
    /// How to fix it; present when the status is not `ok`.
    pub hint: Option<String>,
}

/// Body of `POST /v1/doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorRequest {}

/// The complete report: the last event of the doctor stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
    /// Which backend `vmm = "auto"` would use on this host, if any.
    pub auto_vmm: Option<String>,
}

impl DoctorReport {
    /// The worst status of all checks; `Fail` means banger cannot work here.
    pub fn overall(&self) -> CheckStatus {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }
}
