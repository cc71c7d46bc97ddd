//! Carrying out a plan on real hosts: the dry-run check, DAG execution with a journal, and
//! measured-against-predicted records.
//!
//! The executor talks to hosts only through [`Backend`]. The libvirt backend lives behind the
//! `libvirt` cargo feature (`plan::libvirt`); [`mock::MockCluster`] stands in for it in tests.
//! Safety rules, whatever the backend:
//! - nothing is changed unless the caller asked for execution (`--yes`); the default is a
//!   check of every host and VM the plan names;
//! - a migration that fails or times out is aborted, and its VM is left (or resumed) running on
//!   its source; the actions that depend on it are skipped and reported, nothing else is
//!   touched;
//! - every finished action is appended to the journal before the next starts, so a run that is
//!   interrupted resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Action, ActionKind, ActionPlan, MigrateParams};

/// What a host reports before execution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostInfo {
    /// Memory not used by running domains, bytes.
    pub free_memory: f64,
}

/// A domain as a host sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainInfo {
    pub running: bool,
    pub memory: f64,
}

/// libvirt's statistics of a finished migration job (`virDomainGetJobStats` with
/// `VIR_DOMAIN_JOB_STATS_COMPLETED`); absent figures are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    pub time_elapsed_ms: Option<f64>,
    pub downtime_ms: Option<f64>,
    /// Bytes the migration put on the wire, re-sent pages included (libvirt's
    /// `data_processed`), which the model's transferred bytes predict. (libvirt's `data_total`
    /// is what there was to send: the guest's RAM.)
    #[serde(alias = "data_total_bytes")]
    pub data_processed_bytes: Option<f64>,
    pub iterations: Option<u64>,
    /// Why the statistics could not be read, when the migration itself succeeded: said in
    /// `execution.csv`'s message, not left as empty columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// The operations the executor needs. Implementations must be usable from several threads:
/// migrations on different hosts run at once.
pub trait Backend: Sync {
    fn host(&self, host: &str) -> Result<HostInfo, String>;
    /// The domain on `host`, or `None` if it is not there.
    fn domain(&self, host: &str, vm: &str) -> Result<Option<DomainInfo>, String>;
    /// Migrates and returns the job's statistics. On any failure the implementation aborts
    /// the job and returns the error; [`Backend::ensure_running`] is called afterwards.
    fn migrate(&self, m: &MigrateParams) -> Result<JobStats, String>;
    /// Resumes the domain on `host` if it is paused; an error if it is not there.
    fn ensure_running(&self, host: &str, vm: &str) -> Result<(), String>;
}

/// One problem the dry run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub action: String,
    pub message: String,
}

