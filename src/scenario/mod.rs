//! The scenario file: what a capacity planner writes to describe a data centre and a question.
//!
//! The schema is strict (`deny_unknown_fields` everywhere): a misspelt key is an error, never a
//! silently ignored default. Quantities carry their units (`"800MiB"`, `"1Gbit/s"`, `"5min"`).
//! Loading (includes, `--set` overrides, errors with file, line and field) lives in [`load`];
//! semantic checks that need more than one field live in [`validate`].

pub mod calibration;
pub mod load;
pub mod validate;

pub use calibration::{CalibrationSpec, HostCalibration};
use serde::{Deserialize, Serialize};

pub use crate::migration::{Hypervisor, OnTimeoutSpec};
use crate::units::{Bandwidth, Bytes, Duration, Watts};

pub use load::{Origin, ScenarioError, load_builtin, load_file, load_str};
pub use validate::notes;

/// The quickstart scenario, compiled in so that `migsim run` works with no file at all.
pub const QUICKSTART: &str = include_str!("../../scenarios/quickstart.toml");
pub const QUICKSTART_NAME: &str = "<built-in quickstart>";

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Results go to `output/<name>/` unless `--out` says otherwise.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Files merged under this one (resolved by the loader, kept here for the record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time span.
    pub horizon: Duration,
    #[serde(default, rename = "host_type")]
    pub host_types: Vec<HostTypeSpec>,
    pub hosts: Vec<HostGroupSpec>,
    pub vms: Vec<VmGroupSpec>,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub placement: PlacementSpec,
    #[serde(default)]
    pub policy: PolicySpec,
    #[serde(default)]
    pub compat: CompatSpec,
    #[serde(default)]
    pub migration: MigrationSpec,
    /// A utilisation trace that drives the VM groups whose CPU model is `trace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSpec>,
    /// Link failures: `[[fault]] link = "rack0/up", at = "2h", duration = "10min"`.
    #[serde(default, rename = "fault", skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Migrations to carry out at given times, whatever the policy decides.
    #[serde(default, rename = "migrate", skip_serializing_if = "Vec::is_empty")]
    pub migrate: Vec<MigrateSpec>,
    /// Maintenance windows: named hosts are drained before `at`, kept empty and off for
    /// `duration`, then switched back on, whatever the policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceSpec>,
    /// Host failures: `[[host_failure]] host = "r640-2", at = "6h", repair = "2h"`. The host's
    /// VMs restart elsewhere after `restart_delay`.
    #[serde(
        default,
        rename = "host_failure",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub host_failures: Vec<HostFailureSpec>,
    /// Random host failures: every host fails after exponentially distributed times with mean
    /// `mtbf`, seeded, on top of the `[[host_failure]]` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<ReliabilitySpec>,
    #[serde(default)]
    pub outputs: OutputsSpec,
    /// Constants fitted to measured migrations (`migsim calibrate`), per host type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// `planetlab` (a folder of per-VM files) or `csv` (`time,vm,cpu[,memory][,dirty_rate]`).
    #[serde(default = "planetlab")]
    pub format: String,
    /// Relative to the scenario file that sets it, or to the working directory for `--set`.
    pub path: String,
    /// PlanetLab: a CSV with columns `vm_id,file` giving the file that drives VM i (default:
    /// files in name order).
    #[serde(default)]
    pub order: Option<String>,
    /// How trace VMs drive the scenario's trace-driven VMs: `order` (the default: in order,
    /// group by group) or `name` (each VM replays the trace VM of its own name, as when an
    /// inventory meets a trace imported from the same cluster's monitoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    /// With `join = "name"`: trace VMs that drive no VM, left out on purpose (VMs the trace
    /// saw that no longer run). Any other trace VM that drives nothing is an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
}

impl TraceSpec {
    /// Whether VMs take the trace VM of their own name.
    pub fn joins_by_name(&self) -> bool {
        self.join.as_deref() == Some("name")
    }
}

fn planetlab() -> String {
    "planetlab".into()
}

