//! QEMU 10 pre-copy (`migration/migration.c`, `migration/ram.c`), with auto-converge and the
//! switch to post-copy.
//!
//! The loop, as QEMU runs it: all pages start dirty. The migration thread sends dirty pages in
//! address order, at most `max-bandwidth`/10 bytes per 100 ms window. At each iteration it
//! compares an estimate of the dirty bytes not yet sent with the threshold: the bandwidth
//! achieved in the last window times `downtime-limit`. Only when the estimate falls below the
//! threshold does it sync the dirty bitmap (a "round": `dirty-sync-count` grows). If the bytes are
//! still below the threshold after the sync, it stops the VM and sends the rest unthrottled.
//! Nothing else stops it: no round cap and no byte cap. A workload that dirties faster than the
//! link drains loops until something outside acts.

use super::encoding::Xbzrle;
use super::sender::{self, Bound, Sender, Work};
use super::{Action, Algorithm, Guest, OnTimeout, Phase, Progress, Round, Settings, overlap};
use crate::engine::SimTime;
use crate::units::{Bandwidth, Volume};

/// `BUFFER_DELAY 100`: the rate-limit window, ms (migration/migration-stats.h). With a
/// bandwidth cap the thread re-examines its state once per window.
pub const BUFFER_DELAY: SimTime = SimTime::from_millis(100);
/// `MAX_WAIT 50`: without a cap, `ram_save_iterate` returns to the loop after at most 50 ms
/// (migration/ram.c).
pub const MAX_WAIT: SimTime = SimTime::from_millis(50);
/// A zero page costs a page header and one byte on the wire (`RAM_SAVE_FLAG_ZERO`,
/// `save_zero_page` in migration/ram.c): 8-byte address and flags plus 1 byte.
pub const ZERO_PAGE_WIRE: Volume = Volume::bytes(9.0);
/// `throttle-trigger-threshold` 50 %: auto-converge counts a period as "not converging" when
/// the guest dirtied more than half of what was sent (migration/options.c).
pub const THROTTLE_TRIGGER: f64 = 0.50;
/// `cpu-throttle-initial` 20 % (migration/options.c).
pub const THROTTLE_INITIAL: f64 = 0.20;
/// `cpu-throttle-increment` 10 % (migration/options.c).
pub const THROTTLE_INCREMENT: f64 = 0.10;
/// `max-cpu-throttle` 99 % (migration/options.c).
pub const THROTTLE_MAX: f64 = 0.99;
/// Dirty rates and the throttle trigger are evaluated at syncs at least 1 s apart
/// (`migration_bitmap_sync`: `end_time > rs->time_last_bitmap_sync + 1000`).
pub const RATE_PERIOD: SimTime = SimTime::from_secs(1);
/// Time a dirty-bitmap sync (`migration_bitmap_sync`) takes per GiB of guest memory: it walks
/// the whole bitmap whatever is dirty. Measured with QEMU's `migration_bitmap_sync_start`/`_end`
/// trace points on the lab machine: 0.13–0.26 ms per GiB for idle guests of 1–16 GiB, with
/// KVM's dirty bitmap and ring (`idle-*-syncs` in validation/qemu-lab).
pub const SYNC_SECS_PER_GIB: f64 = 0.2e-3;
/// And per dirty page it finds: the 16 GiB bitmap run's sync that found 786 432 dirty pages
/// took 5.65 ms against 2.1 ms for the one that found none, 4.5 ns a page.
pub const SYNC_SECS_PER_DIRTY_PAGE: f64 = 4.5e-9;
/// CPU time XBZRLE spends on a page that hits its cache: compare it with the cached copy,
/// encode the difference and update the copy. The lab's rate-capped writer runs
/// (`wr256-1g-bw64-xbzrle512` in validation/qemu-lab) encoded 65 536 hits in at most 30 ms
/// after their last miss, 0.45 µs a page at most; taken as that bound.
pub const XBZRLE_SECS_PER_PAGE: f64 = 0.45e-6;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Disk,
    Precopy,
    /// Paused while the last sync runs (part of the downtime).
    FinalSync,
    /// Paused, sending the last dirty pages.
    Final,
    /// Paused, sending the device state before post-copy.
    Switchover,
    Postcopy,
}

