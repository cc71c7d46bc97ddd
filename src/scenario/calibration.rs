//! The `[calibration]` table: constants fitted to a cluster's measured migrations.

use serde::{Deserialize, Serialize};

use crate::units::{Bandwidth, Duration};

/// `[calibration.host_type.NAME]`: what `migsim calibrate` fitted from a cluster's executed
/// plans, for migrations from hosts of that type. An overlay the next plan includes; a table
/// keyed by host-type name, so that it merges over an inventory instead of replacing it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSpec {
    #[serde(default)]
    pub host_type: std::collections::BTreeMap<String, HostCalibration>,
}

/// One host type's fitted constants; each one absent keeps the model's own.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostCalibration {
    /// The rate a migration stream from this host type really reaches: its sender's rate
    /// (`host_type.migration.send_rate`), and its NIC's when the NIC was assumed slower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_rate: Option<Bandwidth>,
    /// The pause after the last page (device state, handover, resume):
    /// `migration.resume_time` for migrations from this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<Duration>,
    /// A pause per GiB of the guest's memory on top of `switchover` (a final dirty-bitmap
    /// walk or memory handover that grows with the guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover_per_gib: Option<Duration>,
    /// Time from the start of the job to the first page: libvirt's preparation of the
    /// destination (it starts the destination's QEMU) and the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Duration>,
    /// How many measured migrations it was fitted on (for the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<u32>,
}
