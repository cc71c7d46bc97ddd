//! Live migration: the stages of Clark et al. (NSDI 2005 §3) and the pre-copy algorithms of real
//! hypervisors.
//!
//! A migration goes through stage 0 (pre-migration), 1 (reservation: room on the destination is
//! claimed first, or the migration fails and the VM stays), 2 (iterative pre-copy), 3
//! (stop-and-copy, the downtime), 4 (commitment) and 5 (activation on the destination).
//!
//! Each algorithm is a small state machine behind [`Algorithm`]. It decides what to send next
//! ([`Action`]). The simulation carries that out as a flow on the source→destination path,
//! sharing links with everything else, and reports back what was sent, in how long, and how
//! much the VM wrote meanwhile ([`Progress`]). The algorithms know nothing about the network.
//! They see only what their real counterparts see: bytes sent, time taken, pages found dirty.
//!
//! The sending side's CPU ([`sender`]) bounds QEMU's streams as a cap beside `max-bandwidth`.
//! What the models leave out: compression and XBZRLE, the receiver's CPU, the time of a bitmap
//! sync, the dirty-limit capability, page placement cost on the destination, TCP slow start,
//! and memory ballooning (ARCHITECTURE.md lists them with the evidence). Zero pages are
//! assumed to be spread evenly through memory. Overlap between the pages still to send and the
//! pages newly dirtied assumes that both are spread evenly over the dirtied region.

pub mod encoding;
pub mod postcopy;
pub mod qemu;
pub mod sender;
pub mod xen;

pub use sender::{Bound, Sender};

use serde::Serialize;

use crate::engine::SimTime;
use crate::model::dirty::DirtyModel;
use crate::units::{Bandwidth, Volume};

/// The migration algorithms, by the hypervisor whose code each one follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
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
    /// Non-shared disk copied first (block migration), then QEMU pre-copy of memory.
    Storage,
}

impl Hypervisor {
    /// The name scenario files and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Hypervisor::Xen => "xen",
            Hypervisor::Xen4 => "xen4",
            Hypervisor::Qemu => "qemu",
            Hypervisor::Postcopy => "postcopy",
            Hypervisor::Cold => "cold",
            Hypervisor::Storage => "storage",
        }
    }

    /// The pause after the last byte when a scenario does not set one.
    /// - QEMU: 5 ms. The measured QEMU 10.0.2 runs whose final copy was under 1 MiB paused 3–7 ms
    ///   (../shared/validation/qemu, `m256-high-bw128-dl30*`, `m256-low-bw32-dl30`).
    /// - Xen: 9 ms, the restart time of the SPECweb99 VM in Clark et al. §6.2 (201 ms copy +
    ///   9 ms restart = 210 ms).
    /// - Post-copy: 13 ms, the STOP→RESUME gap of the measured QEMU post-copy switch.
    pub fn default_resume_time(self) -> SimTime {
        match self {
            Hypervisor::Qemu | Hypervisor::Storage | Hypervisor::Cold => SimTime::from_millis(5),
            Hypervisor::Xen | Hypervisor::Xen4 => SimTime::from_millis(9),
            Hypervisor::Postcopy => SimTime::from_millis(13),
        }
    }

    /// Time from asking the guest to stop to the final copy's first byte, when a scenario does not
    /// set it.
    /// - Xen: 10 ms. `suspend_and_state` in xc_linux_save.c polls the domain and sleeps 10 ms
    ///   (`usleep(10000)`) between polls until the guest has suspended itself.
    /// - Others: 0; QEMU stops the vCPUs itself (`vm_stop`) and its measured downtime starts there.
    pub fn default_suspend_time(self) -> SimTime {
        match self {
            Hypervisor::Xen | Hypervisor::Xen4 => SimTime::from_millis(10),
            _ => SimTime::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnTimeoutSpec {
    /// Cancel: the VM keeps running on its source.
    #[default]
    Cancel,
    /// Raise the downtime limit to `raised_downtime_limit`.
    RaiseLimit,
    /// Switch to post-copy.
    Postcopy,
}

/// The stages of a migration (Clark et al. 2005, §3, Fig. 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    PreMigration = 0,
    Reservation = 1,
    IterativePrecopy = 2,
    StopAndCopy = 3,
    Commitment = 4,
    Activation = 5,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::PreMigration,
        Stage::Reservation,
        Stage::IterativePrecopy,
        Stage::StopAndCopy,
        Stage::Commitment,
        Stage::Activation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PreMigration => "pre_migration",
            Stage::Reservation => "reservation",
            Stage::IterativePrecopy => "iterative_precopy",
            Stage::StopAndCopy => "stop_and_copy",
            Stage::Commitment => "commitment",
            Stage::Activation => "activation",
        }
    }
}

