//! The simulated data centre: hosts and their power, VMs and their workloads, the network.
//!
//! Plain data in arrays indexed by id ([`host::HostId`], [`vm::VmId`], [`network::LinkId`]);
//! behaviour that needs more than one of them lives in `sim`.

pub mod cpu;
pub mod dirty;
pub mod host;
pub mod network;
pub mod power;
pub mod vm;
