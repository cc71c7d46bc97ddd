//! A VM as CloudSim models it: `PowerVm`, its utilisation history, and the PlanetLab
//! utilisation model (`UtilizationModelPlanetLabInMemory`) that reads and interpolates its trace.

use super::*;

/// A state history (`VmStateHistoryEntry`, `HostStateHistoryEntry`) summarised as it grows:
/// an entry is final once a later time arrives (same-time entries replace each other, as in
/// CloudSim), and each final entry adds its interval to the metrics `Helper` computes. Memory
/// stays constant however long the run.
#[derive(Default, Clone, Copy)]
pub(super) struct StateStream {
    /// (time, allocated, requested, flag): the last final entry.
    pub(super) committed: Option<(f64, f64, f64, bool)>,
    /// The latest entry, still replaceable by one at the same time.
    pub(super) pending: Option<(f64, f64, f64, bool)>,
    /// VM: requested MIPS·s; host: active seconds.
    pub(super) a: f64,
    /// VM: under-allocation during migration, MIPS·s; host: seconds with allocated < requested.
    pub(super) b: f64,
    /// VM: migrations ended; host: shutdowns.
    pub(super) count: u64,
    /// VM: seconds spent migrating, summed over ended migrations.
    pub(super) periods: f64,
    /// VM: when the migration under way began.
    pub(super) since: f64,
}

impl StateStream {
    pub(super) fn add(&mut self, e: (f64, f64, f64, bool), host: bool) {
        if let Some(p) = self.pending.as_mut()
            && p.0 == e.0
        {
            *p = e;
            return;
        }
        self.finalize(host);
        self.pending = Some(e);
    }

    pub(super) fn finalize(&mut self, host: bool) {
        let Some(e) = self.pending.take() else {
            return;
        };
        match self.committed {
            Some(prev) => {
                let dt = e.0 - prev.0;
                if host {
                    // getSlaTimePerActiveHost: intervals after an active entry count.
                    if prev.3 {
                        self.a += dt;
                        if prev.1 < prev.2 {
                            self.b += dt;
                        }
                    }
                    if prev.3 && !e.3 {
                        self.count += 1;
                    }
                } else {
                    // getSlaMetrics: requested, and under-allocation while migrating.
                    self.a += prev.2 * dt;
                    if prev.1 < prev.2 && prev.3 {
                        self.b += (prev.2 - prev.1) * dt;
                    }
                    if prev.3 && !e.3 {
                        self.count += 1;
                        self.periods += e.0 - self.since;
                    }
                    if !prev.3 && e.3 {
                        self.since = e.0;
                    }
                }
            }
            None => {
                // The first entry: hosts start "active" and VMs "not migrating" in Helper.
                if host && !e.3 {
                    self.count += 1;
                }
                if !host && e.3 {
                    self.since = e.0;
                }
            }
        }
        self.committed = Some(e);
    }

    /// The flag of the latest entry.
    pub(super) fn last_flag(&self) -> Option<bool> {
        self.pending.or(self.committed).map(|e| e.3)
    }
}

pub(super) struct Vm {
    /// The VM's index, which is also its column in [`Samples`].
    pub(super) id: usize,
    pub(super) mips: f64,
    pub(super) ram: f64,
    pub(super) host: Option<usize>,
    pub(super) in_migration: bool,
    pub(super) being_instantiated: bool,
    /// The cloudlet scheduler's last update time; demand is the trace at this time.
    pub(super) prev_time: f64,
    /// `util(prev_time)`, kept in step with `prev_time`.
    pub(super) util_now: f64,
    /// `util_now · mips`.
    pub(super) req: f64,
    pub(super) submitted: bool,
    /// `PowerVm.previousTime`, for the history rule.
    pub(super) power_prev_time: f64,
    pub(super) history: VecDeque<f64>,
    /// The VM's state history, summarised.
    pub(super) states: StateStream,
    pub(super) removed: bool,
    /// The spread `HashMap` hash of the VM's UID.
    pub(super) hash: u32,
}

/// Where an instant falls in the traces (`UtilizationModelPlanetLabInMemory.getUtilization`
/// up to the samples themselves), worked out once for every VM updated at that instant.
#[derive(Clone, Copy)]
pub(super) enum TracePoint {
    /// `t % interval == 0`: sample i as it is.
    Sample(usize),
    /// Between samples i1 and i2 (equal past the trace's end), `offset` seconds after i1,
    /// with `span` = (i2 − i1) · interval.
    Between {
        i1: usize,
        i2: usize,
        span: f64,
        offset: f64,
    },
}

impl TracePoint {
    /// The point read at time `t`. With `exact_at_updates`, the updates of the 5-minute grid
    /// (t = 300k + 0.1 s) read sample k itself; other times (a migration ending) interpolate.
    pub(super) fn at(t: f64, exact_at_updates: bool) -> TracePoint {
        if exact_at_updates && (t - 0.1) % INTERVAL == 0.0 {
            let k = ((t - 0.1) / INTERVAL).round() as usize;
            return TracePoint::Sample(k.min(TRACE_POINTS - 1));
        }
        TracePoint::new(t)
    }

    pub(super) fn new(t: f64) -> TracePoint {
        // `t % interval == 0` exactly when floor(t / interval) · interval == t.
        let q = t / INTERVAL;
        let k = floor_nonneg(q);
        if k * INTERVAL == t {
            return TracePoint::Sample((t as i64 / INTERVAL as i64) as usize);
        }
        let i1 = k as usize;
        let i2 = ceil_nonneg(q) as usize;
        let last = TRACE_POINTS - 1;
        TracePoint::Between {
            i1: i1.min(last),
            i2: i2.min(last),
            span: (i2 - i1) as f64 * INTERVAL,
            offset: t - i1 as f64 * INTERVAL,
        }
    }
}

