//! Streamed responses: newline-delimited JSON, one [`Event`] per line.
//!
//! A stream is zero or more `progress` events followed by exactly one
//! `result` or `error`. A stream that ends without either is a broken
//! connection, and clients must report it as such.

use crate::ApiError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Event<P, R> {
    Progress { progress: P },
    Result { result: R },
    Error { error: ApiError },
}

impl<P: Serialize, R: Serialize> Event<P, R> {
    /// One NDJSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serializing plain data structs cannot fail.
        let mut line = serde_json::to_vec(self).expect("event serializes");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_lines() {
        let e: Event<String, u32> = Event::Progress {
            progress: "cloning".into(),
        };
        assert_eq!(
            e.to_line(),
            b"{\"type\":\"progress\",\"progress\":\"cloning\"}\n"
        );
        let r: Event<String, u32> =
            serde_json::from_str(r#"{"type":"result","result":7}"#).unwrap();
        assert_eq!(r, Event::Result { result: 7 });
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let r: Result<Event<String, u32>, _> =
            serde_json::from_str(r#"{"type":"result","result":7,"extra":1}"#);
        assert!(r.is_err());
    }
}
