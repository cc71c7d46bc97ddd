//! Inventory from live libvirt connections (cargo feature `libvirt`): what `virsh nodeinfo`
//! and `virsh domstats` would print, asked through the API, and each running domain's dirty
//! rate measured through libvirt's dirty-rate calculation.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::os::raw::{c_int, c_uint};
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::DomainState;
use virt::sys;

use super::{DirtyRate, DomainInv, HostInv, Inventory};

/// Reads every host: `hosts` pairs a host name with its libvirt URI. With `dirty_calc`, every
/// running domain's dirty rate is measured over that many seconds (all at once), in that
/// `VIR_DOMAIN_DIRTYRATE_MODE_*` (`virDomainStartDirtyRateCalc`, libvirt 7.2 and QEMU 5.2 or
/// later).
pub fn read(
    hosts: &[(String, String)],
    dirty_calc: Option<(u32, u32)>,
) -> Result<Inventory, String> {
    let mut inv = Inventory {
        source: format!("{} live libvirt connections", hosts.len()),
        ..Default::default()
    };
    virt::error::clear_error_callback();
    let mut conns = Vec::new();
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
            let running = state.is_ok_and(|s| s == DomainState::Running);
            if running && let Some((secs, mode)) = dirty_calc {
                // SAFETY: `d` is a live domain handle for this call.
                let rc = unsafe {
                    sys::virDomainStartDirtyRateCalc(d.as_ptr(), secs as c_int, mode as c_uint)
                };
                if rc < 0 {
                    return Err(format!(
                        "{name:?}: {dn:?}: starting the dirty-rate calculation: {}",
                        virt::error::Error::last_error().message()
                    ));
                }
            }
            inv.domains.push(DomainInv {
                name: dn,
                host: name.clone(),
                vcpus: info.nr_virt_cpu,
                memory_bytes: info.max_mem * 1024,
                running,
                dirty: None,
            });
        }
        conns.push((name.clone(), c));
    }
    if let Some((secs, _)) = dirty_calc {
        let wanted = inv.domains.iter().filter(|d| d.running).count();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(secs as u64) + Duration::from_millis(200));
        // QEMU reports when the period is over; give it ten more seconds.
        let mut got: BTreeMap<(String, String), DirtyRate> = BTreeMap::new();
        while got.len() < wanted {
            for (host, c) in &conns {
                for (dom, r) in dirty_stats(c).map_err(|e| format!("{host:?}: {e}"))? {
                    got.insert((host.clone(), dom), r);
                }
            }
            if got.len() >= wanted || started.elapsed() > Duration::from_secs(secs as u64 + 10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        for d in inv.domains.iter_mut().filter(|d| d.running) {
            d.dirty = got.remove(&(d.host.clone(), d.name.clone()));
            if d.dirty.is_none() {
                return Err(format!(
                    "{:?}: {:?}: no dirty rate {} s after the calculation started",
                    d.host,
                    d.name,
                    secs + 10
                ));
            }
        }
    }
    inv.domains
        .sort_by(|a, b| (&a.host, &a.name).cmp(&(&b.host, &b.name)));
    super::check(&inv)?;
    Ok(inv)
}

/// The finished dirty-rate measurements of a host's domains (`virsh domstats --dirtyrate`).
fn dirty_stats(c: &Connect) -> Result<Vec<(String, DirtyRate)>, String> {
    let mut records: *mut sys::virDomainStatsRecordPtr = std::ptr::null_mut();
    // SAFETY: libvirt fills `records` with `n` records, freed below with its own function.
    let n = unsafe {
        sys::virConnectGetAllDomainStats(
            c.as_ptr(),
            sys::VIR_DOMAIN_STATS_DIRTYRATE as c_uint,
            &mut records,
            0,
        )
    };
    if n < 0 {
        return Err(format!(
            "reading dirty-rate stats: {}",
            virt::error::Error::last_error().message()
        ));
    }
    let mut out = Vec::new();
    for i in 0..n as usize {
        // SAFETY: `i < n` records were returned; each holds `nparams` typed parameters and a
        // live domain handle until the list is freed.
        let (name, fields) = unsafe {
            let r = &**records.add(i);
            let name = CStr::from_ptr(sys::virDomainGetName(r.dom))
                .to_string_lossy()
                .into_owned();
            let mut fields = BTreeMap::new();
            for j in 0..r.nparams.max(0) as usize {
                let p = &*r.params.add(j);
                let key = CStr::from_ptr(p.field.as_ptr())
                    .to_string_lossy()
                    .into_owned();
                let v = match p.type_ as u32 {
                    sys::VIR_TYPED_PARAM_INT => p.value.i.to_string(),
                    sys::VIR_TYPED_PARAM_UINT => p.value.ui.to_string(),
                    sys::VIR_TYPED_PARAM_LLONG => p.value.l.to_string(),
                    sys::VIR_TYPED_PARAM_ULLONG => p.value.ul.to_string(),
                    sys::VIR_TYPED_PARAM_DOUBLE => p.value.d.to_string(),
                    sys::VIR_TYPED_PARAM_BOOLEAN => (p.value.b != 0).to_string(),
                    sys::VIR_TYPED_PARAM_STRING if !p.value.s.is_null() => {
                        CStr::from_ptr(p.value.s).to_string_lossy().into_owned()
                    }
                    _ => continue,
                };
                fields.insert(key, v);
            }
            (name, fields)
        };
        if let Some(r) = DirtyRate::from_stats(|k| fields.get(k).cloned())
            .map_err(|e| format!("{name:?}: {e}"))?
        {
            out.push((name, r));
        }
    }
    // SAFETY: the list libvirt returned, freed once.
    unsafe { sys::virDomainStatsRecordListFree(records) };
    Ok(out)
}