/// Checks, without changing anything, that every host the plan names answers, that each VM is
/// where the plan expects it when its migration comes, and that no destination runs out of
/// memory along the way (the plan's order, sequentially: the tightest case for room is
/// checked per step).
pub fn check(plan: &ActionPlan, backend: &dyn Backend) -> Vec<Finding> {
    let mut f = Vec::new();
    let mut free: BTreeMap<String, f64> = BTreeMap::new();
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    for a in &plan.actions {
        hosts.extend(a.hosts());
    }
    for h in hosts {
        match backend.host(h) {
            Ok(i) => {
                free.insert(h.to_string(), i.free_memory);
            }
            Err(e) => f.push(Finding {
                action: "-".into(),
                message: format!("host {h:?}: {e}"),
            }),
        }
    }
    // Where each VM is, as the plan moves it.
    let mut at: BTreeMap<&str, &str> = BTreeMap::new();
    let mut memory: BTreeMap<&str, f64> = BTreeMap::new();
    for (a, m) in plan.migrations() {
        let vm = m.resource_name.as_str();
        let expected = at.get(vm).copied().unwrap_or(m.source_node.as_str());
        if expected != m.source_node {
            f.push(Finding {
                action: a.id.clone(),
                message: format!(
                    "VM {vm:?} would be on {expected:?}, not on the source {:?}",
                    m.source_node
                ),
            });
        }
        // A host that did not answer is reported once, above, not for each of its VMs.
        let answered = |h: &str| free.contains_key(h);
        if !at.contains_key(vm) && answered(&m.source_node) {
            match backend.domain(&m.source_node, vm) {
                Ok(Some(d)) => {
                    if !d.running {
                        f.push(Finding {
                            action: a.id.clone(),
                            message: format!("VM {vm:?} is on {:?} but not running", m.source_node),
                        });
                    }
                    memory.insert(vm, d.memory);
                }
                Ok(None) => f.push(Finding {
                    action: a.id.clone(),
                    message: format!("VM {vm:?} is not on {:?}", m.source_node),
                }),
                Err(e) => f.push(Finding {
                    action: a.id.clone(),
                    message: format!("VM {vm:?} on {:?}: {e}", m.source_node),
                }),
            }
            if answered(&m.destination_node)
                && let Ok(Some(_)) = backend.domain(&m.destination_node, vm)
            {
                f.push(Finding {
                    action: a.id.clone(),
                    message: format!("VM {vm:?} is already on {:?}", m.destination_node),
                });
            }
        }
        let need = memory.get(vm).copied().unwrap_or(0.0);
        if let Some(room) = free.get_mut(&m.destination_node) {
            if *room < need {
                f.push(Finding {
                    action: a.id.clone(),
                    message: format!(
                        "{:?} has {:.0} MiB free, VM {vm:?} needs {:.0} MiB",
                        m.destination_node,
                        *room / 1048576.0,
                        need / 1048576.0
                    ),
                });
            }
            *room -= need;
        }
        if let Some(room) = free.get_mut(&m.source_node) {
            *room += need;
        }
        at.insert(vm, m.destination_node.as_str());
    }
    f
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    Failed,
    /// Not run because an action it depends on failed.
    Skipped,
    /// Nothing for the backend to do (a maintenance mark, a power change without
    /// `--power-cmd`): counted as done.
    Noted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Noted => "noted",
        }
    }

    fn done(self) -> bool {
        matches!(self, Status::Succeeded | Status::Noted)
    }
}

/// One journal line, and one row of `execution.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub plan_id: String,
    pub action: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default)]
    pub measured: JobStats,
}

/// Options of an execution.
pub struct Options {
    /// At most this many actions at once (the plan's DAG already caps each host).
    pub parallel: usize,
    /// Do not wait through `sleep` actions.
    pub skip_waits: bool,
    /// `PROGRAM HOST on|off` for power actions, run without a shell.
    pub power_cmd: Option<String>,
}

/// Reads a journal: the outcome of every action already finished, for `plan_id`. Refuses a
/// journal of another plan. Later lines win, so a retried action's last outcome counts.
pub fn read_journal(path: &Path, plan_id: &str) -> Result<BTreeMap<String, Outcome>, String> {
    let mut done = BTreeMap::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let o: Outcome = match serde_json::from_str(line) {
            Ok(o) => o,
            // A line cut short by a crash is the last one: ignore it, the action reruns.
            Err(_) if i + 1 == text.lines().count() => break,
            Err(e) => return Err(format!("{}:{}: {e}", path.display(), i + 1)),
        };
        if o.plan_id != plan_id {
            return Err(format!(
                "{}:{}: the journal is of plan {}, not {plan_id}; use another --journal",
                path.display(),
                i + 1,
                o.plan_id
            ));
        }
        done.insert(o.action.clone(), o);
    }
    Ok(done)
}

