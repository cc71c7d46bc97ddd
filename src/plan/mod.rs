//! Action plans: what a simulated policy did, as steps an operator (or `migsim execute`) can
//! carry out on a real cluster.
//!
//! The shape follows OpenStack Watcher's action plans (`watcher/objects/action.py`,
//! `action_plan.py`): every action has an id, a type, input parameters and `parents`, the
//! actions that must have succeeded first, so a plan is a DAG. Types keep Watcher's names
//! (`migrate` with `migration_type` live|cold, `change_node_power_state` on|off, `sleep`) plus
//! `host_maintenance`. Each action also carries migsim's prediction (start, end, downtime,
//! bytes) so that an execution can be compared with it.
//!
//! Concurrency caps shape the DAG: a host takes part in at most `per_host` migrations at once,
//! and every link a migration crosses (the source's and destination's NICs, and in a tree both
//! racks' uplinks) carries at most 4 at once if it is slower than 10 Gbit/s and 8 otherwise
//! (vCenter's network cost model, VMware vSphere 6.7 "Limits on Simultaneous Migrations").
//! A migration beyond a cap gets as parent the migration on that host or link predicted to end
//! first, so the executor, which only runs actions whose parents are done, never exceeds it.

pub mod calibrate;
pub mod execute;
#[cfg(feature = "libvirt")]
pub mod libvirt;
pub mod shell;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::migration::{MigrationRecord, Outcome};
use crate::model::power::PowerState;
use crate::scenario::{Hypervisor, OnTimeoutSpec, Scenario};
use crate::sim::PowerChange;

