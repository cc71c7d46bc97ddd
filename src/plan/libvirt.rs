//! The libvirt backend of the executor (cargo feature `libvirt`, crate `virt` 0.5).
//!
//! Each call opens its own connection to the host's URI, so migrations on different hosts run
//! in parallel without sharing a connection. A migration is
//! `virDomainMigrateSetMaxDowntime` and then `virDomainMigrateToURI3` with the flags
//! `LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE`, the same as
//! `virsh migrate --live --p2p --persistent --undefinesource`. With a timeout, a watchdog on
//! a second connection aborts the job (`virDomainAbortJob`), suspends the guest so that the
//! migration finishes (libvirt's `--timeout-suspend`), or switches to post-copy
//! (`virDomainMigrateStartPostCopy`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

use super::execute::{Backend, DomainInfo, HostInfo, JobStats};
use super::{MigrateParams, MigrationType, OnTimeout};

pub struct Libvirt {
    /// Host name → libvirt URI, from `--connect NAME=URI`.
    pub uris: BTreeMap<String, String>,
    /// For hosts not in `uris`: a URI with `{host}` in it, e.g. `qemu+ssh://{host}/system`.
    pub template: Option<String>,
    /// The migration stream's URI (libvirt's `migrateuri`), e.g. `tcp://127.0.0.1` when both
    /// daemons share a machine; libvirt picks one when `None`.
    pub migrate_uri: Option<String>,
}

fn err(what: &str, e: virt::error::Error) -> String {
    format!("{what}: {}", e.message())
}

impl Libvirt {
    fn uri(&self, host: &str) -> Result<String, String> {
        if let Some(u) = self.uris.get(host) {
            return Ok(u.clone());
        }
        match &self.template {
            Some(t) => Ok(t.replace("{host}", host)),
            None => Err(format!(
                "no URI for host {host:?}: give --connect {host}=URI or --uri-template"
            )),
        }
    }

    fn open(&self, host: &str) -> Result<Connect, String> {
        // libvirt prints every error on stderr by default; ours carry them as messages.
        virt::error::clear_error_callback();
        let uri = self.uri(host)?;
        Connect::open(Some(&uri)).map_err(|e| err(&format!("connecting to {host:?} ({uri})"), e))
    }

    fn lookup(conn: &Connect, vm: &str) -> Result<Option<Domain>, String> {
        match conn.lookup_domain_by_name(vm) {
            Ok(d) => Ok(Some(d)),
            Err(e) => match e.code().into() {
                Ok(virt::error::ErrorNumber::NoDomain) => Ok(None),
                _ => Err(err(&format!("looking up {vm:?}"), e)),
            },
        }
    }
}

fn is_state(d: &Domain, want: virt::domain::DomainState) -> Result<bool, String> {
    let (state, _) = d.state().map_err(|e| err("domain state", e))?;
    let known: Result<virt::domain::DomainState, _> = state.into();
    Ok(known.is_ok_and(|s| s == want))
}

fn stats(d: &Domain) -> Result<JobStats, String> {
    let s = d
        .job_stats(sys::VIR_DOMAIN_JOB_STATS_COMPLETED)
        .map_err(|e| err("completed job statistics", e))?;
    Ok(JobStats {
        time_elapsed_ms: s.time_elapsed.map(|v| v as f64),
        downtime_ms: s.downtime.map(|v| v as f64),
        data_processed_bytes: s.data_processed.or(s.mem_processed).map(|v| v as f64),
        iterations: s.mem_iteration,
        unavailable: None,
    })
}

impl Backend for Libvirt {
    fn host(&self, host: &str) -> Result<HostInfo, String> {
        let c = self.open(host)?;
        let free = c.free_memory().map_err(|e| err("free memory", e))?;
        Ok(HostInfo {
            free_memory: free as f64,
        })
    }

    fn domain(&self, host: &str, vm: &str) -> Result<Option<DomainInfo>, String> {
        let c = self.open(host)?;
        let Some(d) = Self::lookup(&c, vm)? else {
            return Ok(None);
        };
        let info = d.info().map_err(|e| err("domain info", e))?;
        Ok(Some(DomainInfo {
            running: is_state(&d, virt::domain::DomainState::Running)?,
            memory: info.memory as f64 * 1024.0,
        }))
    }

