//! migsim: a discrete-event simulator and what-if planner for live virtual-machine migration and
//! consolidation in data centres.
//!
//! # The shape
//!
//! A [`scenario`] file is loaded and checked ([`scenario::load_file`], or
//! [`scenario::load_builtin`] for the quickstart). [`run::engine_for`] picks the engine that
//! runs it: the faithful one ([`sim::Simulation`], where every migration is a pre-copy
//! transfer of the [`migration`] algorithms on the [`model`]'s shared network) or CloudSim
//! 3.0.3's ([`compat::cloudsim`]). A run ends in a [`metrics::Summary`], the fields of
//! `summary.json`; [`report`] writes files, and [`sweep`], [`check`] and [`plan`] build on
//! runs. Modules import only modules of lower layers (ARCHITECTURE.md; `tests/layers.rs`).
//!
//! # Running a scenario from code
//!
//! ```
//! use migsim::sim::{NullRecorder, Simulation};
//!
//! // The quickstart, shortened to two hours and packed by THR-MMT-0.8.
//! let sets = ["horizon=2h".to_string(), "policy.name=thr-mmt-0.8".to_string()];
//! let loaded = migsim::scenario::load_builtin(&sets)?;
//! let summary = migsim::run::summary(&loaded)?;
//! assert_eq!(summary.policy, "thr-mmt-0.8");
//! assert!(summary.energy_kwh > 0.0);
//!
//! // The same, step by step, with the migration records kept.
//! let mut sim = Simulation::build(&loaded)?;
//! let s = sim.run(&mut NullRecorder, &mut |_fraction_done| {})?;
//! assert_eq!(s.migrations as usize, sim.migration_records().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A policy of your own
//!
//! Implement [`policy::Policy`]: look at the read-only [`policy::ClusterView`] and return
//! [`policy::Decision`]s, which the simulation carries out with real durations. Run it with
//! [`sim::Simulation::with_policy`] (`examples/custom_policy.rs`), or make it a built-in policy
//! with a file in `src/policy/` that declares an [`policy::Entry`] and its name on the
//! `policies!` line of `src/policy/mod.rs`.

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
