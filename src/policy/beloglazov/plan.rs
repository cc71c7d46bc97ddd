//! PABFD's tentative view of the cluster while a Beloglazov policy plans: loads, RAM and VMs
//! per host with the moves decided so far, the host histories the adaptive detectors read, and
//! the placement itself.

use super::Detector;
use super::pabfd::Groups;
use crate::model::power::PowerState;
use crate::model::vm::VmId;
use crate::policy::ClusterView;

/// The tentative state of the cluster while a policy plans: loads and RAM with the moves so far.
pub(super) struct Plan<'a> {
    pub(super) view: &'a ClusterView<'a>,
    /// MIPS demand per host.
    pub(super) demand: Vec<f64>,
    /// RAM committed per host (used + reserved + planned).
    pub(super) ram: Vec<u64>,
    /// VMs per host, tentatively.
    pub(super) vms: Vec<Vec<VmId>>,
    /// The hosts that are on and available, the only ones PABFD places on, grouped so that a
    /// placement visits only those that could win (see [`super::pabfd`]).
    groups: Groups,
    /// Each host's history over its tentative VMs, once computed, until its VMs change: PABFD
    /// asks a history-based detector about many hosts for every VM it places.
    histories: std::cell::RefCell<Vec<Option<Vec<f64>>>>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(view: &'a ClusterView<'a>) -> Plan<'a> {
        let n = view.hosts.len();
        let mut demand = vec![0.0; n];
        for (h, d) in demand.iter_mut().enumerate() {
            *d = view.host_vms[h]
                .iter()
                .map(|v| view.vms.demand[v.idx()].max(view.vm_requested(*v)))
                .sum();
        }
        let models: Vec<_> = view.hosts.types.iter().map(|t| &t.power).collect();
        let mut plan = Plan {
            view,
            demand,
            ram: (0..n)
                .map(|h| view.hosts.ram_used[h].0 + view.reserved[h])
                .collect(),
            vms: view.host_vms.to_vec(),
            groups: Groups::new(n, &models),
            histories: std::cell::RefCell::new(vec![None; n]),
        };
        for h in 0..n {
            if view.hosts.state[h] == PowerState::On && view.available(h) {
                let (ty, empty, u) = plan.grouping(h);
                plan.groups.insert(h, ty, empty, u);
            }
        }
        plan
    }

    /// What files host `h` in the placement groups: its type, whether it is empty (no VM,
    /// nothing reserved), and its tentative load.
    fn grouping(&self, h: usize) -> (usize, bool, f64) {
        let empty = self.vms[h].is_empty() && self.view.reserved[h] == 0;
        (self.view.hosts.host_type[h] as usize, empty, self.util(h))
    }

    /// Files host `h` again in the placement groups after its VMs changed.
    fn regroup(&mut self, h: usize) {
        let (ty, empty, u) = self.grouping(h);
        self.groups.update(h, ty, empty, u);
    }

    pub(super) fn util(&self, h: usize) -> f64 {
        self.demand[h] / self.view.hosts.cpu_capacity[h]
    }

    /// The host's history as the sum of its (tentative) VMs' histories, oldest first, over
    /// the span all of them have. The sum over the host's own VMs is kept until they change;
    /// `extra` is added last, as if it were the last VM of the list, so the result is the
    /// same to the bit as summing all of them in order.
    pub(super) fn history(&self, h: usize, extra: Option<VmId>) -> Vec<f64> {
        let cap = self.view.hosts.cpu_capacity[h];
        let mut cache = self.histories.borrow_mut();
        let base = cache[h].get_or_insert_with(|| {
            let len = self.vms[h]
                .iter()
                .map(|v| self.view.vm_history[v.idx()].len())
                .min()
                .unwrap_or(0);
            let mut out = vec![0.0; len];
            for v in &self.vms[h] {
                let hist = &self.view.vm_history[v.idx()];
                let skip = hist.len() - len;
                for (i, mips) in hist.iter().skip(skip).enumerate() {
                    out[i] += mips / cap;
                }
            }
            out
        });
        let Some(x) = extra else {
            return base.clone();
        };
        let hist = &self.view.vm_history[x.idx()];
        // An empty host's span is the extra VM's own.
        let len = if self.vms[h].is_empty() {
            hist.len()
        } else {
            base.len().min(hist.len())
        };
        let mut out: Vec<f64> = if self.vms[h].is_empty() {
            vec![0.0; len]
        } else {
            base[base.len() - len..].to_vec()
        };
        let skip = hist.len() - len;
        for (i, mips) in hist.iter().skip(skip).enumerate() {
            out[i] += mips / cap;
        }
        out
    }

    pub(super) fn overloaded(&self, det: &Detector, h: usize, extra: Option<VmId>) -> bool {
        let add = extra.map_or(0.0, |v| self.view.vm_requested(v));
        let u = (self.demand[h] + add) / self.view.hosts.cpu_capacity[h];
        if det.needs_history() {
            det.overloaded(u, &self.history(h, extra))
        } else {
            det.overloaded(u, &[])
        }
    }

    pub(super) fn remove(&mut self, h: usize, v: VmId) {
        self.histories.get_mut()[h] = None;
        self.demand[h] -= self.view.vm_requested(v);
        self.ram[h] -= self.view.vms.ram[v.idx()].0;
        self.vms[h].retain(|&x| x != v);
        self.regroup(h);
    }

    pub(super) fn add(&mut self, h: usize, v: VmId) {
        self.histories.get_mut()[h] = None;
        self.demand[h] += self.view.vm_requested(v);
        self.ram[h] += self.view.vms.ram[v.idx()].0;
        self.vms[h].push(v);
        self.regroup(h);
    }

    /// PABFD (CCPE 2012 Alg. 2): the On host, not excluded, with room and not overloaded after,
    /// whose power rises least; lowest id on ties. Empty hosts of one type score alike, so only
    /// the first of each type is tried. The groups are visited cheapest first and the visit
    /// stops where no host left could win or tie: the same host a scan of every one finds.
    pub(super) fn best_host(&self, det: &Detector, v: VmId, excluded: &[bool]) -> Option<usize> {
        let hosts = self.view.hosts;
        let need = self.view.vm_requested(v);
        let ram = self.view.vms.ram[v.idx()].0;
        let is_excluded = |h: usize| excluded.get(h).is_none_or(|&ex| ex);
        let score = |h: usize, empty: bool| -> Option<f64> {
            let t = &hosts.types[hosts.host_type[h] as usize];
            if self.ram[h] + ram > t.ram.0 {
                return None;
            }
            let cap = hosts.cpu_capacity[h];
            if self.demand[h] + need > cap {
                return None;
            }
            if !empty && self.overloaded(det, h, Some(v)) {
                return None;
            }
            let before = t.power.watts(self.demand[h] / cap);
            let after = t.power.watts((self.demand[h] + need) / cap);
            Some(after - before)
        };
        let best = std::cell::Cell::new(None::<(f64, usize)>);
        let offer = |h: usize, d: f64| {
            if best
                .get()
                .is_none_or(|(bd, bh)| d < bd || (d == bd && h < bh))
            {
                best.set(Some((d, h)));
            }
        };
        for empties in &self.groups.empty {
            if let Some(&h) = empties.iter().find(|&&h| !is_excluded(h))
                && let Some(d) = score(h, true)
            {
                offer(h, d);
            }
        }
        let x: Vec<f64> = hosts
            .types
            .iter()
            .map(|t| need / t.cpu_capacity())
            .collect();
        // The most load a host may carry after: all of it, or THR's threshold (a host above it
        // is overloaded, and PABFD does not place there).
        let most = det.static_limit().map_or(1.0, |t| t.min(1.0));
        self.groups.visit(
            &x,
            most,
            |bound| best.get().is_none_or(|(bd, _)| bound <= bd),
            |h| {
                if !is_excluded(h)
                    && let Some(d) = score(h, false)
                {
                    offer(h, d);
                }
            },
        );
        let chosen = best.get().map(|b| b.1);
        #[cfg(debug_assertions)]
        assert_eq!(
            chosen,
            self.best_host_by_scan(det, v, excluded),
            "the grouped placement chose otherwise than a scan of every host"
        );
        chosen
    }

    /// PABFD as a scan of every indexed host in id order: what the grouped placement is
    /// checked against in debug builds (every test that runs a Beloglazov policy).
    #[cfg(debug_assertions)]
    fn best_host_by_scan(&self, det: &Detector, v: VmId, excluded: &[bool]) -> Option<usize> {
        let hosts = self.view.hosts;
        let need = self.view.vm_requested(v);
        let mut best: Option<(f64, usize)> = None;
        let mut empty_seen = vec![false; hosts.types.len()];
        for h in (0..hosts.len()).filter(|&h| self.groups.indexed(h)) {
            if excluded.get(h).is_none_or(|&ex| ex) {
                continue;
            }
            let (ty, empty, _) = self.grouping(h);
            if empty {
                if empty_seen[ty] {
                    continue;
                }
                empty_seen[ty] = true;
            }
            let t = &hosts.types[ty];
            if self.ram[h] + self.view.vms.ram[v.idx()].0 > t.ram.0 {
                continue;
            }
            let cap = hosts.cpu_capacity[h];
            if self.demand[h] + need > cap {
                continue;
            }
            if !empty && self.overloaded(det, h, Some(v)) {
                continue;
            }
            let diff = t.power.watts((self.demand[h] + need) / cap)
                - t.power.watts(self.demand[h] / cap);
            if best.is_none_or(|(d, _)| diff < d) {
                best = Some((diff, h));
            }
        }
        best.map(|b| b.1)
    }
}

