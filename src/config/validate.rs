//! Raw config → validated [`Cluster`]: every semantic check, each with a precise location.

use super::duration::parse_duration;
use super::raw::*;
use super::{ConfigError, ConfigErrors, error_at, position};
use crate::model::*;
use regex::Regex;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

struct Ctx<'a> {
    source: &'a str,
    origin: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let e = error_at(self.source, self.origin, span.start, field, message);
        self.errors.push(e);
    }
}

/// Names that may appear in a host name, alias or address: no shell or ssh-option characters.
pub fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:[]%".contains(c))
}

/// A path used inside remote scripts: absolute (or `$HOME/...`), no shell-active characters,
/// so it can be embedded in double quotes with `$HOME` still expanding.
pub fn plain_remote_path(s: &str) -> bool {
    let rest = s.strip_prefix("$HOME/").or_else(|| s.strip_prefix('/'));
    match rest {
        Some(r) => {
            !r.is_empty()
                && !r.split('/').any(|c| c == "..")
                && r.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        }
        None => false,
    }
}

/// Names operators type (cluster, group): letters, digits, `.`, `_`, `-`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn version(ctx: &mut Ctx, v: &Spanned<String>, field: &str) -> Option<Version> {
    match Version::parse(v.get_ref().trim()) {
        Ok(ver) => Some(ver),
        Err(e) => {
            ctx.err(
                v.span(),
                field,
                format!("`{}` is not a version ({e}); write major.minor.patch like 4.2.1, pre-releases like 4.3.0-SNAPSHOT allowed", v.get_ref()),
            );
            None
        }
    }
}

fn duration(ctx: &mut Ctx, v: &Option<Spanned<String>>, field: &str, default: Duration) -> Duration {
    match v {
        None => default,
        Some(s) => match parse_duration(s.get_ref()) {
            Ok(d) if d > Duration::ZERO => d,
            Ok(_) => {
                ctx.err(s.span(), field, "must be longer than 0s");
                default
            }
            Err(m) => {
                ctx.err(s.span(), field, m);
                default
            }
        },
    }
}

/// A `takeover` value (R15), or an error naming what is allowed.
fn takeover_rule(ctx: &mut Ctx, v: Option<&Spanned<String>>, field: &str) -> Option<Takeover> {
    let v = v?;
    let t = Takeover::parse(v.get_ref());
    if t.is_none() {
        ctx.err(
            v.span(),
            field,
            format!(
                "`{}` is not a takeover rule; allowed: \"any\" (default: any member in sync and eligible may take over) or \"newer-or-equal\" (never fail over from a newer member to an older one)",
                v.get_ref()
            ),
        );
    }
    t
}

fn count(ctx: &mut Ctx, v: &Option<Spanned<i64>>, field: &str, default: usize, min: i64, max: i64) -> usize {
    match v {
        None => default,
        Some(n) => {
            let x = *n.get_ref();
            if x < min || x > max {
                ctx.err(n.span(), field, format!("{x} is out of range; allowed {min} to {max}"));
                default
            } else {
                usize::try_from(x).unwrap_or(default)
            }
        }
    }
}

fn path(base: &Path, s: &str) -> PathBuf {
    let expanded = if let Some(rest) = s.strip_prefix("~/") {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)).unwrap_or_else(|| PathBuf::from(s))
    } else {
        PathBuf::from(s)
    };
    if expanded.is_absolute() { expanded } else { base.join(expanded) }
}

fn vars(
    ctx: &mut Ctx,
    raw: &BTreeMap<String, Spanned<String>>,
    field: &str,
    span: Range<usize>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
            ctx.err(
                v.span(),
                format!("{field}.{k}"),
                format!("`{k}` is not a variable name; use letters, digits and `_`"),
            );
        } else if BUILTIN_VARS.contains(&k.as_str()) {
            ctx.err(
                v.span(),
                format!("{field}.{k}"),
                format!("`{k}` is filled in by rollpilot and cannot be set; built-ins are {}", BUILTIN_VARS.join(", ")),
            );
        } else {
            out.insert(k.clone(), v.get_ref().clone());
        }
    }
    let _ = span;
    out
}

fn template(ctx: &mut Ctx, v: &Option<Spanned<String>>, field: &str) -> Option<(Template, Range<usize>)> {
    let v = v.as_ref()?;
    match Template::parse(v.get_ref()) {
        Ok(t) => {
            if t.raw().trim().is_empty() {
                ctx.err(v.span(), field, "is empty; remove the line or give a command");
                return None;
            }
            Some((t, v.span()))
        }
        Err(e) => {
            let at = position::offset_in_string(ctx.source, &v.span(), v.get_ref(), e.offset());
            let err = error_at(ctx.source, ctx.origin, at, field, e.to_string());
            ctx.errors.push(err);
            None
        }
    }
}

const HEALTH_WORDS: &str = "ok (healthy, up, pong, yes), failed (fail, unhealthy, down, no), unknown";

/// Variables a JSONPath may use: what `{host}`-style selectors need, known at probe time.
const PROBE_VARS: &[&str] = &["cluster", "host", "address", "group", "region", "target"];

