//! The scenario file: what a capacity planner writes to describe a data centre and a question.
//!
//! The schema is strict (`deny_unknown_fields` everywhere): a misspelt key is an error, never a
//! silently ignored default. Quantities carry their units (`"800MiB"`, `"1Gbit/s"`, `"5min"`).
//! Loading (includes, `--set` overrides, errors with file, line and field) lives in [`load`];
//! semantic checks that need more than one field live in [`validate`].

pub mod load;
pub mod validate;

use serde::{Deserialize, Serialize};

use crate::units::{Bandwidth, Bytes, Duration, Watts};

pub use load::{Origin, ScenarioError, load_builtin, load_file, load_str};

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
    pub migration: MigrationSpec,
    #[serde(default)]
    pub outputs: OutputsSpec,
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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VmGroupSpec {
    /// Name pattern; `{i}` is the index within the group.
    pub name: String,
    pub count: u32,
    pub vcpus: u32,
    /// MIPS of one vCPU at 100 %.
    pub vcpu_mips: f64,
    pub ram: Bytes,
    pub cpu: CpuSpec,
    #[serde(default)]
    pub dirty: DirtySpec,
    /// The VM's own traffic to clients outside the data centre (a persistent flow).
    #[serde(default)]
    pub traffic: Option<Bandwidth>,
    #[serde(default)]
    pub start: Option<Duration>,
    #[serde(default)]
    pub lifetime: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuModelKind {
    Constant,
    Diurnal,
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirtySpec {
    /// Unique-page dirtying rate.
    #[serde(default)]
    pub rate: Option<Bandwidth>,
    /// Writable working set; defaults to the VM's RAM.
    #[serde(default)]
    pub wws: Option<Bytes>,
    #[serde(default)]
    pub zero_fraction: f64,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// Static placement: the baseline every other policy is compared with.
    #[default]
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub name: PolicyName,
    /// How often the policy looks at the cluster.
    #[serde(default = "default_step")]
    pub interval: Duration,
}

impl Default for PolicySpec {
    fn default() -> Self {
        PolicySpec {
            name: PolicyName::None,
            interval: default_step(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hypervisor {
    /// Xen 3.x `xc_linux_save`, the algorithm of Clark et al. 2005.
    Xen,
    /// Xen 4.x migration v2 (`xg_sr_save.c`).
    Xen4,
    /// QEMU 10 pre-copy.
    #[default]
    Qemu,
    /// Post-copy (Hines & Gopalan 2009).
    Postcopy,
    /// Suspend, copy, resume.
    Cold,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    #[serde(default)]
    pub hypervisor: Hypervisor,
    /// QEMU `max-bandwidth`; default 128 MiB/s (`MAX_THROTTLE (128<<20)`, migration/options.c).
    #[serde(default = "default_max_bandwidth")]
    pub max_bandwidth: Bandwidth,
    /// QEMU `downtime-limit`; default 300 ms (`DEFAULT_MIGRATE_SET_DOWNTIME`, migration/options.c).
    #[serde(default = "default_downtime_limit")]
    pub downtime_limit: Duration,
    /// Concurrent migrations per host; vCenter allows 8 vMotions per host by default (VMware
    /// performance blog, "vCenter limits for concurrent vMotion", 2021).
    #[serde(default = "default_per_host")]
    pub max_concurrent_per_host: u32,
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
            max_concurrent_per_host: default_per_host(),
        }
    }
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
        }
    }
}
