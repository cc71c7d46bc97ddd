//! Compatibility modes that reproduce other simulators' behaviour, for side-by-side checks.

pub mod cloudsim;
pub mod java;
