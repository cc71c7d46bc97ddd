//! Workload and CPU sharing: VM starts and stops, CPU demand from models and traces, each
//! host's proportional share, the VMs' own traffic, and the samples of the cluster.

use super::{Recorder, Simulation};
use crate::engine::SimTime;
use crate::metrics::TimelineRow;
use crate::model::cpu::{share_factor, vm_demand};
use crate::model::host::HostId;
use crate::model::network::Endpoint;
use crate::model::power::{PowerState, PowerTarget};
use crate::model::vm::{CpuModel, VmId, VmState};
use crate::units::Bandwidth;
use rand_distr::{Distribution, Normal};
use std::io;

impl Simulation {
    pub(super) fn vm_start(
        &mut self,
        t: SimTime,
        v: VmId,
        rec: &mut dyn Recorder,
    ) -> io::Result<()> {
        let h = self.vms.host[v.idx()];
        match self.hosts.state[h.idx()] {
            PowerState::On => {
                self.activate(t, v);
                self.refresh_host(t, h);
                if rec.wants_events() {
                    rec.event(
                        t,
                        "vm_start",
                        &self.vms.name[v.idx()],
                        &self.hosts.name[h.idx()],
                    )?;
                }
            }
            _ => {
                // The host is off or asleep: the VM waits, suspended, while it boots.
                self.set_vm_state(t, v, VmState::Suspended);
                if rec.wants_events() {
                    rec.event(t, "vm_wait", &self.vms.name[v.idx()], "host not on")?;
                }
                self.request_power(t, h, PowerTarget::On, rec)?;
            }
        }
        Ok(())
    }

    /// The VM's nominal utilisation at `t`, before noise.
    pub(super) fn util_at(&self, i: usize, t: SimTime) -> f64 {
        let g = &self.vms.groups[self.vms.group[i] as usize];
        let u = match (&g.cpu, &self.trace) {
            (CpuModel::Trace, Some(tr)) => tr.vms[self.trace_idx[i] as usize].cpu_at(t),
            (m, _) => m.at(t),
        };
        let w = &self.scenario.workload;
        let peak = match w.peak {
            Some(p) if t >= p.at.time() && t < p.at.time() + p.length.time() => p.factor,
            _ => 1.0,
        };
        u * w.cpu_scale * peak
    }

    pub(super) fn activate(&mut self, t: SimTime, v: VmId) {
        let u = self.util_at(v.idx(), t);
        self.set_vm_state(t, v, VmState::Active);
        self.vms.util[v.idx()] = u.clamp(0.0, 1.0);
        self.start_vm_traffic(t, v);
    }

    /// Starts the VM's own traffic from its current host, if it has any.
    pub(super) fn start_vm_traffic(&mut self, t: SimTime, v: VmId) {
        let g = self.vms.group[v.idx()] as usize;
        if self.vm_flow[v.idx()].is_some() {
            return;
        }
        if let Some(rate) = self.vms.groups[g].traffic {
            self.accrue_vm(v, t);
            let h = self.vms.host[v.idx()];
            let path = self.net.path(Endpoint::Host(h.0), Endpoint::External);
            let f = self.net.start_flow(t, path, None, Some(rate));
            self.vm_flow[v.idx()] = Some(f);
        }
    }

    /// Stops the VM's own traffic (it paused, stopped, or is about to move).
    pub(super) fn stop_vm_traffic(&mut self, t: SimTime, v: VmId) {
        self.accrue_vm(v, t);
        if let Some(f) = self.vm_flow[v.idx()].take()
            && let Some(flow) = self.net.stop_flow(t, f)
        {
            self.traffic_delivered += flow.delivered;
        }
    }

    /// For CPU-bound traffic, the flow's cap follows the share of its demand the VM gets.
    pub(super) fn follow_cpu(&mut self, t: SimTime, v: VmId) {
        let i = v.idx();
        let g = self.vms.group[i] as usize;
        if !self.scenario.vms[g].traffic_follows_cpu {
            return;
        }
        let (Some(f), Some(rate)) = (self.vm_flow[i], self.vms.groups[g].traffic) else {
            return;
        };
        let share = if self.vms.demand[i] > 0.0 {
            self.vms.alloc[i] / self.vms.demand[i]
        } else {
            1.0
        };
        let cap = Bandwidth::bytes_per_sec(rate.as_bytes_per_sec() * share);
        let current = self.net.flow(f).map(|fl| fl.cap).unwrap_or(Bandwidth::ZERO);
        let current = current.as_bytes_per_sec();
        if (current - cap.as_bytes_per_sec()).abs() > 1e-6 * current.max(1.0) {
            self.net.set_cap(t, f, Some(cap));
        }
    }

    pub(super) fn set_vm_state(&mut self, t: SimTime, v: VmId, s: VmState) {
        self.accrue_vm(v, t);
        self.vms.state[v.idx()] = s;
        if !s.runs() {
            self.vms.demand[v.idx()] = 0.0;
            self.vms.alloc[v.idx()] = 0.0;
        }
    }

