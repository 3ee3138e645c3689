//! What the planner tests share: the example configs, observed states written as rows, and one
//! call that plans.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use rollpilot::config;
use rollpilot::model::*;
use rollpilot::plan::*;
use semver::Version;
use std::path::Path;

/// An example config from config/.
pub fn load(name: &str) -> Cluster {
    config::load(Path::new(&format!("{}/config/{name}.toml", env!("CARGO_MANIFEST_DIR")))).unwrap()
}

/// A config given as text (errors name test.toml).
pub fn parse(src: &str) -> Cluster {
    config::parse_str(src, "test.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// `(node, version, role, sync)`; role/sync words as the parsers use them; an empty version is
/// one that cannot be read.
pub fn observed(rows: &[(&str, &str, &str, &str)]) -> Observed {
    let mut o = Observed::default();
    for (n, v, r, s) in rows {
        o.nodes.insert(
            n.to_string(),
            NodeObs {
                reachable: true,
                version: if v.is_empty() { None } else { Some(Version::parse(v).unwrap()) },
                role: Role::from_word(r).unwrap(),
                sync: SyncState::from_word(s).unwrap(),
                health: if *r == "stopped" { Health::Failed } else { Health::Ok },
                ..Default::default()
            },
        );
    }
    o
}

/// Marks `node` unreachable, with the error the transport reported.
pub fn unreachable(o: &mut Observed, node: &str, error: &str) {
    o.nodes.insert(
        node.to_string(),
        NodeObs { reachable: false, error: Some(error.to_string()), role: Role::Unknown, ..Default::default() },
    );
}

/// Plans (or refuses) toward `target`.
pub fn run(c: &Cluster, o: &Observed, target: &str, ctx: &RunContext) -> Result<Plan, Refusal> {
    plan(&PlanRequest { cluster: c, observed: o, target: Version::parse(target).unwrap(), context: ctx })
}

/// The lines of the plan text from the one starting with `from` up to the next blank line.
pub fn section(text: &str, from: &str) -> Vec<String> {
    text.lines().skip_while(|l| !l.starts_with(from)).take_while(|l| !l.is_empty()).map(|l| l.to_string()).collect()
}
