//! One migration under way: its algorithm, the transfer it is carrying out, and where its guest
//! is in Clark et al.'s stages.
//!
//! The migration decides on its own state and says what it needs from the rest of the
//! simulation as an [`Effect`]: the guest to pause, to resume on the destination, a flow to
//! start, an event to wait for. [`super::migrations`] carries the effects out on the hosts, the
//! VMs, the network and the event queue, so a migration never reaches into the world and the
//! world never edits a migration's fields behind its back.

use crate::engine::SimTime;
use crate::migration::{Action, Algorithm, Bound, Phase, Progress};
use crate::model::host::HostId;
use crate::model::network::FlowId;
use crate::model::vm::VmId;
use crate::units::{Bandwidth, Volume};

pub(super) struct Active {
    /// Its row in the migration records.
    pub record: usize,
    pub vm: VmId,
    pub src: HostId,
    pub dst: HostId,
    alg: Box<dyn Algorithm>,
    /// The flow carrying the current transfer, if one is under way.
    pub flow: Option<FlowId>,
    /// The flow of the transfer that just ended, kept for the next one on the same path
    /// within the same event; stopped if none follows.
    pub spare: Option<FlowId>,
    /// The current transfer (segment): when it began, what it sends, and the factor on the
    /// guest's dirty rate meanwhile.
    seg_start: SimTime,
    pub seg_phase: Phase,
    seg_factor: f64,
    /// The current transfer's cap and what sets it.
    seg_cap: Option<Bandwidth>,
    seg_bound: Bound,
    /// Bytes sent at the rate of each [`Bound`], in [`Bound::ALL`] order.
    bytes_by_bound: [Volume; 3],
    /// Bumped whenever the transfer under way changes, to recognise stale events.
    pub generation: u64,
    pub paused_at: Option<SimTime>,
    pub on_destination: bool,
    /// Put on the wire so far.
    pub bytes: Volume,
    pub max_throttle: f64,
    /// An action held back while the guest suspends.
    deferred: Option<Action>,
    /// Waiting for the algorithm's next look with nothing to send (no flow).
    pub waiting: bool,
    /// Actions the algorithm has asked for: a bound on a model that stops making progress.
    steps: u64,
    /// Whether pre-copy has started (the destination is prepared).
    pub started: bool,
}

/// What carrying out one of the algorithm's actions needs from the rest of the simulation.
#[derive(Debug, PartialEq)]
pub(super) enum Effect {
    /// Stage 3 begins: the guest stops now. If it takes time to stop, the final copy is held
    /// back until a `MigrationResume` at the given time and generation; otherwise the same
    /// action goes on at once.
    Pause { resume_at: Option<(SimTime, u64)> },
    /// Post-copy begins: the guest, paused since `paused`, runs on the destination from now;
    /// the same action then goes on.
    Switch { paused: SimTime },
    /// Nothing to send before the algorithm's next look at `at`.
    Wait { at: SimTime, generation: u64 },
    /// Nothing to send at all: the algorithm hears so at once.
    Report(Progress),
    /// Send `bytes` at no more than `cap`; look again at `check_at`.
    Send {
        bytes: Volume,
        cap: Option<Bandwidth>,
        check_at: Option<SimTime>,
        bound: Bound,
        generation: u64,
    },
    /// The last byte is sent: stage 4 now, stage 5 after `resume`.
    Commit { resume: SimTime, generation: u64 },
    /// The post-copy push is done: the migration ends now.
    Done,
}

impl Active {
    pub fn new(
        record: usize,
        vm: VmId,
        src: HostId,
        dst: HostId,
        alg: Box<dyn Algorithm>,
        now: SimTime,
    ) -> Active {
        Active {
            record,
            vm,
            src,
            dst,
            alg,
            flow: None,
            spare: None,
            seg_start: now,
            seg_phase: Phase::Precopy,
            seg_factor: 1.0,
            seg_cap: None,
            seg_bound: Bound::Network,
            bytes_by_bound: [Volume::ZERO; 3],
            generation: 0,
            paused_at: None,
            on_destination: false,
            bytes: Volume::ZERO,
            max_throttle: 0.0,
            deferred: None,
            waiting: false,
            steps: 0,
            started: false,
        }
    }

    /// Pre-copy starts now: the algorithm's first action.
    pub fn start(&mut self, now: SimTime) -> Action {
        self.started = true;
        self.seg_start = now;
        self.alg.start(now)
    }

    pub fn alg(&self) -> &dyn Algorithm {
        self.alg.as_ref()
    }

    /// Counts one more action; false once there have been more than `max`.
    pub fn count_step(&mut self, max: u64) -> bool {
        self.steps += 1;
        self.steps <= max
    }