impl Stage {
    /// The key reports use: the stage number and name (`3_stop_and_copy`), so that keys sort
    /// in stage order.
    pub fn key(self) -> String {
        format!("{}_{}", self as u8, self.as_str())
    }
}

/// When each of a migration's stages began, seconds since the start of the run; a stage it
/// never reached has none. Written as an object keyed by [`Stage::key`], in stage order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes([Option<f64>; 6]);

impl StageTimes {
    pub fn get(&self, stage: Stage) -> Option<f64> {
        self.0[stage as usize]
    }

    pub fn set(&mut self, stage: Stage, t: f64) {
        self.0[stage as usize] = Some(t);
    }
}

impl Serialize for StageTimes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.iter().flatten().count()))?;
        for st in Stage::ALL {
            if let Some(t) = self.get(st) {
                m.serialize_entry(&st.key(), &t)?;
            }
        }
        m.end()
    }
}

/// How a migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The VM runs on the destination.
    Completed,
    /// Stopped on purpose (a timeout policy); the VM keeps running on its source.
    Cancelled,
    /// Could not be done (no room on the destination, a link or host failed); the VM keeps
    /// running on its source.
    Failed,
    /// Still under way when the run ended.
    Unfinished,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// What to do when a migration has not finished after its timeout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnTimeout {
    /// `migrate_cancel`: the VM stays on the source, nothing is lost.
    Cancel,
    /// Raise the downtime limit to the given value (libvirt's and the measured runs' approach).
    RaiseLimit(SimTime),
    /// `migrate-start-postcopy`: switch to post-copy at the next iteration.
    Postcopy,
}

/// One pre-copy round: for QEMU the span between two dirty-bitmap syncs, for Xen one pass over
/// the pages to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// Seconds since the start of the run.
    pub start: f64,
    /// Seconds.
    pub duration: f64,
    /// Put on the wire during the round.
    pub bytes: Volume,
    /// Distinct memory the VM dirtied during the round.
    pub dirtied: Volume,
}

/// The record of one migration: `migrations.csv` has one row of it, `migsim migrate --json`
/// prints it whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationRecord {
    pub vm: String,
    pub source: String,
    pub destination: String,
    pub hypervisor: String,
    pub outcome: Outcome,
    /// Why it failed or was cancelled; empty when completed.
    pub reason: String,
    /// When the migration was asked for (stage 0), seconds since the start of the run.
    pub start_s: f64,
    /// From the request to activation on the destination (or to the end of the post-copy push).
    pub total_time_s: f64,
    /// From pausing the guest to resuming it; 0 if it never paused.
    pub downtime_ms: f64,
    pub transferred_bytes: f64,
    /// Rounds: QEMU's dirty-sync-count, Xen's iterations (the stop-and-copy included).
    pub rounds: u32,
    /// When each stage began, seconds since the start of the run.
    pub stages: StageTimes,
    /// The deepest auto-converge throttle applied, 0–1.
    pub max_throttle: f64,
    /// Post-copy: how long the guest ran on the destination while pages were still remote.
    pub degradation_s: f64,
    /// What most of its bytes ran at the rate of: the network, the sender's CPU, or a cap.
    pub bound_by: Bound,
    pub per_round: Vec<Round>,
}

