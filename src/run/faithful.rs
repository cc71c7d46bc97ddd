//! The faithful engine: [`Simulation`] with real pre-copy migrations on a shared network.

use super::{Engine, Prepared, Run, RunError, Series};
use crate::migration::MigrationRecord;
use crate::scenario::ScenarioError;
use crate::scenario::load::Loaded;
use crate::sim::{NullRecorder, Recorder, Simulation};

pub struct Faithful;

impl Engine for Faithful {
    fn name(&self) -> &'static str {
        "faithful"
    }

    fn inspect(&self, loaded: &Loaded) -> Result<String, ScenarioError> {
        let s = Simulation::build(loaded)?;
        Ok(format!(
            "{}: {} hosts, {} VMs, {}",
            loaded.scenario.name,
            s.hosts.len(),
            s.vms.len(),
            crate::units::format_duration(s.horizon())
        ))
    }

    fn prepare<'a>(&self, loaded: &'a Loaded) -> Result<Box<dyn Prepared + 'a>, ScenarioError> {
        Ok(Box::new(Simulation::build(loaded)?))
    }

    fn streams(&self) -> bool {
        true
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn plans(&self) -> bool {
        true
    }
}

impl Prepared for Simulation {
    fn run(
        mut self: Box<Self>,
        rec: &mut dyn Recorder,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Run, RunError> {
        let summary = Simulation::run(&mut self, rec, progress)
            .map_err(|e| RunError::Failed(format!("writing results: {e}")))?;
        Ok(Run {
            summary,
            series: Some(Series {
                timeline: self.timeline().to_vec(),
                migrations: self.migration_records().to_vec(),
                traffic: self.traffic_samples().to_vec(),
            }),
        })
    }
}

/// Runs a scenario until its scheduled migrations have all ended (or the horizon), and returns
/// their records: `migsim migrate` and the QEMU reproduction, where the rest of the day does
/// not matter.
pub fn migrations(loaded: &Loaded) -> Result<Vec<MigrationRecord>, ScenarioError> {
    let mut sim = Simulation::build(loaded)?;
    let last_request = loaded
        .scenario
        .migrate
        .iter()
        .map(|m| m.at.time())
        .max()
        .unwrap_or_default();
    let mut rec = NullRecorder;
    sim.start();
    while sim.step(&mut rec).expect("no output is written") {
        if sim.now() > last_request && sim.migs.in_flight() == 0 && sim.migs.waiting_len() == 0 {
            break;
        }
    }
    sim.finish_run(&mut rec).expect("no output is written");
    Ok(sim.migration_records().to_vec())
}
