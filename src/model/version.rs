//! Version rules: which versions may run side by side during a rolling upgrade (R1).

use semver::Version;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How far apart two versions may be while both run in one cluster.
///
/// The rule is the vendor's promise, not ours: Terracotta 4.2 promises that servers and clients
/// of the same major.minor interoperate (seed 000), StreamBase negotiates any versions (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompatRule {
    /// Same major and minor (4.2.0 ↔ 4.2.1), the Terracotta rule.
    SameMinor,
    /// Same major and a minor at most one apart (3.4 ↔ 3.5, not 3.3 ↔ 3.5): products that
    /// promise one-minor-version skew (Kubernetes-style, PostgreSQL tooling, many databases).
    OneMinor,
    /// Same major (6.1 ↔ 6.5).
    SameMajor,
    /// Any versions interoperate (StreamBase protocol negotiation, Redis replicas).
    Any,
    /// Only identical versions: a rolling change is never allowed across versions.
    Exact,
}

impl CompatRule {
    /// Whether nodes at `a` and `b` may run side by side.
    pub fn compatible(self, a: &Version, b: &Version) -> bool {
        match self {
            CompatRule::SameMinor => a.major == b.major && a.minor == b.minor,
            CompatRule::OneMinor => a.major == b.major && a.minor.abs_diff(b.minor) <= 1,
            CompatRule::SameMajor => a.major == b.major,
            CompatRule::Any => true,
            CompatRule::Exact => a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.pre == b.pre,
        }
    }

    /// The rule in the words an operator reads in a refusal.
    pub fn describe(self) -> &'static str {
        match self {
            CompatRule::SameMinor => "same major.minor (e.g. 4.2.0 with 4.2.1)",
            CompatRule::OneMinor => "same major, minors at most one apart (e.g. 3.4 with 3.5)",
            CompatRule::SameMajor => "same major version",
            CompatRule::Any => "any versions",
            CompatRule::Exact => "identical versions only",
        }
    }

    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatRule::SameMinor => "same-minor",
            CompatRule::OneMinor => "one-minor",
            CompatRule::SameMajor => "same-major",
            CompatRule::Any => "any",
            CompatRule::Exact => "exact",
        }
    }
}

impl CompatRule {
    /// Every rule, strictest first; the config's allowed values in this order.
    pub const ALL: [CompatRule; 5] =
        [CompatRule::Exact, CompatRule::SameMinor, CompatRule::OneMinor, CompatRule::SameMajor, CompatRule::Any];

    /// The strictest rule that would let `a` and `b` run side by side, for a refusal that says
    /// which setting would allow the move (`Any` always does).
    pub fn weakest_needed(a: &Version, b: &Version) -> CompatRule {
        CompatRule::ALL.into_iter().find(|r| r.compatible(a, b)).unwrap_or(CompatRule::Any)
    }
}

impl fmt::Display for CompatRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a version as hosts print it: tolerates a leading `v` and surrounding blanks, and
/// completes `4.2` to `4.2.0`, so that probes of real products do not fail on cosmetics.
pub fn parse_loose(raw: &str) -> Option<Version> {
    let s = raw.trim();
    let s = s.strip_prefix('v').or_else(|| s.strip_prefix('V')).unwrap_or(s);
    if let Ok(v) = Version::parse(s) {
        return Some(v);
    }
    // "4.2" or "7" → complete the missing components; anything else is not a version.
    let (core, rest) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    full.push_str(rest);
    Version::parse(&full).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn same_minor_is_the_terracotta_rule() {
        assert!(CompatRule::SameMinor.compatible(&v("4.2.0"), &v("4.2.1")));
        assert!(!CompatRule::SameMinor.compatible(&v("4.1.9"), &v("4.2.0")));
        assert!(!CompatRule::SameMinor.compatible(&v("4.2.0"), &v("4.3.0")));
        assert!(CompatRule::SameMinor.compatible(&v("4.3.0-SNAPSHOT"), &v("4.3.0")));
    }

    #[test]
    fn other_rules() {
        assert!(CompatRule::SameMajor.compatible(&v("6.1.0"), &v("6.5.2")));
        assert!(!CompatRule::SameMajor.compatible(&v("6.2.14"), &v("7.0.15")));
        assert!(CompatRule::Any.compatible(&v("6.2.14"), &v("7.0.15")));
        assert!(!CompatRule::Exact.compatible(&v("4.2.0"), &v("4.2.1")));
        assert!(CompatRule::Exact.compatible(&v("4.2.1"), &v("4.2.1")));
    }

    #[test]
    fn one_minor_allows_the_next_minor_either_way() {
        assert!(CompatRule::OneMinor.compatible(&v("3.4.1"), &v("3.5.0")));
        assert!(CompatRule::OneMinor.compatible(&v("3.5.0"), &v("3.4.2")));
        assert!(!CompatRule::OneMinor.compatible(&v("3.3.0"), &v("3.5.0")));
        assert!(!CompatRule::OneMinor.compatible(&v("3.9.0"), &v("4.0.0")));
        assert_eq!(CompatRule::weakest_needed(&v("3.4.1"), &v("3.5.0")), CompatRule::OneMinor);
        assert_eq!(CompatRule::weakest_needed(&v("3.3.0"), &v("3.5.0")), CompatRule::SameMajor);
        assert_eq!(CompatRule::weakest_needed(&v("3.9.0"), &v("4.0.0")), CompatRule::Any);
    }

    #[test]
    fn loose_parsing_accepts_what_hosts_print() {
        assert_eq!(parse_loose(" v7.0.15\n"), Some(v("7.0.15")));
        assert_eq!(parse_loose("4.2"), Some(v("4.2.0")));
        assert_eq!(parse_loose("4.3.0-SNAPSHOT"), Some(v("4.3.0-SNAPSHOT")));
        assert_eq!(parse_loose("garbage"), None);
        assert_eq!(parse_loose("4..2"), None);
        assert_eq!(parse_loose(""), None);
    }
}
