//! Reproductions of published and measured results: `migsim reproduce NAME`.

pub mod beloglazov2012;
pub mod clark2005;
pub mod lab;
pub mod qemu;

/// The two QEMU processes of a measured run as two hosts of `host_type` (`qemu-0` the source,
/// `qemu-1` the destination), and one guest of `mem_mib` MiB with one vCPU, as scenario TOML
/// (the guest's contents and the migration follow).
pub(crate) fn two_hosts_one_guest(host_type: &str, mem_mib: impl std::fmt::Display) -> String {
    format!(
        "[[hosts]]\ntype = \"{host_type}\"\ncount = 2\nname = \"qemu-{{i}}\"\n\
         [[vms]]\nname = \"guest\"\ncount = 1\nvcpus = 1\nvcpu_mips = 2000\nram = \"{mem_mib}MiB\"\n"
    )
}
