//! Quantities with their units in the type.
//!
//! Mixing MB with MiB, or Mbit/s with MiB/s, is the classic bug of this field: Clark et al. quote
//! rates in Mbit/s, QEMU's `max-bandwidth` is in bytes/s and its documentation in MiB/s, CloudSim
//! uses kbit/s. Every quantity that crosses a file boundary is parsed here, with its unit spelled
//! out, and stored in one canonical base unit (bytes, bytes per second, nanoseconds, watts).
//! Ambiguous spellings ("Mb", "m") are refused rather than guessed.

mod flow;

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::engine::SimTime;

pub use flow::Volume;

/// A failed parse: what was expected, and the text that was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}; got {got:?}{hint}")]
pub struct UnitError {
    pub expected: &'static str,
    pub got: String,
    pub hint: String,
}

impl UnitError {
    fn new(expected: &'static str, got: &str) -> Self {
        UnitError {
            expected,
            got: got.to_string(),
            hint: String::new(),
        }
    }

    fn with_hint(mut self, hint: &str) -> Self {
        self.hint = format!(" ({hint})");
        self
    }
}

/// Splits `"800 MiB"` into `(800.0, "MiB")`. The number may be fractional; white space between
/// number and unit is allowed.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == '_' || c == 'e' || c == 'E'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    // An exponent marker followed by a unit letter ("5e" in "5eB") is not a number; let the
    // float parser decide.
    let (num, unit) = s.split_at(end);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    let value: f64 = num.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Some((value, unit.trim()))
}

// ------------------------------------------------------------------------------------------------
// Bytes

/// An amount of memory or data, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub u64);

/// Size of a guest page on x86: QEMU `TARGET_PAGE_SIZE`, Xen `PAGE_SIZE` (4 KiB).
pub const PAGE_SIZE: Bytes = Bytes(4096);

impl Bytes {
    pub const fn new(b: u64) -> Self {
        Bytes(b)
    }
    pub const fn kib(n: u64) -> Self {
        Bytes(n << 10)
    }
    pub const fn mib(n: u64) -> Self {
        Bytes(n << 20)
    }
    pub const fn gib(n: u64) -> Self {
        Bytes(n << 30)
    }
    /// Decimal megabytes (10^6), as Clark et al. and CloudSim count memory.
    pub const fn mb(n: u64) -> Self {
        Bytes(n * 1_000_000)
    }
    pub const fn gb(n: u64) -> Self {
        Bytes(n * 1_000_000_000)
    }
    pub fn as_u64(self) -> u64 {
        self.0
    }
    pub fn as_f64(self) -> f64 {
        self.0 as f64
    }
    pub fn as_mib(self) -> f64 {
        self.0 as f64 / (1u64 << 20) as f64
    }
    /// Number of whole 4 KiB pages, rounding up.
    pub fn pages(self) -> u64 {
        self.0.div_ceil(PAGE_SIZE.0)
    }
}

impl FromStr for Bytes {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str = "a size with a unit, like \"800MiB\", \"4GB\" or \"4096B\"";
        let (v, unit) = split_number(s).ok_or_else(|| UnitError::new(EXPECTED, s))?;
        let mult: f64 = match unit {
            "B" => 1.0,
            "kB" | "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            "KiB" => 1024.0,
            "MiB" => 1048576.0,
            "GiB" => 1073741824.0,
            "TiB" => 1099511627776.0,
            "" => {
                return Err(UnitError::new(EXPECTED, s).with_hint("a bare number has no unit"));
            }
            "kb" | "Kb" | "Mb" | "Gb" | "Tb" | "b" => {
                return Err(UnitError::new(EXPECTED, s)
                    .with_hint("\"b\" is ambiguous: write MB for megabytes; bits are for rates"));
            }
            _ => return Err(UnitError::new(EXPECTED, s)),
        };
        let bytes = (v * mult).round();
        if bytes > u64::MAX as f64 {
            return Err(UnitError::new(EXPECTED, s).with_hint("too large"));
        }
        Ok(Bytes(bytes as u64))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, size) in UNITS {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{}", b / size, name);
            }
        }
        for (name, size) in UNITS {
            if b >= size {
                return write!(f, "{:.2}{}", b as f64 / size as f64, name);
            }
        }
        write!(f, "{b}B")
    }
}

