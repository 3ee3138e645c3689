//! The maintenance report (`rollpilot report`): the change record a maintenance window needs,
//! built from the journal alone — who confirmed what and when, which gate facts allowed each
//! step, every command with its exit status and output tail, and the versions before and after.

use super::journal::{DecisionRecord, Entry, Outcome, Record};
use crate::model::NodeObs;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

fn nodes_table(o: &mut String, before: Option<&BTreeMap<String, NodeObs>>, after: Option<&BTreeMap<String, NodeObs>>) {
    let _ = writeln!(o, "| node | before | after | role after | sync after |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    let names: Vec<&String> = before
        .into_iter()
        .flat_map(|m| m.keys())
        .chain(after.into_iter().flat_map(|m| m.keys()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for n in names {
        let v = |m: Option<&BTreeMap<String, NodeObs>>| {
            m.and_then(|m| m.get(n))
                .and_then(|x| x.version.as_ref().map(|v| v.to_string()))
                .unwrap_or_else(|| "?".into())
        };
        let a = after.and_then(|m| m.get(n));
        let _ = writeln!(
            o,
            "| {n} | {} | {} | {} | {} |",
            v(before),
            v(after),
            a.map(|x| x.role.to_string()).unwrap_or_default(),
            a.map(|x| x.sync.to_string()).unwrap_or_default()
        );
    }
}

/// A value inside a Markdown table cell: on one line, control characters visible, `|` escaped.
fn cell(s: &str) -> String {
    crate::sanitize::clean_line(s).replace('|', "\\|")
}

/// The report as Markdown. Names, arguments (`--operator`) and node output are made visible
/// (never sent to a terminal or a renderer as escape sequences); the JSON form keeps them exact.
pub fn markdown(run: &str, entries: &[Entry]) -> String {
    let mut o = String::new();
    let first = entries.first().map(|e| e.ts);
    let last = entries.last().map(|e| e.ts);
    let mut snapshots: BTreeMap<String, BTreeMap<String, NodeObs>> = BTreeMap::new();
    for e in entries {
        if let Record::Observed { when, nodes } = &e.record {
            snapshots.entry(when.clone()).or_insert_with(|| nodes.clone());
            if when == "end" {
                snapshots.insert("end".into(), nodes.clone());
            }
        }
    }
    let outcome = entries.iter().rev().find_map(|e| match &e.record {
        Record::RunFinished { outcome, message } => Some((outcome.clone(), message.clone())),
        _ => None,
    });
    for e in entries {
        if let Record::RunStarted { cluster, config, config_hash, target, operator, machine, mode, rollpilot, .. } =
            &e.record
        {
            let _ = writeln!(
                o,
                "# Maintenance report: rolling upgrade of {} to {}\n",
                crate::sanitize::clean_line(cluster),
                crate::sanitize::clean_line(target)
            );
            let _ = writeln!(o, "| | |\n|---|---|");
            let _ = writeln!(o, "| run | {run} |");
            let _ = writeln!(
                o,
                "| outcome | {} |",
                outcome
                    .as_ref()
                    .map(|(a, m)| format!("**{}**: {}", cell(&a.to_string()), cell(m)))
                    .unwrap_or_else(|| "**unfinished** (interrupted; `rollpilot resume` continues it)".into())
            );
            let _ = writeln!(o, "| started | {} |", first.map(|t| t.to_string()).unwrap_or_default());
            let _ = writeln!(o, "| last record | {} |", last.map(|t| t.to_string()).unwrap_or_default());
            if let (Some(a), Some(b)) = (first, last) {
                let secs = b.as_second() - a.as_second();
                let _ = writeln!(o, "| duration | {}m{:02}s |", secs / 60, secs % 60);
            }
            let _ = writeln!(o, "| operator | {} on {} ({}) |", cell(operator), cell(machine), cell(mode));
            let _ = writeln!(o, "| config | {} (fingerprint {}) |", cell(config), cell(config_hash));
            let _ = writeln!(o, "| rollpilot | {} |", cell(rollpilot));
            break;
        }
    }
    let _ = writeln!(o, "\n## Versions\n");
    nodes_table(&mut o, snapshots.get("start"), snapshots.get("end"));

    steps_table(&mut o, entries);

    let _ = writeln!(o, "\n## Timeline\n");
    let mut ended = false;
    for e in entries {
        let t = e.ts.strftime("%H:%M:%S");
        if !matches!(e.record, Record::Resumed { .. } | Record::Observed { .. }) {
            ended = matches!(e.record, Record::RunFinished { .. });
        }
        match &e.record {
            Record::Resumed { operator, machine, mode } => {
                if !ended {
                    let _ = writeln!(
                        o,
                        "- {t} **interruption**: the run had stopped without an end record (rollpilot was killed, crashed or lost its machine)"
                    );
                }
                let _ = writeln!(
                    o,
                    "- {t} **resumed** by {} on {} ({mode})",
                    crate::sanitize::clean_line(operator),
                    crate::sanitize::clean_line(machine)
                );
            }
            Record::Policy { pause, why } => {
                let _ = writeln!(o, "- {t} pause policy **{}**: {}", pause.as_str(), crate::sanitize::clean_line(why));
            }
            Record::Reattached { step, attempt } => {
                let _ = writeln!(
                    o,
                    "- {t} re-attached to `{step}` attempt {attempt} (its job was still there; not run again)"
                );
            }
            Record::Planned { reason, plan } => {
                let _ = writeln!(o, "- {t} **plan** ({reason}): {} steps", plan.steps().count());
                for n in &plan.notes {
                    let _ = writeln!(o, "  - {}{}", n.rule.map(|r| format!("{r}: ")).unwrap_or_default(), n.text);
                }
            }
            Record::Gate { step, gate, open: true, facts, when } => {
                let _ = writeln!(o, "- {t} gate {when} `{step}`: {} — {}: {facts}", gate.rule(), gate.describe());
            }
            Record::Gate { step, gate, open: false, facts, .. } => {
                let _ = writeln!(o, "- {t} waiting at `{step}`: {} — blocked: {facts}", gate.describe());
            }
            Record::Decided { step, decision, by, typed } => {
                let what = match decision {
                    DecisionRecord::Proceed => "confirmed".to_string(),
                    DecisionRecord::Decline => "declined (optional step)".into(),
                    DecisionRecord::Retry => "chose retry".into(),
                    DecisionRecord::Rollback => "chose rollback of the node".into(),
                    DecisionRecord::Skip { node } => format!("skipped node {node}"),
                    DecisionRecord::Abort => "aborted".into(),
                    DecisionRecord::AcceptDone => "accepted an in-doubt step as done".into(),
                    DecisionRecord::BreakLock => "broke an expired lock".into(),
                    DecisionRecord::KeepWaiting => "chose to keep waiting".into(),
                };
                let typed = typed.as_ref().map(|_| " (typed the cluster name)").unwrap_or("");
                let _ = writeln!(o, "- {t} **{by}** {what} `{step}`{typed}");
            }
            Record::StepStarted { step, attempt, job } => {
                let _ = writeln!(o, "- {t} ▶ `{}` attempt {attempt}: {}", step.id, step.summary);
                if let Some(c) = &step.command {
                    let _ = writeln!(o, "  - command on {}: `{c}` (job {job})", step.node);
                }
            }
            Record::StepFinished { step, outcome, exit, output_tail, duration_ms, .. } => {
                let _ = writeln!(
                    o,
                    "- {t} `{step}` {} (exit {}, {:.1}s)",
                    match outcome {
                        Outcome::Ok => "ok",
                        Outcome::Failed => "**FAILED**",
                        Outcome::TimedOut => "**TIMED OUT**",
                        Outcome::Lost => "**LOST**",
                        Outcome::NotStarted => "never started (rollpilot stopped before its job existed)",
                    },
                    exit.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                    *duration_ms as f64 / 1000.0
                );
                if !output_tail.is_empty() {
                    let _ = writeln!(o, "  - output: `{}`", crate::sanitize::clean_line(output_tail).replace('`', "'"));
                }
            }
            Record::StepDone { step } => {
                let _ = writeln!(o, "- {t} ✓ `{step}` verified");
            }
            Record::Note { text } => {
                let _ = writeln!(o, "- {t} note: {}", crate::sanitize::clean_line(text));
            }
            Record::RunFinished { outcome, message } => {
                let word = match outcome.as_str() {
                    "interrupted" => "**interruption**: run interrupted",
                    "aborted" => "**run aborted**",
                    "done" => "**run done**",
                    _ => "**run ended**",
                };
                let _ = writeln!(o, "- {t} {word} ({outcome}): {}", crate::sanitize::clean_line(message));
            }
            Record::Context { .. } | Record::RunStarted { .. } | Record::Observed { .. } => {}
        }
    }
    // Whatever reached the text unescaped above (node names, step ids, commands) is made
    // visible here too; line breaks of the Markdown itself are kept.
    crate::sanitize::clean_text(&o)
}

/// One row per step: its attempts, how long its commands ran, and the time from its first
/// start to its verification (checks and waits included) — what the step really took.
fn steps_table(o: &mut String, entries: &[Entry]) {
    struct Row {
        id: String,
        attempts: u32,
        command_ms: u64,
        first: jiff::Timestamp,
        done: Option<jiff::Timestamp>,
        last: String,
    }
    let mut rows: Vec<Row> = Vec::new();
    for e in entries {
        match &e.record {
            Record::StepStarted { step, attempt, .. } => {
                match rows.iter_mut().find(|r| r.id == step.id && r.done.is_none()) {
                    Some(r) => r.attempts = r.attempts.max(*attempt),
                    None => rows.push(Row {
                        id: step.id.clone(),
                        attempts: *attempt,
                        command_ms: 0,
                        first: e.ts,
                        done: None,
                        last: "started".into(),
                    }),
                }
            }
            Record::StepFinished { step, outcome, duration_ms, .. } => {
                if let Some(r) = rows.iter_mut().rev().find(|r| &r.id == step) {
                    r.command_ms += duration_ms;
                    r.last = format!("{outcome:?}").to_lowercase();
                }
            }
            Record::StepDone { step } => {
                if let Some(r) = rows.iter_mut().rev().find(|r| &r.id == step && r.done.is_none()) {
                    r.done = Some(e.ts);
                    r.last = "verified".into();
                }
            }
            _ => {}
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Steps\n");
    let _ = writeln!(o, "| step | attempts | command time | until verified | state |\n|---|---|---|---|---|");
    for r in rows {
        let until = r
            .done
            .map(|d| format!("{:.1}s", (d.as_millisecond() - r.first.as_millisecond()) as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "| `{}` | {} | {:.1}s | {until} | {} |",
            r.id,
            r.attempts,
            r.command_ms as f64 / 1000.0,
            r.last
        );
    }
}

/// The report as JSON: the summary plus every journal entry.
pub fn json(run: &str, entries: &[Entry]) -> serde_json::Value {
    let started = entries.iter().find_map(|e| match &e.record {
        Record::RunStarted { cluster, target, operator, machine, mode, config, .. } => Some(json!({"cluster": cluster, "target": target, "operator": operator, "machine": machine, "mode": mode, "config": config})),
        _ => None,
    });
    let outcome = entries.iter().rev().find_map(|e| match &e.record {
        Record::RunFinished { outcome, message } => Some(json!({"outcome": outcome, "message": message})),
        _ => None,
    });
    let steps: Vec<serde_json::Value> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepFinished { step, attempt, outcome, exit, duration_ms, .. } => Some(json!({"step": step, "attempt": attempt, "outcome": outcome, "exit": exit, "duration_ms": duration_ms, "at": e.ts})),
            _ => None,
        })
        .collect();
    json!({"run": run, "summary": started, "end": outcome, "steps": steps, "entries": entries})
}