/// Every VM's trace samples, stored by time: an update reads two samples of each VM it
/// moves, and those lie together instead of in a separate array per VM.
pub(super) struct Samples {
    pub(super) vms: usize,
    /// Read sample k exactly at the k-th update (t = 300k + 0.1 s), as the simulator of
    /// CCPE 2012 did ([`crate::compat::cloudsim::Era::Ccpe2012`]); CloudSim 3.0.3 interpolates.
    pub(super) exact_at_updates: bool,
    pub(super) data: SampleData,
}

/// The samples themselves: CloudSim's whole percentages as bytes, read through a table of
/// their doubles (an eighth of the memory, so a day's table is in the cache from the start),
/// or any other values as doubles.
pub(super) enum SampleData {
    Percent {
        pct: Vec<u8>,
        fraction: Box<[f64; 256]>,
    },
    Exact(Vec<f64>),
}

impl Samples {
    /// CloudSim's 289 points per trace; a shorter trace is held at its last sample, as
    /// CloudSim's 289th point is.
    pub(super) fn new(traces: &[VmTrace]) -> Samples {
        let vms = traces.len();
        let mut data = vec![0.0; TRACE_POINTS * vms];
        for (vm, tr) in traces.iter().enumerate() {
            let last = tr.cpu.last().copied().unwrap_or(0.0);
            for i in 0..TRACE_POINTS {
                data[i * vms + vm] = cloudsim_sample(tr.cpu.get(i).copied().unwrap_or(last));
            }
        }
        Samples {
            exact_at_updates: false,
            vms,
            data: SampleData::Exact(data),
        }
    }

    /// From each VM's 288 integer percentages, as CloudSim reads them: `percent / 100.0`,
    /// and the 289th point a copy of the 288th.
    pub(super) fn from_percentages(vms_pct: &[Vec<u8>]) -> Samples {
        let vms = vms_pct.len();
        // Each percentage divided once: the table holds the same doubles the division gives.
        let mut as_fraction = [0.0; 256];
        for (p, f) in as_fraction.iter_mut().enumerate() {
            *f = p as f64 / 100.0;
        }
        let mut pct = Vec::with_capacity(TRACE_POINTS * vms);
        // Time by time, as the table is laid out: the writes run in order, and the reads take
        // each VM's few cache lines of percentages in turn.
        for i in 0..TRACE_POINTS {
            pct.extend(
                vms_pct
                    .iter()
                    .map(|p| p.get(i).or(p.last()).copied().unwrap_or(0)),
            );
        }
        Samples {
            exact_at_updates: false,
            vms,
            data: SampleData::Percent {
                pct,
                fraction: Box::new(as_fraction),
            },
        }
    }

    #[inline(always)]
    pub(super) fn at(&self, i: usize, vm: usize) -> f64 {
        match &self.data {
            SampleData::Percent { pct, fraction } => fraction[usize::from(pct[i * self.vms + vm])],
            SampleData::Exact(data) => data[i * self.vms + vm],
        }
    }
}

/// Points per VM trace: 288 samples and the copy of the last that CloudSim appends.
pub(super) const TRACE_POINTS: usize = 289;

impl Vm {
    /// What the host's scheduler is asked for this VM: (VM, UID hash, requested MIPS, in
    /// migration).
    pub(super) fn request(&self) -> (usize, u32, f64, bool) {
        (self.id, self.hash, self.requested(), self.in_migration)
    }

    /// `getCompletedVms`: no demand left, and not migrating.
    pub(super) fn finished(&self) -> bool {
        !self.in_migration && self.requested() == 0.0
    }

    /// `UtilizationModelPlanetLabInMemory.getUtilization`.
    pub(super) fn util(&self, samples: &Samples, t: f64) -> f64 {
        self.util_at(samples, TracePoint::at(t, samples.exact_at_updates))
    }

    #[inline(always)]
    pub(super) fn util_at(&self, samples: &Samples, p: TracePoint) -> f64 {
        if !self.submitted {
            return 0.0;
        }
        match p {
            TracePoint::Sample(i) => samples.at(i, self.id),
            TracePoint::Between {
                i1,
                i2,
                span,
                offset,
            } => {
                let u1 = samples.at(i1, self.id);
                if span == 0.0 {
                    return u1;
                }
                let delta = (samples.at(i2, self.id) - u1) / span;
                u1 + delta * offset
            }
        }
    }

    /// `Vm.getCurrentRequestedTotalMips` (one PE).
    pub(super) fn requested(&self) -> f64 {
        if self.being_instantiated {
            self.mips
        } else {
            self.req
        }
    }

    /// Moves the cloudlet scheduler to `t` (`CloudletSchedulerDynamicWorkload`).
    #[inline]
    pub(super) fn set_prev_time(&mut self, samples: &Samples, t: f64, p: TracePoint) {
        if t != self.prev_time {
            self.prev_time = t;
            self.util_now = self.util_at(samples, p);
            self.req = self.util_now * self.mips;
        }
    }

    pub(super) fn requested_ram(&self) -> f64 {
        if self.being_instantiated {
            self.ram
        } else {
            0.0
        }
    }

    pub(super) fn requested_bw(&self) -> f64 {
        if self.being_instantiated { VM_BW } else { 0.0 }
    }

    pub(super) fn add_state(&mut self, t: f64, alloc: f64, req: f64, mig: bool) {
        self.states.add((t, alloc, req, mig), false);
    }
}
