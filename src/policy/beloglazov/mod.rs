//! Beloglazov & Buyya's dynamic consolidation (CCPE 2012, §6), composed from an overload
//! detector, a VM selector and the power-aware best-fit-decreasing placer (PABFD).
//!
//! Unlike `compat::cloudsim`, this is the algorithm as the paper describes it, carried out by
//! migsim's faithful models. Migrations take their real pre-copy time and downtime, hosts sleep
//! and wake with their transition times, and LR and LRR are the paper's locally weighted
//! regressions (eqs. 26–33), not CloudSim's ordinary least squares.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ClusterView, Decision, Entry, ParamError, Policy};
use plan::Plan;
use crate::metrics::median;
use crate::model::host::HostId;
use crate::model::power::{PowerState, PowerTarget};
use crate::model::vm::VmId;

mod pabfd;
mod plan;

/// Samples of history IQR and MAD need: "12 has been suggested as a safe value" (CloudSim
/// `PowerVmAllocationPolicyMigrationInterQuartileRange`; Beloglazov's thesis §4.4).
pub const MIN_HISTORY_SPREAD: usize = 12;
/// Samples LR and LRR fit: the last 10 (CloudSim `PowerVmAllocationPolicyMigrationLocalRegression`).
pub const REGRESSION_WINDOW: usize = 10;
/// The static threshold the adaptive detectors fall back on without enough history
/// (CloudSim `examples/power/RunnerAbstract`: 0.7).
pub const FALLBACK_THRESHOLD: f64 = 0.7;

/// Overload detection (CCPE 2012 §6.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detector {
    /// Static threshold: overloaded iff u > t.
    Thr(f64),
    /// Threshold 1 − s·IQR(history) (eq. 24).
    Iqr(f64),
    /// Threshold 1 − s·MAD(history) (eq. 23).
    Mad(f64),
    /// Local regression: s · predicted u ≥ 1 (eqs. 26–30).
    Lr(f64),
    /// Robust local regression with bisquare re-weighting (eqs. 31–33).
    Lrr(f64),
}

impl Detector {
    /// The detector named `thr`, `iqr`, `mad`, `lr` or `lrr`, with its parameter.
    pub fn parse(name: &str, param: f64) -> Option<Detector> {
        Some(match name {
            "thr" => Detector::Thr(param),
            "iqr" => Detector::Iqr(param),
            "mad" => Detector::Mad(param),
            "lr" => Detector::Lr(param),
            "lrr" => Detector::Lrr(param),
            _ => return None,
        })
    }
}

impl Detector {
    /// Checks the detector's parameter against what its rule can mean. CCPE 2012 §7.3 swept
    /// THR over 0.6–1.0, IQR and MAD over 0.5–3.0 and LR and LRR over 1.0–1.4
    /// (../shared/reference/consolidation-algorithms.md §4).
    /// - THR compares utilisation with its threshold, so a threshold outside (0, 1] makes
    ///   every host overloaded or none.
    /// - IQR's and MAD's 1 − s·spread and LR's s·prediction need a positive, finite `s`; above
    ///   10 (more than three times the paper's largest) the rule no longer depends on the
    ///   load, so such a value is refused as a likely typo.
    pub fn check(self) -> Result<Detector, String> {
        let (p, ok, range) = match self {
            Detector::Thr(t) => (t, t > 0.0 && t <= 1.0, "(0, 1]"),
            Detector::Iqr(s) | Detector::Mad(s) | Detector::Lr(s) | Detector::Lrr(s) => {
                (s, s > 0.0 && s <= 10.0, "(0, 10]")
            }
        };
        if ok {
            Ok(self)
        } else {
            Err(format!("the detector's parameter {p} is not in {range}"))
        }
    }
}

