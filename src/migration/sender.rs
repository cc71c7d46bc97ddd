//! What the source host's CPU lets a migration stream carry.
//!
//! A link of 10–100 Gbit/s is rarely what bounds a QEMU migration: its sending thread must read
//! every page of guest memory to find the zero pages (`buffer_is_zero` on each 4 KiB page,
//! `save_zero_page` in migration/ram.c, util/bufferiszero.c) and copy every other page into
//! the stream (`save_normal_page`). One thread does both in the legacy path; with the
//! `multifd` capability the channel threads send in parallel and test for zero pages
//! (`multifd_send_zero_page_detect` in migration/multifd-zero-page.c, QEMU's default
//! `zero-page-detection=multifd` since 9.0), while the migration thread still walks every page
//! of the bitmap to hand it out, so the scan stays as one thread's (see [`Sender::threads`]).
//! The stream then runs at the lowest of its network share, `max-bandwidth`, and what these
//! threads can produce. QEMU's switchover threshold uses
//! the bandwidth it really achieved, so a CPU-bound stream also changes when the migration stops
//! and whether it converges.

use crate::units::{Bandwidth, Volume};

/// Memory the sender scans per second for zero pages, when the scenario does not say: 20 GB/s.
/// Measured on a 2026 Xeon core (AVX-512) with the stream going to `cat > /dev/null`, the
/// sender alone: 16 GiB idle guests at 0.17–0.21 µs per zero page, 20–24 GB/s
/// (`null-idle-16g-ring` in `validation/qemu-lab`, and its dirty-bitmap twin). Zero pages of a
/// guest are mostly memory it never touched, which the host maps to one shared zero page, so
/// the scan reads from cache; a guest that zeroed its memory itself scans slower.
pub const DEFAULT_SCAN_RATE: Bandwidth = Bandwidth::bytes_per_sec(20e9);

/// Normal-page bytes one sending thread puts into a TCP stream per second, when the scenario
/// does not say: 1 GB/s (8 Gbit/s). Measured on the same core with the stream going to
/// `cat > /dev/null`, the consumer sharing the machine's two cores: 0.72–1.03 GB/s
/// (`null-rand-*` in `validation/qemu-lab`); and what QEMU's maintainers expect of one thread:
/// "any decent cpu should be able to push closer to 10Gbps even without multifd" (Peter Xu,
/// qemu-devel, 20 January 2026).
pub const DEFAULT_SEND_RATE: Bandwidth = Bandwidth::bytes_per_sec(1e9);

/// The sending side of one migration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sender {
    /// Memory one thread scans per second for zero pages.
    pub scan: Bandwidth,
    /// Normal-page bytes one thread sends per second.
    pub send: Bandwidth,
    /// Threads sending normal pages in parallel: 1 for QEMU's migration thread, the channels
    /// for multifd, never more than the source host's cores. Zero pages do not go faster with
    /// channels: the migration thread still walks the dirty bitmap and hands every page out,
    /// and an idle 16 GiB guest took 1.11 s with one thread and 1.25 s with two channels
    /// (`idle-16g-ring`, `idle-16g-ring-mfd2` in `validation/qemu-lab`).
    pub threads: f64,
}

impl Sender {
    /// `channels` multifd channels (0: multifd off) on a host with `cores` cores.
    pub fn with_channels(scan: Bandwidth, send: Bandwidth, channels: u32, cores: u32) -> Sender {
        let threads = if channels == 0 {
            1
        } else {
            channels.min(cores).max(1)
        };
        Sender {
            scan,
            send,
            threads: threads as f64,
        }
    }

    /// The wire rate the threads sustain for a transfer that puts `wire` bytes on the wire
    /// and costs the CPU `work`.
    pub fn ceiling(&self, wire: Volume, work: &Work) -> Bandwidth {
        let secs = work.scanned.secs_at(self.scan)
            + work.encode_secs
            + (work.written.secs_at(self.send) + work.compress_secs) / self.threads;
        if secs > 0.0 && wire.is_positive() {
            Bandwidth::bytes_per_sec(wire.as_bytes() / secs)
        } else {
            Bandwidth::UNLIMITED
        }
    }
}

/// What a transfer costs the sending threads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Work {
    /// Memory the migration thread walks and tests for zero pages (one thread).
    pub scanned: Volume,
    /// Bytes of pages written into the stream's sockets, split over the sending threads.
    pub written: Volume,
    /// CPU seconds of multifd compression, split over the channels.
    pub compress_secs: f64,
    /// CPU seconds of XBZRLE encoding, in the migration thread (XBZRLE is not used with
    /// multifd: `ram_save_target_page_multifd` in migration/ram.c does not call it).
    pub encode_secs: f64,
}

