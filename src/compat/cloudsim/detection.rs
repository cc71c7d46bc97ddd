//! Overload detection and VM selection (`PowerVmAllocationPolicyMigration*`,
//! `PowerVmSelectionPolicy*`): a host's utilisation and history, the THR/IQR/MAD/LR/LRR
//! verdicts, and MMT, MU and MC.

use super::*;

impl Experiment {
    /// Requested utilisation of `h`, with `extra` counted as if created there (appended last,
    /// as `vmCreate` appends, so that sums add in CloudSim's order).
    pub(super) fn host_requested_util(&self, h: usize, extra: Option<usize>) -> f64 {
        let mut req = self.hot[h].req;
        if let Some(v) = extra {
            req += self.vms[v].requested();
        }
        req / self.hosts[h].total
    }

    /// Σ over the host's VMs, in list order, of their histories scaled to the host.
    pub(super) fn history_sum(&self, h: usize) -> [f64; HISTORY_LENGTH] {
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
    pub(super) fn host_history(
        &self,
        h: usize,
        extra: Option<usize>,
    ) -> ([f64; HISTORY_LENGTH], usize) {
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

    pub(super) fn over_utilized(&self, h: usize) -> bool {
        self.over_utilized_with(h, None)
    }

    /// The detector's verdict on `h`, with `extra` placed there tentatively.
    pub(super) fn over_utilized_with(&self, h: usize, extra: Option<usize>) -> bool {
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

    pub(super) fn select_vm(&self, h: usize, sel: Selector) -> Option<usize> {
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
    pub(super) fn migratable(&self, h: usize) -> Vec<usize> {
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
    pub(super) fn max_correlation(&self, h: usize) -> Option<usize> {
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
    pub(super) fn sort_by_cpu(&self, vms: &mut [usize]) {
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
}