    fn migrate(&self, m: &MigrateParams) -> Result<JobStats, String> {
        let src = self.open(&m.source_node)?;
        let dst_uri = self.uri(&m.destination_node)?;
        let dom = Self::lookup(&src, &m.resource_name)?
            .ok_or_else(|| format!("{:?} is not on {:?}", m.resource_name, m.source_node))?;
        dom.migrate_set_max_downtime(m.downtime_limit_ms, 0)
            .map_err(|e| err("setting the maximum downtime", e))?;
        let mut flags = sys::VIR_MIGRATE_PEER2PEER
            | sys::VIR_MIGRATE_PERSIST_DEST
            | sys::VIR_MIGRATE_UNDEFINE_SOURCE;
        if m.migration_type == MigrationType::Live {
            flags |= sys::VIR_MIGRATE_LIVE;
        }
        if m.auto_converge {
            flags |= sys::VIR_MIGRATE_AUTO_CONVERGE;
        }
        if m.postcopy || m.on_timeout == Some(OnTimeout::Postcopy) {
            flags |= sys::VIR_MIGRATE_POSTCOPY;
        }
        if m.copy_storage {
            flags |= sys::VIR_MIGRATE_NON_SHARED_DISK;
        }
        let params = virt::domain::MigrateParameters {
            bandwidth: m.bandwidth_mib_s,
            uri: self.migrate_uri.clone(),
            ..Default::default()
        };
        let done = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = m.timeout_s.map(|t| {
            let (done, timed_out) = (done.clone(), timed_out.clone());
            let uri = self.uri(&m.source_node);
            let (vm, action) = (m.resource_name.clone(), m.on_timeout);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(t);
                while Instant::now() < deadline {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                timed_out.store(true, Ordering::SeqCst);
                let Ok(uri) = uri else { return };
                let Ok(c) = Connect::open(Some(&uri)) else {
                    return;
                };
                let Ok(d) = c.lookup_domain_by_name(&vm) else {
                    return;
                };
                // SAFETY: `d` is a live domain handle for the duration of these calls.
                unsafe {
                    match action {
                        Some(OnTimeout::Suspend) => {
                            let _ = d.suspend();
                        }
                        Some(OnTimeout::Postcopy) => {
                            sys::virDomainMigrateStartPostCopy(d.as_ptr(), 0);
                        }
                        _ => {
                            sys::virDomainAbortJob(d.as_ptr());
                        }
                    }
                }
            })
        });
        let result = dom.migrate_to_uri3(Some(&dst_uri), params, flags);
        done.store(true, Ordering::SeqCst);
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        match result {
            Ok(()) => {
                // The completed job's statistics: on the source handle, or on the destination.
                let on_source = stats(&dom);
                let measured = on_source.or_else(|src_err| {
                    let c = self.open(&m.destination_node)?;
                    let d = Self::lookup(&c, &m.resource_name)?.ok_or_else(|| {
                        format!("{:?} is not on the destination", m.resource_name)
                    })?;
                    stats(&d).map_err(|dst_err| {
                        format!("on the source: {src_err}; on the destination: {dst_err}")
                    })
                });
                Ok(measured.unwrap_or_else(|why| JobStats {
                    unavailable: Some(why),
                    ..JobStats::default()
                }))
            }
            Err(e) => {
                // SAFETY: `dom` is live; aborting a job that already ended only errors.
                unsafe {
                    sys::virDomainAbortJob(dom.as_ptr());
                }
                let why = if timed_out.load(Ordering::SeqCst) {
                    format!(
                        "timed out after {} s: {}",
                        m.timeout_s.unwrap_or(0),
                        e.message()
                    )
                } else {
                    e.message().to_string()
                };
                Err(format!("migration failed: {why}"))
            }
        }
    }

    fn ensure_running(&self, host: &str, vm: &str) -> Result<(), String> {
        let c = self.open(host)?;
        let d = Self::lookup(&c, vm)?.ok_or_else(|| format!("{vm:?} is not on {host:?}"))?;
        if is_state(&d, virt::domain::DomainState::Paused)? {
            d.resume().map_err(|e| err("resuming", e))?;
        }
        if !is_state(&d, virt::domain::DomainState::Running)? {
            return Err(format!("{vm:?} is on {host:?} but not running"));
        }
        Ok(())
    }
}
