//! A simulated WAN orchestrator (BigMemory WAN Replication service, seed 001 steps 3-5): a
//! master or standby by configuration, which refuses to run beside a running orchestrator of
//! another version ("All Orchestrators must run the same version").

use super::common::stop_host;
use super::net;
use crate::sim::conf::{self, Orchestrator, WanConf};
use crate::sim::wire::{self, Reply, Request, Stat};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn load(conf_path: &Path, name: &str) -> Result<(WanConf, Orchestrator), String> {
    let conf: WanConf = conf::read(conf_path).map_err(|e| e.to_string())?;
    let me = conf.orchestrators.iter().find(|o| o.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = conf.orchestrators.iter().map(|o| o.name.as_str()).collect();
        format!("{name} is not an orchestrator of {} (orchestrators: {})", conf_path.display(), names.join(", "))
    })?;
    Ok((conf, me))
}

/// start-wan.sh: runs an orchestrator in the foreground.
pub fn run(kit: &Path, conf_path: &Path, name: &str) -> u8 {
    let (conf, me) = match load(conf_path, name) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let (version, ctx) = match super::common::start_node(kit, &me.name, &conf.sim_dir, &me.node_dir, "orchestrator") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let listener = super::common::listen_or_exit(&ctx, &me.address, me.port);
    for o in conf.orchestrators.iter().filter(|o| o.name != me.name) {
        if let Ok(s) = wire::stat(&o.address, o.port)
            && s.version != version
        {
            ctx.shout(format!(
                "orchestrator {} (Terracotta {version}) refuses to run: orchestrator {} runs {}. All orchestrators must run the same version (Terracotta upgrade procedure, step 4): stop every orchestrator, upgrade them all, then start them again",
                me.name, o.name, s.version
            ));
            ctx.exit(1);
        }
    }
    ctx.log(format!("WAN orchestrator {} running as {} (Terracotta {version})", me.name, me.role));
    ctx.watchdog(|| {});
    let stat = Stat {
        name: me.name.clone(),
        version,
        state: "RUNNING".into(),
        role: me.role.clone(),
        port: me.port,
        ..Default::default()
    };
    net::accept_forever(
        listener,
        Arc::new(move |c| {
            net::request_loop(c, |req| match req {
                Request::Stat => Reply { ok: true, stat: Some(stat.clone()), ..Default::default() },
                other => Reply::err(format!("an orchestrator does not understand {other:?}")),
            })
        }),
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// wan-status.sh: `orchestrator.state` and `orchestrator.role`, or only `orchestrator.state: STOPPED`.
pub fn status(conf_path: &Path, name: &str) -> u8 {
    let (_, me) = match load(conf_path, name) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match wire::stat(&me.address, me.port) {
        Ok(s) => {
            println!("orchestrator.state: {}", s.state);
            println!("orchestrator.role: {}", s.role);
        }
        Err(_) => println!("orchestrator.state: STOPPED"),
    }
    0
}

/// stop-wan.sh: stops an orchestrator and waits until it is gone.
pub fn stop(conf_path: &Path, name: &str) -> u8 {
    match load(conf_path, name) {
        Ok((conf, me)) => stop_host(&conf.sim_dir, &me.node_dir, name, "orchestrator", Duration::from_secs(10)),
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}