    /// Decides what `action` needs now. `suspend` is the time the guest takes to stop; `factor`
    /// the factor on its dirty rate from here on (CPU coupling and throttle, from the world as
    /// it is now). Called again with the same action after a `Pause` or `Switch` is carried out.
    pub fn carry_out(
        &mut self,
        now: SimTime,
        action: &Action,
        suspend: SimTime,
        factor: f64,
    ) -> Effect {
        match *action {
            Action::Send {
                bytes,
                cap,
                check_at,
                phase,
                bound,
            } => {
                if phase == Phase::StopAndCopy && self.paused_at.is_none() {
                    self.paused_at = Some(now);
                    if suspend > SimTime::ZERO {
                        // The final copy starts once the guest has stopped.
                        self.generation += 1;
                        self.deferred = Some(action.clone());
                        return Effect::Pause {
                            resume_at: Some((now + suspend, self.generation)),
                        };
                    }
                    return Effect::Pause { resume_at: None };
                }
                if phase == Phase::Postcopy && !self.on_destination {
                    return Effect::Switch {
                        paused: self.paused_at.unwrap_or(now),
                    };
                }
                self.max_throttle = self.max_throttle.max(self.alg.throttle());
                self.seg_start = now;
                self.seg_phase = phase;
                self.seg_factor = factor;
                self.generation += 1;
                if !bytes.is_positive() {
                    if let Some(at) = check_at.filter(|&t| t > now) {
                        self.waiting = true;
                        return Effect::Wait {
                            at,
                            generation: self.generation,
                        };
                    }
                    return Effect::Report(Progress {
                        now,
                        sent: Volume::ZERO,
                        elapsed: SimTime::ZERO,
                        writes: Volume::ZERO,
                        drained: true,
                    });
                }
                Effect::Send {
                    bytes,
                    cap,
                    check_at,
                    bound,
                    generation: self.generation,
                }
            }
            Action::Finish { resume } => {
                if self.on_destination {
                    Effect::Done
                } else {
                    Effect::Commit {
                        resume,
                        generation: self.generation,
                    }
                }
            }
        }
    }

    /// The action held back while the guest suspended, if the event is not stale.
    pub fn take_deferred(&mut self, generation: u64) -> Option<Action> {
        if self.generation == generation {
            self.deferred.take()
        } else {
            None
        }
    }

    /// Whether a check event of `generation` still concerns this migration's transfer.
    pub fn expects_check(&self, generation: u64) -> bool {
        self.generation == generation && (self.flow.is_some() || self.waiting)
    }

    /// The transfer just started runs under `cap`, set by `bound`.
    pub fn set_limit(&mut self, cap: Option<Bandwidth>, bound: Bound) {
        self.seg_cap = cap;
        self.seg_bound = bound;
    }

    /// What most of the migration's bytes ran at the rate of (the network if it sent none).
    pub fn bound_by(&self) -> Bound {
        let mut best = Bound::Network;
        for (b, v) in Bound::ALL.into_iter().zip(self.bytes_by_bound) {
            if v > self.bytes_by_bound[best as usize] {
                best = b;
            }
        }
        best
    }

    /// Ends the current transfer having sent `sent`; `writes` is what the guest wrote meanwhile
    /// (see [`Active::dirtied_since`]). Returns the report for the algorithm.
    pub fn end_segment(
        &mut self,
        now: SimTime,
        sent: Volume,
        writes: Volume,
        drained: bool,
    ) -> Progress {
        self.flow = None;
        self.bytes += sent;
        // A transfer that ran at its cap was bound by what set the cap; one that ran below it,
        // by its share of the network.
        let elapsed = now - self.seg_start;
        if sent.is_positive() && elapsed > SimTime::ZERO {
            let at_cap = self
                .seg_cap
                .is_some_and(|c| sent / elapsed >= c * (1.0 - 1e-6));
            let bound = if at_cap {
                self.seg_bound
            } else {
                Bound::Network
            };
            self.bytes_by_bound[bound as usize] += sent;
        }
        self.generation += 1;
        self.waiting = false;
        Progress {
            now,
            sent,
            elapsed,
            writes,
            drained,
        }
    }

    /// What the guest wrote during the current transfer, up to `now`, by `dirty`: nothing while
    /// it is paused or runs on the destination.
    pub fn dirtied_since(&self, now: SimTime, dirty: &crate::model::dirty::DirtyModel) -> Volume {
        if self.seg_phase == Phase::Precopy || self.seg_phase == Phase::Disk {
            dirty.writes(self.seg_start, now, self.seg_factor)
        } else {
            Volume::ZERO
        }
    }

    /// The algorithm's next action after `p`.
    pub fn progress(&mut self, p: &Progress) -> Action {
        self.alg.progress(p)
    }