pub struct Qemu {
    guest: Guest,
    max_bw: Option<Bandwidth>,
    sender: Option<Sender>,
    /// The share of guest memory that is not zero pages.
    nonzero_share: f64,
    /// Wire bytes per byte of a normal page: 1, or less under multifd compression.
    page_wire: f64,
    /// CPU seconds of compression per byte of a normal page (0 without compression).
    compress_secs: f64,
    xbzrle: Option<Xbzrle>,
    /// XBZRLE encodes pages from the second round on (`xbzrle_started`, migration/ram.c).
    xbzrle_started: bool,
    /// Page-bytes of the dirtied region that the XBZRLE cache holds.
    cached: Volume,
    /// Of the dirty pages of this round, the share that hits the cache (fixed at each sync).
    hit_share: f64,
    /// Wire bytes per page-byte of the dirty pages of this round.
    dirty_ratio: f64,
    downtime_limit: SimTime,
    auto_converge: bool,
    /// The dirty-rate limit dirty-limit applies instead of a throttle, and whether it is on.
    dirty_limit: Option<Bandwidth>,
    limiting: bool,
    resume: SimTime,
    start: SimTime,
    state: State,
    /// Page-bytes of the first pass not yet sent (zero pages included, at page size).
    first_left: Volume,
    /// Wire bytes per page-byte of the first pass: zero pages cost almost nothing.
    first_ratio: f64,
    /// Page-bytes found dirty at syncs and not yet sent.
    dirty: Volume,
    writes_since_sync: Volume,
    last_sync: SimTime,
    syncs: u32,
    /// Achieved bandwidth of the last transfer, bytes/s (0 before the first window).
    bw: Bandwidth,
    throttle: f64,
    high_cnt: u32,
    period_start: SimTime,
    period_xfer: Volume,
    period_dirty: Volume,
    round_start: SimTime,
    round_bytes: Volume,
    rounds: Vec<Round>,
    postcopy_requested: bool,
    disk_left: Volume,
    disk_rate: Bandwidth,
    disk_passes: u32,
}

impl Qemu {
    pub fn new(guest: Guest, s: &Settings) -> Qemu {
        let memory = guest.memory.max(Volume::bytes(1.0));
        let zero = guest.zero_pages();
        let (page_wire, compress_secs) = match s.compression {
            Some(c) => (
                1.0 / c.ratio(guest.compressibility),
                c.secs_per_byte(guest.compressibility),
            ),
            None => (1.0, 0.0),
        };
        let first_ratio = (guest.nonzero * page_wire + ZERO_PAGE_WIRE * zero) / memory;
        Qemu {
            max_bw: s.max_bandwidth,
            sender: s.sender,
            nonzero_share: (guest.nonzero / memory).min(1.0),
            page_wire,
            compress_secs,
            xbzrle: s.xbzrle_cache.map(|cache| Xbzrle {
                cache,
                delta: guest.page_delta,
            }),
            xbzrle_started: false,
            cached: Volume::ZERO,
            hit_share: 0.0,
            dirty_ratio: page_wire,
            downtime_limit: s.downtime_limit,
            auto_converge: s.auto_converge,
            dirty_limit: s.dirty_limit,
            limiting: false,
            resume: s.resume_time,
            start: SimTime::ZERO,
            state: State::Precopy,
            first_left: memory,
            first_ratio,
            dirty: Volume::ZERO,
            writes_since_sync: Volume::ZERO,
            last_sync: SimTime::ZERO,
            syncs: 0,
            bw: Bandwidth::ZERO,
            throttle: 0.0,
            high_cnt: 0,
            period_start: SimTime::ZERO,
            period_xfer: Volume::ZERO,
            period_dirty: Volume::ZERO,
            round_start: SimTime::ZERO,
            round_bytes: Volume::ZERO,
            rounds: Vec::new(),
            postcopy_requested: false,
            disk_left: Volume::ZERO,
            disk_rate: Bandwidth::ZERO,
            disk_passes: 0,
            guest,
        }
    }

