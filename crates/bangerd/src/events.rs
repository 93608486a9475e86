//! What changed in the daemon's state, for the web UI's live pages: every
//! write to the database names its topic (through SQLite's update hook, so
//! no write path can forget), and the monitor adds one `metrics` event per
//! sampling round. Subscribers get topics, never data: a page refetches
//! what it shows, one request per page whatever the number of VMs.

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Vms,
    Images,
    Kernels,
    Sessions,
    Workspaces,
    Metrics,
}

impl Topic {
    /// The topic of a write to `table`; `None` for bookkeeping tables.
    pub fn of_table(table: &str) -> Option<Topic> {
        Some(match table {
            "vms" => Topic::Vms,
            "images" | "image_builds" => Topic::Images,
            "kernels" => Topic::Kernels,
            "sessions" => Topic::Sessions,
            "workspaces" => Topic::Workspaces,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Vms => "vms",
            Topic::Images => "images",
            Topic::Kernels => "kernels",
            Topic::Sessions => "sessions",
            Topic::Workspaces => "workspaces",
            Topic::Metrics => "metrics",
        }
    }
}

/// The daemon's change stream. Sending never blocks or fails: with no
/// subscriber an event is simply dropped, and a subscriber that falls
/// behind learns it lagged (and refetches everything).
#[derive(Debug, Clone)]
pub struct Events(broadcast::Sender<Topic>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::channel(256).0)
    }
}

impl Events {
    pub fn publish(&self, topic: Topic) {
        let _ = self.0.send(topic);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Topic> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_table_has_a_topic_and_bookkeeping_none() {
        for (table, topic) in [
            ("vms", Topic::Vms),
            ("images", Topic::Images),
            ("image_builds", Topic::Images),
            ("kernels", Topic::Kernels),
            ("sessions", Topic::Sessions),
            ("workspaces", Topic::Workspaces),
        ] {
            assert_eq!(Topic::of_table(table), Some(topic));
        }
        assert_eq!(Topic::of_table("daemon_runs"), None);
    }
}