    /// The algorithm's answer to a timeout.
    pub fn timeout(&mut self, p: &Progress, how: crate::migration::OnTimeout) -> Option<Action> {
        self.alg.timeout(p, how)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::{OnTimeout, Round};

    /// An algorithm that is never asked anything: the tests drive `carry_out` by hand.
    struct Idle;
    impl Algorithm for Idle {
        fn start(&mut self, _: SimTime) -> Action {
            Action::Finish {
                resume: SimTime::ZERO,
            }
        }
        fn progress(&mut self, _: &Progress) -> Action {
            self.start(SimTime::ZERO)
        }
        fn timeout(&mut self, _: &Progress, _: OnTimeout) -> Option<Action> {
            None
        }
        fn rounds(&self) -> &[Round] {
            &[]
        }
    }

    fn active() -> Active {
        Active::new(
            0,
            VmId(0),
            HostId(0),
            HostId(1),
            Box::new(Idle),
            SimTime::ZERO,
        )
    }

    fn send(bytes: f64, phase: Phase) -> Action {
        Action::Send {
            bytes: Volume::bytes(bytes),
            cap: None,
            check_at: None,
            phase,
            bound: Bound::Network,
        }
    }

    #[test]
    fn the_final_copy_pauses_the_guest_once_then_sends() {
        let mut a = active();
        let t = SimTime::from_secs(3);
        let copy = send(4096.0, Phase::StopAndCopy);
        assert_eq!(
            a.carry_out(t, &copy, SimTime::ZERO, 1.0),
            Effect::Pause { resume_at: None }
        );
        assert!(matches!(
            a.carry_out(t, &copy, SimTime::ZERO, 1.0),
            Effect::Send { .. }
        ));
        assert_eq!(a.paused_at, Some(t));
    }

    #[test]
    fn a_guest_that_takes_time_to_stop_holds_the_copy_back() {
        let mut a = active();
        let copy = send(4096.0, Phase::StopAndCopy);
        let ten_ms = SimTime::from_millis(10);
        let Effect::Pause {
            resume_at: Some((at, generation)),
        } = a.carry_out(SimTime::ZERO, &copy, ten_ms, 1.0)
        else {
            panic!("expected a pause that waits for the guest");
        };
        assert_eq!(at, ten_ms);
        assert_eq!(a.take_deferred(generation + 1), None, "a stale event");
        assert_eq!(a.take_deferred(generation), Some(copy));
    }

    #[test]
    fn post_copy_switches_the_guest_before_the_push_and_ends_with_it() {
        let mut a = active();
        let push = send(1e6, Phase::Postcopy);
        let t = SimTime::from_secs(1);
        assert_eq!(
            a.carry_out(t, &push, SimTime::ZERO, 1.0),
            Effect::Switch { paused: t }
        );
        a.on_destination = true;
        assert!(matches!(
            a.carry_out(t, &push, SimTime::ZERO, 1.0),
            Effect::Send { .. }
        ));
        let fin = Action::Finish {
            resume: SimTime::ZERO,
        };
        assert_eq!(a.carry_out(t, &fin, SimTime::ZERO, 1.0), Effect::Done);
    }

    #[test]
    fn nothing_to_send_waits_for_the_next_look_or_reports_at_once() {
        let mut a = active();
        let t = SimTime::from_secs(1);
        let later = SimTime::from_secs(2);
        let nothing = |check_at| Action::Send {
            bytes: Volume::ZERO,
            cap: None,
            check_at,
            phase: Phase::Precopy,
            bound: Bound::Network,
        };
        let Effect::Wait { at, generation } = a.carry_out(t, &nothing(Some(later)), t, 1.0) else {
            panic!("expected a wait");
        };
        assert_eq!(at, later);
        assert!(a.expects_check(generation));
        assert!(matches!(
            a.carry_out(t, &nothing(Some(t)), t, 1.0),
            Effect::Report(Progress { drained: true, .. })
        ));
        assert!(!a.expects_check(generation), "the wait was superseded");
    }

    #[test]
    fn a_transfer_reports_what_it_sent_and_the_time_it_took() {
        let mut a = active();
        let dirty =
            crate::model::dirty::DirtyModel::wws(Bandwidth::mib_per_sec(10.0), Volume::mib(100.0));
        a.carry_out(
            SimTime::ZERO,
            &send(1e9, Phase::Precopy),
            SimTime::ZERO,
            0.5,
        );
        let now = SimTime::from_secs(2);
        let writes = a.dirtied_since(now, &dirty);
        assert_eq!(writes, Volume::mib(10.0), "2 s at 10 MiB/s, halved");
        let p = a.end_segment(now, Volume::bytes(5e8), writes, false);
        assert_eq!(p.elapsed, now);
        assert_eq!(a.bytes, Volume::bytes(5e8));
    }
}

/// The migration slot each network flow carries, indexed by flow id: every re-rated flow is
/// looked up after every solve.
#[derive(Debug, Clone, Default)]
pub(super) struct FlowOwners {
    slot: Vec<u32>,
}

impl FlowOwners {
    const NONE: u32 = u32::MAX;

    pub(super) fn insert(&mut self, flow: u32, slot: usize) {
        let i = flow as usize;
        if i >= self.slot.len() {
            self.slot.resize(i + 1, Self::NONE);
        }
        self.slot[i] = slot as u32;
    }

    pub(super) fn remove(&mut self, flow: u32) {
        if let Some(s) = self.slot.get_mut(flow as usize) {
            *s = Self::NONE;
        }
    }

    pub(super) fn get(&self, flow: u32) -> Option<usize> {
        match self.slot.get(flow as usize) {
            Some(&s) if s != Self::NONE => Some(s as usize),
            _ => None,
        }
    }
}
