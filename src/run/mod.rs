//! Running a scenario: the one place that chooses an engine.
//!
//! migsim has two engines. The faithful one ([`crate::sim`]) plays migrations as real pre-copy
//! transfers on a shared network; the CloudSim one ([`crate::compat::cloudsim`]) repeats
//! CloudSim 3.0.3's experiment operation for operation. Every command that runs a scenario
//! (`run`, `compare`, `sweep`, `check`, `plan`, `validate`, `migrate`, `reproduce`) comes here,
//! so that a scenario means the same thing to all of them and a third engine is one more
//! [`Engine`] and one more arm in [`engine_for`].

mod cloudsim;
mod faithful;

use crate::metrics::{Summary, TimelineRow};
use crate::migration::MigrationRecord;
use crate::scenario::load::Loaded;
use crate::scenario::{Scenario, ScenarioError};
use crate::sim::{Recorder, TrafficSample};

pub use cloudsim::CloudSim;
pub use faithful::{Faithful, migrations};

/// Why a run did not finish: the scenario was wrong (exit code 2) or writing failed (1).
#[derive(Debug)]
pub enum RunError {
    Input(ScenarioError),
    Failed(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Input(e) => e.fmt(f),
            RunError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ScenarioError> for RunError {
    fn from(e: ScenarioError) -> Self {
        RunError::Input(e)
    }
}

/// What a run produced beyond what its [`Recorder`] streamed.
#[derive(Debug, Clone)]
pub struct Run {
    pub summary: Summary,
    /// The cluster at each sample, the migrations and the VMs' own traffic; `None` for an
    /// engine that records no series (CloudSim reports totals only).
    pub series: Option<Series>,
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    pub timeline: Vec<TimelineRow>,
    pub migrations: Vec<MigrationRecord>,
    pub traffic: Vec<TrafficSample>,
}

/// A simulator that can run a checked scenario.
pub trait Engine: Sync {
    /// How reports name the engine.
    fn name(&self) -> &'static str;
    /// Reads what the engine needs beyond the schema (for CloudSim, its trace folder) and
    /// says in a few words what the scenario holds, for `migsim validate`.
    fn inspect(&self, loaded: &Loaded) -> Result<String, ScenarioError>;
    /// Builds what the run needs from the scenario; every error about the scenario itself
    /// comes from here, before anything is written.
    fn prepare<'a>(&self, loaded: &'a Loaded) -> Result<Box<dyn Prepared + 'a>, ScenarioError>;
    /// Runs the scenario to its horizon. `progress` hears the simulated fraction done.
    fn run(
        &self,
        loaded: &Loaded,
        rec: &mut dyn Recorder,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Run, RunError> {
        self.prepare(loaded)?.run(rec, progress)
    }
    /// Whether runs stream per-host rows and events through their [`Recorder`].
    fn streams(&self) -> bool;
    /// Whether the same scenario under the `none` policy is the reference its energy savings
    /// are measured against (CloudSim's experiments report totals only, with NPA as theirs).
    fn has_baseline(&self) -> bool;
    /// Whether migrations are real transfers that a plan for a real cluster can be built from.
    fn plans(&self) -> bool;
}

/// A scenario an engine has read and is ready to run.
pub trait Prepared {
    fn run(
        self: Box<Self>,
        rec: &mut dyn Recorder,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Run, RunError>;
}

/// The engine a scenario asks for.
pub fn engine_for(sc: &Scenario) -> &'static dyn Engine {
    if sc.compat.cloudsim_mode().is_some() {
        &CloudSim
    } else {
        &Faithful
    }
}

/// Runs a loaded scenario to its summary, writing nothing, with the energy saved against the
/// `none` policy where the engine has such a baseline.
pub fn summary(loaded: &Loaded) -> Result<Summary, RunError> {
    let engine = engine_for(&loaded.scenario);
    let mut run = engine.run(loaded, &mut crate::sim::NullRecorder, &mut |_| {})?;
    if engine.has_baseline() {
        attach_baseline(&mut run.summary, loaded)?;
    }
    Ok(run.summary)
}

/// Fills `summary`'s energy-saved fields against the same scenario under the `none` policy
/// (same hosts, VMs, traces, seed and scripted migrations; only the policy differs). A run
/// that already is `none` is its own baseline and costs nothing more.
pub fn attach_baseline(summary: &mut Summary, loaded: &Loaded) -> Result<(), RunError> {
    if loaded.scenario.policy.name == "none" {
        summary.set_baseline(summary.energy_kwh);
        return Ok(());
    }
    let mut none = loaded.clone();
    none.scenario.policy.name = "none".into();
    let base = engine_for(&none.scenario)
        .run(&none, &mut crate::sim::NullRecorder, &mut |_| {})
        .map_err(|e| match e {
            RunError::Failed(m) => RunError::Failed(format!("baseline run: {m}")),
            e => e,
        })?;
    summary.set_baseline(base.summary.energy_kwh);
    Ok(())
}