/// The grammar `DETECTOR-SELECTOR-PARAMETER` (`thr-mmt-0.8`, `lr-mc-1.2`), shared by the
/// faithful policies and CloudSim's experiment names. `Err` names the part that is wrong.
pub fn parse_name(name: &str) -> Result<(Detector, Selector), String> {
    let mut it = name.split('-');
    let (Some(d), Some(s), Some(p), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err("not of the form DETECTOR-SELECTOR-PARAMETER".into());
    };
    let p: f64 = p
        .parse()
        .ok()
        .filter(|p: &f64| p.is_finite())
        .ok_or_else(|| format!("{p:?} is not a number"))?;
    let det = Detector::parse(d, p)
        .ok_or_else(|| format!("{d:?} is not a detector: thr, iqr, mad, lr or lrr"))?
        .check()?;
    let sel = match s {
        "mmt" => Selector::Mmt,
        "mc" => Selector::Mc,
        "mu" => Selector::Mu,
        "rs" => Selector::Rs,
        _ => return Err(format!("{s:?} is not a selector: mmt, mc, mu or rs")),
    };
    Ok((det, sel))
}

/// Whether `name` has the shape of a Beloglazov combination, whatever its parts say.
fn looks_like_combination(name: &str) -> bool {
    name.split('-').count() == 3
        && name
            .split('-')
            .next()
            .is_some_and(|d| Detector::parse(d, 1.0).is_some())
}

/// Detector × selector combinations with PABFD placement.
pub const ENTRY: Entry = Entry {
    name: "DETECTOR-SELECTOR-PARAMETER",
    about: "CCPE 2012: thr|iqr|mad|lr|lrr × mmt|mc|mu|rs, e.g. thr-mmt-0.8",
    defaults: &[
        "thr-mmt-0.8",
        "iqr-mmt-1.5",
        "mad-mmt-2.5",
        "lr-mmt-1.2",
        "lrr-mmt-1.2",
    ],
    variants: &["iqr-mc-1.5", "mad-mu-2.5", "lr-rs-1.2"],
    matches: looks_like_combination,
    build: |c| {
        let (d, s) = parse_name(c.name).map_err(ParamError::name)?;
        Ok(Box::new(Beloglazov::new(c.name, d, s, c.seed)))
    },
};

/// CloudSim 3.0.3's experiments (`examples/power/planetlab`): the two without migration and
/// the detector × selector runs, which CloudSim has for MMT, MU and MC only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CloudSimExperiment {
    /// `NonPowerAware`: every host at full power all day.
    Npa,
    /// `Dvfs`: power follows utilisation, first-fit placement, no migration.
    Dvfs,
    Migration(Detector, Selector),
}

impl CloudSimExperiment {
    /// Parses `npa`, `dvfs`, `thr-mmt-0.8`, `lr-mu-1.2`, …
    pub fn parse(name: &str) -> Result<CloudSimExperiment, String> {
        match name {
            "npa" => return Ok(CloudSimExperiment::Npa),
            "dvfs" => return Ok(CloudSimExperiment::Dvfs),
            _ => {}
        }
        match parse_name(name)? {
            (_, Selector::Rs) => Err("CloudSim's experiments select by mmt, mu or mc".into()),
            (d, s) => Ok(CloudSimExperiment::Migration(d, s)),
        }
    }
}

/// VM selection (CCPE 2012 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Minimum migration time: the least RAM (eq. 34 with equal bandwidth).
    Mmt,
    /// Maximum correlation with the other VMs' load (eqs. 35–38).
    Mc,
    /// Minimum utilisation.
    Mu,
    /// Random selection, from a seeded stream.
    Rs,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Weighted least squares of y on x: (intercept, slope).
fn wls(x: &[f64], y: &[f64], w: &[f64]) -> (f64, f64) {
    let sw: f64 = w.iter().sum();
    if sw <= 0.0 {
        return (y.iter().sum::<f64>() / y.len() as f64, 0.0);
    }
    let mx = x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / sw;
    let my = y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / sw;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for i in 0..x.len() {
        sxy += w[i] * (x[i] - mx) * (y[i] - my);
        sxx += w[i] * (x[i] - mx) * (x[i] - mx);
    }
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - b * mx, b)
}

impl Detector {
    /// Whether the detector reads the host's history: THR's static threshold does not, and
    /// summing a host's VM histories for it would cost the policy tick most of its time.
    pub fn needs_history(&self) -> bool {
        !matches!(self, Detector::Thr(_))
    }

