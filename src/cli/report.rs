//! `rollpilot report`: the maintenance report of a run, read from its journal.

use super::common::say;
use super::common::{load_config, print_out};
use super::exit;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `rollpilot report`.
#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    /// The run id (default: the newest run, of the cluster given with -c).
    run: Option<String>,
    /// Narrow to this cluster's runs.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// md or json.
    #[arg(long, default_value = "md", value_parser = ["md", "json"])]
    format: String,
    /// Where journals live (default: $XDG_STATE_HOME/rollpilot).
    #[arg(long, value_name = "DIR", env = "ROLLPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// Finds the run (named, or the newest) and prints its report as Markdown or JSON.
pub(super) fn run(a: &ReportArgs) -> u8 {
    use crate::run::{report, runs};
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    if let Some(d) = &a.state_dir
        && d.exists()
        && !d.is_dir()
    {
        say!("--state-dir {}: is a file, not a directory; give the directory that holds the runs", d.display());
        return exit::USAGE;
    }
    let cluster = match &a.config {
        Some(p) => match load_config(p) {
            Ok(c) => Some(c.name),
            Err(code) => return code,
        },
        None => None,
    };
    let all = runs::list(&state_dir, cluster.as_deref());
    let chosen = match &a.run {
        Some(id) => all.into_iter().find(|r| &r.run == id),
        None => all.into_iter().last(),
    };
    let Some(r) = chosen else {
        say!(
            "no run {}found in {}",
            a.run.as_ref().map(|r| format!("{r} ")).unwrap_or_default(),
            state_dir.join("runs").display()
        );
        return exit::USAGE;
    };
    let (entries, _) = match runs::load(&r) {
        Ok(x) => x,
        Err(e) => {
            say!("{e}");
            return exit::FAILED;
        }
    };
    // A rehearsal run carries its rehearsal report (plan, projection, faults, data check).
    let rehearsal = r.journal.parent().map(|d| {
        let md = std::fs::read_to_string(d.join(crate::rehearse::REPORT_MD)).ok();
        let json = std::fs::read_to_string(d.join(crate::rehearse::REPORT_JSON))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        (md, json)
    });
    let (rehearsal_md, rehearsal_json) = rehearsal.unwrap_or_default();
    if a.format == "json" {
        let mut value = report::json(&r.run, &entries);
        if let (Some(j), Some(obj)) = (rehearsal_json, value.as_object_mut()) {
            obj.insert("rehearsal".into(), j);
        }
        match serde_json::to_string_pretty(&value) {
            Ok(s) => print_out(&format!("{s}\n")).err().unwrap_or(exit::OK),
            Err(e) => {
                say!("cannot encode JSON: {e}");
                exit::FAILED
            }
        }
    } else {
        let mut text = report::markdown(&r.run, &entries);
        if let Some(md) = rehearsal_md {
            text = format!("{md}\n---\n\n{text}");
        }
        print_out(&text).err().unwrap_or(exit::OK)
    }
}
