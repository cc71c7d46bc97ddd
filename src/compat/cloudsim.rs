//! CloudSim 3.0.3's power-aware consolidation experiments, reproduced step for step.
//!
//! Beloglazov & Buyya's algorithms (CCPE 2012) are what the field compares against, and the
//! CloudSim 3.0.3 code is their executable reference. This module re-implements the behaviour of
//! that code, quirks included, so that migsim's results can be checked against it:
//! the 5-minute updates at t = 300k + 0.1 s with interpolated demand, the over-subscription
//! scheduler that floors shares when a host is full, the 10 % CPU a migrating VM loses (and
//! the 10 % its destination reserves), migration time = RAM ÷ half the host bandwidth, the
//! removal of a VM the first time its demand is exactly 0, energy as the trapezoid of the
//! SPECpower curve over each interval, PABFD with the 3.0.1+ load accounting, the underload
//! phase, and the metric formulas of `examples/power/Helper`. Facts and file references:
//! ../shared/reference/consolidation-algorithms.md.
//!
//! The agreement is exact, not statistical: CloudSim's choices between hosts often turn on the
//! last bits of a sum (near-idle VMs score the same power increase on every host of a type), so
//! every floating-point operation that feeds a decision is done with CloudSim's operands in
//! CloudSim's order. That includes trace samples as `percent / 100.0` doubles, each host's
//! free MIPS re-summed in `java.util.HashMap` order ([`super::java`]) after PABFD's probe,
//! SPECpower interpolation, and Commons Math's QR for the MC selector. Speed comes from skipping
//! work whose result is known to be bit-identical (a probe of a host already in walk order, a
//! refill that gives back what is there), never from a cheaper formula.
//!
//! It runs its own loop because CloudSim's timing is part of the result; the faithful models of
//! the rest of migsim replace these rules when `[compat] cloudsim` is off.

use std::collections::VecDeque;

use crate::metrics::{kth, median};
use crate::model::power::spec_preset;
use crate::trace::VmTrace;

use super::java::{HashOrder, spread, uid_hash};

mod index;

use index::{GroupQueue, HostIndex};

/// The broker's entity id, the user id in every VM UID `"2-<vm id>"`: `CloudSim.init` creates
/// entities 0 and 1 (the shutdown entity and the information service) and
/// `Helper.createBroker` comes next. Checked by printing `broker.getId()` under CloudSim 3.0.3.
const BROKER_ID: usize = 2;

/// The spread `HashMap` hash of VM `vm`'s UID.
fn uid_bucket_hash(vm: usize) -> u32 {
    spread(uid_hash(BROKER_ID, vm))
}

/// `Constants.SCHEDULING_INTERVAL = 300`.
pub const INTERVAL: f64 = 300.0;
/// `Constants.SIMULATION_LIMIT = 24 * 60 * 60`.
pub const LIMIT: f64 = 86_400.0;
/// `CloudSim.getMinTimeBetweenEvents()`: cloudlets are submitted this long after the VMs.
pub const SUBMIT_AT: f64 = 0.1;
/// `PowerVm.HISTORY_LENGTH`.
pub const HISTORY_LENGTH: usize = 30;
/// `Constants.HOST_MIPS` (G4, G5), `HOST_PES`, `HOST_RAM`, `HOST_BW`, `HOST_STORAGE`.
const HOST_MIPS: [f64; 2] = [1860.0, 2660.0];
const HOST_PES: usize = 2;
const HOST_RAM: f64 = 4096.0;
const HOST_BW: f64 = 1_000_000.0;
const HOST_STORAGE: f64 = 1_000_000.0;
/// `Constants.VM_MIPS`, `VM_RAM` (MB), `VM_BW`, `VM_SIZE`.
const VM_MIPS: [f64; 4] = [2500.0, 2000.0, 1000.0, 500.0];
const VM_RAM: [f64; 4] = [870.0, 1740.0, 1740.0, 613.0];
const VM_BW: f64 = 100_000.0;
const VM_SIZE: f64 = 2500.0;

/// Overload detection (`PowerVmAllocationPolicyMigration*`): the faithful policies' detectors,
/// applied by CloudSim's rules here (its LR is ordinary least squares and LRR is identical to
/// it in CloudSim 3.0.1+).
pub use crate::policy::beloglazov::Detector;

/// VM selection (`PowerVmSelectionPolicy*`): MMT takes the least RAM, MU the least
/// utilisation, and MC (`PowerVmSelectionPolicyMaximumCorrelation`) the VM whose history the
/// others' histories explain best (largest R² of an OLS fit with intercept), falling back on
/// MMT when the fit cannot be made, as `RunnerAbstract` configures it. The experiment grammar
/// refuses RS, which CloudSim's PlanetLab runner does not offer.
pub use crate::policy::beloglazov::Selector;

/// The experiments of `examples/power/planetlab`, by the grammar the faithful policies share.
pub use crate::policy::beloglazov::CloudSimExperiment as Policy;

/// What `Helper.printResults` prints, as fractions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Results {
    pub energy_kwh: f64,
    pub migrations: u64,
    pub slatah: f64,
    pub pdm: f64,
    pub slav: f64,
    pub esv: f64,
    pub host_shutdowns: u64,
    pub mean_migration_time_s: f64,
    pub vms_removed: usize,
}

// ------------------------------------------------------------------------------------------
// Statistics as `util/MathUtil` computes them.

/// R² of `y` regressed on the columns `x` with an intercept, as Commons Math 3
/// (`OLSMultipleLinearRegression.calculateRSquared`, the same arithmetic in 3.0 and 3.6.1)
/// computes it, operation for operation: Householder QR of the design matrix
/// (`QRDecomposition`), β by its solver, the residuals y − Xβ, their sum of squares, and the
/// total sum of squares by the running `SecondMoment`. MC picks the largest R², and when the
/// fit is exact (as many history samples as VMs) every candidate scores 1 up to rounding:
/// the choice is then made by the last bits, so they have to be CloudSim's.
///
/// `None` where Commons Math throws and CloudSim falls back on MMT: a diagonal of R exactly
/// 0 (`SingularMatrixException`), that is a column with nothing left once the earlier ones are
/// removed.
fn ols_r_squared(y: &[f64], x: &[&[f64]]) -> Option<f64> {
    let m = y.len();
    let n = x.len() + 1;
    // `qrt`: the transposed design matrix, row j = column j of X (the intercept first), flat.
    let mut qrt = vec![1.0; n * m];
    for (j, c) in x.iter().enumerate() {
        qrt[(j + 1) * m..(j + 2) * m].copy_from_slice(&c[..m]);
    }
    let column = |j: usize, obs: usize| if j == 0 { 1.0 } else { x[j - 1][obs] };
    let mut r_diag = vec![0.0; m.min(n)];
    for minor in 0..m.min(n) {
        let (head, tail) = qrt.split_at_mut((minor + 1) * m);
        let v = &mut head[minor * m..];
        let mut norm_sqr = 0.0;
        for &c in &v[minor..] {
            norm_sqr += c * c;
        }
        let a = if v[minor] > 0.0 {
            -norm_sqr.sqrt()
        } else {
            norm_sqr.sqrt()
        };
        r_diag[minor] = a;
        if a != 0.0 {
            v[minor] -= a;
            for col in tail.chunks_exact_mut(m) {
                let mut alpha = 0.0;
                for row in minor..m {
                    alpha -= col[row] * v[row];
                }
                alpha /= a * v[minor];
                for row in minor..m {
                    col[row] -= alpha * v[row];
                }
            }
        }
    }
    if r_diag.iter().any(|d| d.abs() <= 0.0) {
        return None;
    }
    // The solver: apply the reflections to y, then back-substitute R·β = Qᵀy.
    let mut w = y.to_vec();
    for (minor, &d) in r_diag.iter().enumerate() {
        let v = &qrt[minor * m..(minor + 1) * m];
        let mut dot = 0.0;
        for row in minor..m {
            dot += w[row] * v[row];
        }
        dot /= d * v[minor];
        for row in minor..m {
            w[row] += dot * v[row];
        }
    }
    let mut beta = vec![0.0; n];
    for row in (0..r_diag.len()).rev() {
        w[row] /= r_diag[row];
        let w_row = w[row];
        beta[row] = w_row;
        let q = &qrt[row * m..(row + 1) * m];
        for i in 0..row {
            w[i] -= w_row * q[i];
        }
    }
    // Residuals, observation by observation: y − Σ_j X[obs][j]·β[j].
    let mut rss = 0.0;
    for (obs, &yo) in y.iter().enumerate() {
        let mut fit = 0.0;
        for (j, b) in beta.iter().enumerate() {
            fit += column(j, obs) * b;
        }
        let r = yo - fit;
        rss += r * r;
    }
    // `SecondMoment`: the running mean and sum of squared deviations.
    let (mut mean, mut m2) = (0.0, 0.0);
    for (k, &v) in y.iter().enumerate() {
        let dev = v - mean;
        let n_dev = dev / (k + 1) as f64;
        mean += n_dev;
        m2 += k as f64 * dev * n_dev;
    }
    Some(1.0 - rss / m2)
}