    /// Storage migration: copy `disk` bytes of non-shared disk first (block migration), while the
    /// guest writes to it at `rate` bytes/s; one more pass sends the blocks written meanwhile.
    pub fn with_disk(mut self, disk: Volume, rate: Bandwidth) -> Qemu {
        self.disk_left = disk;
        self.disk_rate = rate;
        self
    }

    /// Of the pending memory, what is not zero pages: the rest of the first pass at the
    /// guest's share of non-zero memory, and every dirtied page.
    fn pending_normal(&self) -> Volume {
        self.first_left * self.nonzero_share + self.dirty
    }

    /// The cap for sending what is pending, under a `configured` limit: the lower of it and
    /// what the sending threads can produce.
    fn limit(&self, configured: Option<Bandwidth>) -> (Option<Bandwidth>, Bound) {
        sender::cap(self.sender, configured, self.wire(), &self.work())
    }

    /// What sending the pending pages costs the sending threads: every page is scanned; the
    /// normal ones are compressed and written, or XBZRLE-encoded where they hit its cache.
    fn work(&self) -> Work {
        let normal = self.pending_normal();
        let hits = self.dirty * self.hit_share;
        let plain = normal - hits;
        let hit_wire = self.xbzrle.map_or(0.0, |x| x.hit_wire()) / Volume::PAGE.as_bytes();
        Work {
            scanned: self.pending(),
            written: plain * self.page_wire + hits * hit_wire,
            compress_secs: plain.as_bytes() * self.compress_secs,
            encode_secs: hits.in_pages() * XBZRLE_SECS_PER_PAGE,
        }
    }

    /// At a sync: which dirty pages XBZRLE will encode this round. Pages sent since it started
    /// are in its cache, up to what the cache can hold of the dirtied region.
    fn encode_round(&mut self) {
        let Some(x) = self.xbzrle else { return };
        let region = self.guest.dirty.region();
        self.hit_share = if self.xbzrle_started && region.is_positive() {
            (self.cached / region).min(x.fit(region))
        } else {
            0.0
        };
        let page = Volume::PAGE.as_bytes();
        self.dirty_ratio =
            self.hit_share * x.hit_wire() / page + (1.0 - self.hit_share) * self.page_wire;
    }

    /// A pass of the block copy: `bytes` of disk under `max-bandwidth` (the sender's memory
    /// scan is not involved).
    fn disk_send(&self, bytes: Volume) -> Action {
        Action::Send {
            bytes,
            cap: self.max_bw,
            check_at: None,
            phase: Phase::Disk,
            bound: sender::limit(self.max_bw, Bandwidth::UNLIMITED).1,
        }
    }

    fn pending(&self) -> Volume {
        self.first_left + self.dirty
    }

    /// The pending bytes as QEMU counts them, in whole pages: less than one page is none.
    /// (The fluid model leaves fractions of a page; a threshold of at least one page, which any
    /// non-zero `downtime-limit` gives, never sees the difference.)
    fn pending_pages(&self) -> Volume {
        let p = self.pending();
        if p < Volume::PAGE { Volume::ZERO } else { p }
    }

    fn threshold(&self) -> Volume {
        self.bw * self.downtime_limit
    }

    fn window(&self) -> SimTime {
        if self.max_bw.is_some() {
            BUFFER_DELAY
        } else {
            MAX_WAIT
        }
    }

