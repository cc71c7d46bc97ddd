//! Quantities with arithmetic, for the models that compute with them.
//!
//! The migration algorithms and the network treat data as a fluid: a transfer of 1 GiB at
//! 117 MB/s is 9.18 s, and 40 % of a page may be sent when a check time comes. So the models
//! count in fractional bytes ([`Volume`]) and bytes per second ([`Bandwidth`]), and time is the
//! simulation clock ([`SimTime`]). The operators below are the only sanctioned ways to combine
//! them: a rate times a time is a volume, a volume over a time is a rate, and a volume over a
//! rate is how long it takes. Each is one floating-point operation on the base units, so a model
//! written with them computes exactly what it would with raw numbers.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, Sub, SubAssign};

use serde::Serialize;

use super::{Bandwidth, Bytes, PAGE_SIZE};
use crate::engine::SimTime;

/// An amount of data, in bytes, that may be fractional.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize)]
#[serde(transparent)]
pub struct Volume(f64);

impl Volume {
    pub const ZERO: Volume = Volume(0.0);
    /// One guest page (4 KiB).
    pub const PAGE: Volume = Volume(PAGE_SIZE.0 as f64);

    pub const fn bytes(b: f64) -> Volume {
        Volume(b)
    }
    pub fn mib(n: f64) -> Volume {
        Volume(n * 1048576.0)
    }
    pub const fn as_bytes(self) -> f64 {
        self.0
    }
    pub fn as_mib(self) -> f64 {
        self.0 / 1048576.0
    }
    /// Decimal megabytes (10^6), as Clark et al. count them.
    pub fn as_mb(self) -> f64 {
        self.0 / 1e6
    }
    /// Pages of 4 KiB, fractional.
    pub fn in_pages(self) -> f64 {
        self.0 / PAGE_SIZE.0 as f64
    }
    pub fn max(self, other: Volume) -> Volume {
        Volume(self.0.max(other.0))
    }
    pub fn min(self, other: Volume) -> Volume {
        Volume(self.0.min(other.0))
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0.0
    }
    /// How long sending this takes at `rate`, in seconds.
    pub fn secs_at(self, rate: Bandwidth) -> f64 {
        self.0 / rate.as_bytes_per_sec()
    }
    /// How long sending this takes at `rate`, rounded up to the clock's resolution, so that
    /// the whole volume has gone by then.
    pub fn time_at(self, rate: Bandwidth) -> SimTime {
        SimTime::from_secs_f64_ceil(self.secs_at(rate))
    }
}

impl From<Bytes> for Volume {
    fn from(b: Bytes) -> Volume {
        Volume(b.0 as f64)
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}MiB", super::trim_float(self.as_mib()))
    }
}

impl Add for Volume {
    type Output = Volume;
    fn add(self, o: Volume) -> Volume {
        Volume(self.0 + o.0)
    }
}

impl Sub for Volume {
    type Output = Volume;
    fn sub(self, o: Volume) -> Volume {
        Volume(self.0 - o.0)
    }
}

impl AddAssign for Volume {
    fn add_assign(&mut self, o: Volume) {
        self.0 += o.0;
    }
}

impl SubAssign for Volume {
    fn sub_assign(&mut self, o: Volume) {
        self.0 -= o.0;
    }
}

impl Mul<f64> for Volume {
    type Output = Volume;
    fn mul(self, k: f64) -> Volume {
        Volume(self.0 * k)
    }
}

impl Div<f64> for Volume {
    type Output = Volume;
    fn div(self, k: f64) -> Volume {
        Volume(self.0 / k)
    }
}

/// The ratio of two volumes.
impl Div for Volume {
    type Output = f64;
    fn div(self, o: Volume) -> f64 {
        self.0 / o.0
    }
}

/// The rate that sent this volume in this time.
impl Div<SimTime> for Volume {
    type Output = Bandwidth;
    fn div(self, t: SimTime) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.0 / t.as_secs_f64())
    }
}

impl Sum for Volume {
    fn sum<I: Iterator<Item = Volume>>(it: I) -> Volume {
        Volume(it.map(|v| v.0).sum())
    }
}

/// What a rate moves in a time.
impl Mul<SimTime> for Bandwidth {
    type Output = Volume;
    fn mul(self, t: SimTime) -> Volume {
        Volume(self.as_bytes_per_sec() * t.as_secs_f64())
    }
}

impl Mul<f64> for Bandwidth {
    type Output = Bandwidth;
    fn mul(self, k: f64) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec() * k)
    }
}

impl Div<f64> for Bandwidth {
    type Output = Bandwidth;
    fn div(self, k: f64) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec() / k)
    }
}

/// The ratio of two rates.
impl Div for Bandwidth {
    type Output = f64;
    fn div(self, o: Bandwidth) -> f64 {
        self.as_bytes_per_sec() / o.as_bytes_per_sec()
    }
}

impl Add for Bandwidth {
    type Output = Bandwidth;
    fn add(self, o: Bandwidth) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec() + o.as_bytes_per_sec())
    }
}

impl AddAssign for Bandwidth {
    fn add_assign(&mut self, o: Bandwidth) {
        *self = *self + o;
    }
}

impl Sub for Bandwidth {
    type Output = Bandwidth;
    fn sub(self, o: Bandwidth) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec() - o.as_bytes_per_sec())
    }
}

impl Bandwidth {
    /// No limit: the rate of a flow without a cap.
    pub const UNLIMITED: Bandwidth = Bandwidth::from_raw(f64::INFINITY);

    pub fn min(self, o: Bandwidth) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec().min(o.as_bytes_per_sec()))
    }
    pub fn max(self, o: Bandwidth) -> Bandwidth {
        Bandwidth::bytes_per_sec(self.as_bytes_per_sec().max(o.as_bytes_per_sec()))
    }
    pub fn is_positive(self) -> bool {
        self.as_bytes_per_sec() > 0.0
    }
    pub fn is_finite(self) -> bool {
        self.as_bytes_per_sec().is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_over_a_time_is_a_volume_and_back() {
        let link = Bandwidth::mbit(1000.0);
        let t = SimTime::from_millis(1500);
        let v = link * t;
        assert_eq!(v, Volume::bytes(187_500_000.0));
        assert_eq!(v / t, link);
        assert_eq!(v.secs_at(link), 1.5);
        assert_eq!(v.time_at(link), t);
    }

    #[test]
    fn the_operators_are_the_arithmetic_on_base_units() {
        // The models must give the same figures with units as with raw numbers.
        let (a, b) = (1.0e9_f64 / 3.0, 7.0_f64);
        assert_eq!((Volume::bytes(a) * b).as_bytes(), a * b);
        assert_eq!(Volume::bytes(a) / Volume::bytes(b), a / b);
        assert_eq!(
            (Bandwidth::bytes_per_sec(a) * SimTime::from_millis(7)).as_bytes(),
            a * 0.007
        );
        assert_eq!(Volume::PAGE.in_pages(), 1.0);
        assert_eq!(Volume::from(Bytes::mib(3)).as_mib(), 3.0);
        let total: Volume = [1.0, 2.0, 3.5].iter().map(|&b| Volume::bytes(b)).sum();
        assert_eq!(total, Volume::bytes(6.5));
    }
}
