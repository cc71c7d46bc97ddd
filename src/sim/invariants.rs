//! The model's invariants, checked after every event by the property tests: every VM on one
//! host, books that agree, no host or link over capacity.

use super::Simulation;
use crate::model::host::HostId;
use crate::units::Bytes;

impl Simulation {
    /// Checks the model's invariants: every VM on exactly one existing host, host books in step
    /// with their VMs, no host or link above its capacity. Returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let nh = self.hosts.len();
        let mut seen = vec![0u32; self.vms.len()];
        for (h, list) in self.host_vms.iter().enumerate() {
            if list.len() != self.hosts.vm_count[h] as usize {
                return Err(format!(
                    "host {} counts {} VMs but lists {}",
                    self.hosts.name[h],
                    self.hosts.vm_count[h],
                    list.len()
                ));
            }
            let mut alloc = 0.0;
            let mut ram = 0u64;
            for &v in list {
                if self.vms.host[v.idx()].idx() != h {
                    return Err(format!(
                        "VM {} is listed on {} but says it is on host #{}",
                        self.vms.name[v.idx()],
                        self.hosts.name[h],
                        self.vms.host[v.idx()].0
                    ));
                }
                seen[v.idx()] += 1;
                alloc += self.vms.alloc[v.idx()];
                ram += self.vms.ram[v.idx()].0;
                if self.vms.alloc[v.idx()] > self.vms.demand[v.idx()] * (1.0 + 1e-9) + 1e-9 {
                    return Err(format!(
                        "VM {} gets more CPU than it asks",
                        self.vms.name[v.idx()]
                    ));
                }
            }
            let cap = self.hosts.cpu_capacity[h];
            let overhead = self.migs.overhead[h];
            if alloc + overhead > cap * (1.0 + 1e-9) {
                return Err(format!(
                    "host {} allocates {alloc} MIPS to VMs and {overhead} to migrations of {cap}",
                    self.hosts.name[h]
                ));
            }
            let alloc = alloc + overhead;
            if (alloc - self.hosts.cpu_alloc[h]).abs() > 1e-6 * cap.max(1.0) {
                return Err(format!(
                    "host {} books {} MIPS but its VMs get {alloc}",
                    self.hosts.name[h], self.hosts.cpu_alloc[h]
                ));
            }
            let reserved = self.migs.reserved[h];
            if ram != self.hosts.ram_used[h].0
                || ram + reserved > self.hosts.ram(HostId(h as u32)).0
            {
                return Err(format!(
                    "host {} RAM books {} against VMs {} and capacity {}",
                    self.hosts.name[h],
                    self.hosts.ram_used[h],
                    Bytes(ram),
                    self.hosts.ram(HostId(h as u32))
                ));
            }
        }
        if let Some(v) = seen.iter().position(|&c| c != 1) {
            return Err(format!(
                "VM {} is on {} hosts (of {nh})",
                self.vms.name[v], seen[v]
            ));
        }
        let mut net = self.net.clone();
        net.settle();
        for (l, load) in net.link_load().iter().enumerate() {
            let cap = self.net.links[l].capacity;
            if *load > cap * (1.0 + 1e-9) {
                return Err(format!(
                    "link {} carries {load} B/s of {cap}",
                    self.net.links[l].name
                ));
            }
        }
        self.migs.check_slots()?;
        Ok(())
    }
}
