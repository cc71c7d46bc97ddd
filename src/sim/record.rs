//! What a run streams out while it goes: results too large to keep in memory (a row per host
//! per sample, the event log) leave through a [`Recorder`], so the simulation decides what
//! happened and the report layer alone decides how it is written.

use std::io;

use crate::engine::SimTime;
use crate::model::host::Hosts;

/// What the simulation reports while it runs; results too large to keep in memory stream here.
pub trait Recorder {
    /// One row per host at a sample time.
    fn host_sample(&mut self, _t: SimTime, _hosts: &Hosts) -> io::Result<()> {
        Ok(())
    }
    /// One simulation event, for the debug trace.
    fn event(&mut self, _t: SimTime, _kind: &str, _subject: &str, _detail: &str) -> io::Result<()> {
        Ok(())
    }
    fn wants_events(&self) -> bool {
        false
    }
}

/// Discards everything (for library use and tests that only need the summary).
pub struct NullRecorder;
impl Recorder for NullRecorder {}