impl Work {
    /// Scanning `memory` and sending `normal` bytes of non-zero pages as they are.
    pub fn plain(memory: Volume, normal: Volume) -> Work {
        Work {
            scanned: memory,
            written: normal,
            ..Work::default()
        }
    }
}

/// What bounded a transfer: it ran at the rate of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Its share of the links on its path.
    Network,
    /// What the sending threads can produce.
    Cpu,
    /// A configured limit: QEMU's `max-bandwidth`, Xen's rate limit, a stream limit.
    Cap,
}

impl Bound {
    pub const ALL: [Bound; 3] = [Bound::Network, Bound::Cpu, Bound::Cap];

    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Network => "network",
            Bound::Cpu => "cpu",
            Bound::Cap => "cap",
        }
    }
}

/// The cap of a transfer that puts `wire` bytes on the wire and costs `work`: the lower of a
/// `configured` limit and, if the sender is modelled, its ceiling; and which one it is.
pub fn cap(
    sender: Option<Sender>,
    configured: Option<Bandwidth>,
    wire: Volume,
    work: &Work,
) -> (Option<Bandwidth>, Bound) {
    let cpu = sender.map_or(Bandwidth::UNLIMITED, |s| s.ceiling(wire, work));
    limit(configured, cpu)
}

/// The lower of a configured limit and the sender's ceiling, and which one it is.
pub fn limit(configured: Option<Bandwidth>, cpu: Bandwidth) -> (Option<Bandwidth>, Bound) {
    match configured {
        Some(c) if c <= cpu => (Some(c), Bound::Cap),
        _ if cpu.is_finite() => (Some(cpu), Bound::Cpu),
        _ => (configured, self::configured(configured)),
    }
}

/// What a transfer with only a configured limit (or none) runs at the rate of, when it runs at
/// its cap: the limit, or the network when there is none.
fn configured(cap: Option<Bandwidth>) -> Bound {
    match cap {
        Some(_) => Bound::Cap,
        None => Bound::Network,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_16_gib_guest_cannot_move_faster_than_its_memory_is_read() {
        // 16 GiB of zero pages: 9 bytes each on the wire, but every page is read.
        let memory = Volume::mib(16384.0);
        let wire = Volume::bytes(memory.in_pages() * 9.0);
        let legacy = Sender::with_channels(DEFAULT_SCAN_RATE, DEFAULT_SEND_RATE, 0, 32);
        let rate = legacy.ceiling(wire, &Work::plain(memory, Volume::ZERO));
        let secs = wire.secs_at(rate);
        assert!((secs - memory.as_bytes() / 20e9).abs() < 1e-9, "{secs}");
        assert!(secs > 0.85, "{secs} s");
    }

    #[test]
    fn channels_share_the_sending_up_to_the_cores_but_not_the_scan() {
        let (scan, send) = (DEFAULT_SCAN_RATE, DEFAULT_SEND_RATE);
        let one = Sender::with_channels(scan, send, 0, 32);
        let four = Sender::with_channels(scan, send, 4, 32);
        let capped = Sender::with_channels(scan, send, 8, 2);
        let v = Volume::mib(1024.0);
        assert_eq!(one.threads, 1.0);
        assert_eq!(capped.threads, 2.0);
        // Normal pages: four channels send four times as fast; zero pages: no faster.
        let normal = |s: &Sender| v.secs_at(s.ceiling(v, &Work::plain(Volume::ZERO, v)));
        assert!((normal(&one) / normal(&four) - 4.0).abs() < 1e-12);
        let zero = |s: &Sender| v.secs_at(s.ceiling(v, &Work::plain(v, Volume::ZERO)));
        assert_eq!(zero(&one), zero(&four));
    }

    #[test]
    fn the_lower_limit_binds_and_says_so() {
        let cpu = Bandwidth::gbit(9.6);
        assert_eq!(
            limit(Some(Bandwidth::mib_per_sec(128.0)), cpu),
            (Some(Bandwidth::mib_per_sec(128.0)), Bound::Cap)
        );
        assert_eq!(limit(None, cpu), (Some(cpu), Bound::Cpu));
        assert_eq!(
            limit(Some(Bandwidth::gbit(40.0)), cpu),
            (Some(cpu), Bound::Cpu)
        );
        assert_eq!(limit(None, Bandwidth::UNLIMITED), (None, Bound::Network));
    }
}
