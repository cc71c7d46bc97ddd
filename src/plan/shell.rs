//! `plan.sh`: a plan as `virsh` commands, for operators who would rather read and run a shell
//! script than a JSON plan.
//!
//! The script runs the actions one at a time in the plan's (topological) order. It is a dry run
//! unless `MIGSIM_EXECUTE=yes`: it then prints each command, shell-quoted, instead of running
//! it. Every name the plan took from a scenario or an inventory is single-quoted, so names with
//! spaces, quotes, `$()` or newlines reach virsh as one argument and are never interpreted by
//! the shell. Domains are passed with `--domain`, so a name starting with `-` is not an option.

use std::fmt::Write as _;

use super::{ActionKind, ActionPlan, MigrationType, OnTimeout};

/// POSIX shell single-quoting: the result is one word whose value is exactly `s`.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            // Close the quote, add an escaped quote, reopen.
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// A comment line: newlines in names must not end the comment and start a command.
fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

pub fn script(plan: &ActionPlan) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        r#"#!/usr/bin/env bash
# migsim action plan {id}
# scenario {scenario}, seed {seed}, strategy {strategy}, {n} actions
# created by {by}
#
# A dry run unless MIGSIM_EXECUTE=yes: each command is printed, not run.
# Host URIs: MIGSIM_URI_PREFIX + host name + MIGSIM_URI_SUFFIX
#   (default qemu+ssh://HOST/system). Power actions call "$MIGSIM_POWER_CMD HOST on|off"
#   when it is set, and are only reported when it is not. Waits between the simulated policy
#   ticks (sleep actions) keep the plan's timing; MIGSIM_SKIP_WAITS=yes leaves them out.
# A failed command stops the script (set -e): libvirt leaves a VM whose migration failed
# running on its source, and nothing after the failure is done.
set -eu

uri() {{
  printf '%s%s%s' "${{MIGSIM_URI_PREFIX:-qemu+ssh://}}" "$1" "${{MIGSIM_URI_SUFFIX:-/system}}"
}}

run() {{
  if [ "${{MIGSIM_EXECUTE:-no}}" = yes ]; then
    "$@"
  else
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  fi
}}

node_power() {{
  if [ -n "${{MIGSIM_POWER_CMD:-}}" ]; then
    run "$MIGSIM_POWER_CMD" "$1" "$2"
  else
    printf 'power %s %s: set MIGSIM_POWER_CMD to do it\n' "$2" "$1"
  fi
}}

wait_for() {{
  if [ "${{MIGSIM_SKIP_WAITS:-no}}" = yes ]; then
    printf 'skipping a %s s wait\n' "$1"
  else
    run sleep "$1"
  fi
}}

step() {{
  printf '== %s\n' "$1"
}}

"#,
        id = comment(&plan.plan_id),
        scenario = comment(&plan.scenario),
        seed = plan.seed,
        strategy = comment(&plan.strategy),
        n = plan.actions.len(),
        by = comment(&plan.created_by),
    );
    for a in &plan.actions {
        let after = if a.parents.is_empty() {
            String::new()
        } else {
            format!(" (after {})", a.parents.join(", "))
        };
        let _ = writeln!(
            o,
            "# {} {}{}: predicted {:.1}-{:.1} s",
            a.id,
            a.type_name(),
            comment(&after),
            a.predicted.start_s,
            a.predicted.end_s
        );
        match &a.kind {
            ActionKind::Migrate(m) => {
                let vm = quote(&m.resource_name);
                let src = quote(&m.source_node);
                let dst = quote(&m.destination_node);
                let _ = writeln!(
                    o,
                    "step {}",
                    quote(&format!(
                        "{}: migrate {} from {} to {}",
                        a.id, m.resource_name, m.source_node, m.destination_node
                    ))
                );
                let _ = writeln!(
                    o,
                    "run virsh -c \"$(uri {src})\" migrate-setmaxdowntime --domain {vm} --downtime {}",
                    m.downtime_limit_ms
                );
                let mut flags = String::new();
                if m.migration_type == MigrationType::Live {
                    flags.push_str(" --live");
                }
                flags.push_str(" --persistent --undefinesource");
                if let Some(b) = m.bandwidth_mib_s {
                    let _ = write!(flags, " --bandwidth {b}");
                }
                if m.auto_converge {
                    flags.push_str(" --auto-converge");
                }
                if m.postcopy {
                    flags.push_str(" --postcopy --postcopy-after-precopy");
                }
                if m.copy_storage {
                    flags.push_str(" --copy-storage-all");
                }
                let mut prefix = String::new();
                match (m.timeout_s, m.on_timeout) {
                    (Some(t), Some(OnTimeout::Suspend)) => {
                        let _ = write!(flags, " --timeout {t} --timeout-suspend");
                    }
                    (Some(t), Some(OnTimeout::Postcopy)) => {
                        if !m.postcopy {
                            flags.push_str(" --postcopy");
                        }
                        let _ = write!(flags, " --timeout {t} --timeout-postcopy");
                    }
                    (Some(t), _) => {
                        // virsh aborts the migration job when interrupted: the VM stays on
                        // its source.
                        prefix = format!("timeout --signal=INT {t} ");
                    }
                    (None, _) => {}
                }
                let _ = writeln!(
                    o,
                    "run {prefix}virsh -c \"$(uri {src})\" migrate{flags} --domain {vm} --desturi \"$(uri {dst})\"",
                );
            }
            ActionKind::ChangeNodePowerState(p) => {
                let _ = writeln!(
                    o,
                    "step {}",
                    quote(&format!("{}: power {} {}", a.id, p.state, p.resource_name))
                );
                let _ = writeln!(
                    o,
                    "node_power {} {}",
                    quote(&p.resource_name),
                    quote(&p.state)
                );
            }
            ActionKind::HostMaintenance(m) => {
                let _ = writeln!(
                    o,
                    "step {}",
                    quote(&format!(
                        "{}: host {} enters maintenance (window {:.0}-{:.0} s); place nothing on it",
                        a.id, m.resource_name, m.window_start_s, m.window_end_s
                    ))
                );
            }
            ActionKind::Sleep(s) => {
                let _ = writeln!(o, "step {}", quote(&format!("{}: wait", a.id)));
                let _ = writeln!(o, "wait_for {}", s.duration_s);
            }
        }
    }
    o.push_str("step 'plan done'\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_character_literal() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn comments_never_break_lines() {
        assert_eq!(comment("a\nrm -rf /"), "a rm -rf /");
    }
}
