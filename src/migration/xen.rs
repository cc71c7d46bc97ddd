//! Xen pre-copy: the 3.x `xc_linux_save` loop of Clark et al. (NSDI 2005), and migration v2.

use super::{
    Action, Algorithm, Bound, Guest, OnTimeout, Phase, Progress, Round, Settings, overlap,
};
use crate::engine::SimTime;
use crate::units::{Bandwidth, PAGE_SIZE, Volume};

/// `DEF_MAX_ITERS 29`: "limit us to 30 times round loop" (Xen 3.x tools/libxc/xc_linux_save.c).
pub const DEF_MAX_ITERS: u32 = 29;
/// `DEF_MAX_FACTOR 3`: "never send more than 3x nr_pfns" (xc_linux_save.c).
pub const DEF_MAX_FACTOR: f64 = 3.0;
/// `START_MBIT_RATE 100`: the first round's rate limit (xc_linux_save.c, `ADAPTIVE_SAVE`;
/// Clark et al. §5.1 use 100 Mbit/s as the administrator's minimum).
pub const START_MBIT_RATE: u32 = 100;
/// `MAX_MBIT_RATE 500`: the most the rate limit grows to (xc_linux_save.c; Clark et al. §5.1).
pub const MAX_MBIT_RATE: u32 = 500;
/// Bytes per second of one unit of the rate limit. Clark et al. report the first, 100 Mbit/s
/// round of the Apache experiment as ≈776 MB in ≈62 s, i.e. 12.5 MB/s: decimal megabits. (The
/// later libxc `ratewrite`, with `BURST_BUDGET` 100 KiB every `RATE_TO_BTU / mbit_rate` µs and
/// `RATE_TO_BTU 781250`, works out to 131072 B/s per unit instead; the paper's figures are
/// followed here.)
pub const XEN_MBIT: Bandwidth = Bandwidth::bytes_per_sec(125_000.0);
/// Rounds end in stop-and-copy when fewer than 50 pages were sent and skipped
/// (`sent_this_iter + skip_this_iter < 50`, xc_linux_save.c).
pub const STOP_PAGES: f64 = 50.0;
/// Extra bytes on the wire per page: the `pfn_type` entry written with each batch
/// (`sizeof(unsigned long)`, 4 bytes on the 32-bit XenLinux of the Clark testbed).
pub const PFN_ENTRY_BYTES: f64 = 4.0;
/// A page as it goes on the wire: its 4 KiB and its `pfn_type` entry.
const PAGE_ON_WIRE: Volume = Volume::bytes(PAGE_SIZE.0 as f64 + PFN_ENTRY_BYTES);
/// Migration v2 (`tools/libs/guest/xg_sr_save.c`, `simple_precopy_policy`):
/// `SPP_MAX_ITERATIONS 5` rounds at most …
pub const SPP_MAX_ITERATIONS: u32 = 5;
/// … and `SPP_TARGET_DIRTY_COUNT 50` pages.
pub const SPP_TARGET_DIRTY_COUNT: f64 = 50.0;

fn page() -> f64 {
    PAGE_SIZE.as_f64()
}

/// Expected pages of a pass over `to_send` pages that are skipped because the guest dirtied them
/// again before the pass reached them (`to_skip`, peeked before every batch). Pages are visited
/// in a pseudo-random order (`permute`), so a page is reached at a uniform fraction x of the
/// round and is skipped if written again within the first x·T. `set_writes` are the writes that
/// made the set (`None` in the first round, when every page is to be sent).
fn expected_skip(
    guest: &Guest,
    to_send: f64,
    set_writes: Option<Volume>,
    round_s: f64,
    rate: Bandwidth,
) -> f64 {
    if round_s <= 0.0 || !rate.is_positive() {
        return 0.0;
    }
    const N: usize = 32;
    let mut mean = 0.0;
    for k in 0..N {
        let x = (k as f64 + 0.5) / N as f64;
        mean += guest.dirty.redirtied(
            set_writes,
            Volume::bytes(rate.as_bytes_per_sec() * x * round_s),
            guest.memory,
        );
    }
    to_send * (mean / N as f64).min(1.0)
}

