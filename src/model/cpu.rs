//! CPU sharing on a host.
//!
//! A VM asks for `u · vcpus · vcpu_mips`, each vCPU capped at one physical core (a vCPU cannot run
//! on two cores at once; CloudSim's `VmSchedulerTimeSharedOverSubscription` applies the same cap).
//! When the VMs on a host ask for more than it has, every VM gets the same fraction of its demand:
//! proportional sharing, as Xen's credit scheduler and KVM's CFS give equal-weight guests. The
//! difference between demand and allocation is the shortfall that SLA metrics count.

/// A VM's demand in MIPS given its utilisation of its own vCPUs.
pub fn vm_demand(u: f64, vcpus: u32, vcpu_mips: f64, core_mips: f64) -> f64 {
    u.clamp(0.0, 1.0) * vcpus as f64 * vcpu_mips.min(core_mips)
}

/// The fraction of its demand every VM on a host receives.
pub fn share_factor(total_demand: f64, capacity: f64) -> f64 {
    if total_demand <= capacity || total_demand <= 0.0 {
        1.0
    } else {
        capacity / total_demand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_contention_means_full_demand() {
        assert_eq!(share_factor(3000.0, 4000.0), 1.0);
        assert_eq!(share_factor(0.0, 4000.0), 1.0);
    }

    #[test]
    fn contention_scales_every_vm_alike() {
        // Three VMs asking 2000, 1500 and 500 MIPS on a 3000 MIPS host get 3/4 each.
        let f = share_factor(4000.0, 3000.0);
        let alloc: Vec<f64> = [2000.0, 1500.0, 500.0].iter().map(|d| d * f).collect();
        assert_eq!(alloc, vec![1500.0, 1125.0, 375.0]);
        assert!((alloc.iter().sum::<f64>() - 3000.0).abs() < 1e-9);
    }

    #[test]
    fn a_vcpu_cannot_exceed_one_core() {
        // A 2500-MIPS vCPU on a 1860-MIPS core (CloudSim's G4 host) gets at most 1860.
        assert_eq!(vm_demand(1.0, 1, 2500.0, 1860.0), 1860.0);
        assert_eq!(vm_demand(0.5, 2, 1000.0, 2660.0), 1000.0);
        assert_eq!(vm_demand(1.7, 1, 1000.0, 2660.0), 1000.0);
    }
}