    pub(super) fn accrue_vm(&mut self, v: VmId, t: SimTime) {
        let i = v.idx();
        let dt = (t - self.vm_last[i]).as_secs_f64();
        if dt > 0.0 {
            self.vms.requested_mips_s[i] += self.vms.demand[i] * dt;
            self.vms.shortfall_mips_s[i] += (self.vms.demand[i] - self.vms.alloc[i]) * dt;
            if self.vms.state[i] == VmState::Migrating {
                self.migration_shortfall += (self.vms.demand[i] - self.vms.alloc[i]) * dt;
            }
            if let Some(g) = self.vms.groups.get(self.vms.group[i] as usize)
                && let Some(rate) = g.traffic
                && self.vm_flow[i].is_some()
            {
                self.traffic_demand += rate * (t - self.vm_last[i]);
            }
        }
        self.vm_last[i] = t;
    }

    /// What VM `i` asks for now, on a host that is `on` with cores of `core` MIPS.
    pub(super) fn demand_of(&self, i: usize, on: bool, core: f64) -> f64 {
        if on && self.vms.state[i].runs() {
            vm_demand(
                self.vms.util[i],
                self.vms.vcpus[i],
                self.vms.vcpu_mips[i],
                core,
            )
        } else {
            0.0
        }
    }

    /// Recomputes demand, shares and power of one host after its VMs changed.
    pub(super) fn refresh_host(&mut self, t: SimTime, h: HostId) {
        self.hosts.accrue(h, t);
        let core = self.hosts.host_type(h).core_mips;
        let on = self.hosts.state[h.idx()] == PowerState::On;
        let vms_on_host = std::mem::take(&mut self.host_vms[h.idx()]);
        let demands: Vec<f64> = vms_on_host
            .iter()
            .map(|v| self.demand_of(v.idx(), on, core))
            .collect();
        let demand: f64 = demands.iter().sum();
        let f = share_factor(demand, self.vm_capacity(h));
        for (&v, &d) in vms_on_host.iter().zip(&demands) {
            self.accrue_vm(v, t);
            let i = v.idx();
            self.vms.demand[i] = d;
            self.vms.alloc[i] = d * f;
        }
        self.hosts.cpu_demand[h.idx()] = demand + self.migs.overhead[h.idx()];
        self.hosts.cpu_alloc[h.idx()] = demand * f + self.migs.overhead[h.idx()];
        self.hosts.refresh_power(h);
        for &v in &vms_on_host {
            self.follow_cpu(t, v);
        }
        self.host_vms[h.idx()] = vms_on_host;
    }

    /// CPU left for VMs on `h` once migration work has taken its share: the migration daemon
    /// (Xen's dom0, QEMU's migration thread) runs ahead of the guests.
    pub(super) fn vm_capacity(&self, h: HostId) -> f64 {
        (self.hosts.cpu_capacity[h.idx()] - self.migs.overhead[h.idx()]).max(0.0)
    }

    /// Every VM's demand is re-evaluated at once, in passes over contiguous arrays.
    pub(super) fn workload_step(&mut self, t: SimTime) {
        let n = self.vms.len();
        // 1. Close every VM's and host's interval at the old values.
        for i in 0..n {
            self.accrue_vm(VmId(i as u32), t);
        }
        self.accrue_all(t);
        // 2. New utilisation. Noise is drawn for every VM of a noisy group at every step, in id
        //    order, so that the stream does not depend on which VMs happen to run.
        for i in 0..n {
            let mut u = self.util_at(i, t);
            let g = &self.vms.groups[self.vms.group[i] as usize];
            if g.cpu_noise > 0.0 {
                let normal = Normal::new(0.0, g.cpu_noise).expect("noise validated >= 0");
                u += normal.sample(&mut self.rng_workload);
            }
            self.vms.util[i] = u.clamp(0.0, 1.0);
        }
        // 3. Demand per VM, summed per host.
        let nh = self.hosts.len();
        let mut host_demand = vec![0.0f64; nh];
        for i in 0..n {
            let h = self.vms.host[i].idx();
            let core = self.hosts.types[self.hosts.host_type[h] as usize].core_mips;
            let d = self.demand_of(i, self.hosts.state[h] == PowerState::On, core);
            self.vms.demand[i] = d;
            host_demand[h] += d;
        }
        // 4. Shares per host, then allocation per VM.
        let factor: Vec<f64> = (0..nh)
            .map(|h| share_factor(host_demand[h], self.vm_capacity(HostId(h as u32))))
            .collect();
        for i in 0..n {
            let h = self.vms.host[i].idx();
            self.vms.alloc[i] = self.vms.demand[i] * factor[h];
        }
        for h in 0..nh {
            let overhead = self.migs.overhead[h];
            self.hosts.cpu_demand[h] = host_demand[h] + overhead;
            self.hosts.cpu_alloc[h] = host_demand[h] * factor[h] + overhead;
            self.hosts.refresh_power(HostId(h as u32));
        }
        if self.scenario.vms.iter().any(|g| g.traffic_follows_cpu) {
            for i in 0..n {
                self.follow_cpu(t, VmId(i as u32));
            }
        }
    }

    pub(super) fn accrue_all(&mut self, t: SimTime) {
        for h in 0..self.hosts.len() {
            self.hosts.accrue(HostId(h as u32), t);
        }
    }

    pub(super) fn sample(&mut self, t: SimTime, rec: &mut dyn Recorder) -> io::Result<()> {
        rec.host_sample(t, &self.hosts)?;
        let row = TimelineRow::capture(t.as_secs_f64(), &self.hosts, &self.vms);
        self.peak_active = self.peak_active.max(row.active_hosts);
        self.timeline.push(row);
        self.last_sample = Some(t);
        Ok(())
    }
}
