//! Reproductions of published and measured results: `migsim reproduce NAME`.

pub mod clark2005;
pub mod lab;
pub mod qemu;