/// Everything an algorithm needs to know about the VM being moved.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Memory as the hypervisor counts it (QEMU's RAM total includes ROM blocks).
    pub memory: Volume,
    /// Memory that is not zero pages.
    pub nonzero: Volume,
    pub dirty: DirtyModel,
    /// How many times smaller zstd level 1 makes its normal pages.
    pub compressibility: f64,
    /// Bytes of a re-dirtied page that changed since it was sent (XBZRLE).
    pub page_delta: f64,
}

impl Guest {
    /// A guest of `memory`, `nonzero` of it not zero pages, dirtied as `dirty`; its content
    /// as compressible as the default and no XBZRLE delta.
    pub fn new(memory: Volume, nonzero: Volume, dirty: DirtyModel) -> Guest {
        Guest {
            memory,
            nonzero,
            dirty,
            compressibility: encoding::DEFAULT_COMPRESSIBILITY,
            page_delta: 0.0,
        }
    }

    pub fn pages(&self) -> f64 {
        self.memory.in_pages().ceil()
    }
    pub fn zero_pages(&self) -> f64 {
        (self.memory - self.nonzero)
            .max(Volume::ZERO)
            .in_pages()
            .round()
    }
}

/// Parameters of one migration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hypervisor: Hypervisor,
    /// QEMU `max-bandwidth`; `None` is unlimited (0 in QEMU).
    pub max_bandwidth: Option<Bandwidth>,
    /// QEMU `downtime-limit`.
    pub downtime_limit: SimTime,
    pub auto_converge: bool,
    /// QEMU's dirty-limit capability: when auto-converge would throttle, cap the guest's
    /// dirty-page rate at this instead (every vCPU at `vcpu-dirty-limit`).
    pub dirty_limit: Option<Bandwidth>,
    pub timeout: Option<SimTime>,
    pub on_timeout: OnTimeout,
    /// Time the VM stays paused after its last page is sent: device state, commitment, resume.
    pub resume_time: SimTime,
    /// Time between asking the guest to stop and the start of the final copy.
    pub suspend_time: SimTime,
    /// The sending threads' CPU ceiling (QEMU); `None` models none (a link-bound testbed).
    pub sender: Option<Sender>,
    /// Non-shared disk to copy before memory (storage migration).
    pub disk: Volume,
    /// Disk write rate during the block copy.
    pub disk_dirty_rate: Bandwidth,
    /// Multifd compression (QEMU).
    pub compression: Option<encoding::Compression>,
    /// XBZRLE's cache size, when the capability is on (QEMU, without multifd).
    pub xbzrle_cache: Option<Volume>,
}

/// What the algorithm asks the network to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send up to `bytes`, at no more than `cap`, while the VM runs (`paused == false`) or
    /// during the downtime. Report back when the bytes are sent, or at `check_at` if that comes
    /// first (QEMU re-examines its state at the end of each rate-limit window).
    Send {
        bytes: Volume,
        cap: Option<Bandwidth>,
        check_at: Option<SimTime>,
        phase: Phase,
        /// What `cap` is: the sender's CPU ceiling or a configured limit.
        bound: Bound,
    },
    /// The last byte is sent; the VM resumes on the destination after `resume` more time.
    Finish { resume: SimTime },
}

/// Which part of the migration a transfer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Non-shared disk blocks (storage migration), VM running.
    Disk,
    /// Iterative pre-copy, VM running on the source.
    Precopy,
    /// The final copy, VM paused.
    StopAndCopy,
    /// Post-copy: the VM runs on the destination, the rest of its memory follows.
    Postcopy,
}

/// What happened since the last action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub now: SimTime,
    /// Sent since the action started.
    pub sent: Volume,
    /// Time since the action started.
    pub elapsed: SimTime,
    /// What the VM wrote meanwhile (see [`DirtyModel::writes`]).
    pub writes: Volume,
    /// Whether all the action's bytes are sent (otherwise a check time was reached).
    pub drained: bool,
}