/// Executes the plan in DAG order. Actions already done in `journal` are not rerun. Returns
/// every action's outcome in plan order.
pub fn execute(
    plan: &ActionPlan,
    backend: &dyn Backend,
    journal: &Path,
    opts: &Options,
    log: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Outcome>, String> {
    let previous = read_journal(journal, &plan.plan_id)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .map_err(|e| format!("{}: {e}", journal.display()))?;
    let journal_file = Mutex::new(file);
    let index: BTreeMap<&str, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let n = plan.actions.len();
    let mut state: Vec<Option<Outcome>> = plan
        .actions
        .iter()
        .map(|a| previous.get(&a.id).filter(|o| o.status.done()).cloned())
        .collect();
    let resumed = state.iter().filter(|s| s.is_some()).count();
    if resumed > 0 {
        log(&format!(
            "resuming: {resumed} of {n} actions already done (journal {})",
            journal.display()
        ));
    }
    let record = |o: &Outcome| -> Result<(), String> {
        let mut f = journal_file.lock().expect("journal lock");
        let line = serde_json::to_string(o).expect("outcome serialises");
        writeln!(f, "{line}")
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("journal: {e}"))
    };
    let parallel = opts.parallel.max(1);
    let mut running: BTreeSet<usize> = BTreeSet::new();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome)>();
    std::thread::scope(|scope| -> Result<(), String> {
        loop {
            // Skip what can no longer run; start what is ready.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for i in 0..n {
                    if state[i].is_some() || running.contains(&i) {
                        continue;
                    }
                    let a = &plan.actions[i];
                    let parents: Vec<usize> = a.parents.iter().map(|p| index[p.as_str()]).collect();
                    if let Some(&bad) = parents
                        .iter()
                        .find(|&&p| state[p].as_ref().is_some_and(|o| !o.status.done()))
                    {
                        let o = Outcome {
                            plan_id: plan.plan_id.clone(),
                            action: a.id.clone(),
                            status: Status::Skipped,
                            message: format!("{} did not succeed", plan.actions[bad].id),
                            measured: JobStats::default(),
                        };
                        log(&format!("{}: skipped ({})", a.id, o.message));
                        record(&o)?;
                        state[i] = Some(o);
                        progressed = true;
                        continue;
                    }
                    let ready = parents
                        .iter()
                        .all(|&p| state[p].as_ref().is_some_and(|o| o.status.done()));
                    if ready && running.len() < parallel {
                        running.insert(i);
                        let tx = tx.clone();
                        let plan_id = plan.plan_id.clone();
                        scope.spawn(move || {
                            let o = run_action(&plan_id, a, backend, opts, log);
                            let _ = tx.send((i, o));
                        });
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            let (i, o) = rx.recv().map_err(|e| e.to_string())?;
            running.remove(&i);
            record(&o)?;
            state[i] = Some(o);
        }
        Ok(())
    })?;
    Ok(state
        .into_iter()
        .map(|s| s.expect("every action ends"))
        .collect())
}

