//! What a QEMU migration stream makes of a page before it goes on the wire, beyond the zero
//! page: multifd compression (`multifd-compression` zlib or zstd, migration/multifd-zlib.c and
//! multifd-zstd.c) and XBZRLE delta encoding (migration/xbzrle.c, migration/page_cache.c,
//! `save_xbzrle_page` in migration/ram.c).
//!
//! Both trade the sender's CPU for wire bytes, and both change when QEMU switches over: it
//! compares the dirty memory still to send, counted in whole pages
//! (`ram_state_pending_estimate`), with the wire bandwidth it achieved times `downtime-limit`.
//! A stream that sends fewer bytes per page lowers that threshold, so XBZRLE helps only once
//! it makes rounds short enough that the guest dirties less than the smaller threshold allows.

use std::fmt;

use crate::units::Volume;

/// A compression method of multifd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Zlib,
    Zstd,
}

/// Multifd compression: each channel compresses the normal pages of its packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compression {
    pub method: Method,
    pub level: u32,
}

/// A method and level measured on the lab core: CPU seconds one channel spends per page byte
/// on random memory and on the lab's text-like memory, and the ratio it reaches on the
/// latter. Measured with the sender alone (one multifd channel, the stream to a discarding
/// socket) on 1 GiB of each, less the zero-page scan and the socket writes of the
/// uncompressed `null-*-mfd1` runs (`null-{rand,text}-1g-of-2g-mfd1-{zstd1,zstd3,zlib1}` in
/// validation/qemu-lab, medians of repeats). zstd gives up quickly on data it cannot shrink
/// (0.23 ns a byte) and runs at about 430 MB/s on text; zlib is slowest on random data
/// (64 MB/s), where deflate finds no matches, and 166 MB/s on text. zstd level 3 cost what level 1 did on 512 KiB
/// multifd packets, where zstd's published Silesia speeds say level 3 is 1.6× slower: the
/// published figures do not carry over, so only measured levels are modelled.
struct Measured {
    method: Method,
    level: u32,
    random_secs: f64,
    text_secs: f64,
    text_ratio: f64,
}

const MEASURED: [Measured; 3] = [
    Measured {
        method: Method::Zstd,
        level: 1,
        random_secs: 0.23e-9,
        text_secs: 2.34e-9,
        text_ratio: LAB_TEXT,
    },
    Measured {
        method: Method::Zstd,
        level: 3,
        random_secs: 0.36e-9,
        text_secs: 2.35e-9,
        text_ratio: 4.915,
    },
    Measured {
        method: Method::Zlib,
        level: 1,
        random_secs: 15.6e-9,
        text_secs: 6.03e-9,
        text_ratio: 4.167,
    },
];

/// What zstd level 1 makes of a guest's normal pages when the scenario does not say: the
/// Silesia corpus's 2.887 (zstd's benchmark table, <https://facebook.github.io/zstd/>), a mix
/// of text, executables, databases and images. Random or encrypted memory does not shrink
/// (1.0); the lab's text-like memory went 4.71× smaller. At this compressibility the lab's
/// zstd level 1 runs at 502 MB/s, beside the 510 MB/s zstd publishes for a 4.9 GHz desktop
/// core on Silesia.
pub const DEFAULT_COMPRESSIBILITY: f64 = 2.887;

/// The compressibility of the lab's text-like memory under zstd level 1
/// (`null-text-1g-of-2g-mfd1-zstd1`: 1 GiB in 217.4 MiB).
pub const LAB_TEXT: f64 = 4.71;

