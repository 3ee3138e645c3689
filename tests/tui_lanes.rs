//! The lanes line: while several steps run side by side (a batch, or server groups with
//! `parallel_groups`), the header names each lane's step, not only the last one started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rollpilot::model::*;
use rollpilot::plan::{PlanRequest, RunContext, plan};
use rollpilot::run::events::Event;
use rollpilot::tui::view::header::lanes_text;
use rollpilot::tui::{Action, State, Theme, update};
use semver::Version;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PEERS: &str = r#"
[cluster]
name = "sb"
target = "1.1.0"
profile = "any-order"
compat = "any"

[kinds.node]
version = "v {host}"
status = "s {host}"
stop = "stop {host}"
install = "install {host} {version}"
start = "start {host}"

[kinds.node.parse]
role = { regex = 'role=(\S+)', map = { "up" = "none", "down" = "stopped" } }

[[groups]]
name = "trading"
type = "peer"
kind = "node"
max_unavailable = 2
hosts = ["sb-1", "sb-2", "sb-3"]
"#;

#[test]
fn the_header_names_every_step_running_side_by_side() {
    let cluster = rollpilot::config::parse_str(PEERS, "c.toml", Path::new(".")).unwrap();
    let mut observed = Observed::default();
    for n in ["sb-1", "sb-2", "sb-3"] {
        observed.nodes.insert(
            n.into(),
            NodeObs {
                reachable: true,
                version: Some(Version::parse("1.0.0").unwrap()),
                role: Role::None,
                health: Health::Ok,
                ..Default::default()
            },
        );
    }
    let p = plan(&PlanRequest {
        cluster: &cluster,
        observed: &observed,
        target: Version::parse("1.1.0").unwrap(),
        context: &RunContext::default(),
    })
    .unwrap();
    assert_eq!(p.batches[0].nodes, vec!["sb-1", "sb-2"]);
    let mut state =
        State::new(Arc::new(cluster), PathBuf::from("c.toml"), None, Theme::monochrome(), jiff::Timestamp::now());
    update(&mut state, Action::Exec(Event::Planned { plan: Box::new(p.clone()), reason: "initial plan".into() }));
    let step = |id: &str| Box::new(p.step(id).unwrap().clone());
    update(
        &mut state,
        Action::Exec(Event::StepStarted { step: step("trading/sb-1/stop"), attempt: 1, job: String::new() }),
    );
    assert_eq!(lanes_text(&state), None, "one step running: the usual current step");
    update(
        &mut state,
        Action::Exec(Event::StepStarted { step: step("trading/sb-2/stop"), attempt: 1, job: String::new() }),
    );
    assert_eq!(lanes_text(&state).as_deref(), Some("side by side: trading: stop sb-1 · trading: stop sb-2"));
}
