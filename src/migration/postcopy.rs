//! Post-copy (Hines & Gopalan, VEE 2009) and cold migration.

use super::sender::{self, Bound, Sender, Work};
use super::{Action, Algorithm, Guest, OnTimeout, Phase, Progress, Round, Settings};
use crate::engine::SimTime;

use super::qemu::ZERO_PAGE_WIRE;
use crate::units::{Bandwidth, Volume};

/// Post-copy: the vCPU and device state move first, so the downtime is only that; then every
/// page is sent exactly once, pushed in the background while the guest faults in the pages it
/// touches from the source. No page is sent twice, so the total time is about memory ÷
/// bandwidth, but the guest runs degraded until the push ends, and a failure of either host
/// mid-way loses it (no side holds a whole copy).
pub struct Postcopy {
    guest: Guest,
    resume: SimTime,
    cap: Option<Bandwidth>,
    sender: Option<Sender>,
    state: u8,
    start: SimTime,
    rounds: Vec<Round>,
}

impl Postcopy {
    pub fn new(guest: Guest, s: &Settings) -> Postcopy {
        Postcopy {
            guest,
            resume: s.resume_time,
            cap: s.max_bandwidth,
            sender: s.sender,
            state: 0,
            start: SimTime::ZERO,
            rounds: Vec::new(),
        }
    }
}

impl Algorithm for Postcopy {
    fn start(&mut self, now: SimTime) -> Action {
        self.start = now;
        // Pause and send the CPU and device state; its size is folded into `resume`.
        Action::Send {
            bytes: Volume::ZERO,
            cap: None,
            check_at: None,
            phase: Phase::StopAndCopy,
            bound: Bound::Network,
        }
    }

    fn progress(&mut self, p: &Progress) -> Action {
        self.state += 1;
        match self.state {
            1 => {
                let (bytes, cap, bound) = whole_copy(&self.guest, self.cap, self.sender);
                Action::Send {
                    bytes,
                    cap,
                    check_at: None,
                    phase: Phase::Postcopy,
                    bound,
                }
            }
            _ => {
                self.rounds.push(Round {
                    start: (p.now - p.elapsed).as_secs_f64(),
                    duration: p.elapsed.as_secs_f64(),
                    bytes: p.sent,
                    dirtied: Volume::ZERO,
                });
                let _ = self.resume;
                Action::Finish {
                    resume: SimTime::ZERO,
                }
            }
        }
    }

    fn timeout(&mut self, _p: &Progress, _how: OnTimeout) -> Option<Action> {
        // The guest left the source at the start: there is nothing to cancel back to.
        None
    }

    fn rounds(&self) -> &[Round] {
        &self.rounds
    }
}

/// Cold migration: suspend, copy all of memory, resume. The downtime is the whole copy.
pub struct Cold {
    guest: Guest,
    resume: SimTime,
    cap: Option<Bandwidth>,
    sender: Option<Sender>,
    rounds: Vec<Round>,
}

impl Cold {
    pub fn new(guest: Guest, s: &Settings) -> Cold {
        Cold {
            guest,
            resume: s.resume_time,
            cap: s.max_bandwidth,
            sender: s.sender,
            rounds: Vec::new(),
        }
    }
}

impl Algorithm for Cold {
    fn start(&mut self, _now: SimTime) -> Action {
        let (bytes, cap, bound) = whole_copy(&self.guest, self.cap, self.sender);
        Action::Send {
            bytes,
            cap,
            check_at: None,
            phase: Phase::StopAndCopy,
            bound,
        }
    }

    fn progress(&mut self, p: &Progress) -> Action {
        self.rounds.push(Round {
            start: (p.now - p.elapsed).as_secs_f64(),
            duration: p.elapsed.as_secs_f64(),
            bytes: p.sent,
            dirtied: Volume::ZERO,
        });
        Action::Finish {
            resume: self.resume,
        }
    }

    fn timeout(&mut self, _p: &Progress, _how: OnTimeout) -> Option<Action> {
        None
    }

    fn rounds(&self) -> &[Round] {
        &self.rounds
    }
}

/// All of the guest's memory in one pass: its size on the wire (zero pages as headers), and
/// the cap under `configured` and the sender's CPU, which reads every page.
fn whole_copy(
    guest: &Guest,
    configured: Option<Bandwidth>,
    sender: Option<Sender>,
) -> (Volume, Option<Bandwidth>, Bound) {
    let wire = guest.nonzero + ZERO_PAGE_WIRE * guest.zero_pages();
    let work = Work::plain(guest.memory, guest.nonzero);
    let (cap, bound) = sender::cap(sender, configured, wire, &work);
    (wire, cap, bound)
}
