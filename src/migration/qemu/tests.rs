//! The QEMU pre-copy model against known cases: syncs, caps, zero pages, non-convergence and
//! its escapes, post-copy, storage, compression, XBZRLE and dirty-limit.

use super::*;
use crate::migration::Hypervisor;
use crate::migration::fixed_link::{drive, guest, settings};
use crate::migration::postcopy::{Cold, Postcopy};

const MIB: f64 = 1048576.0;
const LINK_BPS: f64 = 1547e6 / 8.0;
const LINK: Bandwidth = Bandwidth::bytes_per_sec(LINK_BPS);

#[test]
fn an_idle_guest_syncs_three_times() {
    // Setup sync, the sync below the threshold, the final sync at completion.
    let g = guest(256.0, 0.0, 0.0);
    let s = settings(Hypervisor::Qemu);
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    assert_eq!(r.syncs, 3);
    assert!((r.bytes.as_bytes() - 256.0 * MIB).abs() < 1.0);
    // The switch happens with up to one threshold (128 MiB/s × 300 ms) unsent.
    let last = r.rounds.last().unwrap().bytes.as_bytes();
    assert!(last > 0.0 && last <= 38.4 * MIB + 1.0, "{}", last / MIB);
}

#[test]
fn the_final_copy_runs_at_link_speed_not_the_cap() {
    let g = guest(256.0, 0.0, 0.0);
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(32.0));
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    let last = r.rounds.last().unwrap();
    assert!((last.bytes.as_bytes() / last.duration - LINK_BPS).abs() / LINK_BPS < 0.01);
    assert!(r.downtime_ms < 300.0);
}

#[test]
fn zero_pages_cost_nine_bytes() {
    let mut g = guest(256.0, 0.0, 0.0);
    g.nonzero = Volume::mib(128.0);
    let s = settings(Hypervisor::Qemu);
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    let want = Volume::mib(128.0) + ZERO_PAGE_WIRE * 32768.0;
    assert!(
        (r.bytes - want).as_bytes().abs() < 1.0,
        "{} vs {}",
        r.bytes,
        want
    );
}

#[test]
fn a_writer_faster_than_the_link_never_converges_until_cancelled() {
    let g = guest(256.0, 50.0, 64.0);
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(32.0));
    let timeout = Some((SimTime::from_secs(60), OnTimeout::Cancel));
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, timeout);
    assert!(r.cancelled);
    assert!(r.syncs > 20, "{}", r.syncs);
    assert!(r.bytes > Volume::mib(1800.0), "{}", r.bytes);
}

#[test]
fn raising_the_downtime_limit_ends_a_non_converging_migration() {
    let g = guest(256.0, 50.0, 64.0);
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(32.0));
    let how = OnTimeout::RaiseLimit(SimTime::from_secs(5));
    let r = drive(
        Box::new(Qemu::new(g.clone(), &s)),
        &g,
        LINK,
        Some((SimTime::from_secs(40), how)),
    );
    assert!(!r.cancelled);
    assert!(r.total_s > 40.0 && r.total_s < 41.0, "{}", r.total_s);
}

#[test]
fn auto_converge_throttles_twenty_then_ten_more_up_to_99() {
    let mut g = guest(256.0, 50.0, 64.0);
    g.dirty.writer_cpu_share = 1.0;
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(32.0));
    s.auto_converge = true;
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    assert!(!r.cancelled);
    let t = r.max_throttle;
    assert!((0.2..=0.99).contains(&t), "{t}");
    let steps = (t - 0.2) / 0.1;
    assert!(
        (steps - steps.round()).abs() < 1e-6 || (t - 0.99).abs() < 1e-9,
        "{t}"
    );
    // A writer that needs little CPU is not slowed until the deepest throttle.
    g.dirty.writer_cpu_share = 0.005;
    let r = drive(
        Box::new(Qemu::new(g.clone(), &s)),
        &g,
        LINK,
        Some((SimTime::from_secs(300), OnTimeout::Cancel)),
    );
    assert!(r.cancelled, "a 0.5 % writer outlives a 99 % throttle");
    assert!((r.max_throttle - THROTTLE_MAX).abs() < 1e-9);
}