/// Bumped when the layout of `plan.json` changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// vCenter's limit of concurrent vMotions per 1 GbE link (VMware vSphere 6.7 documentation,
/// "Limits on Simultaneous Migrations": network cost 1 per vMotion, maximum 4 on 1 GigE).
pub const PER_LINK_1GBE: u32 = 4;
/// The same limit for 10 GbE and faster links: 8.
pub const PER_LINK_10GBE: u32 = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionPlan {
    pub schema_version: u32,
    /// Deterministic: the same scenario, seed, policy and window give the same id.
    pub plan_id: String,
    pub created_by: String,
    pub scenario: String,
    /// SHA-256 of the scenario as it ran (`scenario.toml`).
    pub scenario_hash: String,
    pub seed: u64,
    /// The policy that made the plan (Watcher's "strategy").
    pub strategy: String,
    /// The slice of the simulated run the plan covers, seconds from its start.
    pub window: PlanWindow,
    /// What the plan achieves, by the simulation (Watcher's `global_efficacy`).
    pub efficacy: Vec<Efficacy>,
    pub concurrency: Concurrency,
    /// In a topological order: every action's parents come before it.
    pub actions: Vec<Action>,
    /// Migrations the policy asked for that did not complete in the simulation, with why:
    /// left out of the plan, never silently.
    #[serde(default)]
    pub not_planned: Vec<NotPlanned>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanWindow {
    pub from_s: f64,
    pub until_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Efficacy {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// Migrations a host may take part in at once (source or destination).
    pub per_host: u32,
    pub per_link_1gbe: u32,
    pub per_link_10gbe: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub id: String,
    #[serde(flatten)]
    pub kind: ActionKind,
    pub parents: Vec<String>,
    pub predicted: Prediction,
}

/// The action's type and its input parameters (`"type"` and `"params"` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "params", rename_all = "snake_case")]
pub enum ActionKind {
    Migrate(MigrateParams),
    ChangeNodePowerState(PowerParams),
    HostMaintenance(MaintenanceParams),
    Sleep(SleepParams),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationType {
    Live,
    Cold,
}

/// What to do when a migration runs past its timeout (libvirt `--timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Abort the job: the VM stays running on its source.
    Abort,
    /// Pause the guest and finish (libvirt `--timeout-suspend`): the downtime grows.
    Suspend,
    /// Switch to post-copy (libvirt `--timeout-postcopy`).
    Postcopy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateParams {
    /// The VM's name (libvirt domain name).
    pub resource_name: String,
    pub migration_type: MigrationType,
    pub source_node: String,
    pub destination_node: String,
    /// Pre-copy bandwidth cap in MiB/s (libvirt `--bandwidth`); `None`: unlimited.
    pub bandwidth_mib_s: Option<u64>,
    /// libvirt `migrate-setmaxdowntime`, ms.
    pub downtime_limit_ms: u64,
    pub auto_converge: bool,
    /// Start in post-copy mode after the first pre-copy pass.
    pub postcopy: bool,
    /// Copy non-shared storage too (libvirt `--copy-storage-all`).
    pub copy_storage: bool,
    pub timeout_s: Option<u64>,
    pub on_timeout: Option<OnTimeout>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerParams {
    pub resource_name: String,
    /// `on` or `off`.
    pub state: String,
    /// How "off" is reached: `sleep` (suspend to RAM) or `off` (power off); empty for `on`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceParams {
    pub resource_name: String,
    /// The window the host must be empty for, seconds from the run's start.
    pub window_start_s: f64,
    pub window_end_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepParams {
    pub duration_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    pub start_s: f64,
    pub end_s: f64,
    #[serde(default)]
    pub downtime_ms: f64,
    #[serde(default)]
    pub bytes: f64,
    #[serde(default)]
    pub rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotPlanned {
    pub vm: String,
    pub source: String,
    pub destination: String,
    pub start_s: f64,
    pub outcome: String,
    pub reason: String,
}

impl Action {
    /// The hosts the action touches.
    pub fn hosts(&self) -> Vec<&str> {
        match &self.kind {
            ActionKind::Migrate(m) => vec![&m.source_node, &m.destination_node],
            ActionKind::ChangeNodePowerState(p) => vec![&p.resource_name],
            ActionKind::HostMaintenance(m) => vec![&m.resource_name],
            ActionKind::Sleep(_) => vec![],
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ActionKind::Migrate(_) => "migrate",
            ActionKind::ChangeNodePowerState(_) => "change_node_power_state",
            ActionKind::HostMaintenance(_) => "host_maintenance",
            ActionKind::Sleep(_) => "sleep",
        }
    }
}

/// What a plan is built from: one simulated run.
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub scenario_hash: String,
    /// Host names by id.
    pub host_names: &'a [String],
    /// What a migration from one host to another occupies, as (lane key, bits/s): each host's
    /// NIC (one key for both directions, as vCenter counts a NIC) and each uplink it crosses.
    pub path: &'a dyn Fn(usize, usize) -> Vec<(String, f64)>,
    pub migrations: &'a [MigrationRecord],
    pub power: &'a [PowerChange],
    pub efficacy: Vec<Efficacy>,
    pub window: PlanWindow,
}

/// One thing that happened in the run, before it becomes an action.
enum Step<'a> {
    Maintenance {
        host: usize,
        start: f64,
        end: f64,
        drain: f64,
    },
    Power(&'a PowerChange),
    Migrate(&'a MigrationRecord),
}

fn migrate_params(sc: &Scenario, r: &MigrationRecord) -> MigrateParams {
    let m = &sc.migration;
    let bw = m.max_bandwidth.as_bytes_per_sec();
    // libvirt's --bandwidth is whole MiB/s; round up so the cap is never tighter than modelled.
    let bandwidth_mib_s = (bw > 0.0).then(|| (bw / (1u64 << 20) as f64).ceil() as u64);
    let timeout_s = m.timeout.map(|t| t.time().as_secs_f64().ceil() as u64);
    let on_timeout = timeout_s.map(|_| match m.on_timeout {
        OnTimeoutSpec::Cancel => OnTimeout::Abort,
        // libvirt cannot raise the limit on a timer from virsh; suspending ends the pre-copy
        // the same way, with a longer pause.
        OnTimeoutSpec::RaiseLimit => OnTimeout::Suspend,
        OnTimeoutSpec::Postcopy => OnTimeout::Postcopy,
    });
    MigrateParams {
        resource_name: r.vm.clone(),
        migration_type: if m.hypervisor == Hypervisor::Cold {
            MigrationType::Cold
        } else {
            MigrationType::Live
        },
        source_node: r.source.clone(),
        destination_node: r.destination.clone(),
        bandwidth_mib_s,
        downtime_limit_ms: (m.downtime_limit.time().as_secs_f64() * 1000.0).round() as u64,
        auto_converge: m.auto_converge,
        postcopy: m.hypervisor == Hypervisor::Postcopy,
        copy_storage: m.hypervisor == Hypervisor::Storage,
        timeout_s,
        on_timeout,
    }
}

/// Concurrent migrations a host's NIC allows under vCenter's cost model.
pub fn link_cap(nic_bps: f64, c: &Concurrency) -> u32 {
    if nic_bps >= 10e9 {
        c.per_link_10gbe
    } else {
        c.per_link_1gbe
    }
}

/// Builds the plan of one run: every completed migration, power transition and maintenance
/// drain that starts inside the window, as a DAG.
pub fn build(inp: &Inputs) -> ActionPlan {
    let sc = inp.scenario;
    let (from, until) = (inp.window.from_s, inp.window.until_s);
    let inside = |t: f64| t >= from && t < until;
    let concurrency = Concurrency {
        per_host: sc.migration.max_concurrent_per_host.max(1),
        per_link_1gbe: PER_LINK_1GBE,
        per_link_10gbe: PER_LINK_10GBE,
    };
    let host_id: BTreeMap<&str, usize> = inp
        .host_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();

    // Steps in time order; at one time: maintenance, then power-on, then migrations, then
    // power-off, the order an operator would follow.
    let mut steps: Vec<(f64, u8, usize, Step)> = Vec::new();
    for (k, w) in sc.maintenance.iter().enumerate() {
        let drain = (w.at.time().as_secs_f64() - w.lead.time().as_secs_f64()).max(0.0);
        if !inside(drain) {
            continue;
        }
        for name in &w.hosts {
            if let Some(&h) = host_id.get(name.as_str()) {
                steps.push((
                    drain,
                    0,
                    k,
                    Step::Maintenance {
                        host: h,
                        start: w.at.time().as_secs_f64(),
                        end: w.at.time().as_secs_f64() + w.duration.time().as_secs_f64(),
                        drain,
                    },
                ));
            }
        }
    }
    for (i, p) in inp.power.iter().enumerate() {
        if inside(p.time_s) {
            let rank = if p.to == PowerState::On { 1 } else { 3 };
            steps.push((p.time_s, rank, i, Step::Power(p)));
        }
    }
    let mut not_planned = Vec::new();
    for (i, r) in inp.migrations.iter().enumerate() {
        if !inside(r.start_s) {
            continue;
        }
        if r.outcome == Outcome::Completed {
            steps.push((r.start_s, 2, i, Step::Migrate(r)));
        } else {
            not_planned.push(NotPlanned {
                vm: r.vm.clone(),
                source: r.source.clone(),
                destination: r.destination.clone(),
                start_s: r.start_s,
                outcome: r.outcome.as_str().to_string(),
                reason: r.reason.clone(),
            });
        }
    }
    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

    let mut actions: Vec<Action> = Vec::new();
    // Each action's parents by index, named when the ids are.
    let mut parent_idx: Vec<Vec<usize>> = Vec::new();
    let mut last_of_vm: BTreeMap<String, usize> = BTreeMap::new();
    // Per host: the migrations that touch it, for power-off and for the lanes.
    let mut migs_of_host: Vec<Vec<usize>> = vec![Vec::new(); inp.host_names.len()];
    let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); inp.host_names.len()];
    let mut link_lanes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut power_on_of: BTreeMap<usize, usize> = BTreeMap::new();
    let mut maintenance_of: BTreeMap<usize, usize> = BTreeMap::new();
    // Waves: actions since the last sleep; the next wave waits for all of them.
    let mut wave: Vec<usize> = Vec::new();
    // Wave members that another member depends on: the sleep needs only the others (the
    // sinks), which imply them.
    let mut wave_inner: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    let mut wave_end = f64::NEG_INFINITY;
    let mut gate: Option<usize> = None;
    // A gap longer than this between one wave's predicted end and the next step becomes a
    // `sleep`, so that executed steps keep the simulated timing (a policy tick is minutes).
    const GAP_S: f64 = 1.0;

    for (t, _, _, step) in &steps {
        let t = *t;
        if !wave.is_empty() && t > wave_end + GAP_S {
            let id = actions.len();
            let parents: Vec<usize> = wave
                .iter()
                .copied()
                .filter(|i| !wave_inner.contains(i))
                .collect();
            actions.push(Action {
                id: String::new(),
                kind: ActionKind::Sleep(SleepParams {
                    duration_s: round_ms(t - wave_end),
                }),
                parents: Vec::new(),
                predicted: Prediction {
                    start_s: wave_end,
                    end_s: t,
                    ..Default::default()
                },
            });
            parent_idx.push(parents);
            gate = Some(id);
            wave.clear();
            wave_inner.clear();
            wave_end = f64::NEG_INFINITY;
            // Everything before the sleep is done once it ends: start afresh.
            for l in &mut lanes {
                l.clear();
            }
            link_lanes.clear();
            for m in &mut migs_of_host {
                m.clear();
            }
            power_on_of.clear();
            maintenance_of.clear();
            last_of_vm.clear();
        }
        let id = actions.len();
        let mut parents: Vec<usize> = gate.into_iter().collect();
        let (kind, predicted) = match step {
            Step::Maintenance {
                host,
                start,
                end,
                drain,
            } => {
                maintenance_of.insert(*host, id);
                (
                    ActionKind::HostMaintenance(MaintenanceParams {
                        resource_name: inp.host_names[*host].clone(),
                        window_start_s: *start,
                        window_end_s: *end,
                    }),
                    Prediction {
                        start_s: *drain,
                        end_s: *drain,
                        ..Default::default()
                    },
                )
            }
            Step::Power(p) => {
                let h = p.host.idx();
                let on = p.to == PowerState::On;
                if on {
                    power_on_of.insert(h, id);
                } else {
                    // Switch off only once every migration touching the host is done.
                    parents.extend(migs_of_host[h].iter().copied());
                }
                (
                    ActionKind::ChangeNodePowerState(PowerParams {
                        resource_name: inp.host_names[h].clone(),
                        state: if on { "on" } else { "off" }.into(),
                        mode: match p.to {
                            PowerState::Sleep => "sleep".into(),
                            PowerState::On => String::new(),
                            _ => "off".into(),
                        },
                    }),
                    Prediction {
                        start_s: p.time_s,
                        end_s: p.time_s + p.duration_s,
                        ..Default::default()
                    },
                )
            }
            Step::Migrate(r) => {
                let (s, d) = (
                    host_id.get(r.source.as_str()).copied(),
                    host_id.get(r.destination.as_str()).copied(),
                );
                if let Some(&prev) = last_of_vm.get(&r.vm) {
                    parents.push(prev);
                }
                last_of_vm.insert(r.vm.clone(), id);
                for h in [s, d].into_iter().flatten() {
                    if let Some(&p) = power_on_of.get(&h) {
                        parents.push(p);
                    }
                    if let Some(&m) = maintenance_of.get(&h) {
                        parents.push(m);
                    }
                    take_lane(
                        &mut lanes[h],
                        concurrency.per_host as usize,
                        id,
                        &actions,
                        &mut parents,
                    );
                    migs_of_host[h].push(id);
                }
                if let (Some(s), Some(d)) = (s, d) {
                    for (link, bps) in (inp.path)(s, d) {
                        take_lane(
                            link_lanes.entry(link).or_default(),
                            link_cap(bps, &concurrency) as usize,
                            id,
                            &actions,
                            &mut parents,
                        );
                    }
                }
                (
                    ActionKind::Migrate(migrate_params(sc, r)),
                    Prediction {
                        start_s: r.start_s,
                        end_s: r.start_s + r.total_time_s,
                        downtime_ms: r.downtime_ms,
                        bytes: r.transferred_bytes,
                        rounds: r.rounds,
                    },
                )
            }
        };
        parents.sort_unstable();
        parents.dedup();
        wave_inner.extend(parents.iter().copied());
        wave_end = wave_end.max(predicted.end_s);
        wave.push(id);
        actions.push(Action {
            id: String::new(),
            kind,
            parents: Vec::new(),
            predicted,
        });
        parent_idx.push(parents);
    }
    // Ids are named once the count, and so their width, is known.
    let width = actions.len().to_string().len().max(4);
    let name = |i: usize| format!("a{:0width$}", i + 1);
    for (i, (a, ps)) in actions.iter_mut().zip(&parent_idx).enumerate() {
        a.id = name(i);
        a.parents = ps.iter().map(|&p| name(p)).collect();
    }
    let plan_id = plan_id(
        &inp.scenario_hash,
        sc.seed,
        &sc.policy.name,
        inp.window,
        actions.len(),
    );
    ActionPlan {
        schema_version: SCHEMA_VERSION,
        plan_id,
        created_by: format!("migsim {}", env!("CARGO_PKG_VERSION")),
        scenario: sc.name.clone(),
        scenario_hash: inp.scenario_hash.clone(),
        seed: sc.seed,
        strategy: sc.policy.name.clone(),
        window: inp.window,
        efficacy: inp.efficacy.clone(),
        concurrency,
        actions,
        not_planned,
    }
}

/// Puts migration `id` in a lane of at most `cap` concurrent migrations. When the lane is full,
/// `id` waits for the migration in it predicted to end first, which leaves the lane.
fn take_lane(
    lane: &mut Vec<usize>,
    cap: usize,
    id: usize,
    actions: &[Action],
    parents: &mut Vec<usize>,
) {
    if lane.len() >= cap.max(1) {
        let (k, _) = lane
            .iter()
            .enumerate()
            .min_by(|a, b| {
                actions[*a.1]
                    .predicted
                    .end_s
                    .total_cmp(&actions[*b.1].predicted.end_s)
                    .then(a.1.cmp(b.1))
            })
            .expect("a full lane is not empty");
        parents.push(lane.remove(k));
    }
    lane.push(id);
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// A UUID-shaped id derived from what defines the plan, so reruns give the same id.
fn plan_id(hash: &str, seed: u64, policy: &str, w: PlanWindow, n: usize) -> String {
    let h = crate::base::hash_text(&format!(
        "{hash}|{seed}|{policy}|{}|{}|{n}",
        w.from_s, w.until_s
    ));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl ActionPlan {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plan serialises");
        s.push('\n');
        s
    }

    /// Reads a plan and checks it is a DAG in topological order with known parents. `name`
    /// is used in errors, with the line and column of JSON errors.
    pub fn parse(name: &str, text: &str) -> Result<ActionPlan, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let plan: ActionPlan = serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            format!(
                "{name}:{}:{}: field {}: {inner}",
                inner.line(),
                inner.column(),
                e.path()
            )
        })?;
        if plan.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "{name}: schema_version {} is not {SCHEMA_VERSION}",
                plan.schema_version
            ));
        }
        plan.check().map_err(|e| format!("{name}: {e}"))?;
        Ok(plan)
    }

    /// Every id unique, every parent an earlier action: then the list order is a topological
    /// order and the graph has no cycle.
    pub fn check(&self) -> Result<(), String> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, a) in self.actions.iter().enumerate() {
            if a.id.is_empty() {
                return Err(format!("actions[{i}]: the id is empty"));
            }
            for p in &a.parents {
                if !seen.contains_key(p.as_str()) {
                    return Err(format!(
                        "actions[{i}] ({}): parent {p:?} is not an earlier action",
                        a.id
                    ));
                }
            }
            if let ActionKind::Migrate(m) = &a.kind {
                if m.source_node == m.destination_node {
                    return Err(format!(
                        "actions[{i}] ({}): source and destination are both {:?}",
                        a.id, m.source_node
                    ));
                }
                if m.resource_name.is_empty() {
                    return Err(format!("actions[{i}] ({}): resource_name is empty", a.id));
                }
            }
            if seen.insert(&a.id, i).is_some() {
                return Err(format!("actions[{i}]: id {:?} is used twice", a.id));
            }
        }
        Ok(())
    }

    pub fn migrations(&self) -> impl Iterator<Item = (&Action, &MigrateParams)> {
        self.actions.iter().filter_map(|a| match &a.kind {
            ActionKind::Migrate(m) => Some((a, m)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