    /// `u`: requested utilisation now; `history`: oldest first.
    /// The load above which the detector calls any host overloaded, whatever its history: THR's
    /// threshold; the others' depend on the history.
    pub fn static_limit(&self) -> Option<f64> {
        match *self {
            Detector::Thr(t) => Some(t),
            _ => None,
        }
    }

    pub fn overloaded(&self, u: f64, history: &[f64]) -> bool {
        match *self {
            Detector::Thr(t) => u > t,
            Detector::Iqr(s) | Detector::Mad(s) => {
                if history.len() < MIN_HISTORY_SPREAD {
                    return u > FALLBACK_THRESHOLD;
                }
                let spread = if matches!(self, Detector::Iqr(_)) {
                    let mut v = history.to_vec();
                    v.sort_by(f64::total_cmp);
                    quantile(&v, 0.75) - quantile(&v, 0.25)
                } else {
                    let m = median(history);
                    let dev: Vec<f64> = history.iter().map(|x| (x - m).abs()).collect();
                    median(&dev)
                };
                u > 1.0 - s * spread
            }
            Detector::Lr(s) | Detector::Lrr(s) => {
                if history.len() < REGRESSION_WINDOW {
                    return u > FALLBACK_THRESHOLD;
                }
                let y = &history[history.len() - REGRESSION_WINDOW..];
                let n = y.len();
                let x: Vec<f64> = (1..=n).map(|i| i as f64).collect();
                // Tricube weights by distance from the newest point (eq. 27).
                let span = x[n - 1] - x[0];
                let w: Vec<f64> = x
                    .iter()
                    .map(|xi| {
                        let d = ((x[n - 1] - xi) / span).min(1.0);
                        (1.0 - d * d * d).powi(3)
                    })
                    .collect();
                let (mut a, mut b) = wls(&x, y, &w);
                if matches!(self, Detector::Lrr(_)) {
                    // Bisquare robustness weights from the residuals (eqs. 31–33).
                    let r: Vec<f64> = (0..n).map(|i| y[i] - (a + b * x[i])).collect();
                    let s6 = 6.0 * median(&r.iter().map(|v| v.abs()).collect::<Vec<_>>());
                    let w2: Vec<f64> = (0..n)
                        .map(|i| {
                            let q = if s6 > 0.0 { (r[i] / s6).min(1.0) } else { 0.0 };
                            w[i] * (1.0 - q * q).powi(2)
                        })
                        .collect();
                    (a, b) = wls(&x, y, &w2);
                }
                // Predict the next observation (the paper's condition: one step ahead).
                s * (a + b * (n as f64 + 1.0)) >= 1.0
            }
        }
    }
}

/// The composed policy.
pub struct Beloglazov {
    name: String,
    detector: Detector,
    selector: Selector,
    rng: ChaCha8Rng,
}

impl Beloglazov {
    pub fn new(name: &str, detector: Detector, selector: Selector, seed: u64) -> Beloglazov {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // The policy's own stream: random selection does not disturb the workload's.
        rng.set_stream(2);
        Beloglazov {
            name: name.to_string(),
            detector,
            selector,
            rng,
        }
    }

    fn select(&mut self, plan: &Plan<'_>, h: usize) -> Option<VmId> {
        let view = plan.view;
        let cands: Vec<VmId> = plan.vms[h]
            .iter()
            .copied()
            .filter(|&v| view.movable(v))
            .collect();
        if cands.is_empty() {
            return None;
        }
        Some(match self.selector {
            Selector::Mmt => *cands
                .iter()
                .min_by_key(|v| (view.vms.ram[v.idx()].0, v.0))
                .expect("non-empty"),
            Selector::Mu => *cands
                .iter()
                .min_by(|a, b| {
                    view.vm_requested(**a)
                        .total_cmp(&view.vm_requested(**b))
                        .then(a.0.cmp(&b.0))
                })
                .expect("non-empty"),
            Selector::Rs => cands[self.rng.random_range(0..cands.len())],
            Selector::Mc => max_correlation(view, &cands),
        })
    }
}

