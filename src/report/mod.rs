//! Writing results: one small writer per output file, each written atomically.
//!
//! Every file is written to a temporary name in its final folder and renamed into place only
//! when complete, so a crash or an error never leaves a half-written `hosts.csv` that a later
//! tool would read as if it were whole. A writer dropped without `commit` removes its temporary.

pub mod comparison;
pub mod plot;

use std::io::{self, Write};
use std::path::Path;

use crate::base::AtomicFile;
use crate::engine::SimTime;
use crate::metrics::{Summary, TimelineRow};
use crate::model::host::{HostId, Hosts};
use crate::sim::Recorder;

/// Escapes text for HTML and XML (`report.html`, JUnit reports): the five characters markup
/// gives meaning to.
pub fn escape_markup(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub const HOSTS_HEADER: &str =
    "time_s,host,type,state,cpu_util,cpu_demand,power_w,energy_kwh,vms\n";
pub const TIMELINE_HEADER: &str =
    "time_s,active_hosts,hosts_on,power_w,energy_kwh,cpu_demand_mips,cpu_alloc_mips,running_vms\n";
/// One row per migration; the fields of `migsim migrate --json` (rounds' detail aside).
pub const MIGRATIONS_HEADER: &str = "vm,source,destination,hypervisor,outcome,reason,start_s,total_time_s,downtime_ms,transferred_bytes,rounds,max_throttle,degradation_s,stage0_s,stage1_s,stage2_s,stage3_s,stage4_s,stage5_s,bound_by\n";

/// `migrations.csv`: one row per migration, in the order they were asked for. A stage the
/// migration never reached has an empty cell.
pub fn migrations_csv(recs: &[crate::migration::MigrationRecord]) -> io::Result<Vec<u8>> {
    let mut out = MIGRATIONS_HEADER.as_bytes().to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut out);
        for r in recs {
            let mut row = vec![
                r.vm.clone(),
                r.source.clone(),
                r.destination.clone(),
                r.hypervisor.clone(),
                r.outcome.as_str().to_string(),
                r.reason.clone(),
                num(r.start_s),
                num(r.total_time_s),
                num(r.downtime_ms),
                num(r.transferred_bytes),
                r.rounds.to_string(),
                num(r.max_throttle),
                num(r.degradation_s),
            ];
            for st in crate::migration::Stage::ALL {
                row.push(r.stages.get(st).map(num).unwrap_or_default());
            }
            row.push(r.bound_by.as_str().to_string());
            w.write_record(&row)?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// Formats a float for CSV: shortest exact representation, so files are byte-identical for
/// identical runs and lose no precision.
fn num(x: f64) -> String {
    // -0.0 and 0.0 are the same quantity; print both as 0.0.
    ryu_like(if x == 0.0 { 0.0 } else { x })
}

fn ryu_like(x: f64) -> String {
    // serde_json's float formatting is the shortest round-trip representation.
    serde_json::Number::from_f64(x)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "NaN".into())
}

/// Writes the per-run files into an output folder.
pub struct FileRecorder {
    hosts: Option<csv::Writer<AtomicFile>>,
    events: Option<AtomicFile>,
}

impl FileRecorder {
    pub fn create(dir: &Path, hosts_csv: bool, events: bool) -> io::Result<FileRecorder> {
        let hosts = if hosts_csv {
            let mut f = AtomicFile::create(&dir.join("hosts.csv"))?;
            f.write_all(HOSTS_HEADER.as_bytes())?;
            Some(csv::WriterBuilder::new().has_headers(false).from_writer(f))
        } else {
            None
        };
        let events = if events {
            Some(AtomicFile::create(&dir.join("events.jsonl"))?)
        } else {
            None
        };
        Ok(FileRecorder { hosts, events })
    }

    pub fn commit(self) -> io::Result<()> {
        if let Some(h) = self.hosts {
            h.into_inner().map_err(|e| e.into_error())?.commit()?;
        }
        if let Some(e) = self.events {
            e.commit()?;
        }
        Ok(())
    }
}

impl Recorder for FileRecorder {
    fn host_sample(&mut self, t: SimTime, hosts: &Hosts) -> io::Result<()> {
        let Some(out) = self.hosts.as_mut() else {
            return Ok(());
        };
        let ts = num(t.as_secs_f64());
        for i in 0..hosts.len() {
            let h = HostId(i as u32);
            let cap = hosts.cpu_capacity[i];
            let demand = if cap > 0.0 {
                hosts.cpu_demand[i] / cap
            } else {
                0.0
            };
            out.write_record([
                ts.as_str(),
                &hosts.name[i],
                &hosts.host_type(h).name,
                hosts.state[i].as_str(),
                &num(hosts.utilisation(h)),
                &num(demand),
                &num(hosts.power_w[i]),
                &num(hosts.energy_j[i] / 3.6e6),
                &hosts.vm_count[i].to_string(),
            ])?;
        }
        Ok(())
    }

    fn event(&mut self, t: SimTime, kind: &str, subject: &str, detail: &str) -> io::Result<()> {
        let Some(out) = self.events.as_mut() else {
            return Ok(());
        };
        let line = serde_json::json!({
            "time_s": t.as_secs_f64(),
            "kind": kind,
            "subject": subject,
            "detail": detail,
        });
        writeln!(out, "{line}")
    }

    fn wants_events(&self) -> bool {
        self.events.is_some()
    }
}

/// `timeline.csv`: the cluster as a whole at each sample time.
pub fn timeline_csv(rows: &[TimelineRow]) -> String {
    let mut s = String::from(TIMELINE_HEADER);
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            num(r.time_s),
            r.active_hosts,
            r.hosts_on,
            num(r.power_w),
            num(r.energy_kwh),
            num(r.cpu_demand_mips),
            num(r.cpu_alloc_mips),
            r.running_vms
        ));
    }
    s
}