fn mad(v: &[f64]) -> f64 {
    let m = median(v);
    let dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// `MathUtil.iqr`: q1 = x[round(0.25(n+1)) − 1], q3 = x[round(0.75(n+1)) − 1] on sorted x.
fn iqr(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    let n = s.len() as f64;
    let q1 = ((0.25 * (n + 1.0)).round() as usize)
        .saturating_sub(1)
        .min(s.len() - 1);
    let q3 = ((0.75 * (n + 1.0)).round() as usize)
        .saturating_sub(1)
        .min(s.len() - 1);
    if q1 >= q3 {
        return 0.0;
    }
    let hi = kth(&mut s, q3);
    // After selecting q3, the q1-th smallest lies among the q3 values left of it.
    let lo = kth(&mut s[..q3], q1);
    hi - lo
}

/// Leading non-zero values (`MathUtil.countNonZeroBeginning`).
fn non_zero_beginning(v: &[f64]) -> usize {
    v.iter().position(|&x| x == 0.0).unwrap_or(v.len())
}

/// Ordinary least squares of y on x = 1..n: (intercept, slope).
fn ols(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let xs: Vec<f64> = (1..=y.len()).map(|i| i as f64).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let b = sxy / sxx;
    (my - b * mx, b)
}

// ------------------------------------------------------------------------------------------
// The model, in CloudSim's terms.

/// A state history (`VmStateHistoryEntry`, `HostStateHistoryEntry`) summarised as it grows:
/// an entry is final once a later time arrives (same-time entries replace each other, as in
/// CloudSim), and each final entry adds its interval to the metrics `Helper` computes. Memory
/// stays constant however long the run.
#[derive(Default, Clone, Copy)]
struct StateStream {
    /// (time, allocated, requested, flag): the last final entry.
    committed: Option<(f64, f64, f64, bool)>,
    /// The latest entry, still replaceable by one at the same time.
    pending: Option<(f64, f64, f64, bool)>,
    /// VM: requested MIPS·s; host: active seconds.
    a: f64,
    /// VM: under-allocation during migration, MIPS·s; host: seconds with allocated < requested.
    b: f64,
    /// VM: migrations ended; host: shutdowns.
    count: u64,
    /// VM: seconds spent migrating, summed over ended migrations.
    periods: f64,
    /// VM: when the migration under way began.
    since: f64,
}

impl StateStream {
    fn add(&mut self, e: (f64, f64, f64, bool), host: bool) {
        if let Some(p) = self.pending.as_mut()
            && p.0 == e.0
        {
            *p = e;
            return;
        }
        self.finalize(host);
        self.pending = Some(e);
    }

    fn finalize(&mut self, host: bool) {
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
    fn last_flag(&self) -> Option<bool> {
        self.pending.or(self.committed).map(|e| e.3)
    }
}

struct Vm {
    /// The VM's index, which is also its column in [`Samples`].
    id: usize,
    mips: f64,
    ram: f64,
    host: Option<usize>,
    in_migration: bool,
    being_instantiated: bool,
    /// The cloudlet scheduler's last update time; demand is the trace at this time.
    prev_time: f64,
    /// `util(prev_time)`, kept in step with `prev_time`.
    util_now: f64,
    /// `util_now · mips`.
    req: f64,
    submitted: bool,
    /// `PowerVm.previousTime`, for the history rule.
    power_prev_time: f64,
    history: VecDeque<f64>,
    /// The VM's state history, summarised.
    states: StateStream,
    removed: bool,
    /// The spread `HashMap` hash of the VM's UID.
    hash: u32,
}

/// Where an instant falls in the traces (`UtilizationModelPlanetLabInMemory.getUtilization`
/// up to the samples themselves), worked out once for every VM updated at that instant.
#[derive(Clone, Copy)]
enum TracePoint {
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
    fn new(t: f64) -> TracePoint {
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
struct Samples {
    vms: usize,
    data: SampleData,
}

/// The samples themselves: CloudSim's whole percentages as bytes, read through a table of
/// their doubles (an eighth of the memory, so a day's table is in the cache from the start),
/// or any other values as doubles.
enum SampleData {
    Percent {
        pct: Vec<u8>,
        fraction: Box<[f64; 256]>,
    },
    Exact(Vec<f64>),
}

impl Samples {
    /// CloudSim's 289 points per trace; a shorter trace is held at its last sample, as
    /// CloudSim's 289th point is.
    fn new(traces: &[VmTrace]) -> Samples {
        let vms = traces.len();
        let mut data = vec![0.0; TRACE_POINTS * vms];
        for (vm, tr) in traces.iter().enumerate() {
            let last = tr.cpu.last().copied().unwrap_or(0.0);
            for i in 0..TRACE_POINTS {
                data[i * vms + vm] = cloudsim_sample(tr.cpu.get(i).copied().unwrap_or(last));
            }
        }
        Samples {
            vms,
            data: SampleData::Exact(data),
        }
    }

    /// From each VM's 288 integer percentages, as CloudSim reads them: `percent / 100.0`,
    /// and the 289th point a copy of the 288th.
    fn from_percentages(vms_pct: &[Vec<u8>]) -> Samples {
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
            vms,
            data: SampleData::Percent {
                pct,
                fraction: Box::new(as_fraction),
            },
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, vm: usize) -> f64 {
        match &self.data {
            SampleData::Percent { pct, fraction } => fraction[usize::from(pct[i * self.vms + vm])],
            SampleData::Exact(data) => data[i * self.vms + vm],
        }
    }
}

/// Points per VM trace: 288 samples and the copy of the last that CloudSim appends.
const TRACE_POINTS: usize = 289;

impl Vm {
    /// What the host's scheduler is asked for this VM: (VM, UID hash, requested MIPS, in
    /// migration).
    fn request(&self) -> (usize, u32, f64, bool) {
        (self.id, self.hash, self.requested(), self.in_migration)
    }

    /// `getCompletedVms`: no demand left, and not migrating.
    fn finished(&self) -> bool {
        !self.in_migration && self.requested() == 0.0
    }

    /// `UtilizationModelPlanetLabInMemory.getUtilization`.
    fn util(&self, samples: &Samples, t: f64) -> f64 {
        self.util_at(samples, TracePoint::new(t))
    }

    #[inline(always)]
    fn util_at(&self, samples: &Samples, p: TracePoint) -> f64 {
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
    fn requested(&self) -> f64 {
        if self.being_instantiated {
            self.mips
        } else {
            self.req
        }
    }

    /// Moves the cloudlet scheduler to `t` (`CloudletSchedulerDynamicWorkload`).
    #[inline]
    fn set_prev_time(&mut self, samples: &Samples, t: f64, p: TracePoint) {
        if t != self.prev_time {
            self.prev_time = t;
            self.util_now = self.util_at(samples, p);
            self.req = self.util_now * self.mips;
        }
    }

    fn requested_ram(&self) -> f64 {
        if self.being_instantiated {
            self.ram
        } else {
            0.0
        }
    }

    fn requested_bw(&self) -> f64 {
        if self.being_instantiated { VM_BW } else { 0.0 }
    }

    fn add_state(&mut self, t: f64, alloc: f64, req: f64, mig: bool) {
        self.states.add((t, alloc, req, mig), false);
    }
}

/// `VmSchedulerTimeSharedOverSubscription` for one host.
#[derive(Default)]
struct Sched {
    total: f64,
    pe: f64,
    /// `mipsMapRequested` and `mipsMap` side by side: each VM's requested MIPS and its
    /// allocation, walked in the order of Java's `HashMap` keyed by VM UID. A VM leaving makes
    /// CloudSim re-allocate the rest in that order, and `available` is a running difference,
    /// so the order decides its last bits.
    map: HashOrder<Share>,
    available: f64,
    /// Whether the last allocation ran out of MIPS and scaled every VM down.
    overflowed: bool,
    /// Whether the state is what re-allocating `map` in walk order gives, as it is after a VM
    /// leaves. Doing that again changes nothing, so PABFD's create-and-destroy probe of a host
    /// costs nothing the second time.
    canonical: bool,
    /// `available` as the list-order allocation left it, saved by the first probe that
    /// replaced it: refilling the host in list order gives exactly that back.
    list_available: Option<f64>,
    /// A probe has put the scheduler in walk order without re-summing `available`, which
    /// [`Sched::settle`] does before anything reads it.
    walk_pending: bool,
    migrating_in: Vec<usize>,
    /// The host's index, under which its migrating-out set lives in [`OutSets`].
    host: usize,
}

/// Each host's `vmsMigratingOut`, stored by VM: row `vm` holds a bit per host. CloudSim never
/// forgets a VM that migrated out (until it comes back or is placed there again), so the sets
/// grow through the day; membership is all that is asked of them. Stored by VM, the bits PABFD
/// clears while scoring every host for one VM lie together.
#[derive(Default, Clone)]
struct OutSets {
    words_per_vm: usize,
    bits: Vec<u64>,
    /// How many sets hold each VM: most VMs are in none, and then no bit need be read.
    count: Vec<u32>,
}

impl OutSets {
    fn new(vms: usize, hosts: usize) -> OutSets {
        let words_per_vm = hosts.div_ceil(64);
        OutSets {
            words_per_vm,
            bits: vec![0; vms * words_per_vm],
            count: vec![0; vms],
        }
    }
    #[inline]
    fn at(&self, vm: usize, host: usize) -> (usize, u64) {
        (vm * self.words_per_vm + host / 64, 1 << (host % 64))
    }
    #[inline]
    fn contains(&self, vm: usize, host: usize) -> bool {
        if self.count[vm] == 0 {
            return false;
        }
        let (w, b) = self.at(vm, host);
        self.bits[w] & b != 0
    }
    #[inline]
    fn insert(&mut self, vm: usize, host: usize) {
        let (w, b) = self.at(vm, host);
        if self.bits[w] & b == 0 {
            self.bits[w] |= b;
            self.count[vm] += 1;
        }
    }
    /// Row `vm` into `out`; empty when no set holds `vm`.
    fn copy_row(&self, vm: usize, out: &mut Vec<u64>) {
        out.clear();
        if self.count[vm] != 0 {
            let start = vm * self.words_per_vm;
            out.extend_from_slice(&self.bits[start..start + self.words_per_vm]);
        }
    }
    #[inline]
    fn remove(&mut self, vm: usize, host: usize) {
        if self.count[vm] == 0 {
            return;
        }
        let (w, b) = self.at(vm, host);
        if self.bits[w] & b != 0 {
            self.bits[w] &= !b;
            self.count[vm] -= 1;
        }
    }
}

/// What one VM asking `req` takes from the host's free MIPS, and what it is given
/// (`VmSchedulerTimeSharedOverSubscription.allocatePesForVm`): the request capped at one PE; a
/// VM migrating in reserves and gets 10 %, one migrating out keeps 90 % of a full reservation.
#[inline]
fn share_of(
    pe: f64,
    ins: &[usize],
    outs: &OutSets,
    host: usize,
    vm: usize,
    req: f64,
) -> (f64, f64) {
    share(pe, req, ins.contains(&vm), outs.contains(vm, host))
}

/// [`share_of`] with the VM's place on the migrating-in list and in the migrating-out set
/// already known.
#[inline]
fn share(pe: f64, req: f64, coming_in: bool, held_out: bool) -> (f64, f64) {
    let capped = req.min(pe);
    let taken = if coming_in { capped * 0.1 } else { capped };
    let given = if held_out { capped * 0.9 } else { taken };
    (taken, given)
}

#[derive(Debug, Default, Clone, Copy)]
struct Share {
    req: f64,
    alloc: f64,
}

impl Sched {
    fn share(&self, outs: &OutSets, vm: usize, req: f64) -> (f64, f64) {
        share_of(self.pe, &self.migrating_in, outs, self.host, vm, req)
    }

    /// `allocatePesForVm(String, …)`: record the request, then take it from the free MIPS or,
    /// when it does not fit, scale everybody.
    fn allocate_uid(&mut self, outs: &OutSets, vm: usize, hash: u32, req: f64) {
        let alloc = self.map.get(vm).map_or(0.0, |s| s.alloc);
        self.map.put(vm, hash, Share { req, alloc });
        let (total, a) = self.share(outs, vm, req);
        if self.available >= total {
            if let Some(s) = self.map.get_mut(vm) {
                s.alloc = a;
            }
            self.available -= total;
        } else {
            self.redistribute(outs);
        }
    }

    /// `redistributeMipsDueToOverSubscription`: every VM gets its share of the host scaled by
    /// capacity ÷ demand (summed in walk order), floored.
    fn redistribute(&mut self, outs: &OutSets) {
        let mut required = 0.0;
        let pe = self.pe;
        for (vm, s) in self.map.iter() {
            let mut c = s.req.min(pe);
            if self.migrating_in.contains(&vm) {
                c *= 0.1;
            }
            required += c;
        }
        let scaling = self.total / required;
        let (ins, host) = (&self.migrating_in, self.host);
        for (vm, s) in self.map.iter_mut() {
            let mut m = s.req.min(pe);
            if outs.contains(vm, host) {
                m *= scaling;
                m *= 0.9;
            } else if ins.contains(&vm) {
                m *= 0.1;
                m *= scaling;
            } else {
                m *= scaling;
            }
            s.alloc = m.floor();
        }
        self.available = 0.0;
        self.overflowed = true;
    }

    /// `VmSchedulerTimeShared.allocatePesForVm(Vm, …)`: keeps the migrating-out set in step.
    fn allocate(&mut self, outs: &mut OutSets, vm: usize, hash: u32, req: f64, in_migration: bool) {
        self.track_migration(outs, vm, in_migration);
        self.allocate_uid(outs, vm, hash, req);
        self.canonical = false;
        self.list_available = None;
    }

    #[inline]
    fn track_migration(&self, outs: &mut OutSets, vm: usize, in_migration: bool) {
        if in_migration {
            if !self.migrating_in.contains(&vm) {
                outs.insert(vm, self.host);
            }
        } else {
            outs.remove(vm, self.host);
        }
    }

    /// `deallocatePesForVm`: forget the VM, then re-allocate the others in walk order.
    fn deallocate(&mut self, outs: &OutSets, vm: usize) {
        self.list_available = None;
        self.map.remove(vm);
        self.reallocate(outs);
    }

    /// Every remaining request allocated again from a full host, in walk order. Once one does
    /// not fit, CloudSim scales everybody and every later request scales again to the same
    /// result, so one redistribution ends the pass.
    fn reallocate(&mut self, outs: &OutSets) {
        self.walk_pending = false;
        self.available = self.total;
        self.overflowed = false;
        let mut overflow = false;
        let pe = self.pe;
        let (ins, host) = (&self.migrating_in, self.host);
        let mut available = self.available;
        for (vm, s) in self.map.iter_mut() {
            let (taken, given) = share_of(pe, ins, outs, host, vm, s.req);
            if available >= taken {
                s.alloc = given;
                available -= taken;
            } else {
                overflow = true;
                break;
            }
        }
        self.available = available;
        if overflow {
            self.redistribute(outs);
        }
        self.canonical = true;
    }

    /// PABFD's `vmCreate` then `vmDestroy` of `vm` on this host, as far as the scheduler can
    /// tell: the VM's migration bookkeeping, the map's growth from holding one more key, and a
    /// re-allocation in walk order. Returns whether any allocation may have changed.
    #[inline]
    fn probe(&mut self, outs: &mut OutSets, vm: usize, hash: u32, in_migration: bool) -> bool {
        self.track_migration(outs, vm, in_migration);
        let grew = self.map.insert_and_remove(hash);
        if self.canonical && !grew {
            return false;
        }
        if !self.canonical && !self.overflowed {
            self.list_available = Some(self.available);
        }
        if !self.overflowed && self.available > WALK_MARGIN {
            // The walk takes the same shares in another order, so its free MIPS differ from
            // these in the last bits only: nothing overflows and no allocation changes. Only
            // the free MIPS are left to re-sum, when something reads them; many hosts a probe
            // puts in walk order are read again only by the restore, which puts back the
            // list-order value.
            self.canonical = true;
            self.walk_pending = true;
            return false;
        }
        let before = self.overflowed;
        self.reallocate(outs);
        before || self.overflowed
    }

    /// Re-sums the free MIPS in walk order if a probe left that to do.
    #[inline]
    fn settle(&mut self, outs: &OutSets) {
        if self.walk_pending {
            self.reallocate(outs);
        }
    }

    /// Whether `probe` would change nothing but the probing VM's migrating-out bit: the state
    /// is already the walk-order one and one more key cannot grow the map.
    #[inline]
    fn probe_is_quiet(&self) -> bool {
        self.canonical && self.map.takes_one_more_quietly()
    }

    /// Deallocates everything, then allocates `entries` (VM, UID hash, requested MIPS, in
    /// migration) in order, as `HostDynamicWorkload.updateVmsProcessing` does one VM at a
    /// time. Once one VM does not fit, every later call redistributes over all VMs so far, so
    /// the end state is one redistribution over all of them.
    fn allocate_all(
        &mut self,
        outs: &mut OutSets,
        entries: &[(usize, u32, f64, bool)],
        allocs: &mut Vec<f64>,
    ) {
        // `deallocate_all` but for the map, which the refill below clears unless it can keep it.
        self.list_available = None;
        self.walk_pending = false;
        self.overflowed = false;
        let left = self.list_shares(outs, entries, allocs);
        self.available = left.unwrap_or(0.0);
        self.map.refill(
            entries
                .iter()
                .zip(allocs.iter())
                .map(|(&(vm, hash, req, _), &alloc)| (vm, hash, Share { req, alloc })),
        );
        if left.is_none() {
            self.redistribute(outs);
            allocs.clear();
            allocs.extend(entries.iter().map(|e| self.allocated_for(e.0)));
        }
        self.canonical = entries.is_empty();
    }

    /// The list-order pass of [`Sched::allocate_all`], which leaves the scheduler as it is:
    /// each VM's migrating-out bit set or cleared, and its share taken from a full host, into
    /// `allocs`. Returns the MIPS left, or `None` once a VM does not fit (CloudSim then scales
    /// every VM; the VMs after it are given 0 here, their bits still kept).
    fn list_shares(
        &self,
        outs: &mut OutSets,
        entries: &[(usize, u32, f64, bool)],
        allocs: &mut Vec<f64>,
    ) -> Option<f64> {
        allocs.clear();
        let mut available = self.total;
        let mut overflow = false;
        for &(vm, _, req, in_migration) in entries {
            // `track_migration`, then `share`: the migrating-out bit is known once set or
            // cleared, and only a VM migrating in may hold one set from before. Only a VM in
            // migration is ever on a migrating-in list.
            debug_assert!(in_migration || !self.migrating_in.contains(&vm));
            let coming_in = in_migration && self.migrating_in.contains(&vm);
            let held_out = if !in_migration {
                outs.remove(vm, self.host);
                false
            } else if coming_in {
                outs.contains(vm, self.host)
            } else {
                outs.insert(vm, self.host);
                true
            };
            if overflow {
                allocs.push(0.0);
                continue;
            }
            let (total, a) = share(self.pe, req, coming_in, held_out);
            if available >= total {
                allocs.push(a);
                available -= total;
            } else {
                allocs.push(0.0);
                overflow = true;
            }
        }
        (!overflow).then_some(available)
    }

    fn deallocate_all(&mut self) {
        self.list_available = None;
        self.walk_pending = false;
        self.map.clear();
        self.available = self.total;
        self.overflowed = false;
        self.canonical = true;
    }

    fn allocated_for(&self, vm: usize) -> f64 {
        self.map.get(vm).map_or(0.0, |s| s.alloc)
    }
}

/// A host's RAM or bandwidth provisioner (`RamProvisionerSimple`, `BwProvisionerSimple`): what
/// each VM holds, in booking order, and their sum in that order, which a new holding extends
/// and only a removal has to redo.
#[derive(Default)]
struct Book {
    capacity: f64,
    held: Vec<(usize, f64)>,
    sum: f64,
    /// How many holdings are not zero. Running VMs hold no RAM or bandwidth (CloudSim's
    /// `UtilizationModelNull`), so after the first refill every book holds zeros, and a
    /// removal leaves a sum of zeros: 0, with nothing to add up.
    nonzero: usize,
}

impl Book {
    fn new(capacity: f64) -> Book {
        Book {
            capacity,
            held: Vec::new(),
            sum: 0.0,
            nonzero: 0,
        }
    }
    fn free(&self) -> f64 {
        self.capacity - self.sum
    }
    fn held_by(&self, vm: usize) -> f64 {
        self.held.iter().find(|e| e.0 == vm).map_or(0.0, |e| e.1)
    }
    fn release(&mut self, vm: usize) {
        // A VM holds at most once: `alloc_ram_bw` releases before it holds.
        let Some(at) = self.held.iter().position(|e| e.0 == vm) else {
            return;
        };
        let (_, amount) = self.held.remove(at);
        if amount != 0.0 {
            self.nonzero -= 1;
        }
        if self.nonzero == 0 && !self.held.is_empty() {
            // The in-order sum of zeros.
            self.sum = 0.0;
        } else {
            self.sum = self.held.iter().map(|e| e.1).sum();
        }
    }
    fn hold(&mut self, vm: usize, amount: f64) {
        debug_assert!(self.held.iter().all(|e| e.0 != vm));
        self.held.push((vm, amount));
        if amount != 0.0 {
            self.nonzero += 1;
        }
        self.sum += amount;
    }
    fn clear(&mut self) {
        self.held.clear();
        self.sum = 0.0;
        self.nonzero = 0;
    }
    fn all_zero(&self) -> bool {
        self.nonzero == 0
    }
    /// Every VM keeps its place but holds nothing: a refill at zero demand.
    fn zero_all(&mut self) {
        for e in &mut self.held {
            e.1 = 0.0;
        }
        self.sum = 0.0;
        self.nonzero = 0;
    }
}

struct Host {
    total: f64,
    vms: Vec<usize>,
    migrating_in: Vec<usize>,
    sched: Sched,
    ram: Book,
    bw: Book,
    storage: f64,
    util_mips: f64,
    prev_util_mips: f64,
    /// Watts at the utilisation measured before the last update.
    prev_power: f64,
    history_cache: [f64; HISTORY_LENGTH],
    /// The host's state history, summarised.
    states: StateStream,
}

impl Host {
    fn utilization(&self) -> f64 {
        let u = self.util_mips / self.total;
        if u > 1.0 && u < 1.01 { 1.0 } else { u }
    }
    fn prev_utilization(&self) -> f64 {
        let u = self.prev_util_mips / self.total;
        if u > 1.0 && u < 1.01 { 1.0 } else { u }
    }
    fn add_state(&mut self, t: f64, alloc: f64, req: f64, active: bool) {
        self.states.add((t, alloc, req, active), true);
    }
}

/// What PABFD reads of a host while it scores every host for one VM, packed together and
/// refreshed with the host's caches (`Experiment::touch_known`): the scan then reads one
/// small record per host instead of the host's scattered state.
#[derive(Clone, Copy, Default)]
struct Hot {
    /// The scheduler's free MIPS and PE size.
    available: f64,
    pe: f64,
    total: f64,
    /// `getUtilizationOfCpuMips` and Σ requested MIPS, summed in VM-list order as CloudSim
    /// adds them.
    alloc: f64,
    req: f64,
    ram_free: f64,
    bw_free: f64,
    storage: f64,
    /// Watts at the measured utilisation (`PowerHost.getPower()`).
    power_now: f64,
    /// Host type: the index of its power curve.
    ty: usize,
    /// Whether PABFD's create-and-destroy probe would leave the scheduler as it is (see
    /// `Sched::probe`): it is in walk order and one more key cannot grow its map.
    quiet: bool,
}

/// A SPECpower curve, kept both as its table and as one record per 10 % segment.
struct Curve {
    power: [f64; 11],
    /// Segment i (0..=10) as `getPower` reads it; padded to 16 so that an index known to be
    /// at most 10 needs no bounds check in PABFD's scan.
    segments: [Segment; 16],
}

/// What `getPower` reads for a utilisation in segment i: the entry it starts from, the slope
/// `(power[i + 1] − power[i]) / 10` (the same operation on the same operands, done once; 0
/// for the last entry, which no interpolation leaves) and the segment's start `(double) i / 10`.
#[derive(Clone, Copy, Default)]
struct Segment {
    start_power: f64,
    slope: f64,
    start: f64,
}

impl Curve {
    fn new(power: [f64; 11]) -> Curve {
        let mut segments = [Segment::default(); 16];
        for (i, s) in segments.iter_mut().take(11).enumerate() {
            *s = Segment {
                start_power: power[i],
                slope: if i < 10 {
                    (power[i + 1] - power[i]) / 10.0
                } else {
                    0.0
                },
                start: TENTHS[i],
            };
        }
        Curve { power, segments }
    }

    /// `PowerModelSpecPower.getPower`. Java returns the table entry when `u % 0.1 == 0`,
    /// which holds for u = 0, 0.1, 0.2, 0.4 and 0.8 only (the remainder is exact); for those
    /// u·10 is a whole number and the interpolation below adds exactly zero to the same entry,
    /// so one path serves both. The unit tests hold it to a transcription of Java's method.
    #[inline]
    fn at(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let x = u * 10.0;
        // floor(u·10) by truncation (at most 10); ceil(u·10) = floor(u·10) exactly when u·10
        // is whole.
        let i = x as i32;
        let s = &self.segments[(i & 15) as usize];
        // (p2 − p1) / 10, which is 0 when p2 = p1.
        let delta = if f64::from(i) == x { 0.0 } else { s.slope };
        s.start_power + delta * (u - s.start) * 100.0
    }
}

/// Whether host `h` scoring `d` beats `best`: the least score wins, the lowest id on ties.
#[inline]
fn beats(d: f64, h: usize, best: Option<(f64, usize)>) -> bool {
    best.is_none_or(|(bd, bh)| d < bd || (d == bd && h < bh))
}

/// Keeps the better of `best` and host `h` scoring `d`.
#[inline]
fn consider(best: &mut Option<(f64, usize)>, d: f64, h: usize) {
    if beats(d, h, *best) {
        *best = Some((d, h));
    }
}

/// A host's type, the index of its curve: `Helper.createHostList` alternates G4 and G5.
fn host_type(h: usize) -> usize {
    h % 2
}

/// A trace sample as CloudSim holds it: `Integer.valueOf(line) / 100.0` in double precision
/// (`UtilizationModelPlanetLabInMemory`). Traces keep samples as `f32`, and 0.07f32 widened is
/// 0.07000000029802322, not 0.07: enough to flip PABFD's power-difference ties, which decide
/// most placements of near-idle VMs. A whole percentage is therefore rebuilt exactly; other
/// values are widened as they are. An `f32` in [0, 1] is within 6e-8 of its percentage / 100,
/// so 1e-4 of a percent tells a whole percentage from any other value.
fn cloudsim_sample(c: f32) -> f64 {
    let percent = (c as f64 * 100.0).round();
    if (c as f64 * 100.0 - percent).abs() < 1e-4 {
        percent / 100.0
    } else {
        c as f64
    }
}

/// `floor` of a finite x in [0, 2⁵³), by truncation: the libm call costs more than the
/// rest of the trace interpolation.
fn floor_nonneg(x: f64) -> f64 {
    debug_assert!((0.0..9.0e15).contains(&x));
    x as u64 as f64
}

/// `ceil` of a finite x in [0, 2⁵³).
fn ceil_nonneg(x: f64) -> f64 {
    let f = floor_nonneg(x);
    if f == x { f } else { f + 1.0 }
}

/// Free MIPS above which re-summing a host's shares in another order cannot run out: the
/// orders differ by rounding, tens of shares times 2⁻⁵² of at most 5 320 MIPS (about 1e-11).
const WALK_MARGIN: f64 = 1e-6;

/// `(double) i / 10` for i = 0..=10, as `getPower` computes the start of a segment.
const TENTHS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// What PABFD asks of every host about the VM it is placing, read once.
struct Placing {
    vm: usize,
    req: f64,
    ram: f64,
    bw: f64,
    /// Still asking for its full RAM and bandwidth (placement at t = 0).
    instantiating: bool,
    /// The static threshold, when the detector is THR.
    threshold: Option<f64>,
}

/// One experiment.
pub struct Experiment {
    policy: Policy,
    hosts: Vec<Host>,
    vms: Vec<Vm>,
    /// The datacenter's VM list: VMs not yet removed as finished.
    live: Vec<usize>,
    clock: f64,
    last_process: f64,
    energy_ws: f64,
    migrations: u64,
    /// Migrations under way: (completion time, sequence, vm, target host), latest first.
    pending: Vec<(f64, u64, usize, usize)>,
    seq: u64,
    /// Hosts with no VMs, no load and full storage, by type (G4, G5).
    pristine: [std::collections::BTreeSet<usize>; 2],
    /// All other hosts, by id.
    active: Vec<usize>,
    /// Reused buffers: PABFD's candidate hosts, and a host update's requests and allocations.
    candidates: Vec<usize>,
    admitted: Vec<usize>,
    /// Scratch: the bits of the VM being placed in the migrating-out sets.
    out_row: Vec<u64>,
    entries: Vec<(usize, u32, f64, bool)>,
    allocs: Vec<f64>,
    is_pristine: Vec<bool>,
    /// Hosts whose VMs the optimisation under way created or destroyed, by flag and in the
    /// order first touched.
    touched: Vec<bool>,
    touched_list: Vec<usize>,
    /// Scratch: the hosts active when the optimisation under way began.
    active_then: Vec<usize>,
    /// Hosts PABFD probed during the optimisation under way, whose allocation the restore
    /// redoes in list order.
    probed: Vec<bool>,
    /// Hosts changed since their last update. A second update at the same instant (after
    /// migrations complete) redoes only these: for any other host it would allocate the same
    /// requests again and replace its state entries with equal ones, and with no time elapsed
    /// no energy accrues.
    changed: Vec<bool>,
    /// Hosts left empty, idle and recorded inactive by their last update, and given no VM
    /// since: another update would record another inactive entry at zero load, which no
    /// metric or energy sum can see.
    dormant: Vec<bool>,
    /// Hosts whose last update saw a VM with no demand left and not migrating, which
    /// `update_all` then removes (`getCompletedVms`). Only these can hold one.
    finishing: Vec<usize>,
    /// Scratch: the hosts one `update_all` updated, in order.
    updated: Vec<usize>,
    tracking: bool,
    /// Whether the detector reads host histories (IQR, MAD, LR, LRR).
    uses_history: bool,
    /// Whether anything reads the VMs' utilisation histories: the detectors that read host
    /// histories, and MC. THR with MMT or MU never does, so its VMs keep none.
    keeps_histories: bool,
    /// Every host's migrating-out set.
    outs: OutSets,
    samples: Samples,
    /// What PABFD reads of each host.
    hot: Vec<Hot>,
    /// Scratch for `alloc_mips_slow`: (stamp, allocation) by VM.
    alloc_of: Vec<(u64, f64)>,
    stamp: u64,
    /// The G4 and G5 power curves.
    curves: [Curve; 2],
    /// PABFD's host index, live during placements.
    index: HostIndex,
    /// Scratch: the index's groups by their bound, and one group's hosts with their scores.
    group_queue: GroupQueue,
    scored: Vec<(f64, usize)>,
    /// Score every host in every placement, as CloudSim does, instead of using the index: the
    /// reference the index is tested against.
    plain_scan: bool,
}

impl Experiment {
    /// 800 hosts (half HP ML110 G4, half G5) and one VM per trace, VM i of type
    /// i / ceil(n/4) (`Helper.createHostList`, `createVmList`).
    pub fn new(policy: Policy, traces: &[VmTrace], hosts: usize) -> Experiment {
        Experiment::with_samples(policy, Samples::new(traces), hosts)
    }

    /// [`Experiment::new`] from each VM's integer percentages
    /// ([`crate::trace::planetlab::read_dir_percentages`]), which CloudSim divides by 100.
    pub fn from_percentages(policy: Policy, vms: &[Vec<u8>], hosts: usize) -> Experiment {
        Experiment::with_samples(policy, Samples::from_percentages(vms), hosts)
    }

    fn with_samples(policy: Policy, samples: Samples, hosts: usize) -> Experiment {
        let curves = [
            Curve::new(spec_preset("hp-ml110-g4").expect("preset")),
            Curve::new(spec_preset("hp-ml110-g5").expect("preset")),
        ];
        let hosts: Vec<Host> = (0..hosts)
            .map(|i| {
                let t = host_type(i);
                let total = HOST_MIPS[t] * HOST_PES as f64;
                Host {
                    total,
                    vms: Vec::new(),
                    migrating_in: Vec::new(),
                    sched: Sched {
                        total,
                        pe: HOST_MIPS[t],
                        available: total,
                        host: i,
                        ..Sched::default()
                    },
                    ram: Book::new(HOST_RAM),
                    bw: Book::new(HOST_BW),
                    storage: HOST_STORAGE,
                    util_mips: 0.0,
                    prev_util_mips: 0.0,
                    prev_power: curves[t].power[0],
                    history_cache: [0.0; HISTORY_LENGTH],
                    states: StateStream::default(),
                }
            })
            .collect();
        let n_hosts = hosts.len();
        let n = samples.vms;
        let per_type = n.div_ceil(4).max(1);
        let vms = (0..n)
            .map(|i| {
                let ty = (i / per_type).min(3);
                Vm {
                    mips: VM_MIPS[ty],
                    ram: VM_RAM[ty],
                    id: i,
                    host: None,
                    in_migration: false,
                    being_instantiated: true,
                    prev_time: 0.0,
                    util_now: 0.0,
                    req: 0.0,
                    submitted: false,
                    power_prev_time: 0.0,
                    history: VecDeque::new(),
                    states: StateStream::default(),
                    removed: false,
                    hash: uid_bucket_hash(i),
                }
            })
            .collect();
        let mut e = Experiment {
            policy,
            hosts,
            vms,
            live: Vec::new(),
            clock: 0.0,
            last_process: 0.0,
            energy_ws: 0.0,
            migrations: 0,
            pending: Vec::new(),
            seq: 0,
            pristine: [
                (0..n_hosts).filter(|&h| host_type(h) == 0).collect(),
                (0..n_hosts).filter(|&h| host_type(h) == 1).collect(),
            ],
            active: Vec::new(),
            candidates: Vec::new(),
            admitted: Vec::new(),
            out_row: Vec::new(),
            entries: Vec::new(),
            allocs: Vec::new(),
            is_pristine: vec![true; n_hosts],
            touched: vec![false; n_hosts],
            touched_list: Vec::new(),
            active_then: Vec::new(),
            probed: vec![false; n_hosts],
            changed: vec![true; n_hosts],
            dormant: vec![false; n_hosts],
            finishing: Vec::new(),
            updated: Vec::new(),
            tracking: false,
            outs: OutSets::new(n, n_hosts),
            samples,
            alloc_of: vec![(0, 0.0); n],
            stamp: 0,
            hot: vec![Hot::default(); n_hosts],
            index: HostIndex::new(
                n_hosts,
                [&curves[0].power, &curves[1].power],
                [
                    HOST_MIPS[0] * HOST_PES as f64,
                    HOST_MIPS[1] * HOST_PES as f64,
                ],
            ),
            group_queue: GroupQueue::default(),
            scored: Vec::new(),
            plain_scan: false,
            curves,
            uses_history: matches!(
                policy,
                Policy::Migration(
                    Detector::Iqr(_) | Detector::Mad(_) | Detector::Lr(_) | Detector::Lrr(_),
                    _
                )
            ),
            keeps_histories: false,
        };
        e.keeps_histories = e.uses_history || matches!(policy, Policy::Migration(_, Selector::Mc));
        // Every host's packed record, from its empty state.
        for h in 0..n_hosts {
            e.touch_known(h, 0.0, 0.0, true);
        }
        e
    }

    /// Scores every host in every placement, as CloudSim's `findHostForVm` does, instead of
    /// visiting the host index's groups by their bound. The choices are the same; this is the
    /// reference the index is tested against, and the measure of what it saves.
    pub fn scan_every_host(mut self) -> Experiment {
        self.plain_scan = true;
        self
    }

    // --- Host operations (`Host`, `HostDynamicWorkload`) -----------------------------------

    fn is_suitable(&self, h: usize, vm: usize) -> bool {
        let host = &self.hosts[h];
        let v = &self.vms[vm];
        let req = v.requested();
        if !(host.sched.pe >= req && host.sched.available >= req) {
            return false;
        }
        let (ram, bw) = (v.requested_ram(), v.requested_bw());
        if ram == 0.0 && bw == 0.0 {
            return true;
        }
        let ram_have = host.ram.free() + host.ram.held_by(vm);
        let bw_have = host.bw.free() + host.bw.held_by(vm);
        host.sched.pe >= req
            && host.sched.available >= req
            && ram_have >= v.requested_ram().min(HOST_RAM)
            && bw_have >= v.requested_bw().min(HOST_BW)
    }

    fn alloc_ram_bw(&mut self, h: usize, vm: usize) -> bool {
        let (ram, bw) = (
            self.vms[vm].requested_ram().min(HOST_RAM),
            self.vms[vm].requested_bw().min(HOST_BW),
        );
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        if host.ram.free() < ram {
            return false;
        }
        host.ram.hold(vm, ram);
        host.bw.release(vm);
        if host.bw.free() < bw {
            host.ram.release(vm);
            return false;
        }
        host.bw.hold(vm, bw);
        true
    }

    /// Re-sums `h`'s free MIPS in walk order if a probe left that to do ([`Sched::probe`]),
    /// before anything reads them.
    #[inline]
    fn settle(&mut self, h: usize) {
        let sched = &mut self.hosts[h].sched;
        if sched.walk_pending {
            sched.settle(&self.outs);
            self.hot[h].available = sched.available;
        }
    }

    fn vm_create(&mut self, h: usize, vm: usize) -> bool {
        self.settle(h);
        if !self.book_vm(h, vm) {
            return false;
        }
        let (req, mig, hash) = (
            self.vms[vm].requested(),
            self.vms[vm].in_migration,
            self.vms[vm].hash,
        );
        self.hosts[h]
            .sched
            .allocate(&mut self.outs, vm, hash, req, mig);
        self.mark_touched(h);
        self.touch(h);
        true
    }

    fn vm_deallocate(&mut self, h: usize, vm: usize) {
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.deallocate(&self.outs, vm);
        host.storage += VM_SIZE;
    }

    /// Notes a host whose VMs the optimisation under way created or destroyed.
    fn mark_touched(&mut self, h: usize) {
        if self.tracking && !self.touched[h] {
            self.touched[h] = true;
            self.touched_list.push(h);
        }
    }

    fn vm_destroy(&mut self, h: usize, vm: usize) {
        self.mark_touched(h);
        self.vm_deallocate(h, vm);
        self.hosts[h].vms.retain(|&v| v != vm);
        self.vms[vm].host = None;
        self.touch(h);
    }

    /// [`Experiment::vm_destroy`] of a VM selected to leave an overloaded host. The host is
    /// then only asked whether it is still overloaded, and is excluded from every placement
    /// until the restore empties it: so its re-allocation in walk order, which nothing would
    /// read, is left out, and of its packed record only the requested MIPS (and the history
    /// sum) that the detectors read are brought up to date.
    fn vm_destroy_selected(&mut self, h: usize, vm: usize) {
        self.mark_touched(h);
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.list_available = None;
        host.sched.walk_pending = false;
        host.sched.canonical = false;
        host.sched.map.remove(vm);
        host.storage += VM_SIZE;
        host.vms.retain(|&v| v != vm);
        self.vms[vm].host = None;
        self.changed[h] = true;
        self.dormant[h] = false;
        self.hot[h].req = self.requested_mips(h);
        if self.uses_history {
            self.hosts[h].history_cache = self.history_sum(h);
        }
    }

    /// `restoreAllocation`'s first steps on a host the optimisation changed: every VM destroyed,
    /// then the VMs migrating in booked back first. The scheduler is left empty; the restore
    /// allocates every VM at once when the host's list is complete.
    fn empty_for_restore(&mut self, h: usize) {
        self.dormant[h] = false;
        let host = &mut self.hosts[h];
        host.sched.deallocate_all();
        host.ram.clear();
        host.bw.clear();
        // Cleared rather than taken, so that the refill reuses the list's room.
        for &v in &host.vms {
            host.storage += VM_SIZE;
            self.vms[v].host = None;
        }
        host.vms.clear();
        for vm in self.hosts[h].migrating_in.clone() {
            let host = &mut self.hosts[h];
            if !host.vms.contains(&vm) {
                host.vms.push(vm);
            }
            if !host.sched.migrating_in.contains(&vm) {
                host.sched.migrating_in.push(vm);
            }
            self.alloc_ram_bw(h, vm);
            self.hosts[h].storage -= VM_SIZE;
        }
    }

    /// `vmCreate` short of the scheduler: storage, RAM and bandwidth, and the VM list. The
    /// restore books VMs this way and allocates a host's MIPS once its list is complete.
    fn book_vm(&mut self, h: usize, vm: usize) -> bool {
        if self.hosts[h].storage < VM_SIZE || !self.alloc_ram_bw(h, vm) {
            return false;
        }
        self.dormant[h] = false;
        let host = &mut self.hosts[h];
        host.storage -= VM_SIZE;
        host.vms.push(vm);
        self.vms[vm].host = Some(h);
        true
    }

    /// [`Experiment::book_vm`] on a host the restore has just emptied, where the VM holds
    /// nothing yet: a running VM asks for no RAM or bandwidth, so it books zeros without the
    /// release that `RamProvisionerSimple` makes first, which would find nothing.
    fn rebook_vm(&mut self, h: usize, vm: usize) -> bool {
        let v = &self.vms[vm];
        if v.requested_ram() != 0.0 || v.requested_bw() != 0.0 {
            return self.book_vm(h, vm);
        }
        let host = &mut self.hosts[h];
        debug_assert!(host.ram.held_by(vm) == 0.0 && host.bw.held_by(vm) == 0.0);
        debug_assert!(host.ram.held.iter().chain(&host.bw.held).all(|e| e.0 != vm));
        if host.storage < VM_SIZE || host.ram.free() < 0.0 || host.bw.free() < 0.0 {
            return false;
        }
        host.ram.hold(vm, 0.0);
        host.bw.hold(vm, 0.0);
        host.storage -= VM_SIZE;
        host.vms.push(vm);
        self.dormant[h] = false;
        self.vms[vm].host = Some(h);
        true
    }

    /// `addMigratingInVm`. CloudSim then updates the target and the source at once; that is
    /// left to the caller, which updates each host once after the last migration it starts
    /// this instant. An update at the same instant rebuilds the host's allocation from its
    /// VMs alone and replaces its same-time state entries, so only the last one is seen.
    fn add_migrating_in(&mut self, h: usize, vm: usize, stale: &mut Vec<usize>) {
        self.vms[vm].in_migration = true;
        if self.hosts[h].migrating_in.contains(&vm) {
            return;
        }
        self.alloc_ram_bw(h, vm);
        self.hosts[h].sched.migrating_in.push(vm);
        // `allocatePesForVm`: the VM is on the migrating-in list, so not migrating out, and its
        // request is recorded under its UID. The update that follows re-allocates the host,
        // so the MIPS it would be given here are never read.
        let (req, hash) = (self.vms[vm].requested(), self.vms[vm].hash);
        let sched = &mut self.hosts[h].sched;
        sched.map.put(vm, hash, Share { req, alloc: 0.0 });
        sched.canonical = false;
        sched.list_available = None;
        self.hosts[h].storage -= VM_SIZE;
        self.hosts[h].migrating_in.push(vm);
        self.hosts[h].vms.push(vm);
        self.dormant[h] = false;
        stale.push(h);
        if let Some(src) = self.vms[vm].host {
            stale.push(src);
        }
    }

    /// The part of [`Experiment::allocate_in_list_order`] that outlasts the update to come:
    /// the scheduler's map keyed in list order (its table grows as the keys go in). The
    /// shares, the free MIPS and the migrating-out bits are what every update redoes from the
    /// VM list, and a host that keeps VMs is updated before anything reads them.
    fn rekey_in_list_order(&mut self, h: usize) {
        let Experiment { hosts, vms, .. } = self;
        let host = &mut hosts[h];
        let sched = &mut host.sched;
        sched.map.refill(
            host.vms
                .iter()
                .map(|&vm| (vm, vms[vm].hash, Share::default())),
        );
        sched.list_available = None;
        sched.walk_pending = false;
        sched.overflowed = false;
        sched.canonical = false;
        sched.available = sched.total;
    }

    /// Every VM of `h` allocated afresh in list order (`Sched::allocate_all`); the requests
    /// and allocations are left in `self.entries` and `self.allocs`.
    fn allocate_in_list_order(&mut self, h: usize) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        entries.extend(self.hosts[h].vms.iter().map(|&vm| self.vms[vm].request()));
        let mut allocs = std::mem::take(&mut self.allocs);
        self.hosts[h]
            .sched
            .allocate_all(&mut self.outs, &entries, &mut allocs);
        self.entries = entries;
        self.allocs = allocs;
    }

    /// `HostDynamicWorkload.updateVmsProcessing` with `PowerVm.updateVmProcessing`, for a
    /// host that starts or ends a migration now: the next optimisation comes after another
    /// update, so this one may be brief (see `update_host_at`).
    fn update_host(&mut self, h: usize, t: f64) {
        let grid = (t - 0.1) % INTERVAL == 0.0;
        self.update_host_at(h, t, TracePoint::new(t), grid, true);
    }

    /// `update_host` with the grid test (`(t − 0.1) % interval == 0`) done once by the caller.
    ///
    /// A `brief` update is one whose scheduler state nothing reads before the host's next
    /// update: only the optimisation reads a host's free MIPS, walk-order map and packed
    /// record, and it always follows a full update at the grid time. A brief update still
    /// keeps the migrating-out bits, the VM and host state histories, the utilisation and the
    /// watts that the energy sum reads; it leaves the map's values, the free MIPS and the rest
    /// of the packed record for the next full update, which rebuilds them from the VM list.
    /// A host that is empty, was empty or runs out of MIPS is updated in full.
    fn update_host_at(&mut self, h: usize, t: f64, p: TracePoint, grid: bool, brief: bool) {
        if self.update_host_in_one_pass(h, t, p, grid, !brief) {
            return;
        }
        // Each VM's cloudlet scheduler moves to t; the VM history grows at grid times.
        // The scheduler's requests are gathered on the way (`allocate_in_list_order`).
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        let mut finishing = false;
        for i in 0..self.hosts[h].vms.len() {
            let vm = self.hosts[h].vms[i];
            let v = &mut self.vms[vm];
            v.set_prev_time(&self.samples, t, p);
            entries.push(v.request());
            finishing |= v.finished();
            if t > v.power_prev_time && grid {
                // set_prev_time has just read the trace at t.
                let u = v.util_now;
                if self.keeps_histories && (t != 0.0 || u != 0.0) {
                    v.history.push_front(u);
                    v.history.truncate(HISTORY_LENGTH);
                }
                v.power_prev_time = t;
            }
        }
        let host = &mut self.hosts[h];
        host.prev_util_mips = host.util_mips;
        host.prev_power = self.hot[h].power_now;
        host.util_mips = 0.0;
        let mut allocs = std::mem::take(&mut self.allocs);
        host.sched
            .allocate_all(&mut self.outs, &entries, &mut allocs);
        let mut total_req = 0.0;
        let mut alloc_mips = 0.0;
        for (&(vm, _, req, mig), &a) in entries.iter().zip(&allocs) {
            let host = &self.hosts[h];
            let mut util = a;
            if mig && host.migrating_in.contains(&vm) {
                alloc_mips += a * 0.9 / 0.1;
            } else {
                self.vms[vm].add_state(t, a, req, mig);
                if mig {
                    util /= 0.9;
                }
            }
            alloc_mips += a;
            self.hosts[h].util_mips += util;
            total_req += req;
        }
        self.entries = entries;
        self.allocs = allocs;
        let host = &mut self.hosts[h];
        let active = host.util_mips > 0.0;
        let u = host.util_mips;
        host.add_state(t, u, total_req, active);
        // Histories grow only at grid times; otherwise the sum cached at the host's last change
        // still holds.
        self.touch_known(h, alloc_mips, total_req, grid);
        self.changed[h] = false;
        let host = &self.hosts[h];
        self.dormant[h] = host.vms.is_empty()
            && host.util_mips == 0.0
            && host.prev_util_mips == 0.0
            && host.states.last_flag() == Some(false);
        if finishing {
            self.finishing.push(h);
        }
    }

    /// [`Experiment::update_host_at`] in one pass over the host's VMs: each VM's demand at
    /// `t`, its migrating-out bit and its share taken in list order, its state entry, and the
    /// host's sums in the same order as the general path adds them. A brief update stops
    /// there; a `full` one then records the shares in the scheduler's map and rebuilds the
    /// packed record. Returns false, having changed nothing the general path does not redo
    /// the same way, for a host that is empty or was, or runs out of MIPS: the caller then
    /// takes the general path. (A VM's second state entry at the same time replaces the
    /// first, and the demand, the bits and the history step are the same whoever makes them
    /// first.)
    fn update_host_in_one_pass(
        &mut self,
        h: usize,
        t: f64,
        p: TracePoint,
        grid: bool,
        full: bool,
    ) -> bool {
        let Experiment {
            hosts,
            vms,
            outs,
            samples,
            is_pristine,
            allocs,
            keeps_histories,
            ..
        } = self;
        let keeps_histories = *keeps_histories;
        let host = &mut hosts[h];
        if host.vms.is_empty() || is_pristine[h] {
            return false;
        }
        let sched = &host.sched;
        let (pe, mut available) = (sched.pe, sched.total);
        let (mut finishing, mut total_req, mut util_mips, mut alloc_mips) = (false, 0.0, 0.0, 0.0);
        allocs.clear();
        for &vm in &host.vms {
            let v = &mut vms[vm];
            v.set_prev_time(samples, t, p);
            if t > v.power_prev_time && grid {
                let u = v.util_now;
                if keeps_histories && (t != 0.0 || u != 0.0) {
                    v.history.push_front(u);
                    v.history.truncate(HISTORY_LENGTH);
                }
                v.power_prev_time = t;
            }
            let (req, mig) = (v.requested(), v.in_migration);
            finishing |= v.finished();
            // `Sched::list_shares`, one VM at a time.
            debug_assert!(mig || !sched.migrating_in.contains(&vm));
            let coming_in = mig && sched.migrating_in.contains(&vm);
            let held_out = if !mig {
                outs.remove(vm, h);
                false
            } else if coming_in {
                outs.contains(vm, h)
            } else {
                outs.insert(vm, h);
                true
            };
            let (taken, a) = share(pe, req, coming_in, held_out);
            if available < taken {
                return false;
            }
            available -= taken;
            // The sums of `update_host_at`, term for term (the allocated sum only feeds the
            // packed record).
            debug_assert_eq!(coming_in, mig && host.migrating_in.contains(&vm));
            let mut util = a;
            if coming_in {
                alloc_mips += a * 0.9 / 0.1;
            } else {
                v.add_state(t, a, req, mig);
                if mig {
                    util /= 0.9;
                }
            }
            alloc_mips += a;
            util_mips += util;
            total_req += req;
            if full {
                allocs.push(a);
            }
        }
        host.prev_util_mips = host.util_mips;
        host.prev_power = self.hot[h].power_now;
        host.util_mips = util_mips;
        host.add_state(t, util_mips, total_req, util_mips > 0.0);
        if full {
            // `Sched::allocate_all` after its list-order pass: no VM ran out of MIPS.
            let sched = &mut host.sched;
            sched.list_available = None;
            sched.walk_pending = false;
            sched.overflowed = false;
            sched.available = available;
            sched
                .map
                .refill(host.vms.iter().zip(allocs.iter()).map(|(&vm, &alloc)| {
                    let v = &vms[vm];
                    (
                        vm,
                        v.hash,
                        Share {
                            req: v.requested(),
                            alloc,
                        },
                    )
                }));
            sched.canonical = false;
            self.touch_known(h, alloc_mips, total_req, grid);
        } else {
            // What the energy sum and the next update read; the rest of the packed record
            // waits for the next full update.
            self.hot[h].power_now = self.curves[host_type(h)].at(host.utilization());
        }
        self.changed[h] = false;
        self.dormant[h] = false;
        if finishing {
            self.finishing.push(h);
        }
        true
    }

    /// `PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce`.
    fn update_all(&mut self) {
        let t = self.clock;
        let dt = t - self.last_process;
        let grid = (t - 0.1) % INTERVAL == 0.0;
        let p = TracePoint::new(t);
        let mut updated = std::mem::take(&mut self.updated);
        updated.clear();
        for h in 0..self.hosts.len() {
            if self.dormant[h] || (dt == 0.0 && !self.changed[h]) {
                continue;
            }
            // Only the update at a grid time comes before an optimisation.
            self.update_host_at(h, t, p, grid, !grid);
            updated.push(h);
        }
        if dt > 0.0 {
            if self.policy == Policy::Npa {
                for hot in &self.hot {
                    self.energy_ws += self.curves[hot.ty].power[10] * dt;
                }
            } else {
                // A host not updated is dormant: idle before, so it adds nothing.
                for &h in &updated {
                    let host = &self.hosts[h];
                    if host.prev_utilization() != 0.0 {
                        // Both cached at the update: the power at the previous and at the
                        // current utilisation.
                        let (pp, pc) = (host.prev_power, self.hot[h].power_now);
                        self.energy_ws += (pp + (pc - pp) / 2.0) * dt;
                    }
                }
            }
        }
        self.updated = updated;
        // Finished VMs: demand exactly 0 and not migrating (`getCompletedVms`), host by host
        // in id order. Only a host whose update saw one can hold one: a VM's demand and
        // migration flag change only in its hosts' updates and in moves that mark the hosts
        // changed.
        let mut finishing = std::mem::take(&mut self.finishing);
        finishing.sort_unstable();
        finishing.dedup();
        for &h in &finishing {
            let done: Vec<usize> = self.hosts[h]
                .vms
                .iter()
                .copied()
                .filter(|&v| self.vms[v].finished())
                .collect();
            for vm in done {
                if let Some(host) = self.vms[vm].host {
                    self.vm_destroy(host, vm);
                }
                self.vms[vm].removed = true;
                self.live.retain(|&v| v != vm);
            }
        }
        finishing.clear();
        self.finishing = finishing;
        self.last_process = t;
    }

    // --- The allocation policy ---------------------------------------------------------------

    /// Requested utilisation of `h`, with `extra` counted as if created there (appended last,
    /// as `vmCreate` appends, so that sums add in CloudSim's order).
    fn host_requested_util(&self, h: usize, extra: Option<usize>) -> f64 {
        let mut req = self.hot[h].req;
        if let Some(v) = extra {
            req += self.vms[v].requested();
        }
        req / self.hosts[h].total
    }

    /// Σ over the host's VMs, in list order, of their histories scaled to the host.
    fn history_sum(&self, h: usize) -> [f64; HISTORY_LENGTH] {
        let mut hist = [0.0; HISTORY_LENGTH];
        let total = self.hosts[h].total;
        for &v in &self.hosts[h].vms {
            for (i, u) in self.vms[v].history.iter().enumerate() {
                hist[i] += u * self.vms[v].mips / total;
            }
        }
        hist
    }

    /// The host's CPU history for IQR, MAD and LR (`PowerHostUtilizationHistory`), with `extra`
    /// added last as if created there.
    fn host_history(&self, h: usize, extra: Option<usize>) -> ([f64; HISTORY_LENGTH], usize) {
        let mut hist = self.hosts[h].history_cache;
        let total = self.hosts[h].total;
        if let Some(v) = extra {
            for (i, u) in self.vms[v].history.iter().enumerate() {
                hist[i] += u * self.vms[v].mips / total;
            }
        }
        let mut n = HISTORY_LENGTH;
        while n > 0 && hist[n - 1] == 0.0 {
            n -= 1;
        }
        (hist, n)
    }

    fn over_utilized(&self, h: usize) -> bool {
        self.over_utilized_with(h, None)
    }

    /// The detector's verdict on `h`, with `extra` placed there tentatively.
    fn over_utilized_with(&self, h: usize, extra: Option<usize>) -> bool {
        let Policy::Migration(det, _) = self.policy else {
            return false;
        };
        let u = self.host_requested_util(h, extra);
        // CloudSim's fallback for the adaptive detectors: a static threshold of 0.7
        // (`examples/power/RunnerAbstract`).
        let fallback = || u > 0.7;
        match det {
            Detector::Thr(t) => u > t,
            Detector::Iqr(s) | Detector::Mad(s) => {
                let (hist, n) = self.host_history(h, extra);
                let hist = &hist[..n];
                // "12 has been suggested as a safe value" (MathUtil / the IQR and MAD policies).
                if non_zero_beginning(hist) < 12 {
                    return fallback();
                }
                // Both spreads lie in [0, max − min], and every step from the samples to the
                // threshold (differences, the median's halving, s·spread, 1 − that) is monotone
                // in IEEE arithmetic. So the threshold lies in [1 − s·(max − min), 1] as
                // computed, and a load outside that band is decided without sorting.
                let (lo, hi) = hist
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                        (a.min(x), b.max(x))
                    });
                if u <= 1.0 - s * (hi - lo) {
                    return false;
                }
                if u > 1.0 {
                    return true;
                }
                let spread = if matches!(det, Detector::Iqr(_)) {
                    iqr(hist)
                } else {
                    mad(hist)
                };
                u > 1.0 - s * spread
            }
            Detector::Lr(s) | Detector::Lrr(s) => {
                let (hist, n) = self.host_history(h, extra);
                if n < 10 {
                    return fallback();
                }
                let y: Vec<f64> = (0..10).map(|j| hist[9 - j]).collect();
                let (a, b) = ols(&y);
                let max_ram = self.hosts[h]
                    .vms
                    .iter()
                    .chain(extra.as_ref())
                    .map(|&v| self.vms[v].ram)
                    .fold(0.0, f64::max);
                let intervals = (max_ram / (HOST_BW / 16_000.0) / INTERVAL).ceil();
                s * (a + b * (10.0 + intervals)) >= 1.0
            }
        }
    }

    /// `getUtilizationOfCpuMips`: allocated MIPS, a VM migrating in counted at full size.
    fn alloc_mips_slow(&mut self, h: usize) -> f64 {
        let host = &self.hosts[h];
        // Each VM's allocation looked up through a stamped table rather than a search of the
        // map per VM; the sum still runs in VM-list order.
        self.stamp += 1;
        let stamp = self.stamp;
        for (vm, s) in host.sched.map.iter_any_order() {
            self.alloc_of[vm] = (stamp, s.alloc);
        }
        let mut m = 0.0;
        for &v in &host.vms {
            let (at, a) = self.alloc_of[v];
            let a = if at == stamp { a } else { 0.0 };
            if host.migrating_in.contains(&v) {
                m += a * 0.9 / 0.1;
            }
            m += a;
        }
        m
    }

    /// PABFD's evaluation of one host short of the power increase: whether it can take the
    /// VM described by `c`.
    ///
    /// `isHostOverUtilizedAfterAllocation` really creates the VM on the host and destroys it
    /// again. Destroying re-allocates the host's remaining VMs in its hash-map order, which
    /// leaves different last bits in its free MIPS than the update's list-order allocation
    /// did; CloudSim's later choices see those bits, so the evaluation does the same.
    #[inline]
    fn admits(&mut self, h: usize, c: &Placing) -> bool {
        self.settle(h);
        let hot = &self.hot[h];
        debug_assert_eq!(hot.available, self.hosts[h].sched.available);
        debug_assert_eq!(hot.storage, self.hosts[h].storage);
        // isSuitableForVm: a PE can hold the request and the host has the MIPS free.
        if !(hot.pe >= c.req && hot.available >= c.req) {
            return false;
        }
        if c.instantiating && !self.is_suitable(h, c.vm) {
            return false;
        }
        if hot.alloc != 0.0 {
            // vmCreate gets to the scheduler only with storage, RAM and bandwidth to spare.
            let creatable = hot.storage >= VM_SIZE && hot.ram_free >= c.ram && hot.bw_free >= c.bw;
            let over = !creatable
                || match c.threshold {
                    Some(t) => (hot.req + c.req) / hot.total > t,
                    None => self.over_utilized_with(h, Some(c.vm)),
                };
            if creatable {
                self.probe(h, c.vm);
            }
            if over {
                return false;
            }
        }
        true
    }

    /// The scheduler side of `vmCreate(vm)` followed by `vmDestroy(vm)` on `h`. A quiet host
    /// only forgets `vm` as migrating out, which needs nothing of the host's own state.
    #[inline]
    fn probe(&mut self, h: usize, vm: usize) {
        let (mig, hash) = (self.vms[vm].in_migration, self.vms[vm].hash);
        debug_assert_eq!(self.hot[h].quiet, self.hosts[h].sched.probe_is_quiet());
        if self.hot[h].quiet && !mig {
            self.outs.remove(vm, h);
        } else {
            if self.hosts[h].sched.probe(&mut self.outs, vm, hash, mig) {
                self.touch(h);
            }
            let sched = &self.hosts[h].sched;
            self.hot[h].available = sched.available;
            self.hot[h].quiet = sched.probe_is_quiet();
        }
        if self.tracking {
            self.probed[h] = true;
        }
        self.reindex(h);
    }

    /// PABFD's host choice (`findHostForVm`): the least power increase, the lowest id on ties.
    ///
    /// Empty hosts of one type all score the same, so only the lowest-numbered one of each type
    /// is evaluated; the others could never win the tie. When `pristine_allowed` is false every
    /// empty host is excluded (the underload phase excludes switched-off hosts).
    fn find_host(&mut self, vm: usize, excluded: &[bool], pristine_allowed: bool) -> Option<usize> {
        let v = &self.vms[vm];
        let c = Placing {
            vm,
            req: v.requested(),
            ram: v.requested_ram().min(HOST_RAM),
            bw: v.requested_bw().min(HOST_BW),
            instantiating: v.requested_ram() != 0.0 || v.requested_bw() != 0.0,
            threshold: match self.policy {
                Policy::Migration(Detector::Thr(t), _) => Some(t),
                _ => None,
            },
        };
        // A VM being instantiated is on no host yet, so `isSuitableForVm` finds none of its
        // RAM or bandwidth booked on the host scored; the quiet-host shortcut relies on that.
        let indexed = self.index.live()
            && !self.plain_scan
            && !self.vms[vm].in_migration
            && (!c.instantiating || self.vms[vm].host.is_none());
        if indexed {
            return self.best_indexed(&c, excluded, pristine_allowed);
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&self.active);
        if pristine_allowed {
            for set in &self.pristine {
                if let Some(&h) = set.iter().find(|&&h| !excluded[h]) {
                    candidates.push(h);
                }
            }
        }
        let best = self.best_in_general(&c, &candidates, excluded);
        self.candidates = candidates;
        best
    }

    /// PABFD's scan as CloudSim writes it: admit (probing) every candidate, then score those
    /// admitted. Any detector, any VM; the indexed scan must choose as this one does.
    fn best_in_general(
        &mut self,
        c: &Placing,
        candidates: &[usize],
        excluded: &[bool],
    ) -> Option<usize> {
        // Everything but the power first, probes included: a probe changes only its own
        // host, and each host's power is read after its own probe either way. The power
        // increases then come from a loop with no side effects.
        let mut admitted = std::mem::take(&mut self.admitted);
        admitted.clear();
        for &h in candidates {
            if !excluded[h] && self.admits(h, c) {
                admitted.push(h);
            }
        }
        let mut best: Option<(f64, usize)> = None;
        for &h in &admitted {
            consider(&mut best, self.power_increase(h, c.req), h);
        }
        self.admitted = admitted;
        best.map(|b| b.1)
    }

    /// The same choice through the host index ([`index`]): first every host whose evaluation
    /// may change it (not yet in walk order, or holding the VM as migrating out), then the
    /// lowest-numbered empty host of each type, then the groups of quiet hosts in the order
    /// of their bound on the power increase, until a bound passes the best found.
    ///
    /// Evaluating a host changes at most that host, so the order of evaluation cannot change
    /// any host's verdict or score; ties still go to the lowest id.
    fn best_indexed(
        &mut self,
        c: &Placing,
        excluded: &[bool],
        pristine_allowed: bool,
    ) -> Option<usize> {
        let stamp = self.index.next_placement();
        let mut out_row = std::mem::take(&mut self.out_row);
        self.outs.copy_row(c.vm, &mut out_row);
        let held = |row: &[u64], h: usize| row.get(h / 64).is_some_and(|w| w >> (h % 64) & 1 != 0);
        let mut best: Option<(f64, usize)> = None;
        let odd = self.index.take_odd();
        for &h in &odd {
            if excluded[h] || !self.index.is_odd(h) || self.index.see(h, stamp) {
                continue;
            }
            if let Some(d) = self.evaluate(h, c, held(&out_row, h)) {
                consider(&mut best, d, h);
            }
        }
        self.index.return_odd(odd);
        // Hosts holding the VM as migrating out; an empty one is reached below if at all.
        for (w, &word) in out_row.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let h = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if excluded[h] || self.is_pristine[h] || self.index.see(h, stamp) {
                    continue;
                }
                if let Some(d) = self.evaluate(h, c, true) {
                    consider(&mut best, d, h);
                }
            }
        }
        if pristine_allowed {
            for ty in 0..self.pristine.len() {
                let Some(&h) = self.pristine[ty].iter().find(|&&h| !excluded[h]) else {
                    continue;
                };
                if self.index.see(h, stamp) {
                    continue;
                }
                if let Some(d) = self.evaluate(h, c, held(&out_row, h)) {
                    consider(&mut best, d, h);
                }
            }
        }
        // The quiet hosts, whose evaluation changes nothing: in each group every score first,
        // then the verdicts from the least score up, to the first host admitted (no later one
        // could beat it). Most hosts scored are never asked for a verdict.
        let mut queue = std::mem::take(&mut self.group_queue);
        let mut scored = std::mem::take(&mut self.scored);
        self.index.bound_groups(c.req, &mut queue);
        while let Some((bound, g)) = queue.pop_least() {
            if best.is_some_and(|(d, _)| bound > d) {
                break;
            }
            scored.clear();
            for i in 0..self.index.group_len(g) {
                let h = self.index.group_host(g, i);
                debug_assert!(!excluded[h] && !self.index.is_odd(h));
                if !self.index.seen(h, stamp) && !held(&out_row, h) {
                    scored.push((self.power_increase(h, c.req), h));
                }
            }
            loop {
                let mut at = usize::MAX;
                let mut least = best;
                for (i, &(d, h)) in scored.iter().enumerate() {
                    if beats(d, h, least) {
                        least = Some((d, h));
                        at = i;
                    }
                }
                if at == usize::MAX {
                    break;
                }
                let (d, h) = scored.swap_remove(at);
                if self.admits_quietly(h, c) {
                    best = Some((d, h));
                    break;
                }
            }
        }
        self.scored = scored;
        self.group_queue = queue;
        self.out_row = out_row;
        best.map(|b| b.1)
    }

    /// One host's verdict and score, with every side effect CloudSim's evaluation has on it.
    /// A quiet host under THR that does not hold the VM as migrating out changes nothing but
    /// the restore's `probed` mark, so it is admitted by its packed record alone.
    fn evaluate(&mut self, h: usize, c: &Placing, held_out: bool) -> Option<f64> {
        let admitted = match c.threshold {
            Some(t) if self.hot[h].quiet && !held_out => {
                self.settle(h);
                let checks = self.quiet_checks(h, c);
                let (suitable, loaded, creatable) = checks;
                if self.tracking && suitable && loaded && creatable && !self.probed[h] {
                    self.probed[h] = true;
                    self.reindex(h);
                }
                self.thr_verdict(h, c, t, checks)
            }
            _ => self.admits(h, c),
        };
        admitted.then(|| self.power_increase(h, c.req))
    }

    /// `isSuitableForVm` and the two conditions of `isHostOverUtilizedAfterAllocation`'s
    /// probe, from a quiet host's packed record: (suitable, loaded, creatable).
    #[inline]
    fn quiet_checks(&self, h: usize, c: &Placing) -> (bool, bool, bool) {
        let hot = &self.hot[h];
        debug_assert_eq!(hot.available, self.hosts[h].sched.available);
        let room = (hot.ram_free >= c.ram) & (hot.bw_free >= c.bw);
        let suitable = (hot.pe >= c.req) & (hot.available >= c.req) & (room | !c.instantiating);
        (suitable, hot.alloc != 0.0, (hot.storage >= VM_SIZE) & room)
    }

    /// PABFD's verdict on a quiet host not holding the VM as migrating out, whose probe
    /// changes nothing: under THR from its packed record, otherwise by the detector.
    #[inline]
    fn admits_quietly(&mut self, h: usize, c: &Placing) -> bool {
        match c.threshold {
            Some(t) => {
                self.settle(h);
                let checks = self.quiet_checks(h, c);
                self.thr_verdict(h, c, t, checks)
            }
            None => self.admits(h, c),
        }
    }

    /// THR's verdict from a quiet host's checks ([`Experiment::quiet_checks`]): suitable, and
    /// if loaded, creatable and not over the threshold with the VM on it.
    #[inline]
    fn thr_verdict(&self, h: usize, c: &Placing, t: f64, checks: (bool, bool, bool)) -> bool {
        let (suitable, loaded, creatable) = checks;
        let hot = &self.hot[h];
        let over = (hot.req + c.req) / hot.total > t;
        suitable & !(loaded & (!creatable | over))
    }

    /// PABFD's score: watts after taking `req` more MIPS (`getPowerAfterAllocation`) less
    /// watts now.
    #[inline]
    fn power_increase(&self, h: usize, req: f64) -> f64 {
        let hot = &self.hot[h];
        // Types are 0 and 1; the mask spares the bounds check.
        self.curves[hot.ty & 1].at((hot.alloc + req) / hot.total) - hot.power_now
    }

    /// Keeps `h`'s caches and index in step after its VMs, allocations or utilisation changed.
    fn touch(&mut self, h: usize) {
        self.changed[h] = true;
        self.dormant[h] = false;
        let alloc = self.alloc_mips_slow(h);
        let req = self.requested_mips(h);
        self.touch_known(h, alloc, req, true);
    }

    /// The host's requested MIPS, summed in VM-list order as CloudSim adds them.
    fn requested_mips(&self, h: usize) -> f64 {
        self.hosts[h]
            .vms
            .iter()
            .map(|&v| self.vms[v].requested())
            .sum()
    }

    /// `touch` with the allocated and requested sums already at hand.
    fn touch_known(&mut self, h: usize, alloc: f64, req: f64, histories_moved: bool) {
        if self.uses_history && histories_moved {
            self.hosts[h].history_cache = self.history_sum(h);
        }
        let host = &mut self.hosts[h];
        self.hot[h] = Hot {
            available: host.sched.available,
            pe: host.sched.pe,
            total: host.total,
            alloc,
            req,
            ram_free: host.ram.free(),
            bw_free: host.bw.free(),
            storage: host.storage,
            power_now: self.curves[host_type(h)].at(host.utilization()),
            ty: host_type(h),
            quiet: host.sched.probe_is_quiet(),
        };
        let pristine = host.vms.is_empty() && host.util_mips == 0.0 && host.storage == HOST_STORAGE;
        if pristine == self.is_pristine[h] {
            self.reindex(h);
            return;
        }
        self.is_pristine[h] = pristine;
        let ty = host_type(h);
        if pristine {
            if let Ok(i) = self.active.binary_search(&h) {
                self.active.remove(i);
            }
            self.pristine[ty].insert(h);
        } else {
            self.pristine[ty].remove(&h);
            if let Err(i) = self.active.binary_search(&h) {
                self.active.insert(i, h);
            }
        }
        self.reindex(h);
    }

    /// Keeps `h`'s place in PABFD's index in step with its packed record, while the index is
    /// live. A host is odd, and always evaluated, while a probe could still change it: its
    /// scheduler is not in walk order, or (during an optimisation) it is loaded and not yet
    /// marked probed for the restore.
    #[inline]
    fn reindex(&mut self, h: usize) {
        if !self.index.live() {
            return;
        }
        if self.is_pristine[h] {
            self.index.set(h, None, false);
            return;
        }
        let hot = &self.hot[h];
        let load = hot.alloc / hot.total;
        let base = self.curves[hot.ty & 1].at(load) - hot.power_now;
        let odd = !(hot.quiet && (!self.tracking || hot.alloc == 0.0 || self.probed[h]));
        self.index
            .set(h, Some((hot.ty, HostIndex::bin(load), base)), odd);
    }

    /// Makes the index live and places every active host in it.
    fn begin_index(&mut self) {
        self.index.begin();
        for i in 0..self.active.len() {
            let h = self.active[i];
            self.reindex(h);
        }
    }

    fn first_fit(&self, vm: usize) -> Option<usize> {
        (0..self.hosts.len()).find(|&h| self.is_suitable(h, vm))
    }

    fn select_vm(&self, h: usize, sel: Selector) -> Option<usize> {
        if sel == Selector::Mc {
            return self
                .max_correlation(h)
                .or_else(|| self.select_vm(h, Selector::Mmt));
        }
        let mut best: Option<(usize, f64)> = None;
        for &v in &self.hosts[h].vms {
            if self.vms[v].in_migration {
                continue;
            }
            let key = match sel {
                Selector::Mmt => self.vms[v].ram,
                Selector::Mu => {
                    self.vms[v].util(&self.samples, self.clock) * self.vms[v].mips
                        / self.vms[v].mips
                }
                Selector::Mc => unreachable!("handled above"),
                Selector::Rs => unreachable!("CloudSimExperiment::parse refuses rs"),
            };
            if best.is_none_or(|(_, k)| key < k) {
                best = Some((v, key));
            }
        }
        best.map(|b| b.0)
    }

    /// The host's VMs not already migrating, in list order (`getMigratableVms`).
    fn migratable(&self, h: usize) -> Vec<usize> {
        self.hosts[h]
            .vms
            .iter()
            .copied()
            .filter(|&v| !self.vms[v].in_migration)
            .collect()
    }

    /// `PowerVmSelectionPolicyMaximumCorrelation.getVmToMigrate`, or `None` where CloudSim's
    /// regression throws and it falls back: no history, fewer samples than VMs, or a singular
    /// design matrix.
    fn max_correlation(&self, h: usize) -> Option<usize> {
        let vms = self.migratable(h);
        if vms.is_empty() {
            return None;
        }
        let m = vms.iter().map(|&v| self.vms[v].history.len()).min()?;
        // Commons Math: at least as many observations as predictors plus the intercept.
        if m == 0 || vms.len() > m {
            return None;
        }
        let rows: Vec<Vec<f64>> = vms
            .iter()
            .map(|&v| self.vms[v].history.iter().take(m).copied().collect())
            .collect();
        // `maxMetric` starts at Java's Double.MIN_VALUE; NaN never wins.
        let (mut best, mut best_r2) = (0usize, f64::from_bits(1));
        for i in 0..rows.len() {
            let x: Vec<&[f64]> = (0..rows.len())
                .filter(|&j| j != i)
                .map(|j| rows[j].as_slice())
                .collect();
            let r2 = ols_r_squared(&rows[i], &x)?;
            if r2 > best_r2 {
                best_r2 = r2;
                best = i;
            }
        }
        Some(vms[best])
    }

    /// Most demanding first; ties keep their order (`Collections.sort` is stable).
    fn sort_by_cpu(&self, vms: &mut [usize]) {
        let t = self.clock;
        let key = |v: &Vm| {
            if v.prev_time == t && !v.being_instantiated {
                v.req
            } else {
                v.util(&self.samples, t) * v.mips
            }
        };
        if vms.len() < 2 {
            return;
        }
        let mut keyed: Vec<(f64, usize)> = vms.iter().map(|&v| (key(&self.vms[v]), v)).collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (slot, (_, v)) in vms.iter_mut().zip(keyed) {
            *slot = v;
        }
    }

    fn placement(
        &mut self,
        mut vms: Vec<usize>,
        excluded: &[bool],
        all_or_nothing: bool,
    ) -> Vec<(usize, usize)> {
        self.sort_by_cpu(&mut vms);
        let mut map = Vec::new();
        for vm in vms {
            match self.find_host(vm, excluded, !all_or_nothing) {
                Some(h) => {
                    self.vm_create(h, vm);
                    map.push((vm, h));
                }
                None if all_or_nothing => {
                    for &(v, h) in &map {
                        self.vm_destroy(h, v);
                    }
                    map.clear();
                    break;
                }
                None => {}
            }
        }
        map
    }

    /// `optimizeAllocation`: overloaded hosts shed VMs, then underloaded hosts are emptied.
    fn optimize(&mut self, sel: Selector) -> Vec<(usize, usize)> {
        let n = self.hosts.len();
        self.tracking = true;
        self.begin_index();
        // CloudSim walks every host in each step below. An empty host (not in `active`) holds no
        // VM, has no load and no history, so no detector finds it overloaded, and it has
        // nothing to save, evacuate or refill: walking the active hosts in id order does the
        // same.
        let mut hosts_then = std::mem::take(&mut self.active_then);
        hosts_then.clear();
        hosts_then.extend_from_slice(&self.active);
        let over: Vec<usize> = hosts_then
            .iter()
            .copied()
            .filter(|&h| self.over_utilized(h))
            .collect();
        // saveAllocation(): VMs on their hosts, except those migrating in.
        let mut saved: Vec<(usize, usize)> = Vec::with_capacity(self.live.len());
        for &h in &hosts_then {
            let host = &self.hosts[h];
            for &v in &host.vms {
                if !host.migrating_in.contains(&v) {
                    saved.push((h, v));
                }
            }
        }
        let mut to_move = Vec::new();
        for &h in &over {
            while let Some(vm) = self.select_vm(h, sel) {
                to_move.push(vm);
                self.vm_destroy_selected(h, vm);
                if !self.over_utilized(h) {
                    break;
                }
            }
        }
        let mut excluded = vec![false; n];
        for &h in &over {
            excluded[h] = true;
            self.index.retire(h);
        }
        let mut map = self.placement(to_move, &excluded, false);

        // Underload phase. Empty hosts are switched off too, but PABFD here never considers
        // an empty host, and none is a candidate for evacuation, so only the hosts active now
        // are marked: among them, those the placement above has just woken, which count as off.
        let off: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&h| self.hosts[h].utilization() == 0.0)
            .collect();
        let mut ex_under = excluded.clone();
        let mut ex_place = excluded;
        for &h in &off {
            ex_under[h] = true;
            ex_place[h] = true;
            self.index.retire(h);
        }
        // Candidates in the order CloudSim's repeated minimum search would pick them: least
        // measured utilisation first, lowest id on ties. Measured utilisation does not change
        // during the optimisation, and a host only leaves the candidates by being excluded.
        let mut order: Vec<(f64, usize)> = hosts_then
            .iter()
            .map(|&h| (self.hosts[h].utilization(), h))
            .filter(|&(u, h)| !ex_under[h] && u > 0.0 && u < 1.0)
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut cursor = 0;
        loop {
            let mut under = None;
            while cursor < order.len() {
                let h = order[cursor].1;
                cursor += 1;
                if !ex_under[h] && !self.all_out_or_any_in(h) {
                    under = Some(h);
                    break;
                }
            }
            let Some(h) = under else { break };
            ex_under[h] = true;
            ex_place[h] = true;
            self.index.retire(h);
            let vms = self.migratable(h);
            if vms.is_empty() {
                continue;
            }
            let placed = self.placement(vms, &ex_place, true);
            for &(_, t) in &placed {
                ex_under[t] = true;
            }
            map.extend(placed);
        }
        // restoreAllocation(): every host is emptied and refilled, its VMs migrating in first.
        // A host the optimisation never touched gets the same allocations back, so only its
        // VM order and its RAM and bandwidth books (refilled at zero demand) change.
        self.tracking = false;
        self.index.end();
        // The hosts to refill: those active at the start, and any the optimisation touched.
        hosts_then.extend_from_slice(&self.touched_list);
        hosts_then.sort_unstable();
        hosts_then.dedup();
        for &h in &hosts_then {
            if self.touched[h] {
                self.empty_for_restore(h);
            } else {
                let host = &mut self.hosts[h];
                if host.migrating_in.is_empty()
                    && !self.probed[h]
                    && host.ram.all_zero()
                    && host.bw.all_zero()
                {
                    // Refilling would give back exactly what is there.
                    continue;
                }
                let ins = host.migrating_in.clone();
                let rest: Vec<usize> = host
                    .vms
                    .iter()
                    .copied()
                    .filter(|v| !ins.contains(v))
                    .collect();
                host.vms = ins;
                host.vms.extend(rest);
                host.ram.zero_all();
                host.bw.zero_all();
                let sched = &mut self.hosts[h].sched;
                if self.probed[h] && !sched.overflowed && sched.list_available.is_some() {
                    // Probing left the walk-order allocation; refilling in list order gives
                    // the same allocations and the free MIPS it had before.
                    sched.available = sched.list_available.take().unwrap_or(sched.available);
                    sched.canonical = false;
                    sched.walk_pending = false;
                } else if self.probed[h] {
                    // Probing left the walk-order allocation; refilling allocates in list
                    // order again.
                    self.allocate_in_list_order(h);
                }
                // The packed record is not refreshed: the host keeps its VMs, and so its
                // watts (all an update reads of it) and its place among the empty hosts; the
                // full update before the next optimisation rebuilds the rest.
            }
        }
        for &(h, vm) in &saved {
            if self.touched[h] {
                let ok = self.rebook_vm(h, vm);
                debug_assert!(ok, "restoring the allocation cannot fail");
            } else {
                self.vms[vm].host = Some(h);
            }
        }
        // Each refilled host's scheduler allocates its VMs in list order, as the one-by-one
        // `vmCreate` calls would from an empty host. Its packed record is refreshed only where
        // its place among the empty hosts may have changed: otherwise, as above, the watts an
        // update reads are those of the unchanged measured load, and the full update before
        // the next optimisation rebuilds the rest.
        let mut touched = std::mem::take(&mut self.touched_list);
        touched.sort_unstable();
        for &h in &touched {
            if self.hosts[h].vms.is_empty() || self.is_pristine[h] {
                self.allocate_in_list_order(h);
                self.touch(h);
            } else {
                self.rekey_in_list_order(h);
            }
            self.touched[h] = false;
        }
        touched.clear();
        self.touched_list = touched;
        for &h in &hosts_then {
            self.probed[h] = false;
        }
        debug_assert!(
            self.probed.iter().all(|&p| !p),
            "only those hosts are probed"
        );
        self.active_then = hosts_then;
        map
    }

    fn all_out_or_any_in(&self, h: usize) -> bool {
        for &v in &self.hosts[h].vms {
            if !self.vms[v].in_migration {
                return false;
            }
            if self.hosts[h].migrating_in.contains(&v) {
                return true;
            }
        }
        true
    }

    fn complete_migration(&mut self, vm: usize, target: usize) {
        // PowerDatacenter.processVmMigrate: bring everything up to now first.
        if self.clock > self.last_process {
            self.update_all();
        }
        // CloudSim destroys the VM on its source, removes it from the target's migrating-in
        // list and creates it there, each step re-allocating the host's MIPS. The update that
        // follows at this same instant (`run` makes it once the last completion at this time
        // is moved) re-allocates both hosts from their VM lists and rebuilds their packed
        // records, so only what that update reads and does not rebuild is kept exact here:
        // the VM lists, the RAM, bandwidth and storage books, the scheduler's keys (the table
        // of Java's map grows with them) and migrating-in list, and the migrating-out bits.
        if let Some(src) = self.vms[vm].host {
            self.forget_vm(src, vm);
            self.vms[vm].host = None;
        }
        self.forget_vm(target, vm);
        let host = &mut self.hosts[target];
        host.migrating_in.retain(|&v| v != vm);
        host.sched.migrating_in.retain(|&v| v != vm);
        self.vms[vm].in_migration = false;
        let ok = self.book_vm(target, vm);
        debug_assert!(ok, "a reserved destination takes its VM");
        // `allocatePesForVm` of a VM no longer in migration: out of the migrating-out set,
        // its request recorded under its UID.
        self.outs.remove(vm, target);
        let (req, hash) = (self.vms[vm].requested(), self.vms[vm].hash);
        let sched = &mut self.hosts[target].sched;
        sched.map.put(vm, hash, Share { req, alloc: 0.0 });
        sched.canonical = false;
        sched.list_available = None;
        self.mark_changed(target);
    }

    /// `vmDestroy` short of the re-allocation, for a VM that completed its migration.
    fn forget_vm(&mut self, h: usize, vm: usize) {
        let host = &mut self.hosts[h];
        host.ram.release(vm);
        host.bw.release(vm);
        host.sched.list_available = None;
        host.sched.map.remove(vm);
        host.storage += VM_SIZE;
        host.vms.retain(|&v| v != vm);
        self.mark_changed(h);
    }

    /// What `touch` does that the next update at the same instant does not redo: the host is
    /// marked for that update, and its history sum follows its new VM list.
    fn mark_changed(&mut self, h: usize) {
        self.changed[h] = true;
        self.dormant[h] = false;
        if self.uses_history {
            self.hosts[h].history_cache = self.history_sum(h);
        }
    }

    /// Runs the day and computes the metrics.
    pub fn run(mut self) -> Results {
        // t = 0: VMs created one by one, each asking for its full MIPS and RAM.
        let none = vec![false; self.hosts.len()];
        self.begin_index();
        for vm in 0..self.vms.len() {
            let host = match self.policy {
                Policy::Migration(..) => self.find_host(vm, &none, true),
                _ => self.first_fit(vm),
            };
            if let Some(h) = host {
                self.vm_create(h, vm);
                self.live.push(vm);
            }
            self.vms[vm].being_instantiated = false;
            if let Some(h) = self.vms[vm].host {
                self.touch(h);
            }
        }
        self.index.end();
        // Cloudlets arrive with the broker's acknowledgement, 0.1 s later.
        self.clock = SUBMIT_AT;
        for v in &mut self.vms {
            v.submitted = true;
            // Demand is still read at the scheduler's last update, t = 0, until the first update.
            v.util_now = v.util(&self.samples, v.prev_time);
            v.req = v.util_now * v.mips;
        }
        for h in 0..self.hosts.len() {
            self.touch(h);
        }
        self.last_process = SUBMIT_AT;
        let mut next_grid = SUBMIT_AT + INTERVAL;
        loop {
            // The next event: a migration completing, or the 5-minute update.
            // `pending` is kept latest first: the next completion is the last entry.
            let next = match self.pending.last() {
                Some(&(t, ..)) if t < next_grid => {
                    let (t, _, vm, target) = self.pending.pop().expect("just seen");
                    self.clock = t;
                    if t > LIMIT {
                        break;
                    }
                    self.complete_migration(vm, target);
                    let more_now = self.pending.last().is_some_and(|e| e.0 <= self.clock);
                    if !more_now {
                        self.update_all();
                    }
                    continue;
                }
                _ => next_grid,
            };
            if next > LIMIT {
                break;
            }
            self.clock = next;
            self.update_all();
            if let Policy::Migration(_, sel) = self.policy {
                let map = self.optimize(sel);
                let mut stale = Vec::new();
                for (vm, target) in map {
                    self.add_migrating_in(target, vm, &mut stale);
                    self.migrations += 1;
                    let delay = self.vms[vm].ram / (HOST_BW / (2.0 * 8000.0));
                    self.seq += 1;
                    self.pending
                        .push((self.clock + delay, self.seq, vm, target));
                }
                stale.sort_unstable();
                stale.dedup();
                let t = self.clock;
                for h in stale {
                    self.update_host(h, t);
                }
                // Earliest completion last; among equal times, the first scheduled.
                self.pending
                    .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            }
            next_grid = self.clock + INTERVAL;
        }
        self.results()
    }

    fn results(&mut self) -> Results {
        let (mut active, mut viol, mut shutdowns) = (0.0, 0.0, 0);
        for h in &mut self.hosts {
            h.states.finalize(true);
            active += h.states.a;
            viol += h.states.b;
            shutdowns += h.states.count;
        }
        let slatah = if active > 0.0 { viol / active } else { 0.0 };
        let (mut req_total, mut under_mig, mut periods, mut n) = (0.0, 0.0, 0.0, 0);
        for v in &mut self.vms {
            v.states.finalize(false);
            req_total += v.states.a;
            under_mig += v.states.b;
            periods += v.states.periods;
            n += v.states.count;
        }
        let pdm = if req_total > 0.0 {
            under_mig / req_total
        } else {
            0.0
        };
        let energy_kwh = self.energy_ws / 3.6e6;
        let slav = slatah * pdm;
        Results {
            energy_kwh,
            migrations: self.migrations,
            slatah,
            pdm,
            slav,
            esv: energy_kwh * slav,
            host_shutdowns: shutdowns,
            mean_migration_time_s: if n == 0 { f64::NAN } else { periods / n as f64 },
            vms_removed: self.vms.iter().filter(|v| v.removed).count(),
        }
    }
}