fn extract(
    ctx: &mut Ctx,
    raw: &Option<Spanned<RawExtract>>,
    field: &str,
    fact: &str,
    default_from: ProbeKind,
    user_vars: &BTreeSet<String>,
) -> Option<Extract> {
    let r = raw.as_ref()?;
    let span = r.span();
    let r = r.get_ref();
    let given = [r.regex.is_some(), r.key.is_some(), r.json.is_some()].iter().filter(|x| **x).count();
    if given > 1 {
        let (at, which) = match (&r.json, &r.key) {
            (Some(j), _) => (j.span(), "json"),
            (None, Some(k)) => (k.span(), "key"),
            _ => (span.clone(), ""),
        };
        ctx.err(
            at,
            if which.is_empty() { field.to_string() } else { format!("{field}.{which}") },
            "give one of `regex`, `key` or `json`, not several",
        );
        return None;
    }
    let matcher = if let Some(re) = &r.regex {
        match Regex::new(re.get_ref()) {
            Ok(rx) => Matcher::Regex(rx),
            Err(e) => {
                let msg = e.to_string().lines().last().unwrap_or("invalid regex").trim().to_string();
                ctx.err(re.span(), format!("{field}.regex"), format!("`{}` is not a valid regex: {msg}", re.get_ref()));
                return None;
            }
        }
    } else if let Some(k) = &r.key {
        if k.get_ref().trim().is_empty() {
            ctx.err(k.span(), format!("{field}.key"), "is empty; give the key name, e.g. \"role\"");
            return None;
        }
        Matcher::Key(k.get_ref().trim().to_string())
    } else if let Some(j) = &r.json {
        let p = j.get_ref().trim().to_string();
        let mut known: BTreeMap<String, String> = BTreeMap::new();
        for v in PROBE_VARS.iter().map(|s| s.to_string()).chain(user_vars.iter().cloned()) {
            known.insert(v, "x".into());
        }
        if let Some(bad) = json_path_vars(&p).into_iter().find(|v| !known.contains_key(v)) {
            let inner = j.get_ref().find(&format!("{{{bad}}}")).unwrap_or(0);
            let at = position::offset_in_string(ctx.source, &j.span(), j.get_ref(), inner);
            let e = error_at(
                ctx.source,
                ctx.origin,
                at,
                format!("{field}.json"),
                format!(
                    "uses `{{{bad}}}`, which has no value when probing; allowed: {}, or a variable from [vars]",
                    PROBE_VARS.join(", ")
                ),
            );
            ctx.errors.push(e);
            return None;
        }
        let filled = fill_json_path(&p, &known).unwrap_or_default();
        if let Err(e) = serde_json_path::JsonPath::parse(&filled) {
            ctx.err(
                j.span(),
                format!("{field}.json"),
                format!("`{p}` is not a valid JSONPath (RFC 9535, e.g. \"$.members[?@.name=='{{host}}'].role\"): {e}"),
            );
            return None;
        }
        Matcher::Json(p)
    } else {
        ctx.err(
            span,
            field,
            "needs `regex = '...'` (first capture group is the value), `key = \"name\"` (a key:value line) or `json = \"$.path\"` (a JSONPath into JSON output)",
        );
        return None;
    };
    let check = |w: &str| -> bool {
        match fact {
            "role" => Role::from_word(w).is_some(),
            "sync" => SyncState::from_word(w).is_some(),
            "health" => Health::from_word(w).is_some(),
            "eligible" => eligible_from_word(w).is_some(),
            _ => true,
        }
    };
    let words = match fact {
        "role" => word_list(Role::WORDS),
        "sync" => word_list(SyncState::WORDS),
        "health" => HEALTH_WORDS.to_string(),
        "eligible" => ELIGIBLE_WORDS.to_string(),
        _ => String::new(),
    };
    let mut map = BTreeMap::new();
    for (k, v) in &r.map {
        if !check(v.get_ref()) {
            ctx.err(
                v.span(),
                format!("{field}.map.{k}"),
                format!("`{}` is not a {fact}; allowed: {words}", v.get_ref()),
            );
        } else {
            map.insert(k.clone(), v.get_ref().clone());
        }
    }
    // Without a map, the raw value itself must read as the fact (version needs no map).
    let default = match &r.default {
        Some(d) if !check(d.get_ref()) => {
            ctx.err(
                d.span(),
                format!("{field}.default"),
                format!("`{}` is not a {fact}; allowed: {words}", d.get_ref()),
            );
            None
        }
        Some(d) => Some(d.get_ref().clone()),
        None => None,
    };
    let max = match &r.max {
        None => None,
        Some(m) if fact != "sync" => {
            ctx.err(
                m.span(),
                format!("{field}.max"),
                format!("a threshold applies to the sync parser only (a lag: at most `max` is in-sync); the {fact} parser reads a word"),
            );
            None
        }
        Some(m) if !r.map.is_empty() => {
            ctx.err(
                m.span(),
                format!("{field}.max"),
                "give either `max` (the value is a number compared with it) or `map` (the value is a word), not both",
            );
            None
        }
        Some(m) => {
            let parsed = match m.get_ref() {
                RawNumber::Int(i) => Quantity::parse(&i.to_string()),
                RawNumber::Float(f) => Quantity::parse(&f.to_string()),
                RawNumber::Text(t) => Quantity::parse(t),
            };
            match parsed {
                Ok(q) => Some(q),
                Err(e) => {
                    ctx.err(m.span(), format!("{field}.max"), e.to_string());
                    None
                }
            }
        }
    };
    Some(Extract { from: r.from.unwrap_or(default_from), matcher, map, default, max })
}

/// The version parser used when a kind gives none: the first thing that looks like a version.
fn default_version_extract() -> Option<Extract> {
    let rx = Regex::new(r"(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?)").ok()?;
    Some(Extract {
        from: ProbeKind::Version,
        matcher: Matcher::Regex(rx),
        map: BTreeMap::new(),
        default: None,
        max: None,
    })
}

