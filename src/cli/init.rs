//! `rollpilot init`: a commented starting config for one of the three profiles, with the hosts
//! taken from a list, an ssh_config, or `ansible-inventory --list` JSON. The file written
//! passes `rollpilot check`; the operator then fills in the product's commands.

use super::common::print_out;
use super::common::say;
use super::exit;
use clap::{ArgGroup, Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Arguments of `rollpilot init`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["hosts", "ssh_config", "ansible_inventory"])))]
pub(super) struct InitArgs {
    /// The procedure the cluster follows.
    #[arg(long, value_enum)]
    profile: InitProfile,
    /// The hosts, comma-separated (ssh aliases, host names or addresses): `--hosts a,b,c`.
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    hosts: Vec<String>,
    /// Take the hosts from this ssh_config's `Host` entries (wildcard patterns skipped).
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Take groups and hosts from `ansible-inventory --list` JSON (ansible_host/port/user kept).
    #[arg(long, value_name = "FILE")]
    ansible_inventory: Option<PathBuf>,
    /// The cluster's name (operators type it to confirm dangerous steps).
    #[arg(long, default_value = "my-cluster")]
    name: String,
    /// The version every node should run at the end.
    #[arg(long, value_name = "VERSION", default_value = "1.0.0")]
    target: String,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// The profiles `init` can start from (the same names as `[cluster] profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InitProfile {
    /// BigMemory/Terracotta 4.2: mirrors, then actives with failover.
    Terracotta,
    /// An active/passive pair with an explicit switchover.
    ActivePassive,
    /// Peers with no roles, one at a time, in any order.
    AnyOrder,
}

impl InitProfile {
    fn as_str(self) -> &'static str {
        match self {
            InitProfile::Terracotta => "terracotta",
            InitProfile::ActivePassive => "active-passive",
            InitProfile::AnyOrder => "any-order",
        }
    }
}

/// One host as the config will list it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InitHost {
    name: String,
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
}

impl InitHost {
    fn named(name: &str) -> InitHost {
        InitHost { name: name.to_string(), address: None, port: None, user: None }
    }
}

/// Writes the starting config; exit 2 for a bad source or an existing file without `--force`.
pub(super) fn run(a: &InitArgs) -> u8 {
    let groups = match hosts_of(a) {
        Ok(g) => g,
        Err(msg) => {
            say!("rollpilot init: {msg}");
            return exit::USAGE;
        }
    };
    let ssh_config = match &a.ssh_config {
        Some(p) => match std::path::absolute(p) {
            Ok(p) => Some(p),
            Err(e) => {
                say!("rollpilot init: --ssh-config {}: {e}", p.display());
                return exit::USAGE;
            }
        },
        None => None,
    };
    let text = render(a.profile, &a.name, &a.target, &groups, ssh_config.as_deref());
    // The file must pass `check`: validate before writing, so a bad --name or --target is
    // reported here with the config loader's own words.
    let base = a.output.as_deref().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    if let Err(e) = crate::config::parse_str(&text, "(init)", &base) {
        say!("rollpilot init: the generated config would not pass `rollpilot check`:\n{e}");
        return exit::USAGE;
    }
    let Some(out) = &a.output else {
        return print_out(&text).err().unwrap_or(exit::OK);
    };
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if a.force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let written = open.open(out).and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    match written {
        Ok(()) => {
            let hosts: usize = groups.iter().map(|(_, h)| h.len()).sum();
            say!(
                "wrote {} ({} profile, {} groups, {hosts} hosts); fill in [kinds.service], then `rollpilot check -c {}`",
                out.display(),
                a.profile.as_str(),
                groups.len(),
                out.display()
            );
            exit::OK
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            say!("rollpilot init: {} exists; pass --force to overwrite it", out.display());
            exit::USAGE
        }
        Err(e) => {
            say!("rollpilot init: cannot write {}: {e}", out.display());
            exit::USAGE
        }
    }
}