/// Xen 3.x with adaptive rate limiting.
pub struct Xen3 {
    guest: Guest,
    resume: SimTime,
    /// What the path can carry, for estimating a round's length before it runs.
    link: Bandwidth,
    mbit_rate: u32,
    iter: u32,
    to_send: f64,
    skip_this: f64,
    sent_last: f64,
    total_sent: f64,
    last_iter: bool,
    round_start: SimTime,
    /// Writes during the previous round: they made this round's set of pages.
    prev_writes: Option<Volume>,
    /// Expected length of the round under way, seconds.
    round_est_s: f64,
    rounds: Vec<Round>,
}

impl Xen3 {
    pub fn new(guest: Guest, s: &Settings, link: Bandwidth) -> Xen3 {
        Xen3 {
            resume: s.resume_time,
            link,
            mbit_rate: START_MBIT_RATE,
            iter: 0,
            to_send: guest.pages(),
            skip_this: 0.0,
            // "pretend we sent all the pages last iteration"
            sent_last: guest.pages(),
            total_sent: 0.0,
            last_iter: false,
            round_start: SimTime::ZERO,
            prev_writes: None,
            round_est_s: 0.0,
            rounds: Vec::new(),
            guest,
        }
    }

    fn cap(&self) -> Bandwidth {
        XEN_MBIT * self.mbit_rate as f64
    }

    fn wire(pages: f64) -> Volume {
        PAGE_ON_WIRE * pages
    }

    /// Starts round `iter`: sends `to_send` less the pages it will find dirty again.
    fn round(&mut self, now: SimTime) -> Action {
        self.iter += 1;
        self.round_start = now;
        let rate = self.cap().min(self.link);
        let write_rate = self.guest.dirty.rate_at(now);
        let mut t = Self::wire(self.to_send).secs_at(rate);
        let mut skip = 0.0;
        for _ in 0..8 {
            skip = expected_skip(&self.guest, self.to_send, self.prev_writes, t, write_rate)
                .min(self.to_send);
            t = Self::wire(self.to_send - skip).secs_at(rate);
        }
        self.skip_this = skip;
        self.round_est_s = t;
        Action::Send {
            bytes: Self::wire(self.to_send - skip),
            cap: Some(self.cap()),
            check_at: None,
            phase: Phase::Precopy,
            bound: Bound::Cap,
        }
    }

    fn stop_and_copy(&mut self) -> Action {
        self.last_iter = true;
        // Clark et al. send the last round at full speed: SPECweb99's 18.2 MB final round took
        // 201 ms (≈ 724 Mbit/s), above the 500 Mbit/s limit, so it is not rate-limited here.
        Action::Send {
            bytes: Self::wire(self.to_send),
            cap: None,
            check_at: None,
            phase: Phase::StopAndCopy,
            bound: Bound::Network,
        }
    }
}

impl Algorithm for Xen3 {
    fn start(&mut self, now: SimTime) -> Action {
        self.round(now)
    }

    fn progress(&mut self, p: &Progress) -> Action {
        if self.last_iter {
            self.rounds.push(Round {
                start: self.round_start.as_secs_f64(),
                duration: p.elapsed.as_secs_f64(),
                bytes: p.sent,
                dirtied: Volume::ZERO,
            });
            return Action::Finish {
                resume: self.resume,
            };
        }
        let sent_this = p.sent / PAGE_ON_WIRE;
        let dirtied = self.guest.dirty.distinct(p.writes);
        let dirty_pages = dirtied.in_pages().round();
        self.rounds.push(Round {
            start: self.round_start.as_secs_f64(),
            duration: p.elapsed.as_secs_f64(),
            bytes: p.sent,
            dirtied,
        });
        self.total_sent += sent_this;
        let rate_is_max = self.mbit_rate == MAX_MBIT_RATE;
        let stop = (sent_this > self.sent_last && rate_is_max)
            || self.iter >= DEF_MAX_ITERS
            || sent_this + self.skip_this < STOP_PAGES
            || self.total_sent > self.guest.pages() * DEF_MAX_FACTOR;
        // print_stats(): the dirtying rate of the round in decimal Mbit/s, integer arithmetic;
        // the limit only ever grows.
        let wall_ms = (p.elapsed.as_nanos() / 1_000_000).max(1) as f64;
        let dirty_mbit = ((dirty_pages * page()) / (wall_ms * 125.0)).floor() as u32;
        if dirty_mbit > self.mbit_rate {
            self.mbit_rate = (dirty_mbit + 50).min(MAX_MBIT_RATE);
        }
        self.sent_last = sent_this;
        self.to_send = dirty_pages;
        self.prev_writes = Some(p.writes);
        if stop {
            self.round_start = p.now;
            self.stop_and_copy()
        } else {
            self.round(p.now)
        }
    }