/// A migration algorithm: a hypervisor's pre-copy loop, post-copy, or cold migration.
pub trait Algorithm {
    /// The first action, at the start of stage 2.
    fn start(&mut self, now: SimTime) -> Action;
    /// The next action after a report.
    fn progress(&mut self, p: &Progress) -> Action;
    /// The timeout expired while the guest still runs on the source. `p` is the partial progress
    /// of the transfer under way, which the simulation has stopped. Returns what to do now under
    /// policy `how`, or `None` to cancel: the guest keeps running on the source.
    fn timeout(&mut self, p: &Progress, how: OnTimeout) -> Option<Action>;
    /// Rounds so far.
    fn rounds(&self) -> &[Round];
    /// A throttle (auto-converge) the hypervisor imposes on the guest's vCPUs now, 0–1.
    fn throttle(&self) -> f64 {
        0.0
    }
    /// A limit on the guest's dirty-page rate the hypervisor imposes now (QEMU's
    /// dirty-limit), if any.
    fn dirty_cap(&self) -> Option<Bandwidth> {
        None
    }
    /// Dirty-bitmap syncs (QEMU's `dirty-sync-count`), or rounds for others.
    fn syncs(&self) -> u32 {
        self.rounds().len() as u32
    }
}

/// Builds the algorithm for `s.hypervisor`.
pub fn algorithm(guest: Guest, s: &Settings, link: Bandwidth) -> Box<dyn Algorithm> {
    match s.hypervisor {
        Hypervisor::Xen => Box::new(xen::Xen3::new(guest, s, link)),
        Hypervisor::Xen4 => Box::new(xen::Xen4::new(guest, s)),
        Hypervisor::Qemu => Box::new(qemu::Qemu::new(guest, s)),
        Hypervisor::Storage => {
            Box::new(qemu::Qemu::new(guest, s).with_disk(s.disk, s.disk_dirty_rate))
        }
        Hypervisor::Postcopy => Box::new(postcopy::Postcopy::new(guest, s)),
        Hypervisor::Cold => Box::new(postcopy::Cold::new(guest, s)),
    }
}

/// Expected overlap between `pending` bytes still to send and `new` bytes freshly dirtied, when
/// both lie in a region of `region` bytes: pages dirtied again do not count twice.
pub fn overlap(pending: f64, new: f64, region: f64) -> f64 {
    if region <= 0.0 {
        return 0.0;
    }
    (pending * new / region).min(pending).min(new)
}

/// One migration on a link of fixed speed, without the network model or a simulation: the
/// algorithm's own answer, at hundreds of thousands of predictions per second. For tests of
/// the algorithms, for quick what-ifs, and for the prediction benchmark.
pub mod fixed_link {
    use super::*;

    /// What a migration did on the fixed link.
    #[derive(Debug)]
    pub struct Run {
        pub total_s: f64,
        pub downtime_ms: f64,
        pub bytes: Volume,
        pub cancelled: bool,
        pub syncs: u32,
        pub rounds: Vec<Round>,
        pub max_throttle: f64,
        /// The algorithm asked for a million actions without ending: the run stopped there.
        pub gave_up: bool,
    }