/// A link that fails at `at` and, if `duration` is given, is repaired after it. Migrations whose
/// path crosses it fail; the VMs stay on their sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub link: String,
    pub at: Duration,
    #[serde(default)]
    pub duration: Option<Duration>,
}

/// A maintenance window: `[[maintenance]] hosts = ["r640-3"], at = "2h", duration = "1h"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    pub hosts: Vec<String>,
    /// When the window opens: the hosts should be empty and off by then.
    pub at: Duration,
    pub duration: Duration,
    /// How long before `at` draining starts (default 30 min, an operator's choice, not a
    /// measured figure).
    #[serde(default = "default_lead")]
    pub lead: Duration,
}

fn default_lead() -> Duration {
    Duration::secs(1800)
}

/// A host that fails at `at` and, with `repair`, comes back that much later.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostFailureSpec {
    pub host: String,
    pub at: Duration,
    #[serde(default)]
    pub repair: Option<Duration>,
    /// From the failure to the VMs running again elsewhere: detection plus a guest boot.
    /// Default 2 min, an assumption (HA detection takes seconds to tens of seconds and a
    /// Linux guest boots in tens of seconds); set it from the operator's own measurements.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
}

/// Failures drawn at random: `[reliability] mtbf = "8760h", repair = "4h"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilitySpec {
    /// Mean time between failures of one host. There is no default: field MTBFs vary by
    /// orders of magnitude with hardware and age, so the operator states theirs.
    pub mtbf: Duration,
    /// Time to repair; without it a failed host stays down for the rest of the run.
    #[serde(default)]
    pub repair: Option<Duration>,
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
}

fn default_restart_delay() -> Duration {
    Duration::secs(120)
}

/// One scheduled migration: `[[migrate]] vm = "web-3", to = "r640-5", at = "10h"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateSpec {
    pub vm: String,
    pub to: String,
    #[serde(default)]
    pub at: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostTypeSpec {
    pub name: String,
    pub cores: u32,
    /// MIPS of one core (≈ MHz; the unit CloudSim and Beloglazov & Buyya use).
    pub core_mips: f64,
    pub ram: Bytes,
    pub nic: Bandwidth,
    pub power: PowerSpec,
    #[serde(default)]
    pub states: StatesSpec,
    /// What this host's CPU lets a migration stream carry; defaults in
    /// `crate::migration::sender` (a current Xeon core, measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<HostMigrationSpec>,
}

/// The sending side of migrations from hosts of one type, per thread.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostMigrationSpec {
    /// Memory one migration thread reads per second looking for zero pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_rate: Option<Bandwidth>,
    /// Non-zero page bytes one migration thread puts into the stream per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_rate: Option<Bandwidth>,
}

/// Exactly one of: a named SPECpower preset, an 11-point table, or linear idle/max watts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Watts at 0 %, 10 %, …, 100 % CPU (SPECpower_ssj2008 load levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Watts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Watts>,
}