    /// The first loop iteration at or after `t`: iterations fall on window boundaries.
    fn boundary_after(&self, t: SimTime) -> SimTime {
        let w = self.window().as_nanos();
        let since = (t - self.start).as_nanos();
        let k = since.div_ceil(w).max(1);
        self.start + SimTime::from_nanos(k * w)
    }

    fn wire(&self) -> Volume {
        self.first_left * self.first_ratio + self.dirty * self.dirty_ratio
    }

    /// Keep sending pre-copy data; look again when the pending bytes should have crossed the
    /// threshold (or at the next window if that is unknown).
    fn precopy(&self, now: SimTime) -> Action {
        let page_rate = if self.bw.is_positive() {
            // Page-bytes per second: the first pass skips through zero pages quickly.
            let ratio = if self.pending().is_positive() {
                self.wire() / self.pending().max(Volume::bytes(1.0))
            } else {
                self.dirty_ratio
            };
            self.bw / ratio.max(1e-9)
        } else {
            Bandwidth::ZERO
        };
        let over = self.pending() - self.threshold();
        let at = if page_rate.is_positive() && over.is_positive() {
            now + over.time_at(page_rate)
        } else {
            now
        };
        let mut check = self.boundary_after(at);
        if self.postcopy_requested {
            check = self.boundary_after(now + SimTime::from_nanos(1));
        }
        if check <= now {
            check = self.boundary_after(now + SimTime::from_nanos(1));
        }
        // Pages go whole: with less than one page pending the bitmap holds nothing to send,
        // and the loop looks again at its next iteration.
        let bytes = if self.pending_pages() == Volume::ZERO {
            Volume::ZERO
        } else {
            self.wire()
        };
        let (cap, bound) = self.limit(self.max_bw);
        Action::Send {
            bytes,
            cap,
            check_at: Some(check),
            phase: Phase::Precopy,
            bound,
        }
    }

    /// Takes `sent` wire bytes off the pending set: first-pass pages first, then dirty pages.
    fn account_sent(&mut self, sent: Volume) {
        let first_wire = self.first_left * self.first_ratio;
        if sent <= first_wire {
            if self.first_ratio > 0.0 {
                self.first_left -= sent / self.first_ratio;
            }
        } else {
            self.first_left = Volume::ZERO;
            self.xbzrle_started |= self.xbzrle.is_some();
            let pages = (sent - first_wire) / self.dirty_ratio.max(1e-12);
            let pages = pages.min(self.dirty);
            self.dirty -= pages;
            if self.xbzrle_started {
                // Pages that missed are in the cache now (the last stage inserts none, but
                // nothing is sent after it).
                self.cached += pages * (1.0 - self.hit_share);
            }
        }
        if self.first_left < Volume::bytes(1.0) {
            self.first_left = Volume::ZERO;
            // The bulk pass is over: from here on XBZRLE caches and encodes the pages it
            // sends (`xbzrle_started`, set when the page search wraps around, migration/ram.c).
            self.xbzrle_started |= self.xbzrle.is_some();
        }
        self.round_bytes += sent;
        self.period_xfer += sent;
    }

