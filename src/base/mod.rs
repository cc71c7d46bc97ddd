//! Small helpers every layer may use: atomic file writes and content hashes. Nothing here
//! knows about the simulation.

pub mod atomic;
pub mod hash;

pub use atomic::{AtomicDir, AtomicFile, write_atomic};
pub use hash::hash_text;
