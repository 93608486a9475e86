//! The progress event of every long operation (pull, import, promote, ...).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Short stable name of the step: `download`, `verify`, `unpack`, `copy`, ...
    pub stage: String,
    /// What is being worked on, for humans.
    pub detail: String,
    /// Bytes (or items) done and expected, when the step is measurable.
    pub done: Option<u64>,
    pub total: Option<u64>,
}

impl Progress {
    pub fn step(stage: &str, detail: impl Into<String>) -> Progress {
        Progress {
            stage: stage.into(),
            detail: detail.into(),
            done: None,
            total: None,
        }
    }

    pub fn bytes(
        stage: &str,
        detail: impl Into<String>,
        done: u64,
        total: Option<u64>,
    ) -> Progress {
        Progress {
            stage: stage.into(),
            detail: detail.into(),
            done: Some(done),
            total,
        }
    }
}