    /// Runs `alg` on a link of `link` until it finishes, or is cancelled by a timeout. The guest
    /// writes as `guest.dirty` says, at full speed or under the algorithm's throttle.
    pub fn drive(
        mut alg: Box<dyn Algorithm>,
        guest: &Guest,
        link: Bandwidth,
        timeout: Option<(SimTime, OnTimeout)>,
    ) -> Run {
        let mut t = SimTime::ZERO;
        let mut paused: Option<SimTime> = None;
        let mut resumed: Option<SimTime> = None;
        let mut bytes = Volume::ZERO;
        let mut max_throttle = 0.0f64;
        let mut timeout = timeout;
        let mut action = alg.start(t);
        for _ in 0..1_000_000 {
            match action {
                Action::Send {
                    bytes: b,
                    cap,
                    check_at,
                    phase,
                    ..
                } => {
                    if phase == Phase::StopAndCopy && paused.is_none() {
                        paused = Some(t);
                    }
                    if phase == Phase::Postcopy && resumed.is_none() {
                        resumed = Some(t);
                    }
                    let rate = cap.unwrap_or(Bandwidth::UNLIMITED).min(link);
                    let mut end = t + b.time_at(rate);
                    let mut drained = true;
                    if let Some(c) = check_at
                        && c < end
                    {
                        end = c;
                        drained = false;
                    }
                    let mut timed_out = None;
                    if let Some((at, how)) = timeout
                        && paused.is_none()
                        && at < end
                    {
                        end = at;
                        drained = false;
                        timed_out = Some(how);
                    }
                    let sent = (rate * (end - t)).min(b);
                    bytes += sent;
                    max_throttle = max_throttle.max(alg.throttle());
                    let writes = if phase == Phase::Precopy || phase == Phase::Disk {
                        guest.dirty.writes(t, end, {
                            let f = guest.dirty.throttle_factor(alg.throttle());
                            guest.dirty.capped(t, f, alg.dirty_cap())
                        })
                    } else {
                        Volume::ZERO
                    };
                    let p = Progress {
                        now: end,
                        sent,
                        elapsed: end - t,
                        writes,
                        drained,
                    };
                    t = end;
                    action = match timed_out {
                        Some(how) => {
                            timeout = None;
                            match alg.timeout(&p, how) {
                                Some(a) => a,
                                None => {
                                    let end = Ending::Cancelled { gave_up: false };
                                    return run_of(alg.as_ref(), t, end, bytes, max_throttle);
                                }
                            }
                        }
                        None => alg.progress(&p),
                    };
                }
                Action::Finish { resume } => {
                    let end = t + resume;
                    let back = resumed.unwrap_or(end);
                    let downtime_ms = paused.map(|p| (back - p).as_millis_f64()).unwrap_or(0.0);
                    let ending = Ending::Completed { downtime_ms };
                    return run_of(alg.as_ref(), end, ending, bytes, max_throttle);
                }
            }
        }
        let end = Ending::Cancelled { gave_up: true };
        run_of(alg.as_ref(), t, end, bytes, max_throttle)
    }

    /// How a run on the fixed link ended.
    enum Ending {
        Completed { downtime_ms: f64 },
        Cancelled { gave_up: bool },
    }

    fn run_of(
        alg: &dyn Algorithm,
        t: SimTime,
        end: Ending,
        bytes: Volume,
        max_throttle: f64,
    ) -> Run {
        let (downtime_ms, cancelled, gave_up) = match end {
            Ending::Completed { downtime_ms } => (downtime_ms, false, false),
            Ending::Cancelled { gave_up } => (0.0, true, gave_up),
        };
        Run {
            total_s: t.as_secs_f64(),
            downtime_ms,
            bytes,
            cancelled,
            syncs: alg.syncs(),
            rounds: alg.rounds().to_vec(),
            max_throttle,
            gave_up,
        }
    }

    #[cfg(test)]
    pub fn settings(h: Hypervisor) -> Settings {
        Settings {
            hypervisor: h,
            max_bandwidth: Some(Bandwidth::mib_per_sec(128.0)),
            downtime_limit: SimTime::from_millis(300),
            auto_converge: false,
            dirty_limit: None,
            timeout: None,
            on_timeout: OnTimeout::Cancel,
            resume_time: SimTime::from_millis(5),
            suspend_time: SimTime::ZERO,
            sender: None,
            disk: Volume::ZERO,
            disk_dirty_rate: Bandwidth::ZERO,
            compression: None,
            xbzrle_cache: None,
        }
    }

    #[cfg(test)]
    pub fn guest(mem_mib: f64, rate_mib_s: f64, wws_mib: f64) -> Guest {
        Guest::new(
            Volume::mib(mem_mib),
            Volume::mib(mem_mib),
            DirtyModel::wws(Bandwidth::mib_per_sec(rate_mib_s), Volume::mib(wws_mib)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_times_are_written_in_stage_order_without_the_stages_not_reached() {
        let mut t = StageTimes::default();
        t.set(Stage::StopAndCopy, 12.5);
        t.set(Stage::PreMigration, 1.0);
        assert_eq!(t.get(Stage::StopAndCopy), Some(12.5));
        assert_eq!(t.get(Stage::Activation), None);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"0_pre_migration":1.0,"3_stop_and_copy":12.5}"#
        );
    }
}
