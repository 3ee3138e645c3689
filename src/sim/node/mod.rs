//! `rollpilot sim node ...` (hidden): the simulated products' engine. The kit scripts exec it;
//! each tool parses the same arguments as the script it stands behind.

pub mod client;
pub mod common;
pub mod exchange;
mod net;
pub mod rest;
pub mod server;
pub mod store;
pub mod streambase;
pub mod wan;

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Arguments of the hidden `sim node` command.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    tool: Tool,
}

#[derive(Debug, Args)]
struct KitConfName {
    /// The unpacked kit (…/terracotta), passed by the script.
    #[arg(long)]
    kit: PathBuf,
    /// The node's configuration file.
    #[arg(short = 'f', long = "config")]
    config: PathBuf,
    /// The host name.
    #[arg(short = 'n', long = "name")]
    name: String,
}

#[derive(Debug, Args)]
struct KitName {
    #[arg(long)]
    kit: PathBuf,
    #[arg(short = 'n', long = "name")]
    name: String,
}

#[derive(Debug, Args)]
struct KitGroup {
    #[arg(long)]
    kit: PathBuf,
    #[arg(short = 'g', long = "group")]
    group: String,
}

#[derive(Debug, Args)]
struct KitGroupNode {
    #[arg(long)]
    kit: PathBuf,
    #[arg(short = 'g', long = "group")]
    group: String,
    #[arg(short = 'n', long = "node")]
    node: String,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// start-tc-server.sh
    Server(KitConfName),
    /// stop-tc-server.sh
    StopServer(KitConfName),
    /// server-stat.sh -s HOST:PORT
    ServerStat {
        #[arg(long)]
        kit: PathBuf,
        #[arg(short = 's', long = "server")]
        server: String,
    },
    /// start-wan.sh
    Wan(KitConfName),
    /// stop-wan.sh
    StopWan(KitConfName),
    /// wan-status.sh
    WanStatus(KitConfName),
    /// start-client.sh
    Client(KitName),
    /// stop-client.sh
    StopClient(KitName),
    /// client-status.sh
    ClientStatus(KitName),
    /// epadmin --servicename=S display|start|stop node
    Epadmin {
        #[arg(long)]
        kit: PathBuf,
        #[arg(long = "servicename")]
        servicename: String,
        verb: String,
        object: String,
    },
    /// The StreamBase node daemon.
    SbNode(KitName),
    /// cluster-status.sh -n NODE -g GROUP
    ClusterStatus(KitGroupNode),
    /// cluster-move.sh -g GROUP -n NODE
    ClusterMove(KitGroupNode),
    /// cluster-node.sh stop|start NODE
    ClusterNode {
        #[arg(long)]
        kit: PathBuf,
        action: String,
        node: String,
    },
    /// cluster-offline.sh -g GROUP
    ClusterOffline(KitGroup),
    /// cluster-online.sh -g GROUP
    ClusterOnline(KitGroup),
    /// The Exchange cluster service daemon.
    ExchangeNode(KitName),
    /// One of the simulator's own writers.
    Loader {
        #[arg(long)]
        conf: PathBuf,
    },
}

/// Runs one engine tool and returns its exit code.
pub fn run(a: NodeArgs) -> u8 {
    match a.tool {
        Tool::Server(x) => server::run(&x.kit, &x.config, &x.name),
        Tool::StopServer(x) => server::stop_tool(&x.config, &x.name),
        Tool::ServerStat { server, .. } => server::stat_tool(&server),
        Tool::Wan(x) => wan::run(&x.kit, &x.config, &x.name),
        Tool::StopWan(x) => wan::stop(&x.config, &x.name),
        Tool::WanStatus(x) => wan::status(&x.config, &x.name),
        Tool::Client(x) => client::run_client(&x.kit, &x.name),
        Tool::StopClient(x) => client::client_stop(&x.kit, &x.name),
        Tool::ClientStatus(x) => client::client_status(&x.kit, &x.name),
        Tool::Epadmin { kit, servicename, verb, object } => streambase::epadmin(&kit, &servicename, &verb, &object),
        Tool::SbNode(x) => streambase::run_node(&x.kit, &x.name),
        Tool::ClusterStatus(x) => exchange::status(&x.kit, &x.node, &x.group),
        Tool::ClusterMove(x) => exchange::move_group(&x.kit, &x.group, &x.node),
        Tool::ClusterNode { kit, action, node } => exchange::node_cmd(&kit, &action, &node),
        Tool::ClusterOffline(x) => exchange::set_online(&x.kit, &x.group, false),
        Tool::ClusterOnline(x) => exchange::set_online(&x.kit, &x.group, true),
        Tool::ExchangeNode(x) => exchange::run_node(&x.kit, &x.name),
        Tool::Loader { conf } => client::run_loader(&conf),
    }
}
