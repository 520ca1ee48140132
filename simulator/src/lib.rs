//! Simulated machine tool.