// ------------------------------------------------------------------------------------------------
// Bandwidth

/// A data rate, stored in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Bandwidth(f64);

impl Bandwidth {
    pub const ZERO: Bandwidth = Bandwidth(0.0);

    const fn from_raw(b: f64) -> Self {
        Bandwidth(b)
    }

    pub const fn bytes_per_sec(b: f64) -> Self {
        Bandwidth(b)
    }
    pub fn bits_per_sec(b: f64) -> Self {
        Bandwidth(b / 8.0)
    }
    /// Megabits per second (10^6 bit/s), the unit of Clark et al. and of NIC speeds.
    pub fn mbit(n: f64) -> Self {
        Bandwidth(n * 1e6 / 8.0)
    }
    pub fn gbit(n: f64) -> Self {
        Bandwidth(n * 1e9 / 8.0)
    }
    /// Mebibytes per second, the unit of QEMU's `max-bandwidth` and libvirt's `--bandwidth`.
    pub fn mib_per_sec(n: f64) -> Self {
        Bandwidth(n * 1048576.0)
    }
    pub fn as_bytes_per_sec(self) -> f64 {
        self.0
    }
    pub fn as_mbit(self) -> f64 {
        self.0 * 8.0 / 1e6
    }
    pub fn as_mib_per_sec(self) -> f64 {
        self.0 / 1048576.0
    }
    pub fn is_zero(self) -> bool {
        self.0 <= 0.0
    }
}

impl FromStr for Bandwidth {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str =
            "a rate with a unit, like \"1Gbit/s\", \"100Mbit/s\" or \"128MiB/s\"";
        let (v, unit) = split_number(s).ok_or_else(|| UnitError::new(EXPECTED, s))?;
        let bits = |m: f64| Ok(Bandwidth(v * m / 8.0));
        let bytes = |m: f64| Ok(Bandwidth(v * m));
        match unit {
            "bit/s" | "bps" => bits(1.0),
            "kbit/s" | "kbps" | "Kbit/s" => bits(1e3),
            "Mbit/s" | "Mbps" => bits(1e6),
            "Gbit/s" | "Gbps" => bits(1e9),
            "Tbit/s" | "Tbps" => bits(1e12),
            "B/s" => bytes(1.0),
            "kB/s" | "KB/s" => bytes(1e3),
            "MB/s" => bytes(1e6),
            "GB/s" => bytes(1e9),
            "KiB/s" => bytes(1024.0),
            "MiB/s" => bytes(1048576.0),
            "GiB/s" => bytes(1073741824.0),
            "" => Err(UnitError::new(EXPECTED, s).with_hint("a bare number has no unit")),
            "Mb/s" | "Gb/s" | "kb/s" | "Kb/s" | "b/s" => Err(UnitError::new(EXPECTED, s)
                .with_hint("\"b\" is ambiguous: write Mbit/s for bits or MB/s for bytes")),
            _ => Err(UnitError::new(EXPECTED, s)),
        }
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.0 * 8.0;
        if bits >= 1e9 {
            write!(f, "{}Gbit/s", trim_float(bits / 1e9))
        } else if bits >= 1e6 {
            write!(f, "{}Mbit/s", trim_float(bits / 1e6))
        } else {
            write!(f, "{}bit/s", trim_float(bits))
        }
    }
}

/// Formats with at most 3 decimals and no trailing zeros, for stable human output.
pub fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

// ------------------------------------------------------------------------------------------------
// Durations

