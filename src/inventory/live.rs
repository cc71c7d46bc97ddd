//! Inventory from live libvirt connections (cargo feature `libvirt`): what `virsh nodeinfo`
//! and `virsh domstats` would print, asked through the API.

use virt::connect::Connect;
use virt::domain::DomainState;

use super::{DomainInv, HostInv, Inventory};

/// Reads every host: `hosts` pairs a host name with its libvirt URI.
pub fn read(hosts: &[(String, String)]) -> Result<Inventory, String> {
    let mut inv = Inventory {
        source: format!("{} live libvirt connections", hosts.len()),
        ..Default::default()
    };
    virt::error::clear_error_callback();
    for (name, uri) in hosts {
        let c = Connect::open(Some(uri))
            .map_err(|e| format!("connecting to {name:?} ({uri}): {}", e.message()))?;
        let n = c
            .node_info()
            .map_err(|e| format!("{name:?}: node info: {}", e.message()))?;
        inv.hosts.push(HostInv {
            name: name.clone(),
            cpus: n.cpus,
            mhz: n.mhz,
            memory_bytes: n.memory * 1024,
        });
        let doms = c
            .list_all_domains(0)
            .map_err(|e| format!("{name:?}: listing domains: {}", e.message()))?;
        for d in doms {
            let dn = d
                .name()
                .map_err(|e| format!("{name:?}: domain name: {}", e.message()))?;
            let info = d
                .info()
                .map_err(|e| format!("{name:?}: {dn:?}: {}", e.message()))?;
            let state: Result<DomainState, _> = info.state.into();
            inv.domains.push(DomainInv {
                name: dn,
                host: name.clone(),
                vcpus: info.nr_virt_cpu,
                memory_bytes: info.max_mem * 1024,
                running: state.is_ok_and(|s| s == DomainState::Running),
            });
        }
    }
    inv.domains
        .sort_by(|a, b| (&a.host, &a.name).cmp(&(&b.host, &b.name)));
    super::check(&inv)?;
    Ok(inv)
}