fn run_action(
    plan_id: &str,
    a: &Action,
    backend: &dyn Backend,
    opts: &Options,
    log: &(dyn Fn(&str) + Sync),
) -> Outcome {
    let mut o = Outcome {
        plan_id: plan_id.to_string(),
        action: a.id.clone(),
        status: Status::Succeeded,
        message: String::new(),
        measured: JobStats::default(),
    };
    match &a.kind {
        ActionKind::Migrate(m) => {
            log(&format!(
                "{}: migrating {:?} from {:?} to {:?}",
                a.id, m.resource_name, m.source_node, m.destination_node
            ));
            let started = Instant::now();
            match backend.migrate(m) {
                Ok(mut s) => {
                    if s.time_elapsed_ms.is_none() {
                        s.time_elapsed_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    if let Some(why) = &s.unavailable {
                        o.message = format!("job statistics unavailable: {why}");
                        log(&format!("{}: {}", a.id, o.message));
                    }
                    o.measured = s.clone();
                    log(&format!(
                        "{}: done in {:.0} ms, downtime {} ms",
                        a.id,
                        s.time_elapsed_ms.unwrap_or(0.0),
                        s.downtime_ms
                            .map(|d| format!("{d:.0}"))
                            .unwrap_or_else(|| "?".into())
                    ));
                }
                Err(e) => {
                    o.status = Status::Failed;
                    o.message = e;
                    // Leave the VM running where it was.
                    if let Err(e2) = backend.ensure_running(&m.source_node, &m.resource_name) {
                        o.message
                            .push_str(&format!("; could not confirm it runs on the source: {e2}"));
                    }
                    log(&format!("{}: FAILED: {}", a.id, o.message));
                }
            }
        }
        ActionKind::ChangeNodePowerState(p) => match &opts.power_cmd {
            Some(cmd) => {
                let r = std::process::Command::new(cmd)
                    .arg(&p.resource_name)
                    .arg(&p.state)
                    .status();
                match r {
                    Ok(s) if s.success() => {}
                    Ok(s) => {
                        o.status = Status::Failed;
                        o.message = format!("{cmd} exited with {s}");
                    }
                    Err(e) => {
                        o.status = Status::Failed;
                        o.message = format!("{cmd}: {e}");
                    }
                }
            }
            None => {
                o.status = Status::Noted;
                o.message = format!(
                    "power {} {:?}: no --power-cmd, left to the operator",
                    p.state, p.resource_name
                );
                log(&format!("{}: {}", a.id, o.message));
            }
        },
        ActionKind::HostMaintenance(m) => {
            o.status = Status::Noted;
            o.message = format!(
                "{:?} is in maintenance: place nothing on it",
                m.resource_name
            );
            log(&format!("{}: {}", a.id, o.message));
        }
        ActionKind::Sleep(s) => {
            if opts.skip_waits {
                o.status = Status::Noted;
                o.message = format!("{} s wait skipped", s.duration_s);
            } else {
                log(&format!("{}: waiting {} s", a.id, s.duration_s));
                std::thread::sleep(Duration::from_secs_f64(s.duration_s.max(0.0)));
            }
        }
    }
    o
}

/// `execution.csv`: each action's outcome beside its prediction.
pub fn execution_csv(plan: &ActionPlan, outcomes: &[Outcome]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "action",
        "type",
        "vm",
        "source",
        "destination",
        "status",
        "message",
        "predicted_time_s",
        "measured_time_s",
        "predicted_downtime_ms",
        "measured_downtime_ms",
        "predicted_bytes",
        "measured_bytes",
        "predicted_rounds",
        "measured_iterations",
    ]);
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for (a, o) in plan.actions.iter().zip(outcomes) {
        let (vm, src, dst) = match &a.kind {
            ActionKind::Migrate(m) => (
                m.resource_name.as_str(),
                m.source_node.as_str(),
                m.destination_node.as_str(),
            ),
            ActionKind::ChangeNodePowerState(p) => ("", p.resource_name.as_str(), ""),
            ActionKind::HostMaintenance(m) => ("", m.resource_name.as_str(), ""),
            ActionKind::Sleep(_) => ("", "", ""),
        };
        let migrate = matches!(a.kind, ActionKind::Migrate(_));
        let p = &a.predicted;
        let _ = w.write_record([
            a.id.as_str(),
            a.type_name(),
            vm,
            src,
            dst,
            o.status.as_str(),
            o.message.as_str(),
            &format!("{}", p.end_s - p.start_s),
            &opt(o.measured.time_elapsed_ms.map(|t| t / 1000.0)),
            &if migrate {
                format!("{}", p.downtime_ms)
            } else {
                String::new()
            },
            &opt(o.measured.downtime_ms),
            &if migrate {
                format!("{}", p.bytes)
            } else {
                String::new()
            },
            &opt(o.measured.data_processed_bytes),
            &if migrate {
                p.rounds.to_string()
            } else {
                String::new()
            },
            &o.measured
                .iterations
                .map(|i| i.to_string())
                .unwrap_or_default(),
        ]);
    }
    String::from_utf8(w.into_inner().expect("in-memory writer")).expect("UTF-8 fields")
}

