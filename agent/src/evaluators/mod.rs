//! Evaluators: the stage between the state and the sinks. Each reads the state on a fixed tick
//! and reports *conditions*: named facts that are either active or not (a rule violated, a
//! device unavailable, a tool past its warning level). The alarm engine turns conditions into
//! alarms with a lifecycle; the API shows them; the store keeps what they conclude.

pub mod clock;
pub mod compliance;
pub mod component_life;
pub mod frame;
pub mod health;
pub mod life;
pub mod lifetimes;
pub mod operations;
pub mod records;
pub mod rules;
pub mod service;
pub mod tool_life;
pub mod window;