impl Compression {
    /// Parses `zstd:1`, `zlib:1`, `zstd` (QEMU's default level 1, `multifd-zstd-level` and
    /// `multifd-zlib-level` in migration/options.c) or `none`.
    pub fn parse(s: &str) -> Result<Option<Compression>, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (
                n,
                l.parse::<u32>()
                    .map_err(|_| format!("compression level `{l}` is not a number"))?,
            ),
            None => (s, 1),
        };
        let method = match name {
            "none" => return Ok(None),
            "zstd" => Method::Zstd,
            "zlib" => Method::Zlib,
            _ => {
                return Err(format!(
                    "unknown compression `{name}`: expected none, zstd[:LEVEL] or zlib[:LEVEL]"
                ));
            }
        };
        let c = Compression { method, level };
        if c.measured().is_none() {
            let known: Vec<String> = MEASURED
                .iter()
                .map(|m| {
                    Compression {
                        method: m.method,
                        level: m.level,
                    }
                    .to_string()
                })
                .collect();
            return Err(format!(
                "{c} has not been measured; the model knows {}",
                known.join(", ")
            ));
        }
        Ok(Some(c))
    }

    fn measured(&self) -> Option<&'static Measured> {
        MEASURED
            .iter()
            .find(|m| m.method == self.method && m.level == self.level)
    }

    fn table(&self) -> &'static Measured {
        self.measured()
            .expect("compression levels are checked when parsed")
    }

    /// The share of the way from random to the lab's text-like memory a guest of this
    /// compressibility is: the compressed share of a byte, 1 − 1/ratio, relative to the
    /// text's. Exact for a mix of the two (`null-mixed-*` in validation/qemu-lab).
    fn text_share(compressibility: f64) -> f64 {
        (1.0 - 1.0 / compressibility.max(1.0)) / (1.0 - 1.0 / LAB_TEXT)
    }

    /// How many times smaller a guest's normal pages get, for a guest whose pages zstd level 1
    /// shrinks `compressibility` times: the compressed share of a byte scales with the
    /// method's on text, so incompressible memory stays incompressible whatever the method.
    pub fn ratio(&self, compressibility: f64) -> f64 {
        let text = 1.0 - 1.0 / self.table().text_ratio;
        1.0 / (1.0 - Self::text_share(compressibility) * text)
    }

    /// CPU seconds one channel spends compressing one byte of a guest whose memory zstd
    /// level 1 shrinks `compressibility` times: between the method's random and text-like
    /// costs by the same share.
    pub fn secs_per_byte(&self, compressibility: f64) -> f64 {
        let m = self.table();
        m.random_secs + (m.text_secs - m.random_secs) * Self::text_share(compressibility)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = match self.method {
            Method::Zlib => "zlib",
            Method::Zstd => "zstd",
        };
        write!(f, "{m}:{}", self.level)
    }
}

/// XBZRLE's cache of pages sent, `xbzrle-cache-size` bytes; QEMU's default is 64 MiB
/// (`DEFAULT_MIGRATE_XBZRLE_CACHE_SIZE`, migration/options.c).
pub const DEFAULT_XBZRLE_CACHE: Volume = Volume::bytes(64.0 * 1048576.0);

/// Bytes in front of each XBZRLE page: the page header (8-byte address and flags), the
/// `ENCODING_FLAG_XBZRLE` byte and a 2-byte length (`save_xbzrle_page`, migration/ram.c).
pub const XBZRLE_HEADER: f64 = 11.0;

/// XBZRLE on a guest whose re-written pages differ from their last sent copy in `delta`
/// bytes, in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Xbzrle {
    /// `xbzrle-cache-size`.
    pub cache: Volume,
    /// Bytes of a re-dirtied page that changed since it was sent.
    pub delta: f64,
}

impl Xbzrle {
    /// The share of a working set of `region` bytes whose pages the cache holds. The cache has
    /// a power of two of page slots (`cache_init` rounds the size down) indexed by page number
    /// modulo the slot count (`cache_get_cache_pos`), and a cached page that keeps being sent
    /// is not replaced (`CACHED_PAGE_LIFETIME`, page_cache.c): a contiguous working set larger
    /// than the cache keeps as many pages as there are slots, and the others always miss.
    pub fn fit(&self, region: Volume) -> f64 {
        let slots = (self.cache.in_pages().floor().max(1.0))
            .log2()
            .floor()
            .exp2();
        let pages = region.in_pages();
        if pages <= 0.0 {
            1.0
        } else {
            (slots / pages).min(1.0)
        }
    }

