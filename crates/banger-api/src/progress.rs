//! The progress event of every long operation (pull, import, promote, ...).

use serde::{Deserialize, Serialize};

/// The step a long operation is at; on the wire its snake_case name
/// (`download`, `unpack`, `clone`, `boot`, ...), stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Agent,
    Boot,
    Build,
    Branch,
    Catalog,
    Claim,
    Clone,
    Copy,
    Depmod,
    Download,
    Ext4,
    Extract,
    Git,
    Initrd,
    Inject,
    Layer,
    Network,
    Overlay,
    Readonly,
    Resolve,
    Ssh,
    Stop,
    Store,
    Unpack,
    Workspace,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Agent => "agent",
            Stage::Boot => "boot",
            Stage::Build => "build",
            Stage::Branch => "branch",
            Stage::Catalog => "catalog",
            Stage::Claim => "claim",
            Stage::Clone => "clone",
            Stage::Copy => "copy",
            Stage::Depmod => "depmod",
            Stage::Download => "download",
            Stage::Ext4 => "ext4",
            Stage::Extract => "extract",
            Stage::Git => "git",
            Stage::Initrd => "initrd",
            Stage::Inject => "inject",
            Stage::Layer => "layer",
            Stage::Network => "network",
            Stage::Overlay => "overlay",
            Stage::Readonly => "readonly",
            Stage::Resolve => "resolve",
            Stage::Ssh => "ssh",
            Stage::Stop => "stop",
            Stage::Store => "store",
            Stage::Unpack => "unpack",
            Stage::Workspace => "workspace",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub stage: Stage,
    /// What is being worked on, for humans.
    pub detail: String,
    /// Bytes (or items) done and expected, when the step is measurable.
    pub done: Option<u64>,
    pub total: Option<u64>,
}

impl Progress {
    pub fn step(stage: Stage, detail: impl Into<String>) -> Progress {
        Progress {
            stage,
            detail: detail.into(),
            done: None,
            total: None,
        }
    }

    pub fn bytes(
        stage: Stage,
        detail: impl Into<String>,
        done: u64,
        total: Option<u64>,
    ) -> Progress {
        Progress {
            stage,
            detail: detail.into(),
            done: Some(done),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_travel_as_their_names() {
        let p = Progress::step(Stage::Ext4, "building");
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""stage":"ext4""#), "{json}");
        assert_eq!(serde_json::from_str::<Progress>(&json).unwrap(), p);
        let s: Stage = serde_json::from_str(r#""readonly""#).unwrap();
        assert_eq!(s.as_str(), "readonly");
        assert!(serde_json::from_str::<Stage>(r#""warp""#).is_err());
    }
}