    /// `migration_bitmap_sync`: pages dirtied since the last sync join the pending set.
    /// Returns the dirty memory it found.
    fn sync(&mut self, now: SimTime) -> Volume {
        let d = self.guest.dirty.distinct(self.writes_since_sync);
        let region = self.guest.dirty.region();
        let memory = self.guest.memory.max(Volume::bytes(1.0));
        // Pages already pending are not new: first-pass pages are anywhere in memory, dirty
        // pages are inside the dirtied region.
        let ov = overlap(self.first_left.as_bytes(), d.as_bytes(), memory.as_bytes())
            + overlap(self.dirty.as_bytes(), d.as_bytes(), region.as_bytes());
        let new = (d - Volume::bytes(ov)).max(Volume::ZERO);
        self.dirty += new;
        self.syncs += 1;
        self.rounds.push(Round {
            start: self.round_start.as_secs_f64(),
            duration: (now - self.round_start).as_secs_f64(),
            bytes: self.round_bytes,
            dirtied: d,
        });
        self.round_start = now;
        self.round_bytes = Volume::ZERO;
        self.writes_since_sync = Volume::ZERO;
        self.last_sync = now;
        self.period_dirty += new;
        self.encode_round();
        if now - self.period_start > RATE_PERIOD {
            // migration_trigger_throttle(): two such periods in a row throttle the guest, or
            // with dirty-limit, cap every vCPU's dirty rate (migration_dirty_limit_guest()).
            let converging = self.auto_converge || self.dirty_limit.is_some();
            if converging && self.period_dirty > self.period_xfer * THROTTLE_TRIGGER {
                self.high_cnt += 1;
                if self.high_cnt >= 2 && self.dirty_limit.is_some() {
                    self.high_cnt = 0;
                    self.limiting = true;
                } else if self.high_cnt >= 2 {
                    self.high_cnt = 0;
                    self.throttle = if self.throttle == 0.0 {
                        THROTTLE_INITIAL
                    } else {
                        (self.throttle + THROTTLE_INCREMENT).min(THROTTLE_MAX)
                    };
                }
            }
            self.period_start = now;
            self.period_dirty = Volume::ZERO;
            self.period_xfer = Volume::ZERO;
        }
        d
    }

    /// How long a sync that found `found` dirty takes: a walk of the whole bitmap, and each
    /// dirty page.
    fn sync_time(&self, found: Volume) -> SimTime {
        SimTime::from_secs_f64_ceil(
            self.guest.memory.as_mib() / 1024.0 * SYNC_SECS_PER_GIB
                + found.in_pages() * SYNC_SECS_PER_DIRTY_PAGE,
        )
    }

    /// Nothing to send while a sync runs: look again when it ends.
    fn wait(now: SimTime, until: SimTime, phase: Phase) -> Action {
        Action::Send {
            bytes: Volume::ZERO,
            cap: None,
            check_at: Some(until.max(now + SimTime::from_nanos(1))),
            phase,
            bound: Bound::Network,
        }
    }

    fn absorb(&mut self, p: &Progress) {
        self.account_sent(p.sent);
        self.writes_since_sync += p.writes;
        if p.elapsed.as_secs_f64() >= 1e-3 && p.sent.is_positive() {
            self.bw = p.sent / p.elapsed;
        }
    }

    fn complete(&mut self, now: SimTime) -> Action {
        // migration_completion(): stop the VM, one last sync, send everything without the
        // rate limit.
        let found = self.sync(now);
        let took = self.sync_time(found);
        self.state = State::FinalSync;
        Self::wait(now, now + took, Phase::StopAndCopy)
    }

    /// The last sync is done: the final copy.
    fn final_copy(&mut self) -> Action {
        self.state = State::Final;
        // The final copy ignores max-bandwidth (`migration_rate_set(RATE_LIMIT_DISABLED)` at
        // switchover, migration/migration.c) but not the sender's CPU.
        let (cap, bound) = self.limit(None);
        Action::Send {
            bytes: self.wire(),
            cap,
            check_at: None,
            phase: Phase::StopAndCopy,
            bound,
        }
    }

    fn iterate(&mut self, now: SimTime) -> Action {
        if self.postcopy_requested && self.state == State::Precopy {
            // postcopy_start(): stop the VM, send the device state, resume on the destination.
            self.state = State::Switchover;
            return Action::Send {
                bytes: Volume::ZERO,
                cap: None,
                check_at: None,
                phase: Phase::StopAndCopy,
                bound: Bound::Network,
            };
        }
        // migration_iteration_run(): the exact count (a bitmap sync) is fetched once the
        // estimate is at most the threshold, and the switchover starts when nothing is pending
        // or less than the threshold is. With `downtime-limit` 0 only an empty bitmap
        // completes.
        if self.pending_pages() <= self.threshold() {
            // A sync during pre-copy costs a few ms per sync (0.2 ms per GiB): under 0.1 % of
            // a migration's time, so it is taken as instant here; the last sync, with the
            // guest stopped, is the one that shows (`complete`).
            self.sync(now);
            if self.pending_pages() == Volume::ZERO || self.pending() < self.threshold() {
                return self.complete(now);
            }
        }
        self.precopy(now)
    }
}