/// The VM whose load the others' loads explain best: the largest R² of a least-squares fit of
/// its history on theirs (CCPE 2012 eqs. 35–38). Falls back to the first VM when histories are
/// too short to fit.
fn max_correlation(view: &ClusterView<'_>, cands: &[VmId]) -> VmId {
    let len = cands
        .iter()
        .map(|v| view.vm_history[v.idx()].len())
        .min()
        .unwrap_or(0);
    let k = cands.len();
    if k < 2 || len < k + 1 {
        return cands[0];
    }
    let series: Vec<Vec<f64>> = cands
        .iter()
        .map(|v| {
            let h = &view.vm_history[v.idx()];
            h.iter().skip(h.len() - len).copied().collect()
        })
        .collect();
    let mut best = (f64::NEG_INFINITY, cands[0]);
    for (j, &v) in cands.iter().enumerate() {
        let y = &series[j];
        // Design matrix: intercept and the other VMs' loads.
        let cols: Vec<&Vec<f64>> = series
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != j)
            .map(|(_, s)| s)
            .collect();
        let p = cols.len() + 1;
        let mut xtx = vec![vec![0.0; p]; p];
        let mut xty = vec![0.0; p];
        for t in 0..len {
            let row: Vec<f64> = std::iter::once(1.0)
                .chain(cols.iter().map(|c| c[t]))
                .collect();
            for a in 0..p {
                xty[a] += row[a] * y[t];
                for b in 0..p {
                    xtx[a][b] += row[a] * row[b];
                }
            }
        }
        let Some(beta) = solve(xtx, xty) else {
            continue;
        };
        let mean = y.iter().sum::<f64>() / len as f64;
        let (mut ss_res, mut ss_tot) = (0.0, 0.0);
        for t in 0..len {
            let fit = beta[0]
                + cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| beta[i + 1] * c[t])
                    .sum::<f64>();
            ss_res += (y[t] - fit).powi(2);
            ss_tot += (y[t] - mean).powi(2);
        }
        let r2 = if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            0.0
        };
        if r2 > best.0 {
            best = (r2, v);
        }
    }
    best.1
}

/// Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let (top, rest) = a.split_at_mut(c + 1);
        let pivot = &top[c];
        for (off, row) in rest.iter_mut().enumerate() {
            let f = row[c] / pivot[c];
            for (x, &p) in row[c..n].iter_mut().zip(&pivot[c..n]) {
                *x -= f * p;
            }
            b[c + 1 + off] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

impl Policy for Beloglazov {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, view: &ClusterView<'_>) -> Vec<Decision> {
        let hosts = view.hosts;
        let n = hosts.len();
        let det = self.detector;
        let mut plan = Plan::new(view);
        let mut out = Vec::new();
        let on = |h: usize| hosts.state[h] == PowerState::On;

        // Overload phase (Alg. 1, lines 1–7).
        let over: Vec<usize> = (0..n)
            .filter(|&h| on(h) && plan.overloaded(&det, h, None))
            .collect();
        let mut to_move = Vec::new();
        for &h in &over {
            while let Some(v) = self.select(&plan, h) {
                plan.remove(h, v);
                to_move.push((v, h));
                if !plan.overloaded(&det, h, None) {
                    break;
                }
            }
        }
        let mut excluded = vec![false; n];
        for &h in &over {
            excluded[h] = true;
        }
        // Place the largest first (best fit decreasing).
        to_move.sort_by(|a, b| {
            view.vm_requested(b.0)
                .total_cmp(&view.vm_requested(a.0))
                .then(a.0.0.cmp(&b.0.0))
        });
        let mut targets = vec![false; n];
        let mut wake = false;
        for (v, src) in to_move {
            match plan.best_host(&det, v, &excluded) {
                Some(t) => {
                    plan.add(t, v);
                    targets[t] = true;
                    out.push(Decision::Migrate {
                        vm: v,
                        to: HostId(t as u32),
                    });
                }
                None => {
                    // No active host can take it: it stays, and a sleeping host is woken for the
                    // next round.
                    plan.add(src, v);
                    wake = true;
                }
            }
        }
        if wake
            && let Some(h) = (0..n).find(|&h| {
                view.available(h) && matches!(hosts.state[h], PowerState::Sleep | PowerState::Off)
            })
        {
            out.push(Decision::SetPower {
                host: HostId(h as u32),
                target: PowerTarget::On,
            });
        }

        // Underload phase (§6.4): the least-loaded hosts are emptied if all their VMs fit
        // elsewhere without overloading anyone.
        let mut order: Vec<usize> = (0..n)
            .filter(|&h| on(h) && !excluded[h] && !targets[h] && !plan.vms[h].is_empty())
            .collect();
        order.sort_by(|&a, &b| plan.util(a).total_cmp(&plan.util(b)).then(a.cmp(&b)));
        // Hosts already empty are about to sleep: consolidating onto them would only move the
        // load around (CloudSim switches such hosts off in the same step).
        let mut sources = excluded.clone();
        for (h, s) in sources.iter_mut().enumerate() {
            if view.host_vms[h].is_empty() && view.reserved[h] == 0 && !targets[h] {
                *s = true;
            }
        }
        for h in order {
            if targets[h] || plan.vms[h].iter().any(|&v| !view.movable(v)) {
                continue;
            }
            sources[h] = true;
            let mut vms = plan.vms[h].clone();
            vms.sort_by(|a, b| {
                view.vm_requested(*b)
                    .total_cmp(&view.vm_requested(*a))
                    .then(a.0.cmp(&b.0))
            });
            let mut moves = Vec::new();
            let mut ok = true;
            // `sources` already excludes `h` itself.
            for &v in &vms {
                match plan.best_host(&det, v, &sources) {
                    Some(t) => {
                        plan.remove(h, v);
                        plan.add(t, v);
                        moves.push((v, t));
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                for &(v, t) in moves.iter().rev() {
                    plan.remove(t, v);
                    plan.add(h, v);
                }
                sources[h] = false;
                continue;
            }
            for (v, t) in moves {
                targets[t] = true;
                out.push(Decision::Migrate {
                    vm: v,
                    to: HostId(t as u32),
                });
            }
        }

        // Hosts left with nothing to run sleep (and wake when needed).
        for (h, &tgt) in targets.iter().enumerate().take(n) {
            if on(h) && view.host_vms[h].is_empty() && view.reserved[h] == 0 && !tgt {
                out.push(Decision::SetPower {
                    host: HostId(h as u32),
                    target: PowerTarget::Sleep,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_threshold_and_fallbacks() {
        assert!(Detector::Thr(0.8).overloaded(0.81, &[]));
        assert!(!Detector::Thr(0.8).overloaded(0.8, &[]));
        // Too little history: the adaptive detectors use 0.7.
        assert!(Detector::Iqr(1.5).overloaded(0.75, &[0.5; 5]));
        assert!(!Detector::Lr(1.2).overloaded(0.65, &[0.5; 5]));
    }

    #[test]
    fn a_steady_history_leaves_a_high_threshold() {
        let flat = vec![0.5; 20];
        // IQR and MAD of a flat history are 0: the threshold is 1.
        assert!(!Detector::Iqr(1.5).overloaded(0.95, &flat));
        assert!(!Detector::Mad(2.5).overloaded(0.95, &flat));
        let noisy: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 0.2 } else { 0.6 })
            .collect();
        assert!(Detector::Mad(2.5).overloaded(0.6, &noisy));
    }

    #[test]
    fn regression_predicts_a_rising_load() {
        let rising: Vec<f64> = (0..12).map(|i| 0.4 + 0.05 * i as f64).collect();
        // The next point is about 1.0; with s = 1.2 that is overloaded.
        assert!(Detector::Lr(1.2).overloaded(0.9, &rising));
        assert!(Detector::Lrr(1.2).overloaded(0.9, &rising));
        let falling: Vec<f64> = (0..12).map(|i| 0.9 - 0.05 * i as f64).collect();
        assert!(!Detector::Lr(1.2).overloaded(0.35, &falling));
    }

    #[test]
    fn least_squares_solves_a_known_system() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        assert!(solve(vec![vec![1.0, 2.0], vec![2.0, 4.0]], vec![1.0, 2.0]).is_none());
    }
}
