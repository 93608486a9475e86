//! The guest agent: finding its binary on the host (`locate`), and talking
//! to it inside a guest (`client`).

mod client;
mod locate;

pub use client::{AgentClient, AgentError, ExecOutput};
pub use locate::{AGENT_BIN, candidates, locate, locate_from};