/// An in-memory cluster for tests: hosts with memory, domains on them, and migrations that
/// succeed, fail or leave the guest paused, on demand.
pub mod mock {
    use super::*;

    #[derive(Debug, Clone)]
    pub struct MockDomain {
        pub memory: f64,
        pub running: bool,
    }

    #[derive(Debug, Default)]
    pub struct State {
        pub hosts: BTreeMap<String, (f64, BTreeMap<String, MockDomain>)>,
        /// VMs whose migration fails; with `true` the failure leaves the guest paused on
        /// its source, as a failure during the stop-and-copy can.
        pub fail: BTreeMap<String, bool>,
        /// Every migration asked for, in order.
        pub calls: Vec<String>,
    }

    #[derive(Debug, Default)]
    pub struct MockCluster(pub Mutex<State>);

    impl MockCluster {
        pub fn with_hosts(hosts: &[(&str, f64)]) -> MockCluster {
            let mut s = State::default();
            for (h, mem) in hosts {
                s.hosts.insert(h.to_string(), (*mem, BTreeMap::new()));
            }
            MockCluster(Mutex::new(s))
        }

        pub fn add_domain(&self, host: &str, vm: &str, memory: f64) {
            let mut s = self.0.lock().unwrap();
            s.hosts.get_mut(host).expect("known host").1.insert(
                vm.to_string(),
                MockDomain {
                    memory,
                    running: true,
                },
            );
        }

        pub fn where_is(&self, vm: &str) -> Option<(String, bool)> {
            let s = self.0.lock().unwrap();
            s.hosts
                .iter()
                .find_map(|(h, (_, d))| d.get(vm).map(|d| (h.clone(), d.running)))
        }
    }

    impl Backend for MockCluster {
        fn host(&self, host: &str) -> Result<HostInfo, String> {
            let s = self.0.lock().unwrap();
            let (mem, doms) = s.hosts.get(host).ok_or("cannot connect: no such host")?;
            let used: f64 = doms.values().map(|d| d.memory).sum();
            Ok(HostInfo {
                free_memory: mem - used,
            })
        }

        fn domain(&self, host: &str, vm: &str) -> Result<Option<DomainInfo>, String> {
            let s = self.0.lock().unwrap();
            let (_, doms) = s.hosts.get(host).ok_or("cannot connect: no such host")?;
            Ok(doms.get(vm).map(|d| DomainInfo {
                running: d.running,
                memory: d.memory,
            }))
        }

        fn migrate(&self, m: &MigrateParams) -> Result<JobStats, String> {
            let mut s = self.0.lock().unwrap();
            s.calls.push(m.resource_name.clone());
            if let Some(&paused) = s.fail.get(&m.resource_name) {
                if paused
                    && let Some(d) = s
                        .hosts
                        .get_mut(&m.source_node)
                        .and_then(|h| h.1.get_mut(&m.resource_name))
                {
                    d.running = false;
                }
                return Err("injected failure".into());
            }
            let d = s
                .hosts
                .get_mut(&m.source_node)
                .and_then(|h| h.1.remove(&m.resource_name))
                .ok_or("domain not found on the source")?;
            let bytes = d.memory;
            s.hosts
                .get_mut(&m.destination_node)
                .ok_or("no such destination")?
                .1
                .insert(m.resource_name.clone(), d);
            Ok(JobStats {
                time_elapsed_ms: Some(1000.0),
                downtime_ms: Some(50.0),
                data_processed_bytes: Some(bytes),
                iterations: Some(2),
                unavailable: None,
            })
        }

        fn ensure_running(&self, host: &str, vm: &str) -> Result<(), String> {
            let mut s = self.0.lock().unwrap();
            let d = s
                .hosts
                .get_mut(host)
                .and_then(|h| h.1.get_mut(vm))
                .ok_or("domain not found")?;
            d.running = true;
            Ok(())
        }
    }
}