struct KindSpans {
    templates: Vec<(&'static str, Template, Range<usize>)>,
    span: Range<usize>,
}

pub(super) fn validate(raw: RawConfig, source: &str, origin: &str, base: &Path) -> Result<Cluster, ConfigErrors> {
    let mut ctx = Ctx { source, origin, errors: Vec::new() };
    let c = &raw.cluster;

    let name = c.name.get_ref().trim().to_string();
    if !valid_name(&name) {
        ctx.err(c.name.span(), "cluster.name", format!("`{name}` is not a usable cluster name; use letters, digits, `.`, `_`, `-` (operators type it to confirm dangerous steps)"));
    }
    let target = version(&mut ctx, &c.target, "cluster.target");
    let profile = c.profile;
    let compat = c.compat.unwrap_or(match profile {
        Profile::Terracotta => CompatRule::SameMinor,
        Profile::ActivePassive => CompatRule::SameMajor,
        Profile::AnyOrder => CompatRule::Any,
    });
    let job_dir =
        c.job_dir.as_ref().map(|s| s.get_ref().clone()).unwrap_or_else(|| "$HOME/.rollpilot/jobs".to_string());
    if let Some(j) = &c.job_dir
        && !plain_remote_path(j.get_ref())
    {
        ctx.err(
            j.span(),
            "cluster.job_dir",
            "must be an absolute path of letters, digits, `.`, `_`, `-`, `/` (it may start with `$HOME/`)",
        );
    }

    // [ssh]
    let s = &raw.ssh;
    if let Some(u) = &s.user
        && !valid_name(u.get_ref())
    {
        ctx.err(u.span(), "ssh.user", format!("`{}` is not a valid user name", u.get_ref()));
    }
    let mut jump_hosts = Vec::new();
    for (i, j) in s.jump_hosts.iter().enumerate() {
        let ok = j.get_ref().split('@').all(valid_host) && j.get_ref().split('@').count() <= 2;
        if !ok {
            ctx.err(
                j.span(),
                format!("ssh.jump_hosts[{i}]"),
                format!("`{}` is not a host ([user@]host[:port])", j.get_ref()),
            );
        } else {
            jump_hosts.push(j.get_ref().clone());
        }
    }
    let ssh = SshSettings {
        user: s.user.as_ref().map(|u| u.get_ref().clone()),
        port: s.port,
        identity: s.identity.as_deref().map(|p| path(base, p)),
        config_file: s.config_file.as_deref().map(|p| path(base, p)),
        known_hosts: s.known_hosts.as_deref().map(|p| path(base, p)),
        host_key_policy: s.host_key_policy.unwrap_or(HostKeyPolicy::Strict),
        connect_timeout: duration(&mut ctx, &s.connect_timeout, "ssh.connect_timeout", Duration::from_secs(10)),
        parallelism: count(&mut ctx, &s.parallelism, "ssh.parallelism", 32, 1, 1024),
        max_sessions: count(&mut ctx, &s.max_sessions, "ssh.max_sessions", 8, 1, 10),
        jump_hosts,
    };
    let t = &raw.timeouts;
    let timeouts = Timeouts {
        probe: duration(&mut ctx, &t.probe, "timeouts.probe", Duration::from_secs(10)),
        step: duration(&mut ctx, &t.step, "timeouts.step", Duration::from_secs(600)),
        gate: duration(&mut ctx, &t.gate, "timeouts.gate", Duration::from_secs(600)),
        refresh: duration(&mut ctx, &t.refresh, "timeouts.refresh", Duration::from_secs(2)),
        switchover: duration(&mut ctx, &t.switchover, "timeouts.switchover", Duration::from_secs(60)),
    };

    let cluster_vars = vars(&mut ctx, &raw.vars, "vars", 0..0);

    // Every variable a config defines anywhere: JSONPaths may select on them.
    let mut user_vars: BTreeSet<String> = raw.vars.keys().cloned().collect();
    for g in &raw.groups {
        user_vars.extend(g.get_ref().vars.keys().cloned());
        for h in g.get_ref().hosts.get_ref() {
            user_vars.extend(h.get_ref().vars.keys().cloned());
        }
    }

    // [kinds.X]
    let mut kinds = BTreeMap::new();
    let mut kind_spans: BTreeMap<String, KindSpans> = BTreeMap::new();
    for (kname, k) in &raw.kinds {
        let kspan = k.span();
        let k = k.get_ref();
        let f = |key: &str| format!("kinds.{kname}.{key}");
        let mut templates = Vec::new();
        let mut take = |ctx: &mut Ctx, key: &'static str, v: &Option<Spanned<String>>| -> Option<Template> {
            let (t, span) = template(ctx, v, &f(key))?;
            templates.push((key, t.clone(), span));
            Some(t)
        };
        let commands = Commands {
            version: take(&mut ctx, "version", &k.version),
            status: take(&mut ctx, "status", &k.status),
            health: take(&mut ctx, "health", &k.health),
            stop: take(&mut ctx, "stop", &k.stop),
            install: take(&mut ctx, "install", &k.install),
            start: take(&mut ctx, "start", &k.start),
            switchover: take(&mut ctx, "switchover", &k.switchover),
            failback: take(&mut ctx, "failback", &k.failback),
            rollback: take(&mut ctx, "rollback", &k.rollback),
            cleanup: take(&mut ctx, "cleanup", &k.cleanup),
            offline: take(&mut ctx, "offline", &k.offline),
            online: take(&mut ctx, "online", &k.online),
            preflight: take(&mut ctx, "preflight", &k.preflight),
            before: take(&mut ctx, "before", &k.before),
            restore: take(&mut ctx, "restore", &k.restore),
            drain: take(&mut ctx, "drain", &k.drain),
            undrain: take(&mut ctx, "undrain", &k.undrain),
            cluster_health: take(&mut ctx, "cluster_health", &k.cluster_health),
            finalize: take(&mut ctx, "finalize", &k.finalize),
        };
        // Paired commands: a frozen setting needs its thaw, a drained node its way back.
        for (have, have_key, need, need_key, why) in [
            (
                &k.before,
                "before",
                &k.restore,
                "restore",
                "rollpilot guarantees the restore after a `before` (at the end, after an abort, on resume), so it needs one; use `restore = \"true\"` when nothing needs undoing",
            ),
            (
                &k.restore,
                "restore",
                &k.before,
                "before",
                "a restore undoes a `before` step; without one there is nothing to restore",
            ),
            (&k.drain, "drain", &k.undrain, "undrain", "a drained node must be put back into service after its start"),
            (&k.undrain, "undrain", &k.drain, "drain", "an undrain puts back a node drained before its stop"),
        ] {
            if let (Some(h), None) = (have, need) {
                ctx.err(h.span(), f(have_key), format!("is set but kinds.{kname}.{need_key} is missing: {why}"));
            }
        }
        let point_of_no_return = match &k.point_of_no_return {
            None => None,
            Some(p) => match p.get_ref().as_str() {
                "finalize" if k.finalize.is_some() => Some(NoReturn::Finalize),
                "finalize" => {
                    ctx.err(
                        p.span(),
                        f("point_of_no_return"),
                        format!("is \"finalize\" but kinds.{kname}.finalize is missing: add the command that finalizes the upgrade, or use \"all-upgraded\""),
                    );
                    None
                }
                "all-upgraded" => Some(NoReturn::AllUpgraded),
                other => {
                    ctx.err(
                        p.span(),
                        f("point_of_no_return"),
                        format!("`{other}` is not a point of no return; allowed: \"finalize\" (the finalize step; needs a `finalize` command) or \"all-upgraded\" (once every node runs the target)"),
                    );
                    None
                }
            },
        };
        if k.version.is_none() {
            ctx.err(
                kspan.clone(),
                f("version"),
                "is missing; every kind needs a command that prints the installed version (e.g. server/bin/version.sh)",
            );
        }
        if k.install.is_none() {
            ctx.err(kspan.clone(), f("install"), "is missing; every kind needs a command that installs `{version}`");
        }
        let uv = &user_vars;
        let version_parser =
            extract(&mut ctx, &k.parse.version, &f("parse.version"), "version", ProbeKind::Version, uv)
                .or_else(default_version_extract);
        let role = extract(&mut ctx, &k.parse.role, &f("parse.role"), "role", ProbeKind::Status, uv);
        let sync = extract(&mut ctx, &k.parse.sync, &f("parse.sync"), "sync", ProbeKind::Status, uv);
        let health = extract(&mut ctx, &k.parse.health, &f("parse.health"), "health", ProbeKind::Health, uv);
        let eligible = extract(&mut ctx, &k.parse.eligible, &f("parse.eligible"), "eligible", ProbeKind::Status, uv);
        let running_version = extract(
            &mut ctx,
            &k.parse.running_version,
            &f("parse.running_version"),
            "running_version",
            ProbeKind::Status,
            uv,
        );
        let finalized =
            extract(&mut ctx, &k.parse.finalized, &f("parse.finalized"), "finalized", ProbeKind::Status, uv);
        // A parser must read a probe the kind actually runs.
        for (fact, ex, rawx) in [
            ("role", &role, &k.parse.role),
            ("sync", &sync, &k.parse.sync),
            ("health", &health, &k.parse.health),
            ("eligible", &eligible, &k.parse.eligible),
            ("running_version", &running_version, &k.parse.running_version),
            ("finalized", &finalized, &k.parse.finalized),
        ] {
            if let (Some(ex), Some(rx)) = (ex, rawx) {
                let has = match ex.from {
                    ProbeKind::Version => true,
                    ProbeKind::Status => k.status.is_some(),
                    ProbeKind::Health => k.health.is_some(),
                };
                if !has {
                    ctx.err(
                        rx.span(),
                        f(&format!("parse.{fact}.from")),
                        format!(
                            "reads the `{}` probe, but kinds.{kname} has no `{}` command",
                            ex.from.as_str(),
                            ex.from.as_str()
                        ),
                    );
                }
            }
        }
        let peer_auto = match &k.peer {
            None => false,
            Some(p) if p.get_ref() == "auto" => true,
            Some(p) => {
                ctx.err(
                    p.span(),
                    f("peer"),
                    format!(
                        "`{}` is not a peer choice; allowed: \"auto\" (the cluster manager picks the node that takes over), or leave it out (rollpilot picks a passive that is in sync and eligible)",
                        p.get_ref()
                    ),
                );
                false
            }
        };
        if peer_auto {
            for (key, t, span) in &templates {
                if t.vars().contains(&"peer") {
                    let inner = t.raw().find("{peer}").unwrap_or(0);
                    let at = position::offset_in_string(source, span, t.raw(), inner);
                    ctx.errors.push(error_at(
                        source,
                        origin,
                        at,
                        f(key),
                        format!("uses `{{peer}}`, but kinds.{kname} sets peer = \"auto\": the cluster manager picks the node that takes over, so rollpilot has no peer to fill in; remove `{{peer}}` or the `peer` setting"),
                    ));
                }
            }
        }
        let takeover = takeover_rule(&mut ctx, k.takeover.as_ref(), &f("takeover")).unwrap_or_default();
        let mut switchover_refused = Vec::new();
        for (i, w) in k.switchover_refused.iter().flatten().enumerate() {
            if w.get_ref().trim().is_empty() {
                ctx.err(
                    w.span(),
                    f(&format!("switchover_refused[{i}]")),
                    "an empty word would match every output; allowed: words or phrases the switchover command prints when it refuses, e.g. [\"not possible\", \"ERR\"]",
                );
            } else {
                switchover_refused.push(w.get_ref().clone());
            }
        }
        if !switchover_refused.is_empty()
            && k.switchover.is_none()
            && k.failback.is_none()
            && let Some(w) = k.switchover_refused.iter().flatten().next()
        {
            ctx.err(
                w.span(),
                f("switchover_refused"),
                format!("kinds.{kname} has no `switchover` or `failback` command whose output these words could be found in; add one or remove `switchover_refused`"),
            );
        }
        let workdir = match &k.workdir {
            None => "/".to_string(),
            Some(w) if w.get_ref() == "/" || plain_remote_path(w.get_ref()) => w.get_ref().clone(),
            Some(w) => {
                ctx.err(
                    w.span(),
                    f("workdir"),
                    format!(
                        "`{}` is not a usable working directory; allowed: an absolute path of letters, digits, `.`, `_`, `-`, `/` (it may start with `$HOME/`), default `/`",
                        w.get_ref()
                    ),
                );
                "/".to_string()
            }
        };
        if let Some(parse) = version_parser {
            kinds.insert(
                kname.clone(),
                Kind {
                    name: kname.clone(),
                    commands,
                    parse: Parsers { version: parse, role, sync, health, eligible, running_version, finalized },
                    sudo: k.sudo,
                    peer_auto,
                    workdir,
                    point_of_no_return,
                    takeover,
                    switchover_refused,
                },
            );
        }
        kind_spans.insert(kname.clone(), KindSpans { templates, span: kspan });
    }