    fn timeout(&mut self, p: &Progress, how: OnTimeout) -> Option<Action> {
        match self.last_iter || how == OnTimeout::Cancel {
            true => None,
            false => {
                // Suspend now (virsh --timeout-suspend): what is dirty is what this round has not
                // reached yet plus what the guest dirtied meanwhile (pages skipped so far are
                // among the latter).
                let done = if self.round_est_s > 0.0 {
                    (p.elapsed.as_secs_f64() / self.round_est_s).min(1.0)
                } else {
                    1.0
                };
                self.rounds.push(Round {
                    start: self.round_start.as_secs_f64(),
                    duration: p.elapsed.as_secs_f64(),
                    bytes: p.sent,
                    dirtied: self.guest.dirty.distinct(p.writes),
                });
                let left = (self.to_send - self.skip_this * done - p.sent / PAGE_ON_WIRE).max(0.0);
                let d = self.guest.dirty.distinct(p.writes).in_pages();
                self.to_send = left + d - overlap(left, d, self.guest.dirty.region().in_pages());
                self.round_start = p.now;
                Some(self.stop_and_copy())
            }
        }
    }

    fn rounds(&self) -> &[Round] {
        &self.rounds
    }
}

/// Xen 4.x migration v2: no rate limit, no skipping, at most five rounds.
pub struct Xen4 {
    guest: Guest,
    resume: SimTime,
    iteration: u32,
    to_send: f64,
    last: bool,
    round_start: SimTime,
    rounds: Vec<Round>,
}

impl Xen4 {
    pub fn new(guest: Guest, s: &Settings) -> Xen4 {
        Xen4 {
            resume: s.resume_time,
            iteration: 0,
            to_send: guest.pages(),
            last: false,
            round_start: SimTime::ZERO,
            rounds: Vec::new(),
            guest,
        }
    }

    fn send(&mut self, now: SimTime, phase: Phase) -> Action {
        self.round_start = now;
        Action::Send {
            bytes: Volume::PAGE * self.to_send,
            cap: None,
            check_at: None,
            phase,
            bound: Bound::Network,
        }
    }
}

impl Algorithm for Xen4 {
    fn start(&mut self, now: SimTime) -> Action {
        self.send(now, Phase::Precopy)
    }

    fn progress(&mut self, p: &Progress) -> Action {
        let dirtied = self.guest.dirty.distinct(p.writes);
        self.rounds.push(Round {
            start: self.round_start.as_secs_f64(),
            duration: p.elapsed.as_secs_f64(),
            bytes: p.sent,
            dirtied: if self.last { Volume::ZERO } else { dirtied },
        });
        if self.last {
            return Action::Finish {
                resume: self.resume,
            };
        }
        self.iteration += 1;
        self.to_send = dirtied.in_pages().round();
        if self.to_send < SPP_TARGET_DIRTY_COUNT || self.iteration >= SPP_MAX_ITERATIONS {
            self.last = true;
            self.send(p.now, Phase::StopAndCopy)
        } else {
            self.send(p.now, Phase::Precopy)
        }
    }

    fn timeout(&mut self, p: &Progress, how: OnTimeout) -> Option<Action> {
        if self.last || how == OnTimeout::Cancel {
            return None;
        }
        self.rounds.push(Round {
            start: self.round_start.as_secs_f64(),
            duration: p.elapsed.as_secs_f64(),
            bytes: p.sent,
            dirtied: self.guest.dirty.distinct(p.writes),
        });
        let left = (self.to_send - p.sent.in_pages()).max(0.0);
        let d = self.guest.dirty.distinct(p.writes).in_pages();
        self.to_send = left + d - overlap(left, d, self.guest.dirty.region().in_pages());
        self.last = true;
        Some(self.send(p.now, Phase::StopAndCopy))
    }

