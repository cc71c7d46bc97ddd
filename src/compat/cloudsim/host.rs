//! `PowerHost` with its RAM and bandwidth provisioners, the SPECpower curve
//! (`PowerModelSpecPower*`), and the small numeric helpers PABFD's scoring shares.

use super::*;

/// A host's RAM or bandwidth provisioner (`RamProvisionerSimple`, `BwProvisionerSimple`): what
/// each VM holds, in booking order, and their sum in that order, which a new holding extends
/// and only a removal has to redo.
#[derive(Default)]
pub(super) struct Book {
    pub(super) capacity: f64,
    pub(super) held: Vec<(usize, f64)>,
    pub(super) sum: f64,
    /// How many holdings are not zero. Running VMs hold no RAM or bandwidth (CloudSim's
    /// `UtilizationModelNull`), so after the first refill every book holds zeros, and a
    /// removal leaves a sum of zeros: 0, with nothing to add up.
    pub(super) nonzero: usize,
}

impl Book {
    pub(super) fn new(capacity: f64) -> Book {
        Book {
            capacity,
            held: Vec::new(),
            sum: 0.0,
            nonzero: 0,
        }
    }
    pub(super) fn free(&self) -> f64 {
        self.capacity - self.sum
    }
    pub(super) fn held_by(&self, vm: usize) -> f64 {
        self.held.iter().find(|e| e.0 == vm).map_or(0.0, |e| e.1)
    }
    pub(super) fn release(&mut self, vm: usize) {
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
    pub(super) fn hold(&mut self, vm: usize, amount: f64) {
        debug_assert!(self.held.iter().all(|e| e.0 != vm));
        self.held.push((vm, amount));
        if amount != 0.0 {
            self.nonzero += 1;
        }
        self.sum += amount;
    }
    pub(super) fn clear(&mut self) {
        self.held.clear();
        self.sum = 0.0;
        self.nonzero = 0;
    }
    pub(super) fn all_zero(&self) -> bool {
        self.nonzero == 0
    }
    /// Every VM keeps its place but holds nothing: a refill at zero demand.
    pub(super) fn zero_all(&mut self) {
        for e in &mut self.held {
            e.1 = 0.0;
        }
        self.sum = 0.0;
        self.nonzero = 0;
    }
}

pub(super) struct Host {
    pub(super) total: f64,
    pub(super) vms: Vec<usize>,
    pub(super) migrating_in: Vec<usize>,
    pub(super) sched: Sched,
    pub(super) ram: Book,
    pub(super) bw: Book,
    pub(super) storage: f64,
    pub(super) util_mips: f64,
    pub(super) prev_util_mips: f64,
    /// Watts at the utilisation measured before the last update.
    pub(super) prev_power: f64,
    pub(super) history_cache: [f64; HISTORY_LENGTH],
    /// The host's state history, summarised.
    pub(super) states: StateStream,
}

impl Host {
    pub(super) fn utilization(&self) -> f64 {
        let u = self.util_mips / self.total;
        if u > 1.0 && u < 1.01 { 1.0 } else { u }
    }
    pub(super) fn prev_utilization(&self) -> f64 {
        let u = self.prev_util_mips / self.total;
        if u > 1.0 && u < 1.01 { 1.0 } else { u }
    }
    pub(super) fn add_state(&mut self, t: f64, alloc: f64, req: f64, active: bool) {
        self.states.add((t, alloc, req, active), true);
    }
}

/// What PABFD reads of a host while it scores every host for one VM, packed together and
/// refreshed with the host's caches (`Experiment::touch_known`): the scan then reads one
/// small record per host instead of the host's scattered state.
#[derive(Clone, Copy, Default)]
pub(super) struct Hot {
    /// The scheduler's free MIPS and PE size.
    pub(super) available: f64,
    pub(super) pe: f64,
    pub(super) total: f64,
    /// `getUtilizationOfCpuMips` and Σ requested MIPS, summed in VM-list order as CloudSim
    /// adds them.
    pub(super) alloc: f64,
    pub(super) req: f64,
    pub(super) ram_free: f64,
    pub(super) bw_free: f64,
    pub(super) storage: f64,
    /// Watts at the measured utilisation (`PowerHost.getPower()`).
    pub(super) power_now: f64,
    /// Host type: the index of its power curve.
    pub(super) ty: usize,
    /// Whether PABFD's create-and-destroy probe would leave the scheduler as it is (see
    /// `Sched::probe`): it is in walk order and one more key cannot grow its map.
    pub(super) quiet: bool,
}

/// A SPECpower curve, kept both as its table and as one record per 10 % segment.
pub(super) struct Curve {
    pub(super) power: [f64; 11],
    /// Segment i (0..=10) as `getPower` reads it; padded to 16 so that an index known to be
    /// at most 10 needs no bounds check in PABFD's scan.
    pub(super) segments: [Segment; 16],
}

/// What `getPower` reads for a utilisation in segment i: the entry it starts from, the slope
/// `(power[i + 1] − power[i]) / 10` (the same operation on the same operands, done once; 0
/// for the last entry, which no interpolation leaves) and the segment's start `(double) i / 10`.
#[derive(Clone, Copy, Default)]
pub(super) struct Segment {
    pub(super) start_power: f64,
    pub(super) slope: f64,
    pub(super) start: f64,
}

impl Curve {
    pub(super) fn new(power: [f64; 11]) -> Curve {
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
    pub(super) fn at(&self, u: f64) -> f64 {
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
pub(super) fn beats(d: f64, h: usize, best: Option<(f64, usize)>) -> bool {
    best.is_none_or(|(bd, bh)| d < bd || (d == bd && h < bh))
}

/// Keeps the better of `best` and host `h` scoring `d`.
#[inline]
pub(super) fn consider(best: &mut Option<(f64, usize)>, d: f64, h: usize) {
    if beats(d, h, *best) {
        *best = Some((d, h));
    }
}

/// A host's type, the index of its curve: `Helper.createHostList` alternates G4 and G5.
pub(super) fn host_type(h: usize) -> usize {
    h % 2
}

/// A trace sample as CloudSim holds it: `Integer.valueOf(line) / 100.0` in double precision
/// (`UtilizationModelPlanetLabInMemory`). Traces keep samples as `f32`, and 0.07f32 widened is
/// 0.07000000029802322, not 0.07: enough to flip PABFD's power-difference ties, which decide
/// most placements of near-idle VMs. A whole percentage is therefore rebuilt exactly; other
/// values are widened as they are. An `f32` in [0, 1] is within 6e-8 of its percentage / 100,
/// so 1e-4 of a percent tells a whole percentage from any other value.
pub(super) fn cloudsim_sample(c: f32) -> f64 {
    let percent = (c as f64 * 100.0).round();
    if (c as f64 * 100.0 - percent).abs() < 1e-4 {
        percent / 100.0
    } else {
        c as f64
    }
}

/// `floor` of a finite x in [0, 2⁵³), by truncation: the libm call costs more than the
/// rest of the trace interpolation.
pub(super) fn floor_nonneg(x: f64) -> f64 {
    debug_assert!((0.0..9.0e15).contains(&x));
    x as u64 as f64
}

/// `ceil` of a finite x in [0, 2⁵³).
pub(super) fn ceil_nonneg(x: f64) -> f64 {
    let f = floor_nonneg(x);
    if f == x { f } else { f + 1.0 }
}

/// Free MIPS above which re-summing a host's shares in another order cannot run out: the
/// orders differ by rounding, tens of shares times 2⁻⁵² of at most 5 320 MIPS (about 1e-11).
pub(super) const WALK_MARGIN: f64 = 1e-6;

/// `(double) i / 10` for i = 0..=10, as `getPower` computes the start of a segment.
pub(super) const TENTHS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// What PABFD asks of every host about the VM it is placing, read once.
pub(super) struct Placing {
    pub(super) vm: usize,
    pub(super) req: f64,
    pub(super) ram: f64,
    pub(super) bw: f64,
    /// Still asking for its full RAM and bandwidth (placement at t = 0).
    pub(super) instantiating: bool,
    /// The static threshold, when the detector is THR.
    pub(super) threshold: Option<f64>,
}