/// The groups and their hosts, from whichever source was given.
fn hosts_of(a: &InitArgs) -> Result<Vec<(String, Vec<InitHost>)>, String> {
    let groups = if let Some(p) = &a.ssh_config {
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("--ssh-config {}: cannot read it ({e})", p.display()))?;
        let hosts = ssh_config_hosts(&text);
        if hosts.is_empty() {
            return Err(format!("--ssh-config {}: no `Host` entry without wildcards", p.display()));
        }
        vec![("servers".to_string(), hosts.iter().map(|h| InitHost::named(h)).collect())]
    } else if let Some(p) = &a.ansible_inventory {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("--ansible-inventory {}: cannot read it ({e})", p.display()))?;
        let groups = ansible_groups(&text).map_err(|e| format!("--ansible-inventory {}: {e}", p.display()))?;
        if groups.is_empty() {
            return Err(format!("--ansible-inventory {}: no group lists any host", p.display()));
        }
        groups
    } else {
        let hosts: Vec<InitHost> =
            a.hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).map(InitHost::named).collect();
        if hosts.is_empty() {
            return Err("--hosts lists no host; write --hosts a,b,c".into());
        }
        vec![("servers".to_string(), hosts)]
    };
    Ok(groups)
}

/// The `Host` names of an ssh_config, in order, without patterns (`*`, `?`, `!`).
fn ssh_config_hosts(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let mut words = line.split(|c: char| c.is_whitespace() || c == '=').filter(|w| !w.is_empty());
        if !words.next().is_some_and(|k| k.eq_ignore_ascii_case("host")) {
            continue;
        }
        for w in words {
            if w.starts_with('#') {
                break;
            }
            let w = w.trim_matches('"');
            if !w.contains(['*', '?', '!']) && !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
    }
    out
}

/// Groups of `ansible-inventory --list` JSON: every group with hosts (not `all`), each host once
/// (in the first group that lists it), with its `ansible_host`/`ansible_port`/`ansible_user`.
fn ansible_groups(text: &str) -> Result<Vec<(String, Vec<InitHost>)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not ansible-inventory --list JSON ({e})"))?;
    let obj = v.as_object().ok_or("not ansible-inventory --list JSON (expected an object of groups)")?;
    let hostvars = v.pointer("/_meta/hostvars").and_then(|h| h.as_object());
    let mut seen: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    for (gname, g) in obj {
        if gname == "_meta" || gname == "all" {
            continue;
        }
        let Some(list) = g.get("hosts").and_then(|h| h.as_array()) else { continue };
        let mut hosts = Vec::new();
        for h in list.iter().filter_map(|h| h.as_str()) {
            if seen.iter().any(|s| s == h) {
                continue;
            }
            seen.push(h.to_string());
            let vars = hostvars.and_then(|hv| hv.get(h));
            let var = |k: &str| vars.and_then(|x| x.get(k));
            let port = var("ansible_port").and_then(|p| p.as_u64().or_else(|| p.as_str().and_then(|s| s.parse().ok())));
            hosts.push(InitHost {
                name: h.to_string(),
                address: var("ansible_host").and_then(|a| a.as_str()).map(str::to_string),
                port: port.and_then(|p| u16::try_from(p).ok()),
                user: var("ansible_user").and_then(|u| u.as_str()).map(str::to_string),
            });
        }
        if !hosts.is_empty() {
            groups.push((gname.clone(), hosts));
        }
    }
    Ok(groups)
}

