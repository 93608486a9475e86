//! Workspaces: a host git checkout materialised in a running VM.

use serde::{Deserialize, Serialize};

/// How the checkout reaches the guest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceMode {
    /// Git metadata at depth 1 (HEAD, its branch, the remotes) plus every
    /// tracked and untracked-but-not-ignored file of the working tree, so
    /// uncommitted edits and deletions show in the guest's `git status`.
    #[default]
    ShallowOverlay,
    /// Git metadata at depth 1, the working tree checked out from HEAD
    /// (no uncommitted changes).
    MetadataOnly,
    /// The whole directory: full history, submodules, ignored files too.
    FullCopy,
}

impl WorkspaceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceMode::ShallowOverlay => "shallow_overlay",
            WorkspaceMode::MetadataOnly => "metadata_only",
            WorkspaceMode::FullCopy => "full_copy",
        }
    }
}

/// Body of `POST /v1/vms/{name}/workspace` (streamed progress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareWorkspace {
    /// Absolute host path of (a directory in) a git checkout.
    pub path: String,
    /// Default: `/root/repo`.
    #[serde(default)]
    pub guest_path: Option<String>,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default)]
    pub mode: WorkspaceMode,
    /// Check out (creating it) this branch in the guest.
    #[serde(default)]
    pub branch: Option<String>,
    /// Start `branch` from this host revision instead of HEAD.
    #[serde(default)]
    pub from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    pub vm: String,
    pub host_path: String,
    pub guest_path: String,
    pub mode: WorkspaceMode,
    pub readonly: bool,
    /// The guest checkout's HEAD commit (None: no commit yet) and its
    /// branch (None when detached).
    pub head: Option<String>,
    pub branch: Option<String>,
    /// Files and bytes sent (working tree, not git objects; submodules included).
    pub files: u64,
    pub bytes: u64,
    /// Submodules (gitlinks) at any depth, and how many of them were
    /// populated on the host (and so arrive with their files and git data).
    #[serde(default)]
    pub submodules: u64,
    #[serde(default)]
    pub populated_submodules: u64,
}

/// Answer of `POST /v1/workspaces/check`: what a prepare of this checkout
/// would send, decided without a VM (`vm run` asks before making one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceCheck {
    pub host_path: String,
    pub mode: WorkspaceMode,
    pub head: Option<String>,
    pub branch: Option<String>,
    pub submodules: u64,
    pub populated_submodules: u64,
}

/// Body of `POST /v1/vms/{name}/workspace/export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportWorkspace {
    /// Default: `/root/repo`.
    #[serde(default)]
    pub guest_path: Option<String>,
    /// Default: `banger/<vm>`.
    #[serde(default)]
    pub branch: Option<String>,
    /// Replace the branch when it exists.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedWorkspace {
    pub vm: String,
    pub host_path: String,
    pub branch: String,
    /// The commit the branch points at, and the one the workspace started
    /// from (None: it started with no commit).
    pub commit: String,
    pub base: Option<String>,
    /// Commits on the branch since `base`.
    pub commits: u64,
    /// Submodules whose changes in the guest (new commits, uncommitted
    /// edits) the export does not carry: only the superproject's commits
    /// come back (a moved submodule arrives as its new gitlink).
    #[serde(default)]
    pub not_carried: Vec<String>,
    /// `git diff --stat base branch`.
    pub diffstat: String,
}
