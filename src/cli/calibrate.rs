//! `migsim calibrate`: the cluster's own migration constants, from executed plans.

use std::path::PathBuf;

use super::Failure;
use crate::base::write_atomic;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  migsim execute plan1/plan.json --connect … --yes\n  migsim calibrate plan1 --out calibration.toml\n  # next plan: include = [\"cluster.toml\", \"calibration.toml\"]\n\nEach folder is a `migsim plan` output that `migsim execute` has run: plan.json,\nscenario.toml and execution.csv. Exit codes: 0 fitted, 2 bad input or too few migrations."
)]
pub struct CalibrateArgs {
    /// Executed plan folders.
    #[arg(required = true)]
    pub plans: Vec<PathBuf>,
    /// The overlay to write (default: print it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: &CalibrateArgs) -> Result<(), Failure> {
    let c = crate::plan::calibrate::calibrate(&a.plans).map_err(Failure::BadInput)?;
    let overlay = c.overlay();
    match &a.out {
        Some(p) => {
            write_atomic(p, overlay.as_bytes())
                .map_err(|e| Failure::Failed(format!("{}: {e}", p.display())))?;
            print!("{}", c.report());
            println!("wrote {}", p.display());
        }
        None => print!("{overlay}"),
    }
    Ok(())
}