    /// Wire bytes of one page that hits the cache: the header, a zero run and a non-zero run
    /// (each length in ULEB128, one byte below 128 and two up to a page), and the changed
    /// bytes (`xbzrle_encode_buffer`, migration/xbzrle.c). An encoding that would not fit in a
    /// page is sent as a normal page instead (overflow).
    pub fn hit_wire(&self) -> f64 {
        let delta = self.delta.clamp(0.0, Volume::PAGE.as_bytes());
        let uleb = |n: f64| if n < 128.0 { 1.0 } else { 2.0 };
        // The changed run may start anywhere in the page: its offset takes two bytes (one
        // only in the first 128 bytes, which this ignores).
        let encoded = 2.0 + uleb(delta) + delta;
        let page = Volume::PAGE.as_bytes();
        if encoded > page {
            page + 8.0
        } else {
            XBZRLE_HEADER + encoded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_unknown_ones_are_refused_with_the_known_list() {
        assert_eq!(Compression::parse("none").unwrap(), None);
        let z = Compression::parse("zstd").unwrap().unwrap();
        assert_eq!(z.to_string(), "zstd:1");
        assert_eq!(
            Compression::parse("zlib:1").unwrap().unwrap().method,
            Method::Zlib
        );
        let e = Compression::parse("zlib:6").unwrap_err();
        assert!(e.contains("zlib:6") && e.contains("zstd:3"), "{e}");
        assert!(Compression::parse("lz4").is_err());
        assert!(Compression::parse("zstd:x").is_err());
    }

    #[test]
    fn random_memory_does_not_shrink_and_zlib_is_slowest_on_it() {
        let z1 = Compression::parse("zstd:1").unwrap().unwrap();
        let z3 = Compression::parse("zstd:3").unwrap().unwrap();
        let zl = Compression::parse("zlib:1").unwrap().unwrap();
        assert_eq!(z1.ratio(1.0), 1.0);
        assert_eq!(zl.ratio(1.0), 1.0);
        assert!((z1.ratio(4.71) - 4.71).abs() < 1e-12);
        assert!(z3.ratio(4.71) > 4.71 && zl.ratio(4.71) < 4.71);
        // Half random, half text: 1 / (0.5 + 0.5 / 4.71).
        let mixed = 1.0 / (0.5 + 0.5 / 4.71);
        assert!((z1.ratio(mixed) - mixed).abs() < 1e-12);
        // zstd is cheap on what it cannot shrink, zlib is not; higher levels cost more.
        assert!(z1.secs_per_byte(1.0) < z1.secs_per_byte(4.71));
        assert!(zl.secs_per_byte(1.0) > zl.secs_per_byte(4.71));
        assert!((z1.secs_per_byte(4.71) - 2.34e-9).abs() < 1e-15);
        // Silesia's compressibility lands near zstd's published 510 MB/s.
        let silesia = 1.0 / z1.secs_per_byte(DEFAULT_COMPRESSIBILITY) / 1e6;
        assert!((silesia - 502.0).abs() < 5.0, "{silesia}");
    }

    #[test]
    fn the_cache_holds_a_working_set_up_to_its_power_of_two_slots() {
        let x = Xbzrle {
            cache: Volume::mib(512.0),
            delta: 1.0,
        };
        assert_eq!(x.fit(Volume::mib(256.0)), 1.0);
        let small = Xbzrle {
            cache: Volume::mib(128.0),
            ..x
        };
        assert_eq!(small.fit(Volume::mib(256.0)), 0.5);
        // 100 MiB rounds down to 64 MiB of slots.
        let odd = Xbzrle {
            cache: Volume::mib(100.0),
            ..x
        };
        assert_eq!(odd.fit(Volume::mib(256.0)), 0.25);
    }

    #[test]
    fn a_one_byte_change_costs_fourteen_bytes_and_a_whole_page_overflows() {
        let x = |delta| Xbzrle {
            cache: DEFAULT_XBZRLE_CACHE,
            delta,
        };
        assert_eq!(x(1.0).hit_wire(), 11.0 + 2.0 + 1.0 + 1.0);
        assert_eq!(x(64.0).hit_wire(), 11.0 + 2.0 + 1.0 + 64.0);
        assert_eq!(x(4096.0).hit_wire(), 4096.0 + 8.0);
    }
}