/// Parses `"300ms"`, `"5min"`, `"1.5s"`, `"24h"`, `"2d"` into simulation time (nanoseconds).
pub fn parse_duration(s: &str) -> Result<SimTime, UnitError> {
    const EXPECTED: &str = "a duration with a unit, like \"300ms\", \"5min\" or \"24h\"";
    let (v, unit) = split_number(s).ok_or_else(|| UnitError::new(EXPECTED, s))?;
    let ns_per: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        "" => return Err(UnitError::new(EXPECTED, s).with_hint("a bare number has no unit")),
        "m" => {
            return Err(UnitError::new(EXPECTED, s).with_hint("write \"min\" for minutes"));
        }
        _ => return Err(UnitError::new(EXPECTED, s)),
    };
    let ns = (v * ns_per).round();
    if ns > u64::MAX as f64 / 2.0 {
        return Err(UnitError::new(EXPECTED, s).with_hint("too long"));
    }
    Ok(SimTime::from_nanos(ns as u64))
}

/// Formats a duration with the largest unit that keeps it short and exact enough.
pub fn format_duration(t: SimTime) -> String {
    let ns = t.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000_000_000u64),
        ("h", 3_600_000_000_000),
        ("min", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    if ns >= 1_000_000_000 {
        return format!("{}s", trim_float(ns as f64 / 1e9));
    }
    format!("{ns}ns")
}

// ------------------------------------------------------------------------------------------------
// Power

/// Electrical power in watts.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Watts(pub f64);

impl FromStr for Watts {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str = "a power with a unit, like \"86W\" or \"1.2kW\"";
        let (v, unit) = split_number(s).ok_or_else(|| UnitError::new(EXPECTED, s))?;
        match unit {
            "W" => Ok(Watts(v)),
            "kW" => Ok(Watts(v * 1e3)),
            "" => Err(UnitError::new(EXPECTED, s).with_hint("a bare number has no unit")),
            _ => Err(UnitError::new(EXPECTED, s)),
        }
    }
}

impl fmt::Display for Watts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}W", trim_float(self.0))
    }
}

// ------------------------------------------------------------------------------------------------
// serde: quantities are strings with units in scenario files.

macro_rules! serde_via_str {
    ($ty:ty, $parse:expr, $show:expr, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        $parse(s).map_err(|e: UnitError| E::custom(e))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        Err(E::custom(format!(
                            "expected {} (a quoted string with a unit); got the bare number {v}",
                            $what
                        )))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_i64(v as i64)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        Err(E::custom(format!(
                            "expected {} (a quoted string with a unit); got the bare number {v}",
                            $what
                        )))
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&$show(self))
            }
        }
    };
}

// Each value is written short when the short form reads back exactly, and in its base unit
// otherwise ("134217728B/s", not a rounded "1.074Gbit/s"), so that a written scenario (a plan
// folder's `scenario.toml`) simulates the same as the one it came from.
serde_via_str!(
    Bytes,
    |s: &str| s.parse::<Bytes>(),
    |b: &Bytes| exact(b.to_string(), *b, || format!("{}B", b.0)),
    "a size like \"800MiB\""
);
serde_via_str!(
    Bandwidth,
    |s: &str| s.parse::<Bandwidth>(),
    |b: &Bandwidth| exact(b.to_string(), *b, || format!("{}B/s", b.0)),
    "a rate like \"1Gbit/s\""
);
serde_via_str!(
    Watts,
    |s: &str| s.parse::<Watts>(),
    |w: &Watts| exact(w.to_string(), *w, || format!("{}W", w.0)),
    "a power like \"86W\""
);

/// `short` if it parses back to `value`, else `base()`.
fn exact<T>(short: String, value: T, base: impl FnOnce() -> String) -> String
where
    T: std::str::FromStr + PartialEq,
{
    if short.parse::<T>().is_ok_and(|v| v == value) {
        short
    } else {
        base()
    }
}

/// A duration field in a scenario file; serde glue around [`SimTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub SimTime);

