//! The safety rules, by name. Every refusal, warning and gate cites one, so an operator can
//! look it up and a test can assert it. The checks made before anything is planned live here too,
//! one file per rule, each returning typed findings (refusals) or notes (warnings).

use serde::{Deserialize, Serialize};
use std::fmt;

pub(super) mod facts;
pub(super) mod r10_newer;
pub(super) mod r13_preflight;
pub(super) mod r14_no_return;
pub(super) mod r15_takeover;
pub(super) mod r1_version_compat;
pub(super) mod r3_data_loss;

/// A safety rule from the design (R1–R15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    /// Old and new versions must be compatible under the cluster's rule.
    #[serde(rename = "R1")]
    VersionCompat,
    /// A server group without a mirror cannot avoid downtime.
    #[serde(rename = "R2")]
    NoMirrorDowntime,
    /// A non-persistent group without a mirror loses its data on restart.
    #[serde(rename = "R3")]
    NoMirrorDataLoss,
    /// The procedure's order.
    #[serde(rename = "R4")]
    Order,
    /// Never stop an active unless a passive of its group is in sync.
    #[serde(rename = "R5")]
    SafeToStop,
    /// Each node must report the target version and rejoin in sync before the next is touched.
    #[serde(rename = "R6")]
    Verify,
    /// A partly upgraded cluster is a temporary state.
    #[serde(rename = "R7")]
    MixedVersion,
    /// Failback is an optional step of its own.
    #[serde(rename = "R8")]
    Failback,
    /// Steps that need the service offline are downtime.
    #[serde(rename = "R9")]
    OfflineStep,
    /// Nodes newer than the target are never touched silently.
    #[serde(rename = "R10")]
    NewerNode,
    /// A failure stops the rollout before anything else is touched.
    #[serde(rename = "R11")]
    DoNoHarm,
    /// Facts the plan assumed are re-checked before each step.
    #[serde(rename = "R12")]
    Drift,
    /// Every host passes the kind's preflight check before anything is touched.
    #[serde(rename = "R13")]
    Preflight,
    /// Past the declared point of no return nothing is rolled back or downgraded.
    #[serde(rename = "R14")]
    NoReturn,
    /// A takeover never goes from a newer member to an older one (`takeover = "newer-or-equal"`).
    #[serde(rename = "R15")]
    TakeoverDirection,
}

impl Rule {
    /// Every rule, in order.
    pub const ALL: [Rule; 15] = [
        Rule::VersionCompat,
        Rule::NoMirrorDowntime,
        Rule::NoMirrorDataLoss,
        Rule::Order,
        Rule::SafeToStop,
        Rule::Verify,
        Rule::MixedVersion,
        Rule::Failback,
        Rule::OfflineStep,
        Rule::NewerNode,
        Rule::DoNoHarm,
        Rule::Drift,
        Rule::Preflight,
        Rule::NoReturn,
        Rule::TakeoverDirection,
    ];

    /// "R5".
    pub fn code(self) -> &'static str {
        match self {
            Rule::VersionCompat => "R1",
            Rule::NoMirrorDowntime => "R2",
            Rule::NoMirrorDataLoss => "R3",
            Rule::Order => "R4",
            Rule::SafeToStop => "R5",
            Rule::Verify => "R6",
            Rule::MixedVersion => "R7",
            Rule::Failback => "R8",
            Rule::OfflineStep => "R9",
            Rule::NewerNode => "R10",
            Rule::DoNoHarm => "R11",
            Rule::Drift => "R12",
            Rule::Preflight => "R13",
            Rule::NoReturn => "R14",
            Rule::TakeoverDirection => "R15",
        }
    }

    /// "safe-to-stop".
    pub fn name(self) -> &'static str {
        match self {
            Rule::VersionCompat => "version-compat",
            Rule::NoMirrorDowntime => "no-mirror-downtime",
            Rule::NoMirrorDataLoss => "no-mirror-data-loss",
            Rule::Order => "order",
            Rule::SafeToStop => "safe-to-stop",
            Rule::Verify => "verify",
            Rule::MixedVersion => "mixed-version",
            Rule::Failback => "failback",
            Rule::OfflineStep => "offline-step",
            Rule::NewerNode => "newer-node",
            Rule::DoNoHarm => "do-no-harm",
            Rule::Drift => "drift",
            Rule::Preflight => "preflight",
            Rule::NoReturn => "point-of-no-return",
            Rule::TakeoverDirection => "takeover-direction",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}
