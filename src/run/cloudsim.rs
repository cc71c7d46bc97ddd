//! The CloudSim 3.0.3 engine: [`crate::compat::cloudsim`] behind the [`Engine`] seam.

use super::{Engine, Prepared, Run, RunError};
use crate::metrics::Summary;
use crate::scenario::ScenarioError;
use crate::scenario::load::Loaded;
use crate::sim::Recorder;

pub struct CloudSim;

impl Engine for CloudSim {
    fn name(&self) -> &'static str {
        "cloudsim"
    }

    /// A CloudSim-compatible scenario is checked by listing its trace, since CloudSim's own
    /// rules, not migsim's placement, decide where its VMs go.
    fn inspect(&self, loaded: &Loaded) -> Result<String, ScenarioError> {
        let sc = &loaded.scenario;
        let (path, order) = crate::compat::cloudsim::trace_location(loaded)?;
        let files = crate::trace::planetlab::files(&path, order.as_deref())
            .map_err(|e| loaded.field_error("trace.path", e.to_string()))?;
        Ok(format!(
            "{}: CloudSim compatibility, {}, {} VMs",
            sc.name,
            sc.policy.name,
            files.len()
        ))
    }

    /// CloudSim's loop is run whole here, as reading its trace is most of its work; it
    /// reports totals only: nothing streams, and there are no series.
    fn prepare<'a>(&self, loaded: &'a Loaded) -> Result<Box<dyn Prepared + 'a>, ScenarioError> {
        Ok(Box::new(Done(crate::compat::cloudsim::run_scenario(
            loaded,
        )?)))
    }

    fn streams(&self) -> bool {
        false
    }

    fn has_baseline(&self) -> bool {
        false
    }

    fn plans(&self) -> bool {
        false
    }
}

struct Done(Summary);

impl Prepared for Done {
    fn run(
        self: Box<Self>,
        _rec: &mut dyn Recorder,
        _progress: &mut dyn FnMut(f64),
    ) -> Result<Run, RunError> {
        Ok(Run {
            summary: self.0,
            series: None,
        })
    }
}