/// Overrides of the power-state defaults in [`crate::model::power::PowerStates::defaults_for`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatesSpec {
    pub off: Option<Watts>,
    pub sleep: Option<Watts>,
    pub boot: Option<Watts>,
    pub boot_time: Option<Duration>,
    pub shutdown: Option<Watts>,
    pub shutdown_time: Option<Duration>,
    pub sleep_time: Option<Duration>,
    pub wake_time: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialPower {
    #[default]
    On,
    Off,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostGroupSpec {
    #[serde(rename = "type")]
    pub host_type: String,
    pub count: u32,
    /// Name pattern; `{i}` is the index within the group, `{type}` the host type.
    #[serde(default)]
    pub name: Option<String>,
    /// Hosts that start off are booted when a VM placed on them starts.
    #[serde(default)]
    pub initial_state: InitialPower,
    /// Use `name` as it is, with no index added: for one host known by its real name (an
    /// inventory of a cluster). Needs `count = 1`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub literal_name: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VmGroupSpec {
    /// Name pattern; `{i}` is the index within the group.
    pub name: String,
    /// How many VMs. Trace-driven groups with 0 or no count share the trace VMs that counted
    /// groups leave: ceil(rest / k) each, in order, the last taking the remainder.
    #[serde(default)]
    pub count: u32,
    pub vcpus: u32,
    /// MIPS of one vCPU at 100 %.
    pub vcpu_mips: f64,
    pub ram: Bytes,
    pub cpu: CpuSpec,
    #[serde(default)]
    pub dirty: DirtySpec,
    /// Memory that is not zero pages (overrides `dirty.zero_fraction`).
    #[serde(default)]
    pub nonzero: Option<Bytes>,
    /// Non-shared disk, copied by a storage migration.
    #[serde(default)]
    pub disk: Option<Bytes>,
    /// Rate at which the VM writes its disk during a block copy.
    #[serde(default)]
    pub disk_write_rate: Option<Bandwidth>,
    /// How many times smaller zstd level 1 makes the VM's memory pages: 1.0 for random or
    /// encrypted data; default Silesia's 2.887 (see
    /// `crate::migration::encoding::DEFAULT_COMPRESSIBILITY`). Matters only under
    /// `migration.compression`.
    #[serde(default)]
    pub compressibility: Option<f64>,
    /// Bytes of a re-dirtied page that differ from its last sent copy: what XBZRLE sends of a
    /// page that hits its cache. Needed with `migration.xbzrle_cache`: it depends on the
    /// workload, and nothing general is published.
    #[serde(default)]
    pub page_delta: Option<Bytes>,
    /// The VM's own traffic to clients outside the data centre (a persistent flow).
    #[serde(default)]
    pub traffic: Option<Bandwidth>,
    /// The traffic is CPU-bound: it shrinks with the share of its CPU demand the VM gets, as a
    /// web server's throughput does when migration work takes CPU from it (Clark et al. §6.2).
    #[serde(default)]
    pub traffic_follows_cpu: bool,
    #[serde(default)]
    pub start: Option<Duration>,
    #[serde(default)]
    pub lifetime: Option<Duration>,
    /// The host the group's VMs run on at the start, whatever `[placement] initial` says: how
    /// an inventory of a real cluster (`migsim inventory`) keeps each VM where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Use `name` as it is, with no index added (one VM known by its real name). Needs
    /// `count = 1`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub literal_name: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuModelKind {
    Constant,
    Diurnal,
    /// Replayed from the scenario's `[trace]`, one trace VM per VM, in order.
    Trace,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    pub model: CpuModelKind,
    /// Utilisation for `constant`.
    #[serde(default)]
    pub util: Option<f64>,
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default)]
    pub amplitude: Option<f64>,
    /// Time of day of the diurnal peak.
    #[serde(default)]
    pub peak: Option<Duration>,
    #[serde(default)]
    pub period: Option<Duration>,
    /// Standard deviation of Gaussian noise added at every workload step.
    #[serde(default)]
    pub noise: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirtyKind {
    /// Distinct pages at `rate` up to the writable working set `wws` (Clark et al. 2005 §4).
    #[default]
    Wws,
    /// Uniformly random page writes at `rate` over the VM's RAM (or `wws`).
    Uniform,
    /// `hot_share` of the writes on `hot` bytes, the rest spread over the RAM.
    HotCold,
    /// A per-second series of distinct-page rates, `trace`, saturating at `wws`.
    Trace,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirtySpec {
    #[serde(default)]
    pub model: DirtyKind,
    /// Write rate (distinct pages for `wws`; all writes for `uniform` and `hot-cold`).
    #[serde(default)]
    pub rate: Option<Bandwidth>,
    /// Writable working set (`wws`, `trace`) or the span written (`uniform`); defaults to RAM.
    #[serde(default)]
    pub wws: Option<Bytes>,
    #[serde(default)]
    pub hot: Option<Bytes>,
    #[serde(default)]
    pub hot_share: Option<f64>,
    /// Per-second distinct-page rates for `trace`.
    #[serde(default)]
    pub trace: Option<Vec<Bandwidth>>,
    #[serde(default)]
    pub zero_fraction: f64,
    /// Scale the rate with the CPU the VM gets (SimGrid's coupling).
    #[serde(default)]
    pub cpu_coupled: bool,
    /// Share of its vCPU the writer needs; a CPU throttle cuts the rate only below it.
    #[serde(default = "one")]
    pub writer_cpu_share: f64,
}

impl Default for DirtySpec {
    fn default() -> Self {
        DirtySpec {
            model: DirtyKind::Wws,
            rate: None,
            wws: None,
            hot: None,
            hot_share: None,
            trace: None,
            zero_fraction: 0.0,
            cpu_coupled: false,
            writer_cpu_share: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TopologySpecKind {
    #[default]
    Star,
    Tree,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default)]
    pub topology: TopologySpecKind,
    /// Hosts per rack (tree).
    #[serde(default = "default_rack_size")]
    pub rack_size: u32,
    /// Capacity of each rack's uplink to the core, each direction (tree).
    #[serde(default)]
    pub uplink: Option<Bandwidth>,
    #[serde(default)]
    pub host_latency: Duration,
    #[serde(default)]
    pub uplink_latency: Duration,
    #[serde(default)]
    pub background: Vec<BackgroundSpec>,
}

fn default_rack_size() -> u32 {
    // A 42U rack of 1U servers with switch and patch panels holds about 40; 16 is a common
    // half-populated, power-limited rack. Only a default for scenarios that do not say.
    16
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            topology: TopologySpecKind::Star,
            rack_size: default_rack_size(),
            uplink: None,
            host_latency: Duration::default(),
            uplink_latency: Duration::default(),
            background: Vec::new(),
        }
    }
}