/// A TOML string literal (basic string, escaped).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The config text: every section commented, the kind's commands as placeholders to replace.
fn render(
    profile: InitProfile,
    name: &str,
    target: &str,
    groups: &[(String, Vec<InitHost>)],
    ssh_config: Option<&Path>,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# rollpilot cluster description, started by `rollpilot init --profile {}`.\n\
         # Replace the commands of [kinds.service] with your product's, then:\n\
         #   rollpilot check  -c THIS_FILE    validate it (every problem with file:line:col)\n\
         #   rollpilot status -c THIS_FILE    probe every host over ssh\n\
         #   rollpilot plan   -c THIS_FILE    see every step before anything runs\n\
         # The README's config reference explains every field.\n\n",
        profile.as_str()
    ));
    let (compat, failback) = match profile {
        InitProfile::Terracotta => ("same-minor", "ask"),
        InitProfile::ActivePassive => ("same-minor", "ask"),
        InitProfile::AnyOrder => ("any", "never"),
    };
    s.push_str(&format!(
        "[cluster]\n\
         name = {}  # operators type it to confirm dangerous steps\n\
         target = {}  # the version every node should run at the end\n\
         profile = \"{}\"\n\
         compat = \"{compat}\"  # which versions may run side by side during the rollout (R1)\n\
         failback = \"{failback}\"  # after a failover, offer to move the active role back (R8)\n\
         transport = \"ssh\"\n\n",
        q(name),
        q(target),
        profile.as_str()
    ));
    s.push_str("[ssh]\n# user = \"deploy\"  # or leave user/port/identity to your ~/.ssh/config\n");
    if let Some(p) = ssh_config {
        s.push_str(&format!("config_file = {}   # the ssh_config the hosts came from\n", q(&p.display().to_string())));
    }
    s.push_str("host_key_policy = \"strict\"  # unknown host keys are refused; \"accept-new\" learns them\n\n");
    s.push_str(
        "[vars]\n\
         app_home = \"/opt/app\"  # where the product is installed on each host\n\
         kit_dir = \"/opt/kits\"  # where app-<version>.tar.gz kits are downloaded\n\n",
    );
    s.push_str(
        "# How to talk to one kind of node: POSIX shell templates run on the node's host.\n\
         # {name} placeholders are shell-quoted for you: never put quotes around them.\n\
         [kinds.service]\n\
         version = \"{app_home}/bin/version\"  # prints the installed version\n\
         status = \"{app_home}/bin/status\"  # prints role and sync state\n\
         stop = \"{app_home}/bin/stop\"\n\
         start = \"{app_home}/bin/start\"\n\
         install = \"tar zxf {kit_dir}/app-{version}.tar.gz -C {app_home}\"   # installs {version}\n",
    );
    if profile == InitProfile::ActivePassive {
        s.push_str("switchover = \"{app_home}/bin/switchover --to {peer}\"  # moves the active role to {peer}\n");
    }
    s.push_str("\n[kinds.service.parse]\n");
    if profile == InitProfile::AnyOrder {
        s.push_str("# peers have no roles; health reads the status output\n");
        s.push_str("health = { from = \"status\", regex = 'state: (\\S+)', map = { \"up\" = \"ok\" }, default = \"failed\" }\n\n");
    } else {
        s.push_str(
            "# what the status command prints, mapped to rollpilot's meanings\n\
             role = { regex = 'role: (\\S+)', map = { \"primary\" = \"active\", \"standby\" = \"passive\", \"down\" = \"stopped\" }, default = \"unknown\" }\n\
             sync = { regex = 'sync: (\\S+)', map = { \"streaming\" = \"in-sync\", \"catchup\" = \"syncing\" }, default = \"unknown\" }\n\
             health = { from = \"status\", regex = 'state: (\\S+)', map = { \"up\" = \"ok\" }, default = \"failed\" }\n\n",
        );
    }
    for (gname, hosts) in groups {
        s.push_str(&format!(
            "[[groups]]\nname = {}\ntype = \"server\"{}\nkind = \"service\"\nhosts = [\n",
            q(gname),
            if profile == InitProfile::AnyOrder { "              # under any-order, servers are peers" } else { "" }
        ));
        for h in hosts {
            if h.address.is_none() && h.port.is_none() && h.user.is_none() {
                s.push_str(&format!("  {},\n", q(&h.name)));
                continue;
            }
            let mut fields = vec![format!("name = {}", q(&h.name))];
            if let Some(a) = &h.address {
                fields.push(format!("address = {}", q(a)));
            }
            if let Some(p) = h.port {
                fields.push(format!("port = {p}"));
            }
            if let Some(u) = &h.user {
                fields.push(format!("user = {}", q(u)));
            }
            s.push_str(&format!("  {{ {} }},\n", fields.join(", ")));
        }
        s.push_str("]\n\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_config_hosts_skip_patterns_and_repeats() {
        let text = "Host *\n  User x\nHost db1 db2 web-*\n  Port 2222\nHost=db3 # note\nhost db1 !bad\n";
        assert_eq!(ssh_config_hosts(text), ["db1", "db2", "db3"]);
    }

    #[test]
    fn ansible_groups_keep_connection_vars_and_list_each_host_once() {
        let text = r#"{"_meta":{"hostvars":{"pg1":{"ansible_host":"10.0.0.1","ansible_port":2222,"ansible_user":"alice"}}},
            "all":{"children":["db","ungrouped"]},"db":{"hosts":["pg1","pg2"]},"replicas":{"hosts":["pg2"]},"ungrouped":{}}"#;
        let g = ansible_groups(text).unwrap_or_default();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].0, "db");
        assert_eq!(
            g[0].1[0],
            InitHost {
                name: "pg1".into(),
                address: Some("10.0.0.1".into()),
                port: Some(2222),
                user: Some("alice".into())
            }
        );
        assert_eq!(g[0].1[1], InitHost::named("pg2"));
    }
}