    // [[groups]]
    let mut groups: Vec<Group> = Vec::new();
    let mut group_spans: Vec<(Range<usize>, Option<Range<usize>>)> = Vec::new();
    let mut seen_nodes: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut seen_groups: BTreeSet<String> = BTreeSet::new();
    if raw.groups.is_empty() {
        ctx.err(0..0, "groups", "no [[groups]] defined; a cluster needs at least one group of hosts");
    }
    for (gi, g) in raw.groups.iter().enumerate() {
        let gspan = g.span();
        let g = g.get_ref();
        let gf = |key: &str| format!("groups[{gi}].{key}");
        let gname = g.name.get_ref().trim().to_string();
        if !valid_name(&gname) {
            ctx.err(
                g.name.span(),
                gf("name"),
                format!("`{gname}` is not a usable group name; use letters, digits, `.`, `_`, `-`"),
            );
        } else if !seen_groups.insert(gname.clone()) {
            ctx.err(g.name.span(), gf("name"), format!("group `{gname}` is defined twice; group names must be unique"));
        }
        let kind = g.kind.as_ref().map(|k| k.get_ref().clone()).unwrap_or_else(|| g.gtype.as_str().to_string());
        if !raw.kinds.contains_key(&kind) {
            let span = g.kind.as_ref().map(|k| k.span()).unwrap_or(gspan.clone());
            let known: Vec<&str> = raw.kinds.keys().map(String::as_str).collect();
            ctx.err(
                span,
                gf("kind"),
                format!(
                    "no [kinds.{kind}] table defines the commands for this group; defined kinds: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        let gvars = vars(&mut ctx, &g.vars, &gf("vars"), gspan.clone());
        let mut nodes = Vec::new();
        if g.hosts.get_ref().is_empty() {
            ctx.err(g.hosts.span(), gf("hosts"), "is empty; list at least one host");
        }
        for (hi, h) in g.hosts.get_ref().iter().enumerate() {
            let hspan = h.span();
            let h = h.get_ref();
            let hf = |key: &str| format!("groups[{gi}].hosts[{hi}]{}{key}", if key.is_empty() { "" } else { "." });
            let name_span = if h.name.span() == (0..0) { hspan.clone() } else { h.name.span() };
            let hname = h.name.get_ref().trim().to_string();
            let field = if h.name.span() == (0..0) { hf("") } else { hf("name") };
            if !valid_host(&hname) {
                ctx.err(name_span.clone(), field.clone(), format!("`{hname}` is not a valid host name; use letters, digits, `.`, `-`, `_` (an ssh alias, host name or address), not starting with `-`"));
            }
            if let Some(prev) = seen_nodes.get(&hname) {
                let (pl, _) = position::line_col(source, prev.start);
                ctx.err(
                    name_span.clone(),
                    field.clone(),
                    format!("host `{hname}` is already listed at line {pl}; each host belongs to one group"),
                );
            } else {
                seen_nodes.insert(hname.clone(), name_span.clone());
            }
            let address = match &h.address {
                Some(a) if !valid_host(a.get_ref()) => {
                    ctx.err(
                        a.span(),
                        hf("address"),
                        format!(
                            "`{}` is not a valid address; give an ssh alias, a host name or an IP address",
                            a.get_ref()
                        ),
                    );
                    hname.clone()
                }
                Some(a) => a.get_ref().clone(),
                None => hname.clone(),
            };
            if let Some(u) = &h.user
                && !valid_name(u.get_ref())
            {
                ctx.err(u.span(), hf("user"), format!("`{}` is not a valid user name", u.get_ref()));
            }
            if g.gtype == GroupType::Orchestrator && h.role.is_none() {
                ctx.err(name_span.clone(), hf("role"), "orchestrator hosts need `role = \"master\"` or `role = \"standby\"` (the Terracotta procedure stops standbys first); write the host as a table: { name = \"wan-1\", role = \"master\" }");
            }
            if g.gtype != GroupType::Orchestrator && h.role.is_some() {
                ctx.err(
                    name_span.clone(),
                    hf("role"),
                    "only orchestrator hosts declare a role; server roles are read live from the status probe",
                );
            }
            let hvars = vars(&mut ctx, &h.vars, &hf("vars"), hspan.clone());
            nodes.push(Node {
                name: hname,
                address,
                user: h.user.as_ref().map(|u| u.get_ref().clone()),
                port: h.port,
                declared_role: h.role,
                vars: hvars,
            });
        }
        let batch = count(&mut ctx, &g.batch, &gf("batch"), 1, 1, 1000);
        if let Some(b) = &g.batch
            && g.gtype != GroupType::Client
        {
            ctx.err(b.span(), gf("batch"), "only client groups are upgraded in batches; servers go one at a time");
        }
        let quorum = g
            .quorum
            .as_ref()
            .map(|q| count(&mut ctx, &g.quorum, &gf("quorum"), 1, 1, 1000).min(q.get_ref().unsigned_abs() as usize));
        if let (Some(q), Some(qs)) = (quorum, &g.quorum)
            && q > nodes.len()
        {
            ctx.err(
                qs.span(),
                gf("quorum"),
                format!("quorum {q} is larger than the group's {} hosts; it could never be met", nodes.len()),
            );
        }
        let batches_allowed =
            g.gtype == GroupType::Peer || (g.gtype == GroupType::Server && profile == Profile::AnyOrder);
        // A server group with an active batches its passives only (R5: the active goes last, alone).
        let passive_batches = g.gtype == GroupType::Server && profile != Profile::AnyOrder;
        let not_here = "applies to peer groups, server groups of the any-order profile, and the passives of server groups with an active (profiles terracotta and active-passive)";
        let no_failures_here = "applies to peer groups and server groups of the any-order profile; a failed passive of a server group with an active always asks (R11)";
        let max_unavailable = g.max_unavailable.as_ref().and_then(|m| {
            let allowed = "allowed: a whole number of members from 1 (max_unavailable = 5) or a percentage of the group from 1% to 100% (max_unavailable = \"20%\")";
            let v = match m.get_ref() {
                RawUnavailable::Int(n) if (1..=1000).contains(n) => Some(MaxUnavailable::Count(*n as usize)),
                RawUnavailable::Int(n) => {
                    ctx.err(m.span(), gf("max_unavailable"), format!("{n} is out of range; {allowed}"));
                    None
                }
                RawUnavailable::Text(t) => {
                    match t.trim().strip_suffix('%').and_then(|p| p.trim().parse::<u8>().ok()) {
                        Some(p) if (1..=100).contains(&p) => Some(MaxUnavailable::Percent(p)),
                        _ => {
                            ctx.err(m.span(), gf("max_unavailable"), format!("`{t}` is not a count or a percentage; {allowed}"));
                            None
                        }
                    }
                }
                RawUnavailable::Other(t) => {
                    ctx.err(m.span(), gf("max_unavailable"), format!("`{t}` is not a count or a percentage; {allowed}"));
                    None
                }
            };
            if v.is_some() && !batches_allowed && !passive_batches {
                ctx.err(m.span(), gf("max_unavailable"), format!("{not_here} (group type {})", g.gtype.as_str()));
                return None;
            }
            if v.is_some() && passive_batches && nodes.len() < 4 {
                ctx.err(
                    m.span(),
                    gf("max_unavailable"),
                    format!(
                        "batches the passives of a server group with an active, keeping the active and one in-sync passive outside every batch (R5); with {} hosts there are not two passives to batch: allowed on a group of at least 4 hosts (one active, three passives or more)",
                        nodes.len()
                    ),
                );
                return None;
            }
            if v.is_some() && passive_batches && c.parallel_groups.as_ref().is_some_and(|p| *p.get_ref() > 1) {
                ctx.err(
                    m.span(),
                    gf("max_unavailable"),
                    "batches of passives and cluster.parallel_groups cannot be combined: the groups that run side by side go one member at a time each; keep one of the two",
                );
                return None;
            }
            v
        });
        let batch_by = g.batch_by.as_ref().and_then(|b| {
            let name = b.get_ref().trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                ctx.err(b.span(), gf("batch_by"), format!("`{name}` is not a variable name; name a per-host variable such as `rack` or `zone` (letters, digits and `_`)"));
                return None;
            }
            if g.max_unavailable.is_none() {
                ctx.err(b.span(), gf("batch_by"), "needs `max_unavailable` in the same group: without it members go one at a time and there are no batches to form");
                return None;
            }
            let missing: Vec<&str> = nodes
                .iter()
                .filter(|n| {
                    !n.vars.contains_key(name) && !gvars.contains_key(name) && !cluster_vars.contains_key(name)
                })
                .map(|n| n.name.as_str())
                .collect();
            if !missing.is_empty() {
                ctx.err(b.span(), gf("batch_by"), format!("every host of the group needs the variable `{name}` (e.g. hosts = [{{ name = \"{}\", vars = {{ {name} = \"r1\" }} }}]); missing on: {}", missing[0], missing.join(", ")));
                return None;
            }
            Some(name.to_string())
        });
        let max_failures = count(&mut ctx, &g.max_failures, &gf("max_failures"), 0, 0, 1000);
        if let Some(mf) = &g.max_failures {
            if !batches_allowed {
                ctx.err(mf.span(), gf("max_failures"), format!("{no_failures_here} (group type {})", g.gtype.as_str()));
            } else if max_failures > 0 && g.max_unavailable.is_none() {
                ctx.err(mf.span(), gf("max_failures"), "needs `max_unavailable` in the same group: failures are tolerated per batch; one node at a time, every failure asks");
            } else if max_failures >= nodes.len() && !nodes.is_empty() {
                ctx.err(
                    mf.span(),
                    gf("max_failures"),
                    format!(
                        "{max_failures} would tolerate every one of the group's {} hosts failing; allowed 0 to {}",
                        nodes.len(),
                        nodes.len() - 1
                    ),
                );
            }
        }
        let gtarget = g.target.as_ref().and_then(|t| version(&mut ctx, t, &gf("target")));
        if g.reconnect_resync.is_some() && g.gtype != GroupType::Orchestrator {
            ctx.err(gspan.clone(), gf("reconnect_resync"), "applies to orchestrator groups only");
        }
        if g.offline.is_some() && g.gtype != GroupType::Component {
            ctx.err(gspan.clone(), gf("offline"), "applies to component groups only; use `type = \"component\"` for a part that needs the service offline");
        }
        let gtakeover = takeover_rule(&mut ctx, g.takeover.as_ref(), &gf("takeover"));
        if let Some(t) = &g.takeover
            && gtakeover.is_some()
            && g.gtype != GroupType::Server
        {
            ctx.err(
                t.span(),
                gf("takeover"),
                "applies to server groups only (their members take the active role over from each other)",
            );
        }
        groups.push(Group {
            name: gname,
            gtype: g.gtype,
            kind,
            region: g.region.clone(),
            nodes,
            persistent: g.persistent.or(c.persistent).unwrap_or(true),
            batch,
            reconnect_resync: g.reconnect_resync.unwrap_or(false),
            quorum,
            offline: g.offline.unwrap_or(g.gtype == GroupType::Component),
            servers: g.servers.as_ref().map(|s| s.get_ref().clone()),
            service: g.service.as_ref().map(|s| s.get_ref().clone()),
            target: gtarget,
            vars: gvars,
            takeover: gtakeover,
            max_unavailable,
            batch_by,
            max_failures,
        });
        group_spans.push((gspan, g.kind.as_ref().map(|k| k.span())));
    }

    // Cross-references between groups.
    for (gi, (g, rawg)) in groups.iter().zip(raw.groups.iter()).enumerate() {
        let rawg = rawg.get_ref();
        let server_groups: Vec<&str> =
            groups.iter().filter(|x| x.gtype == GroupType::Server).map(|x| x.name.as_str()).collect();
        for (field, val) in [("servers", &rawg.servers), ("service", &rawg.service)] {
            if let Some(v) = val
                && !server_groups.contains(&v.get_ref().as_str())
            {
                ctx.err(
                    v.span(),
                    format!("groups[{gi}].{field}"),
                    format!(
                        "`{}` is not a server group; server groups: {}",
                        v.get_ref(),
                        if server_groups.is_empty() { "none".into() } else { server_groups.join(", ") }
                    ),
                );
            }
        }
        if let Some(v) = &rawg.servers
            && g.gtype != GroupType::Client
        {
            ctx.err(v.span(), format!("groups[{gi}].servers"), "only client groups name the server group they use");
        }
        if g.gtype == GroupType::Component && g.service.is_none() && server_groups.len() > 1 {
            ctx.err(
                group_spans[gi].0.clone(),
                format!("groups[{gi}].service"),
                format!(
                    "a component group must name the server group whose service goes offline: service = one of {}",
                    server_groups.join(", ")
                ),
            );
        }
    }

    // Profile requirements: the commands and parsers the procedure needs must exist.
    for (gi, g) in groups.iter().enumerate() {
        let Some(k) = kinds.get(&g.kind) else { continue };
        let span = group_spans[gi]
            .1
            .clone()
            .unwrap_or_else(|| kind_spans.get(&g.kind).map(|s| s.span.clone()).unwrap_or(group_spans[gi].0.clone()));
        let kf = |key: &str| format!("kinds.{}.{key}", g.kind);
        let role_based = profile != Profile::AnyOrder && g.gtype == GroupType::Server;
        if role_based && k.parse.role.is_none() {
            ctx.err(span.clone(), kf("parse.role"), format!("group `{}` is a server group under profile {}, so rollpilot must read each node's role: add [kinds.{}.parse.role]", g.name, profile.as_str(), g.kind));
        }
        if role_based && g.nodes.len() > 1 && k.parse.sync.is_none() {
            ctx.err(span.clone(), kf("parse.sync"), format!("group `{}` has passives, so rollpilot must read their sync state before stopping an active (R5): add [kinds.{}.parse.sync]", g.name, g.kind));
        }
        if (k.parse.role.is_some() || k.parse.sync.is_some()) && k.commands.status.is_none() {
            ctx.err(span.clone(), kf("status"), "is missing, but role/sync parsers need a status command to read");
        }
        if g.gtype == GroupType::Component && (k.commands.offline.is_none() || k.commands.online.is_none()) {
            ctx.err(
                span.clone(),
                kf("offline"),
                format!(
                    "component group `{}` needs `offline` and `online` commands to take the service down and back (R9)",
                    g.name
                ),
            );
        }
        if profile == Profile::ActivePassive
            && g.gtype == GroupType::Server
            && g.nodes.len() > 1
            && k.commands.switchover.is_none()
            && k.commands.stop.is_none()
        {
            ctx.err(span.clone(), kf("switchover"), format!("group `{}` needs a way to move the active role: a `switchover` command (move the virtual server, SENTINEL FAILOVER) or a `stop` command that triggers failover", g.name));
        }
        if g.gtype == GroupType::Orchestrator && (k.commands.stop.is_none() || k.commands.start.is_none()) {
            ctx.err(span.clone(), kf("stop"), "orchestrators are stopped, upgraded and restarted (Terracotta upgrade procedure, steps 3-5): `stop` and `start` are required");
        }
    }

    // Every template variable must have a value for every node that uses it.
    for g in &groups {
        let Some(ks) = kind_spans.get(&g.kind) else { continue };
        for n in &g.nodes {
            let mut known: BTreeSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
            known.extend(cluster_vars.keys().cloned());
            known.extend(g.vars.keys().cloned());
            known.extend(n.vars.keys().cloned());
            for (key, t, span) in &ks.templates {
                for v in t.vars() {
                    if !known.contains(v) {
                        let inner = t.raw().find(&format!("{{{v}}}")).unwrap_or(0);
                        let at = position::offset_in_string(source, span, t.raw(), inner);
                        let hint = if v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                            format!(" (for the shell variable write ${v} without braces)")
                        } else {
                            String::new()
                        };
                        let err = error_at(
                            source,
                            origin,
                            at,
                            format!("kinds.{}.{key}", g.kind),
                            format!(
                                "uses `{{{v}}}`, which has no value for host `{}` in group `{}`; define it in [vars], the group's vars or the host's vars{hint}; built-ins: {}",
                                n.name,
                                g.name,
                                BUILTIN_VARS.join(", ")
                            ),
                        );
                        if !ctx.errors.iter().any(|e| e.line == err.line && e.col == err.col) {
                            ctx.errors.push(err);
                        }
                    }
                }
            }
        }
    }

    // [lock]
    let first_node = groups.first().and_then(|g| g.nodes.first()).map(|n| n.name.clone()).unwrap_or_default();
    let lock = match &raw.lock {
        None => {
            LockSpec { node: first_node, path: format!("/tmp/rollpilot-lock-{name}"), lease: Duration::from_secs(120) }
        }
        Some(l) => {
            let node = match &l.host {
                Some(h) if !seen_nodes.contains_key(h.get_ref()) => {
                    ctx.err(
                        h.span(),
                        "lock.host",
                        format!("`{}` is not a host of this cluster; the lock lives on one of its hosts", h.get_ref()),
                    );
                    first_node
                }
                Some(h) => h.get_ref().clone(),
                None => first_node,
            };
            let path = match &l.path {
                Some(p) if !plain_remote_path(p.get_ref()) => {
                    ctx.err(p.span(), "lock.path", "must be an absolute path of letters, digits, `.`, `_`, `-`, `/` (it may start with `$HOME/`), the same for every operator");
                    String::new()
                }
                Some(p) => p.get_ref().clone(),
                None => format!("/tmp/rollpilot-lock-{name}"),
            };
            LockSpec { node, path, lease: duration(&mut ctx, &l.lease, "lock.lease", Duration::from_secs(120)) }
        }
    };

    // [notify]
    let notify = raw.notify.as_ref().map(|n| {
        let command = n.command.get_ref().trim().to_string();
        if command.is_empty() || command.contains('\0') {
            ctx.err(
                n.command.span(),
                "notify.command",
                "must be a shell command, such as `curl -s -d @- https://chat.example/hook`",
            );
        }
        let timeout = duration(&mut ctx, &n.timeout, "notify.timeout", Duration::from_secs(10));
        crate::model::NotifySpec { command, timeout }
    });

    let parallel_groups = count(&mut ctx, &c.parallel_groups, "cluster.parallel_groups", 1, 1, 64);
    if let Some(pg) = &c.parallel_groups
        && *pg.get_ref() > 1
        && profile == Profile::AnyOrder
    {
        ctx.err(pg.span(), "cluster.parallel_groups", "applies to server groups with failover (profiles terracotta and active-passive); under any-order use max_unavailable on the group");
    }
    if !ctx.errors.is_empty() {
        ctx.errors.sort_by_key(|e| (e.line, e.col));
        return Err(ConfigErrors(ctx.errors));
    }
    let Some(target) = target else {
        return Err(ConfigErrors(vec![error_at(
            source,
            origin,
            c.target.span().start,
            "cluster.target",
            "is not a version",
        )]));
    };
    Ok(Cluster {
        name,
        target,
        profile,
        compat,
        persistent: c.persistent.unwrap_or(true),
        failback: c.failback.unwrap_or(FailbackPolicy::Ask),
        transport: c.transport.unwrap_or(TransportKind::Ssh),
        ssh,
        timeouts,
        job_dir,
        lock,
        notify,
        vars: cluster_vars,
        kinds,
        groups,
        parallel_groups,
    })
}
