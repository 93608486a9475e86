//! The guest agent: finding its binary on the host (`locate`), talking to
//! it inside a guest (`client`), and translating its stdio frames for the
//! daemon's clients (`stdio`).

mod client;
mod locate;
pub mod stdio;

pub use client::{AgentClient, AgentError, CALL_DEADLINE, ExecOutput, OUTPUT_CAP};
pub use locate::{AGENT_BIN, beside_daemon, candidates, locate, locate_from};
