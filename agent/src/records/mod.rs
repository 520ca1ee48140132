//! What the agent concludes and keeps, as plain data: made by the evaluators and the alarm
//! engine, kept by the store, shown and sent by the sinks. No behaviour beyond small
//! derivations, no I/O; these types are the vocabulary the layers above share.

pub mod access;
pub mod alarm;
pub mod counter;
pub mod monitor;
pub mod operation;
pub mod tool;
