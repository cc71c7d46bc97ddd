//! Single-migration predictions per second: `cargo bench --bench predict`.
//!
//! A planner asks "how long would this VM take to move, and how long would it pause?" for every
//! candidate move. This prints how many such answers the QEMU model gives per second on a link
//! of fixed speed (`migration::fixed_link`), for guests from 8 to 512 GiB with and without a
//! dirtying workload. Figures, not pass/fail; the target is at least 100 000 per second.

use std::time::Instant;

use migsim::engine::SimTime;
use migsim::migration::fixed_link::drive;
use migsim::migration::{Guest, Hypervisor, OnTimeout, Sender, Settings, algorithm};
use migsim::model::dirty::DirtyModel;
use migsim::units::{Bandwidth, Volume};

fn settings(multifd: u32) -> Settings {
    Settings {
        hypervisor: Hypervisor::Qemu,
        max_bandwidth: None,
        downtime_limit: SimTime::from_millis(300),
        auto_converge: false,
        dirty_limit: None,
        timeout: Some(SimTime::from_secs(3600)),
        on_timeout: OnTimeout::Cancel,
        resume_time: Hypervisor::Qemu.default_resume_time(),
        suspend_time: SimTime::ZERO,
        sender: Some(Sender::with_channels(
            migsim::migration::sender::DEFAULT_SCAN_RATE,
            migsim::migration::sender::DEFAULT_SEND_RATE,
            multifd,
            64,
        )),
        disk: Volume::ZERO,
        disk_dirty_rate: Bandwidth::ZERO,
        compression: None,
        xbzrle_cache: None,
    }
}

fn main() {
    let link = Bandwidth::gbit(100.0);
    println!("QEMU pre-copy predictions on a fixed 100 Gbit/s link, this machine, release build");
    println!(
        "{:<44} {:>12} {:>10} {:>10} {:>8}",
        "guest", "predictions/s", "total s", "downtime ms", "syncs"
    );
    let cases: [(&str, f64, f64, f64, u32); 6] = [
        ("8 GiB of data, no writes", 8.0, 0.0, 0.0, 0),
        (
            "64 GiB, 200 MiB/s over a 4 GiB working set",
            64.0,
            200.0,
            4096.0,
            0,
        ),
        ("64 GiB, same, multifd 8", 64.0, 200.0, 4096.0, 8),
        ("256 GiB, 1 GiB/s over 16 GiB", 256.0, 1024.0, 16384.0, 8),
        ("512 GiB of data, no writes", 512.0, 0.0, 0.0, 0),
        (
            "512 GiB, 2 GiB/s over 64 GiB, multifd 16",
            512.0,
            2048.0,
            65536.0,
            16,
        ),
    ];
    for (name, gib, rate_mib, wws_mib, multifd) in cases {
        let guest = Guest::new(
            Volume::mib(gib * 1024.0),
            Volume::mib(gib * 1024.0),
            DirtyModel::wws(Bandwidth::mib_per_sec(rate_mib), Volume::mib(wws_mib)),
        );
        let s = settings(multifd);
        let timeout = Some((SimTime::from_secs(3600), OnTimeout::Cancel));
        let mut n = 0u64;
        let start = Instant::now();
        let mut last = None;
        while start.elapsed().as_secs_f64() < 1.0 {
            let r = drive(algorithm(guest.clone(), &s, link), &guest, link, timeout);
            last = Some(r);
            n += 1;
        }
        let per_s = n as f64 / start.elapsed().as_secs_f64();
        let r = last.expect("ran at least once");
        println!(
            "{name:<44} {per_s:>12.0} {:>10.2} {:>10.1} {:>8}{}",
            r.total_s,
            r.downtime_ms,
            r.syncs,
            if r.cancelled {
                "  (did not converge in 1 h)"
            } else {
                ""
            }
        );
    }
}