/// Runs a scenario with `[compat] cloudsim = true`: CloudSim's experiment `policy.name` on the
/// scenario's `[trace]`, with as many hosts as the scenario lists (half G4, half G5,
/// interleaved by id as `Helper.createHostList` does).
pub fn run_scenario(
    loaded: &crate::scenario::load::Loaded,
) -> Result<crate::metrics::Summary, crate::scenario::ScenarioError> {
    let sc = &loaded.scenario;
    let policy = Policy::parse(&sc.policy.name).expect("validated policy");
    let t = sc.trace.as_ref().expect("validated trace");
    if t.format != "planetlab" {
        return Err(loaded.field_error(
            "trace.format",
            "CloudSim compatibility replays PlanetLab traces",
        ));
    }
    let path = loaded.resolve_path("trace.path", &t.path);
    let order = t
        .order
        .as_ref()
        .map(|o| loaded.resolve_path("trace.order", o));
    let trace = crate::trace::planetlab::read_dir_percentages(&path, order.as_deref())
        .map_err(|e| loaded.field_error("trace.path", e.to_string()))?;
    let hosts: usize = sc.hosts.iter().map(|h| h.count as usize).sum();
    let r = Experiment::from_percentages(policy, &trace, hosts).run();
    Ok(crate::metrics::Summary {
        scenario: sc.name.clone(),
        seed: sc.seed,
        horizon_s: LIMIT,
        hosts,
        vms: trace.len(),
        policy: sc.policy.name.clone(),
        hypervisor: "cloudsim".into(),
        energy_kwh: r.energy_kwh,
        mean_power_w: r.energy_kwh * 3.6e6 / LIMIT,
        peak_active_hosts: 0,
        mean_active_hosts: 0.0,
        host_shutdowns: r.host_shutdowns as u32,
        migrations: r.migrations as u32,
        failed_migrations: 0,
        cancelled_migrations: 0,
        migrated_bytes: 0,
        total_downtime_s: 0.0,
        // CloudSim models no downtime.
        downtime_p50_ms: 0.0,
        downtime_p95_ms: 0.0,
        downtime_max_ms: 0.0,
        mean_migration_time_s: if r.mean_migration_time_s.is_nan() {
            0.0
        } else {
            r.mean_migration_time_s
        },
        cpu_unmet_fraction: 0.0,
        overload_time_fraction: r.slatah,
        slatah: r.slatah,
        pdm: r.pdm,
        slav: r.slav,
        esv: r.esv,
        traffic_delivered_fraction: 1.0,
        // CloudSim counts no bytes, so there is nothing for Liu's model to weigh.
        migration_energy_kwh: 0.0,
        maintenance_missed: 0,
        host_failures: 0,
        ha_restarts: 0,
        ha_downtime_s: 0.0,
        vms_down_at_end: 0,
        baseline_energy_kwh: None,
        energy_saved_kwh: None,
        energy_saved_pct: None,
        vm_states_at_end: {
            let mut m = crate::metrics::vm_state_counts(&crate::model::vm::Vms::default());
            m.insert("active".into(), trace.len() - r.vms_removed);
            m.insert("inactive".into(), r.vms_removed);
            m
        },
        events: 0,
        migsim_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::ols_r_squared;

    #[test]
    fn r_squared_of_exact_noisy_and_singular_fits() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        assert!((ols_r_squared(&y, &[&x]).unwrap() - 1.0).abs() < 1e-12);
        // y = [1, 3, 2, 5, 4] on x: R² = r² = 0.64.
        let y = [1.0, 3.0, 2.0, 5.0, 4.0];
        assert!((ols_r_squared(&y, &[&x]).unwrap() - 0.64).abs() < 1e-12);
        // No predictors: the intercept alone explains nothing.
        assert!(ols_r_squared(&y, &[]).unwrap().abs() < 1e-12);
        // An all-zero predictor makes the design matrix singular, where CloudSim throws.
        assert_eq!(ols_r_squared(&y, &[&[0.0; 5]]), None);
    }

    use super::*;

    #[test]
    fn mathutil_statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), 1.0);
        // n = 8: q1 = x[round(2.25) − 1] = x[1], q3 = x[round(6.75) − 1] = x[6].
        assert_eq!(iqr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), 5.0);
        let (a, b) = ols(&[1.0, 3.0, 5.0, 7.0]);
        assert!((a + 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        assert_eq!(non_zero_beginning(&[0.3, 0.2, 0.0, 0.5]), 2);
    }

    /// One step on a book: hold (after releasing any earlier holding, as `alloc_ram_bw`
    /// does), release, zero every holding, or clear.
    #[derive(Debug, Clone)]
    enum BookStep {
        Hold(usize, f64),
        Release(usize),
        ZeroAll,
        Clear,
    }

    fn book_step() -> impl proptest::strategy::Strategy<Value = BookStep> {
        use proptest::prelude::*;
        prop_oneof![
            // Zero holdings are what running VMs book, and the sum shortcut is for them.
            5 => (0usize..12, prop_oneof![Just(0.0), 0.0f64..1400.0])
                .prop_map(|(vm, x)| BookStep::Hold(vm, x)),
            3 => (0usize..12).prop_map(BookStep::Release),
            1 => Just(BookStep::ZeroAll),
            1 => Just(BookStep::Clear),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// After any run of bookings, releases and refills, a book's free amount is the
        /// capacity less the holdings summed in booking order, to the bit, as
        /// `RamProvisionerSimple` sums them.
        #[test]
        fn book_keeps_its_in_order_sum(steps in proptest::collection::vec(book_step(), 0..200)) {
            let mut book = Book::new(HOST_RAM);
            for step in steps {
                match step {
                    BookStep::Hold(vm, x) => {
                        book.release(vm);
                        book.hold(vm, x);
                    }
                    BookStep::Release(vm) => book.release(vm),
                    BookStep::ZeroAll => book.zero_all(),
                    BookStep::Clear => book.clear(),
                }
                let summed: f64 = book.held.iter().map(|e| e.1).sum();
                proptest::prop_assert_eq!(book.free().to_bits(), (HOST_RAM - summed).to_bits());
                proptest::prop_assert_eq!(book.all_zero(), book.held.iter().all(|e| e.1 == 0.0));
            }
        }
    }

    #[test]
    fn tenths_are_what_java_divides() {
        for (i, &t) in TENTHS.iter().enumerate() {
            assert_eq!(t.to_bits(), (i as f64 / 10.0).to_bits());
        }
    }

    /// `PowerModelSpecPower.getPower` as Java writes it, `%` included.
    fn java_get_power(power: &[f64; 11], u: f64) -> f64 {
        if u % 0.1 == 0.0 {
            return power[(u * 10.0) as usize];
        }
        let u1 = (u * 10.0).floor() as usize;
        let u2 = (u * 10.0).ceil() as usize;
        let (p1, p2) = (power[u1], power[u2]);
        let delta = (p2 - p1) / 10.0;
        p1 + delta * (u - u1 as f64 / 10.0) * 100.0
    }

    #[test]
    fn power_at_is_javas_get_power_bit_for_bit() {
        let mut probes: Vec<f64> = Vec::new();
        for k in 0..=1000 {
            let k = k as f64;
            probes.extend([
                k / 1000.0,
                k * 0.001,
                k / 100.0,
                k * 0.01,
                k / 10.0,
                k * 0.1,
            ]);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            probes.push((x >> 11) as f64 / (1u64 << 53) as f64);
        }
        let e = Experiment::new(Policy::Dvfs, &[], 2);
        for curve in &e.curves {
            for &u in probes.iter().filter(|u| (0.0..=1.0).contains(*u)) {
                let (ours, java) = (curve.at(u), java_get_power(&curve.power, u));
                assert_eq!(ours.to_bits(), java.to_bits(), "{u:?}: {ours} vs {java}");
            }
        }
    }

    #[test]
    fn policy_names_parse() {
        assert_eq!(Policy::parse("npa"), Ok(Policy::Npa));
        assert_eq!(
            Policy::parse("thr-mmt-0.8"),
            Ok(Policy::Migration(Detector::Thr(0.8), Selector::Mmt))
        );
        assert_eq!(
            Policy::parse("lrr-mu-1.2"),
            Ok(Policy::Migration(Detector::Lrr(1.2), Selector::Mu))
        );
        assert!(Policy::parse("thr-rs-0.8").is_err());
    }

    #[test]
    fn specpower_matches_cloudsims_arithmetic() {
        let e = Experiment::new(Policy::Dvfs, &[], 2);
        let g4 = &e.curves[host_type(0)];
        assert_eq!(g4.at(0.0), 86.0);
        assert!((g4.at(0.45) - 100.75).abs() < 1e-9);
        assert_eq!(g4.at(1.0), 117.0);
    }
}