impl Duration {
    pub fn secs(s: u64) -> Self {
        Duration(SimTime::from_secs(s))
    }
    pub fn millis(ms: u64) -> Self {
        Duration(SimTime::from_millis(ms))
    }
    pub fn time(self) -> SimTime {
        self.0
    }
}

serde_via_str!(
    Duration,
    |s: &str| parse_duration(s).map(Duration),
    |d: &Duration| {
        let short = format_duration(d.0);
        if parse_duration(&short).is_ok_and(|t| t == d.0) {
            short
        } else {
            format!("{}ns", d.0.as_nanos())
        }
    },
    "a duration like \"300ms\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_distinguish_binary_and_decimal_prefixes() {
        assert_eq!("800MiB".parse::<Bytes>().unwrap(), Bytes(800 * 1048576));
        assert_eq!("800MB".parse::<Bytes>().unwrap(), Bytes(800_000_000));
        assert_eq!("4GB".parse::<Bytes>().unwrap(), Bytes(4_000_000_000));
        assert_eq!("4GiB".parse::<Bytes>().unwrap(), Bytes::gib(4));
        assert_eq!("1.5 KiB".parse::<Bytes>().unwrap(), Bytes(1536));
        assert_eq!("4096B".parse::<Bytes>().unwrap(), Bytes(4096));
    }

    #[test]
    fn bytes_refuse_bits_and_bare_numbers() {
        let e = "800Mb".parse::<Bytes>().unwrap_err();
        assert!(e.to_string().contains("ambiguous"), "{e}");
        assert!("800".parse::<Bytes>().is_err());
        assert!("MiB".parse::<Bytes>().is_err());
        assert!("-5MiB".parse::<Bytes>().is_err());
        assert!("8 gigs".parse::<Bytes>().is_err());
    }

    #[test]
    fn bandwidth_bits_and_bytes_do_not_mix() {
        let gbit = "1Gbit/s".parse::<Bandwidth>().unwrap();
        assert_eq!(gbit.as_bytes_per_sec(), 125_000_000.0);
        let mib = "128MiB/s".parse::<Bandwidth>().unwrap();
        assert_eq!(mib.as_bytes_per_sec(), 134_217_728.0);
        assert_eq!(
            "100Mbit/s".parse::<Bandwidth>().unwrap(),
            Bandwidth::mbit(100.0)
        );
        assert_eq!("10MB/s".parse::<Bandwidth>().unwrap().as_mbit(), 80.0);
        assert!("100Mb/s".parse::<Bandwidth>().is_err());
        assert!("100Mbit".parse::<Bandwidth>().is_err());
    }

    #[test]
    fn durations_parse_to_nanoseconds() {
        assert_eq!(parse_duration("300ms").unwrap(), SimTime::from_millis(300));
        assert_eq!(parse_duration("5min").unwrap(), SimTime::from_secs(300));
        assert_eq!(parse_duration("1.5s").unwrap(), SimTime::from_millis(1500));
        assert_eq!(parse_duration("24h").unwrap(), SimTime::from_secs(86_400));
        assert_eq!(parse_duration("50us").unwrap(), SimTime::from_nanos(50_000));
        assert!(
            parse_duration("5m")
                .unwrap_err()
                .to_string()
                .contains("min")
        );
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["800MiB", "4GiB", "4KiB", "100B"] {
            assert_eq!(s.parse::<Bytes>().unwrap().to_string(), s);
        }
        for s in ["300ms", "5min", "25h", "2d", "50us"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(Bandwidth::mbit(100.0).to_string(), "100Mbit/s");
        assert_eq!(Bandwidth::gbit(10.0).to_string(), "10Gbit/s");
        assert_eq!("86W".parse::<Watts>().unwrap(), Watts(86.0));
        assert_eq!("1.2kW".parse::<Watts>().unwrap(), Watts(1200.0));
    }

    #[test]
    fn pages_round_up() {
        assert_eq!(Bytes(4096).pages(), 1);
        assert_eq!(Bytes(4097).pages(), 2);
        assert_eq!(Bytes::mib(1).pages(), 256);
    }
}