/// `traffic.csv`: each VM's own traffic over time, Mbit/s.
pub fn traffic_csv(rows: &[crate::sim::TrafficSample]) -> String {
    let mut s = String::from("time_s,vm,mbit_s\n");
    for r in rows {
        s.push_str(&format!("{},{},{}\n", num(r.time_s), r.vm, num(r.mbit_s)));
    }
    s
}

/// `summary.json`, pretty-printed with a trailing newline.
pub fn summary_json(s: &Summary) -> String {
    let mut j = serde_json::to_string_pretty(s).expect("summary serialises");
    j.push('\n');
    j
}

/// The short human summary printed after a run.
pub fn summary_text(s: &Summary, out_dir: Option<&Path>) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "scenario {} (seed {}), {} hosts, {} VMs, {} simulated, policy {}\n",
        s.scenario,
        s.seed,
        s.hosts,
        s.vms,
        crate::units::format_duration(SimTime::from_secs_f64(s.horizon_s)),
        s.policy
    ));
    t.push_str(&format!(
        "  energy        {:.3} kWh (mean {:.1} W)\n",
        s.energy_kwh, s.mean_power_w
    ));
    t.push_str(&format!(
        "  active hosts  peak {}, mean {:.1}; {} shutdowns\n",
        s.peak_active_hosts, s.mean_active_hosts, s.host_shutdowns
    ));
    t.push_str(&format!(
        "  CPU           {:.2} % of demand unmet; hosts overloaded {:.2} % of active time\n",
        100.0 * s.cpu_unmet_fraction,
        100.0 * s.overload_time_fraction
    ));
    t.push_str(&format!(
        "  migrations    {} ({} failed), {:.3} s total downtime\n",
        s.migrations,
        s.failed_migrations,
        s.total_downtime_s + 0.0
    ));
    if let (Some(saved), Some(pct)) = (s.energy_saved_kwh, s.energy_saved_pct)
        && s.policy != "none"
    {
        t.push_str(&format!(
            "  saved         {:.3} kWh ({:.1} %) against static placement (policy none)\n",
            saved + 0.0,
            pct + 0.0
        ));
    }
    if let Some(d) = out_dir {
        t.push_str(&format!("  results in    {}\n", d.display()));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_every_special_character() {
        assert_eq!(
            escape_markup("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn host_names_with_commas_are_quoted_in_hosts_csv() {
        let dir = tempfile::tempdir().unwrap();
        let mut hosts = Hosts {
            types: vec![crate::model::host::HostType {
                name: "t".into(),
                cores: 1,
                core_mips: 1000.0,
                ram: crate::units::Bytes::gib(1),
                nic: crate::units::Bandwidth::gbit(1.0),
                power: crate::model::power::PowerModel::Linear {
                    idle: 1.0,
                    max: 2.0,
                },
                states: crate::model::power::PowerStates::defaults_for(
                    &crate::model::power::PowerModel::Linear {
                        idle: 1.0,
                        max: 2.0,
                    },
                ),
                migration_scan: None,
                migration_send: None,
                migration_resume: None,
                migration_resume_per_gib: crate::engine::SimTime::ZERO,
                migration_setup: crate::engine::SimTime::ZERO,
            }],
            ..Hosts::default()
        };
        hosts.push(
            "rack 1, \"left\"".into(),
            0,
            crate::model::power::PowerState::On,
        );
        let mut rec = FileRecorder::create(dir.path(), true, false).unwrap();
        rec.host_sample(SimTime::ZERO, &hosts).unwrap();
        rec.commit().unwrap();
        let text = std::fs::read_to_string(dir.path().join("hosts.csv")).unwrap();
        assert!(
            text.contains("0.0,\"rack 1, \"\"left\"\"\",t,on,"),
            "{text}"
        );
    }

    #[test]
    fn floats_print_shortest_and_without_negative_zero() {
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(-0.0), "0.0");
        assert_eq!(num(300.0), "300.0");
    }
}
