//! migsim: a discrete-event simulator and what-if planner for live virtual-machine migration and
//! consolidation in data centres.
//!
//! Data flows one way: a [`scenario`] file is loaded and checked, [`sim`] builds the [`model`]
//! from it and drives it with the [`engine`]'s event queue, [`policy`] decides, [`metrics`]
//! measures, and [`report`] writes the results.

pub mod base;
pub mod check;
pub mod cli;
pub mod compat;
pub mod engine;
pub mod inventory;
pub mod metrics;
pub mod migration;
pub mod model;
pub mod plan;
pub mod policy;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod trace;
pub mod units;