#[test]
fn postcopy_sends_every_page_once_with_a_short_downtime() {
    let g = guest(1024.0, 200.0, 512.0);
    let s = settings(Hypervisor::Postcopy);
    let r = drive(Box::new(Postcopy::new(g.clone(), &s)), &g, LINK, None);
    assert!((r.bytes.as_bytes() - 1024.0 * MIB).abs() < 1.0);
    assert!(
        r.downtime_ms < 1.0,
        "the push happens after the guest resumed"
    );
}

#[test]
fn cold_migration_downtime_is_the_whole_copy() {
    let g = guest(1024.0, 200.0, 512.0);
    let mut s = settings(Hypervisor::Cold);
    s.max_bandwidth = None;
    let r = drive(Box::new(Cold::new(g.clone(), &s)), &g, LINK, None);
    let copy_ms = 1024.0 * MIB / LINK_BPS * 1e3;
    assert!(
        (r.downtime_ms - copy_ms - 5.0).abs() < 1.0,
        "{}",
        r.downtime_ms
    );
}

#[test]
fn storage_migration_copies_the_disk_first() {
    let g = guest(256.0, 0.0, 0.0);
    let mut s = settings(Hypervisor::Storage);
    s.max_bandwidth = None;
    let r = drive(
        Box::new(
            Qemu::new(g.clone(), &s).with_disk(Volume::mib(1024.0), Bandwidth::mib_per_sec(10.0)),
        ),
        &g,
        LINK,
        None,
    );
    let disk_s = 1024.0 * MIB / LINK_BPS;
    assert!(r.bytes > Volume::mib(1024.0 + 256.0), "{}", r.bytes);
    assert!(r.total_s > disk_s + 256.0 * MIB / LINK_BPS, "{}", r.total_s);
}

#[test]
fn dirty_limit_holds_a_writer_to_its_quota_where_auto_converge_would_throttle() {
    let g = guest(256.0, 50.0, 64.0);
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(32.0));
    let cancel = Some((SimTime::from_secs(120), OnTimeout::Cancel));
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, cancel);
    assert!(r.cancelled, "50 MiB/s against 32 MiB/s never converges");
    s.dirty_limit = Some(Bandwidth::bytes_per_sec(1e6));
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, cancel);
    assert!(!r.cancelled);
    assert_eq!(r.max_throttle, 0.0, "the vCPUs are not throttled");
    // Two rate periods over the trigger, then rounds shrink to what 1 MB/s dirties.
    assert!(r.total_s < 30.0, "{}", r.total_s);
}

#[test]
fn xbzrle_sends_whole_pages_until_they_are_cached_then_only_their_changes() {
    let mut g = guest(1024.0, 98.7, 256.0);
    g.nonzero = Volume::mib(257.0);
    g.page_delta = 1.0;
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = Some(Bandwidth::mib_per_sec(64.0));
    s.xbzrle_cache = Some(Volume::mib(512.0));
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    assert!(!r.cancelled);
    let sent: Vec<f64> = r.rounds.iter().map(|x| x.bytes.as_mib()).collect();
    // First pass, then the dirtied working set as normal pages (misses that fill the
    // cache), then a few MiB at most.
    assert!(sent[0] > 200.0 && sent[1] > 200.0, "{sent:?}");
    assert!(sent[2..].iter().all(|&b| b < 20.0), "{sent:?}");
}

#[test]
fn compression_shrinks_what_goes_on_the_wire() {
    use crate::migration::encoding::Compression;
    let g = guest(1024.0, 0.0, 0.0);
    let mut s = settings(Hypervisor::Qemu);
    s.max_bandwidth = None;
    s.compression = Compression::parse("zstd:1").unwrap();
    let r = drive(Box::new(Qemu::new(g.clone(), &s)), &g, LINK, None);
    let want = 1024.0 / crate::migration::encoding::DEFAULT_COMPRESSIBILITY;
    assert!((r.bytes.as_mib() / want - 1.0).abs() < 0.01, "{}", r.bytes);
}
