//! A plan as plain text for the terminal (`rollpilot plan`), and its step markers.

use super::types::*;
use std::fmt::Write;

/// Markers shown before a step: what the operator must do and what the step costs.
pub fn markers(s: &Step) -> Vec<&'static str> {
    let mut m = Vec::new();
    match s.confirm {
        Confirm::Yes => m.push("confirm"),
        Confirm::Typed => m.push("TYPED CONFIRM"),
        Confirm::Optional => m.push("optional"),
        Confirm::None => {}
    }
    if s.downtime {
        m.push("DOWNTIME");
    }
    if s.irreversible {
        m.push("IRREVERSIBLE");
    }
    if s.data_loss {
        m.push("DATA LOSS");
    }
    m
}

/// The whole plan, readable in a terminal or a change ticket (sanitized: safe to print).
pub fn to_text(p: &Plan) -> String {
    let mut o = String::new();
    let from: Vec<String> = p.from_versions.iter().map(|v| v.to_string()).collect();
    let what = match p.direction {
        Direction::Upgrade => format!("rolling upgrade {} → {}", from.join(", "), p.target),
        Direction::Downgrade => format!("rolling DOWNGRADE {} → {}", from.join(", "), p.target),
        Direction::Nothing => format!("nothing to do: every node already runs {}", p.target),
    };
    let _ = writeln!(o, "Plan for cluster {} (profile {}): {what}", p.cluster, p.profile.as_str());
    let _ = writeln!(o);
    let _ = writeln!(o, "Nodes:");
    let w = p.nodes.iter().map(|n| n.node.len()).max().unwrap_or(4);
    let gw = p.nodes.iter().map(|n| n.group.len()).max().unwrap_or(5);
    for n in &p.nodes {
        let from = n.from.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "?".into());
        // A skipped member whose version could not be read ends on that same unknown version.
        let to = if n.from.is_none() && n.disposition == "skipped" { "?".to_string() } else { n.to.to_string() };
        let _ = writeln!(o, "  {:w$}  {:gw$}  {:>10} → {:<10}  {}", n.node, n.group, from, to, n.disposition);
    }
    if !p.notes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Notes:");
        for n in &p.notes {
            let mark = if n.level == Level::Warning { "!" } else { "-" };
            match n.rule {
                Some(r) => {
                    let _ = writeln!(o, "  {mark} {r}: {}", n.text);
                }
                None => {
                    let _ = writeln!(o, "  {mark} {}", n.text);
                }
            }
        }
    }
    if !p.typed_confirmations.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Typed confirmations needed (type the cluster name; headless: --confirm={}):", p.cluster);
        for t in &p.typed_confirmations {
            let rule = t.rule.map(|r| format!("{r}: ")).unwrap_or_default();
            let _ = writeln!(o, "  - {rule}{} (step {})", t.reason, t.step);
        }
    }
    let mut headed: Vec<(String, usize)> = Vec::new();
    for (pi, ph) in p.phases.iter().enumerate() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Phase {}. {}", pi + 1, ph.title);
        let _ = writeln!(o, "   {}", ph.reason);
        for (si, s) in ph.steps.iter().enumerate() {
            if let Some(ponr) = &p.point_of_no_return
                && ponr.crossed_by.as_deref() == Some(s.id.as_str())
            {
                let _ = writeln!(
                    o,
                    "   ── rollback possible until here ── past this line nothing can be rolled back (R14 point-of-no-return: {})",
                    ponr.declared
                );
            }
            if let Some(b) = p.batch_of(&s.node)
                && !headed.contains(&(b.group.clone(), b.number))
            {
                headed.push((b.group.clone(), b.number));
                let _ = writeln!(
                    o,
                    "   ── batch {}/{}: {} run side by side (one confirmation for the batch) — safe because {}",
                    b.number,
                    b.of,
                    b.nodes.join(", "),
                    b.why_safe
                );
            }
            let m = markers(s);
            let m = if m.is_empty() { String::new() } else { format!(" [{}]", m.join("] [")) };
            let _ = writeln!(o, "   {}.{} {} {}{m}", pi + 1, si + 1, s.action, s.node);
            let _ = writeln!(o, "       {}", s.summary);
            if let Some(c) = &s.command {
                let _ = writeln!(o, "       $ {c}");
            }
            for g in &s.before {
                let _ = writeln!(o, "       before: {}: {}", g.rule(), g.describe());
            }
            for g in &s.after {
                let _ = writeln!(o, "       after:  {}: {}", g.rule(), g.describe());
            }
            let _ = writeln!(o, "       why: {}", s.reason);
            let _ = writeln!(o, "       if it fails: {}", s.rollback);
        }
    }
    // Names, commands and notes come from the config and from what nodes reported: whatever
    // escape sequence they hold is shown, never sent to the terminal.
    crate::sanitize::clean_text(&o)
}