    fn rounds(&self) -> &[Round] {
        &self.rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::Hypervisor;
    use crate::migration::fixed_link::{drive, guest, settings};

    const GBIT: Bandwidth = Bandwidth::bytes_per_sec(125_000_000.0);

    #[test]
    fn an_idle_vm_takes_one_rate_limited_round_and_a_tiny_stop_and_copy() {
        let g = guest(100.0, 0.0, 0.0);
        let s = settings(Hypervisor::Xen);
        let r = drive(Box::new(Xen3::new(g.clone(), &s, GBIT)), &g, GBIT, None);
        // 25 600 pages of 4 KiB + 4 B at 100 Mbit/s (12.5 MB/s).
        let first = 25_600.0 * (4096.0 + 4.0) / 12.5e6;
        assert!(
            (r.rounds[0].duration - first).abs() < 1e-6,
            "{:?}",
            r.rounds[0]
        );
        // Xen checks its stop conditions after a round: the full first round does not meet
        // them, the second (empty) round does, then comes the stop-and-copy.
        assert_eq!(r.rounds.len(), 3);
        assert_eq!(r.rounds[1].bytes, Volume::ZERO);
        assert!(r.downtime_ms < 6.0, "{}", r.downtime_ms);
    }

    #[test]
    fn the_rate_limit_climbs_with_the_dirty_rate_and_stops_at_500() {
        // 200 Mbit/s of distinct pages in a 64 MB set: round 2 runs at dirty + 50 Mbit/s.
        let mut g = guest(256.0, 0.0, 0.0);
        g.dirty = DirtyModelExt::wws_mbit(200.0, Volume::bytes(64e6));
        let s = settings(Hypervisor::Xen);
        let mut x = Xen3::new(g.clone(), &s, GBIT);
        x.start(SimTime::ZERO);
        let p = Progress {
            now: SimTime::from_secs(10),
            sent: Volume::bytes(1e8),
            elapsed: SimTime::from_secs(1),
            writes: Volume::bytes(25e6),
            drained: true,
        };
        x.progress(&p);
        // 25 MB dirtied in 1 s = 200 Mbit/s → 250.
        assert_eq!(x.mbit_rate, 250);
        let p = Progress {
            writes: Volume::bytes(200e6),
            ..p
        };
        x.progress(&p);
        assert_eq!(x.mbit_rate, MAX_MBIT_RATE);
    }

    #[test]
    fn a_vm_that_never_converges_stops_after_30_rounds_or_3x_memory() {
        // MMuncher-like: rewrites half its memory far faster than any rate limit.
        let mut g = guest(512.0, 0.0, 0.0);
        g.dirty = DirtyModelExt::wws_mbit(8000.0, Volume::mib(256.0));
        let s = settings(Hypervisor::Xen);
        let r = drive(Box::new(Xen3::new(g.clone(), &s, GBIT)), &g, GBIT, None);
        let precopy = r.rounds.len() - 1;
        let sent_pages = r.rounds[..precopy].iter().map(|r| r.bytes).sum::<Volume>() / PAGE_ON_WIRE;
        assert!(
            precopy <= (DEF_MAX_ITERS as usize) + 1 && sent_pages <= 4.0 * g.pages(),
            "{precopy} rounds, {sent_pages} pages"
        );
        // The last round carries the whole working set: seconds of downtime.
        assert!(r.downtime_ms > 2000.0, "{}", r.downtime_ms);
    }

    #[test]
    fn xen4_stops_after_five_rounds() {
        let g = guest(256.0, 500.0, 64.0);
        let s = settings(Hypervisor::Xen4);
        let r = drive(Box::new(Xen4::new(g.clone(), &s)), &g, GBIT, None);
        assert_eq!(r.rounds.len(), SPP_MAX_ITERATIONS as usize + 1);
        let g = guest(256.0, 0.0, 0.0);
        let r = drive(Box::new(Xen4::new(g.clone(), &s)), &g, GBIT, None);
        assert_eq!(r.rounds.len(), 2, "a clean VM stops after the first round");
    }

    /// Test helper: a WWS model from a rate in decimal Mbit/s.
    struct DirtyModelExt;
    impl DirtyModelExt {
        fn wws_mbit(mbit: f64, wws: Volume) -> crate::model::dirty::DirtyModel {
            crate::model::dirty::DirtyModel::wws(Bandwidth::mbit(mbit), wws)
        }
    }
}