impl Algorithm for Qemu {
    fn start(&mut self, now: SimTime) -> Action {
        self.start = now;
        self.period_start = now;
        self.round_start = now;
        self.last_sync = now;
        if self.disk_left.is_positive() {
            self.state = State::Disk;
            return self.disk_send(self.disk_left);
        }
        // ram_save_setup(): the bitmap starts with every page dirty (sync #1).
        self.syncs = 1;
        self.precopy(now)
    }

    fn progress(&mut self, p: &Progress) -> Action {
        match self.state {
            State::Disk => {
                self.disk_passes += 1;
                let written = self.disk_rate * p.elapsed;
                if p.elapsed > SimTime::ZERO {
                    self.bw = p.sent / p.elapsed;
                }
                if self.disk_passes < 2 && written.is_positive() {
                    return self.disk_send(written);
                }
                self.state = State::Precopy;
                self.start = p.now;
                self.period_start = p.now;
                self.round_start = p.now;
                self.last_sync = p.now;
                self.syncs = 1;
                self.precopy(p.now)
            }
            State::Precopy => {
                self.absorb(p);
                self.iterate(p.now)
            }
            State::FinalSync => self.final_copy(),
            State::Final | State::Postcopy => {
                self.rounds.push(Round {
                    start: self.round_start.as_secs_f64(),
                    duration: p.elapsed.as_secs_f64(),
                    bytes: p.sent,
                    dirtied: Volume::ZERO,
                });
                // After post-copy the guest already runs on the destination: no resume left.
                let resume = if self.state == State::Final {
                    self.resume
                } else {
                    SimTime::ZERO
                };
                Action::Finish { resume }
            }
            State::Switchover => {
                // The guest runs on the destination; pages still dirty, and those dirtied since
                // the last sync, are pushed once each (max-postcopy-bandwidth 0: unlimited).
                self.sync(p.now);
                self.state = State::Postcopy;
                let (cap, bound) = self.limit(None);
                Action::Send {
                    bytes: self.wire(),
                    cap,
                    check_at: None,
                    phase: Phase::Postcopy,
                    bound,
                }
            }
        }
    }

    fn timeout(&mut self, p: &Progress, how: OnTimeout) -> Option<Action> {
        if how == OnTimeout::Cancel {
            return None;
        }
        match self.state {
            State::Disk => {
                // The block copy goes on; the memory phase will see the new setting.
                self.disk_left = (self.disk_left - p.sent).max(Volume::ZERO);
                if let OnTimeout::RaiseLimit(dl) = how {
                    self.downtime_limit = dl;
                }
                self.postcopy_requested |= how == OnTimeout::Postcopy;
                Some(self.disk_send(self.disk_left))
            }
            State::Precopy => {
                self.absorb(p);
                match how {
                    OnTimeout::RaiseLimit(dl) => self.downtime_limit = dl,
                    OnTimeout::Postcopy => self.postcopy_requested = true,
                    OnTimeout::Cancel => {}
                }
                Some(self.precopy(p.now))
            }
            // Past the point of no return: the guest is paused or already on the destination.
            State::FinalSync | State::Final | State::Switchover | State::Postcopy => None,
        }
    }

    fn rounds(&self) -> &[Round] {
        &self.rounds
    }

    fn throttle(&self) -> f64 {
        self.throttle
    }

    fn dirty_cap(&self) -> Option<Bandwidth> {
        self.dirty_limit.filter(|_| self.limiting)
    }

    fn syncs(&self) -> u32 {
        self.syncs
    }
}

#[cfg(test)]
mod tests;