/// Persistent load on one named link (`"rack0/up"`, `"web-host-3/tx"`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundSpec {
    pub link: String,
    pub rate: Bandwidth,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// How often CPU demand is re-evaluated.
    #[serde(default = "default_step")]
    pub step: Duration,
    /// Multiplies every VM's CPU demand (a what-if: "load grows by half" is 1.5). A VM still
    /// cannot ask for more than its vCPUs.
    #[serde(default = "one")]
    pub cpu_scale: f64,
    /// A load peak: every VM's demand times `factor` from `at` for `length` (a what-if, and the
    /// scale benchmark's stress: thousands of migrations at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<PeakSpec>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeakSpec {
    pub at: Duration,
    pub length: Duration,
    pub factor: f64,
}

fn default_step() -> Duration {
    // Five minutes: the sampling interval of the PlanetLab/CoMon traces and of Beloglazov &
    // Buyya's experiments (CloudSim `Constants.SCHEDULING_INTERVAL = 300`).
    Duration::secs(300)
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            step: default_step(),
            cpu_scale: one(),
            peak: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialPlacement {
    /// First host in id order with room (CloudSim `PowerVmAllocationPolicySimple`).
    #[default]
    FirstFit,
    /// VM i on host i mod n, skipping hosts without room.
    RoundRobin,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementSpec {
    #[serde(default)]
    pub initial: InitialPlacement,
    /// Σ vCPU MIPS allowed per host relative to its capacity (1.0 = no CPU overcommit).
    #[serde(default = "one")]
    pub cpu_overcommit: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for PlacementSpec {
    fn default() -> Self {
        PlacementSpec {
            initial: InitialPlacement::FirstFit,
            cpu_overcommit: 1.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PolicySpec {
    /// A registry name (`migsim run --help` lists them): `none` (static placement, the
    /// baseline); with `[compat] cloudsim`, one of CloudSim's experiments (`npa`, `dvfs`,
    /// `thr-mmt-0.8`, `iqr-mu-1.5`, …).
    #[serde(default = "none_policy")]
    pub name: String,
    /// How often the policy looks at the cluster.
    #[serde(default = "default_step")]
    pub interval: Duration,
    /// The policy's own parameters (`threshold`, `samples`, `office_start`, …): each policy
    /// reads, range-checks and uses up its own (`crate::policy::registry`), so an unknown key
    /// is reported by the policy that does not take it.
    #[serde(flatten)]
    pub params: std::collections::BTreeMap<String, toml::Value>,
}

impl Default for PolicySpec {
    fn default() -> Self {
        PolicySpec {
            name: none_policy(),
            interval: default_step(),
            params: std::collections::BTreeMap::new(),
        }
    }
}

fn none_policy() -> String {
    "none".into()
}

/// Compatibility modes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompatSpec {
    /// Reproduce CloudSim 3.0.3's power-aware PlanetLab experiments rule for rule
    /// (`crate::compat::cloudsim`): its hosts, VM types, timing, migration cost and metrics.
    /// The same as `mode = "cloudsim-3.0.3"`.
    #[serde(default)]
    pub cloudsim: bool,
    /// Which simulator to reproduce: `cloudsim-3.0.3` (the released CloudSim), or
    /// `ccpe2012` (the simulator of Beloglazov & Buyya's paper: see
    /// `crate::compat::cloudsim::Era`). Takes precedence over `cloudsim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CompatMode>,
}

/// A compatibility mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum CompatMode {
    #[serde(rename = "cloudsim-3.0.3")]
    Cloudsim303,
    #[serde(rename = "ccpe2012")]
    Ccpe2012,
}

impl CompatSpec {
    /// The CloudSim mode the scenario asks for, if any.
    pub fn cloudsim_mode(&self) -> Option<CompatMode> {
        self.mode
            .or(self.cloudsim.then_some(CompatMode::Cloudsim303))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    #[serde(default)]
    pub hypervisor: Hypervisor,
    /// QEMU `max-bandwidth`; default 128 MiB/s (`MAX_THROTTLE (128<<20)`, migration/options.c).
    /// "0B/s" means unlimited, as in QEMU.
    #[serde(default = "default_max_bandwidth")]
    pub max_bandwidth: Bandwidth,
    /// QEMU `downtime-limit`; default 300 ms (`DEFAULT_MIGRATE_SET_DOWNTIME`, migration/options.c).
    #[serde(default = "default_downtime_limit")]
    pub downtime_limit: Duration,
    /// QEMU's auto-converge capability (off by default, migration/options.c).
    #[serde(default)]
    pub auto_converge: bool,
    /// QEMU's dirty-limit capability (8.1+, off by default): where auto-converge would slow
    /// the vCPUs, limit each vCPU's dirty-page rate to `vcpu_dirty_limit` instead. QEMU needs
    /// KVM's dirty ring for it.
    #[serde(default)]
    pub dirty_limit: bool,
    /// The per-vCPU dirty-page rate dirty-limit imposes: QEMU's default 1 MB/s
    /// (`DEFAULT_MIGRATE_VCPU_DIRTY_LIMIT`, migration/options.c).
    #[serde(default = "default_vcpu_dirty_limit")]
    pub vcpu_dirty_limit: Bandwidth,
    /// Give up, or escalate, after this long (libvirt `--timeout`).
    #[serde(default)]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub on_timeout: OnTimeoutSpec,
    /// The downtime limit `raise-limit` sets.
    #[serde(default = "default_raised_limit")]
    pub raised_downtime_limit: Duration,
    /// Pause after the last page: device state, commitment and resume on the destination.
    /// Default per hypervisor: see `crate::migration::Hypervisor::default_resume_time`.
    #[serde(default)]
    pub resume_time: Option<Duration>,
    /// The fastest the migration tool itself can send, whatever the link and rate limit allow
    /// (a CPU-bound sender); none by default.
    #[serde(default)]
    pub stream_limit: Option<Bandwidth>,
    /// Time from asking the guest to stop to the start of the final copy. Default per
    /// hypervisor: see `crate::migration::Hypervisor::default_suspend_time`.
    #[serde(default)]
    pub suspend_time: Option<Duration>,
    /// CPU the migration costs the source host, in cores per 100 Mbit/s sent. Clark et al.
    /// (§6.2) measured about 12 % of a CPU for a 100 Mbit/s pre-copy round.
    #[serde(default = "default_cpu_cost")]
    pub cpu_per_100mbit: f64,
    /// Concurrent migrations per host; vCenter allows 8 vMotions per host by default (VMware
    /// performance blog, "vCenter limits for concurrent vMotion", 2021).
    #[serde(default = "default_per_host")]
    pub max_concurrent_per_host: u32,
    /// QEMU multifd channels; 0 (the default) leaves the `multifd` capability off, as QEMU
    /// does, and one migration thread scans and sends. With N channels, N threads share that
    /// work, at most one per core of the source host.
    #[serde(default)]
    pub multifd_channels: u32,
    /// Multifd compression: `none` (QEMU's default), `zstd[:LEVEL]` or `zlib[:LEVEL]`; needs
    /// `multifd_channels`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// The XBZRLE capability with this cache size (`xbzrle-cache-size`, QEMU's default 64
    /// MiB); off when absent. QEMU does not use XBZRLE on multifd channels.
    #[serde(default)]
    pub xbzrle_cache: Option<Bytes>,
    /// α of Liu et al.'s migration energy model E = α·V + β, in joules per MB (2^20 bytes)
    /// moved: 0.512 J/MB fitted on their Xen testbed ("Performance and energy modeling for live
    /// migration of virtual machines", HPDC 2011). Reported in `migration_energy_kwh`.
    #[serde(default = "default_energy_per_mb")]
    pub energy_j_per_mb: f64,
    /// β of the same model, joules per migration: 20.165 J (Liu et al., HPDC 2011).
    #[serde(default = "default_energy_fixed")]
    pub energy_j_fixed: f64,
}

fn default_raised_limit() -> Duration {
    // The value the measured QEMU runs raised the limit to when they did not converge
    // (../shared/validation/qemu, on_timeout = raise-dl).
    Duration::secs(5)
}

fn default_cpu_cost() -> f64 {
    0.12
}

fn default_max_bandwidth() -> Bandwidth {
    Bandwidth::mib_per_sec(128.0)
}

fn default_downtime_limit() -> Duration {
    Duration::millis(300)
}

fn default_per_host() -> u32 {
    8
}

impl Default for MigrationSpec {
    fn default() -> Self {
        MigrationSpec {
            hypervisor: Hypervisor::Qemu,
            max_bandwidth: default_max_bandwidth(),
            downtime_limit: default_downtime_limit(),
            auto_converge: false,
            dirty_limit: false,
            vcpu_dirty_limit: default_vcpu_dirty_limit(),
            timeout: None,
            on_timeout: OnTimeoutSpec::Cancel,
            raised_downtime_limit: default_raised_limit(),
            resume_time: None,
            stream_limit: None,
            suspend_time: None,
            cpu_per_100mbit: default_cpu_cost(),
            max_concurrent_per_host: default_per_host(),
            multifd_channels: 0,
            compression: default_compression(),
            xbzrle_cache: None,
            energy_j_per_mb: default_energy_per_mb(),
            energy_j_fixed: default_energy_fixed(),
        }
    }
}

fn default_vcpu_dirty_limit() -> Bandwidth {
    Bandwidth::bytes_per_sec(1e6)
}

fn default_compression() -> String {
    "none".into()
}

fn default_energy_per_mb() -> f64 {
    0.512
}

fn default_energy_fixed() -> f64 {
    20.165
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSpec {
    /// Interval of the rows in `hosts.csv` and `timeline.csv`.
    #[serde(default = "default_step")]
    pub sample_interval: Duration,
    #[serde(default = "yes")]
    pub hosts_csv: bool,
    /// Write `events.jsonl`, one line per simulation event (a debug trace).
    #[serde(default)]
    pub events: bool,
    /// Sample each VM's own traffic this often into `traffic.csv` (off when absent).
    #[serde(default)]
    pub traffic_interval: Option<Duration>,
}

fn yes() -> bool {
    true
}

impl Default for OutputsSpec {
    fn default() -> Self {
        OutputsSpec {
            sample_interval: default_step(),
            hosts_csv: true,
            events: false,
            traffic_interval: None,
        }
    }
}
