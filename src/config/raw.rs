//! The config file exactly as written: serde structs that reject unknown fields and keep the
//! spans of every value that is validated later.

use crate::model::{
    CompatRule, DeclaredRole, FailbackPolicy, GroupType, HostKeyPolicy, ProbeKind, Profile, TransportKind,
};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub cluster: RawCluster,
    #[serde(default)]
    pub ssh: RawSsh,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub lock: Option<RawLock>,
    #[serde(default)]
    pub notify: Option<RawNotify>,
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub kinds: BTreeMap<String, Spanned<RawKind>>,
    #[serde(default)]
    pub groups: Vec<Spanned<RawGroup>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub name: Spanned<String>,
    pub target: Spanned<String>,
    pub profile: Profile,
    #[serde(default)]
    pub compat: Option<CompatRule>,
    #[serde(default)]
    pub persistent: Option<bool>,
    #[serde(default)]
    pub failback: Option<FailbackPolicy>,
    #[serde(default)]
    pub transport: Option<TransportKind>,
    #[serde(default)]
    pub job_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub parallel_groups: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub config_file: Option<String>,
    #[serde(default)]
    pub known_hosts: Option<String>,
    #[serde(default)]
    pub host_key_policy: Option<HostKeyPolicy>,
    #[serde(default)]
    pub connect_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub parallelism: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_sessions: Option<Spanned<i64>>,
    #[serde(default)]
    pub jump_hosts: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
    #[serde(default)]
    pub step: Option<Spanned<String>>,
    #[serde(default)]
    pub gate: Option<Spanned<String>>,
    #[serde(default)]
    pub refresh: Option<Spanned<String>>,
    #[serde(default)]
    pub switchover: Option<Spanned<String>>,
}

/// `[notify]`: a local command told about decisions, failures and the end of a run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub command: Spanned<String>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLock {
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub lease: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawKind {
    #[serde(default)]
    pub sudo: bool,
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    #[serde(default)]
    pub status: Option<Spanned<String>>,
    #[serde(default)]
    pub health: Option<Spanned<String>>,
    #[serde(default)]
    pub stop: Option<Spanned<String>>,
    #[serde(default)]
    pub install: Option<Spanned<String>>,
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    #[serde(default)]
    pub switchover: Option<Spanned<String>>,
    #[serde(default)]
    pub failback: Option<Spanned<String>>,
    #[serde(default)]
    pub rollback: Option<Spanned<String>>,
    #[serde(default)]
    pub cleanup: Option<Spanned<String>>,
    #[serde(default)]
    pub offline: Option<Spanned<String>>,
    #[serde(default)]
    pub online: Option<Spanned<String>>,
    #[serde(default)]
    pub preflight: Option<Spanned<String>>,
    #[serde(default)]
    pub before: Option<Spanned<String>>,
    #[serde(default)]
    pub restore: Option<Spanned<String>>,
    #[serde(default)]
    pub drain: Option<Spanned<String>>,
    #[serde(default)]
    pub undrain: Option<Spanned<String>>,
    #[serde(default)]
    pub cluster_health: Option<Spanned<String>>,
    #[serde(default)]
    pub finalize: Option<Spanned<String>>,
    #[serde(default)]
    pub point_of_no_return: Option<Spanned<String>>,
    #[serde(default)]
    pub peer: Option<Spanned<String>>,
    #[serde(default)]
    pub takeover: Option<Spanned<String>>,
    #[serde(default)]
    pub switchover_refused: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub workdir: Option<Spanned<String>>,
    #[serde(default)]
    pub parse: RawParsers,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawParsers {
    #[serde(default)]
    pub version: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub role: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub sync: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub health: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub eligible: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub running_version: Option<Spanned<RawExtract>>,
    #[serde(default)]
    pub finalized: Option<Spanned<RawExtract>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    #[serde(default)]
    pub from: Option<ProbeKind>,
    #[serde(default)]
    pub regex: Option<Spanned<String>>,
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub json: Option<Spanned<String>>,
    #[serde(default)]
    pub max: Option<Spanned<RawNumber>>,
    #[serde(default)]
    pub map: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub default: Option<Spanned<String>>,
}

/// A threshold written as a number (`max = 10`) or with a unit (`max = "1MiB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawNumber {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub gtype: GroupType,
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub region: Option<String>,
    pub hosts: Spanned<Vec<Spanned<RawHost>>>,
    #[serde(default)]
    pub persistent: Option<bool>,
    #[serde(default)]
    pub batch: Option<Spanned<i64>>,
    #[serde(default)]
    pub reconnect_resync: Option<bool>,
    #[serde(default)]
    pub quorum: Option<Spanned<i64>>,
    #[serde(default)]
    pub offline: Option<bool>,
    #[serde(default)]
    pub servers: Option<Spanned<String>>,
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    #[serde(default)]
    pub takeover: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub max_unavailable: Option<Spanned<RawUnavailable>>,
    #[serde(default)]
    pub batch_by: Option<Spanned<String>>,
    #[serde(default)]
    pub max_failures: Option<Spanned<i64>>,
}

/// `max_unavailable` as written: a count (`5`) or a percentage (`"20%"`); anything else is kept
/// so the validator can say what is allowed, with its position.
#[derive(Debug)]
pub enum RawUnavailable {
    Int(i64),
    Text(String),
    Other(String),
}

impl<'de> Deserialize<'de> for RawUnavailable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawUnavailable;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count of members (5) or a percentage of the group (\"20%\")")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawUnavailable, E> {
                Ok(RawUnavailable::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawUnavailable, E> {
                Ok(RawUnavailable::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawUnavailable, E> {
                Ok(RawUnavailable::Other(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawUnavailable, E> {
                Ok(RawUnavailable::Other(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawUnavailable, E> {
                Ok(RawUnavailable::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A host: either `"name"` or `{ name = ..., address = ..., ... }`.
#[derive(Debug)]
pub struct RawHost {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<u16>,
    pub role: Option<DeclaredRole>,
    pub vars: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostTable {
    name: Spanned<String>,
    #[serde(default)]
    address: Option<Spanned<String>>,
    #[serde(default)]
    user: Option<Spanned<String>>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    role: Option<DeclaredRole>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HostVisitor;
        impl<'de> Visitor<'de> for HostVisitor {
            type Value = RawHost;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a host name string, or a table like { name = \"tc-1\", address = \"10.0.0.1\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawHost, E> {
                // A bare string carries no span of its own here; the caller's Spanned wrapper has it.
                Ok(RawHost {
                    name: Spanned::new(0..0, v.to_string()),
                    address: None,
                    user: None,
                    port: None,
                    role: None,
                    vars: BTreeMap::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawHost, A::Error> {
                let t = RawHostTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawHost { name: t.name, address: t.address, user: t.user, port: t.port, role: t.role, vars: t.vars })
            }
        }
        d.deserialize_any(HostVisitor)
    }
}
