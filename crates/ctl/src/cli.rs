//! The command line, with rabbitmqctl's command names (snake_case) and options. Options may
//! come before or after the command, as rabbitmqctl allows.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// RabbitMQ's CLI commands over the management HTTP API. Where the node is and which user
/// to log in as: --node/--host/--port/--username/--password, else WARREN_CTL_URL, else the
/// broker's own settings (management.tcp.port, default_user, default_pass); docs/cli.md.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "RabbitMQ's CLI commands (rabbitmqctl, rabbitmq-diagnostics) over the management HTTP API.",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The output of list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Formatter {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The node: a management API URL (http://user:pass@host:15672) or a RabbitMQ node name
    /// (rabbit@host, whose host part is used).
    #[arg(short = 'n', long, global = true, value_name = "NODE|URL")]
    pub node: Option<String>,
    /// The management API's host (default 127.0.0.1).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// The management API's port (default: management.tcp.port, 15672).
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// The user to log in as (default: default_user, guest).
    #[arg(long, global = true)]
    pub username: Option<String>,
    /// Its password (default: default_pass, guest).
    #[arg(long, global = true)]
    pub password: Option<String>,
    /// The virtual host (default /).
    #[arg(short = 'p', long, global = true, default_value = "/")]
    pub vhost: String,
    /// No informational banner lines.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// No banner lines and no table headers.
    #[arg(short = 's', long, global = true)]
    pub silent: bool,
    /// No table header row.
    #[arg(long, global = true)]
    pub no_table_headers: bool,
    /// How list commands print their rows.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub formatter: Formatter,
    /// Seconds to wait for the node (default 60).
    #[arg(short = 't', long, global = true, default_value_t = 60)]
    pub timeout: u64,
    /// Accepted for rabbitmqctl's sake; node names do not matter over HTTP.
    #[arg(short = 'l', long, global = true, hide = true)]
    pub longnames: bool,
}

#[derive(Debug, Subcommand)]
#[command(rename_all = "snake_case")]
pub enum Command {
    /// Lists queues: name and messages, or the columns named.
    ListQueues { columns: Vec<String> },
    /// Lists exchanges: name and type, or the columns named.
    ListExchanges { columns: Vec<String> },
    /// Lists bindings.
    ListBindings { columns: Vec<String> },
    /// Lists connections: user, peer_host, peer_port and state, or the columns named.
    ListConnections { columns: Vec<String> },
    /// Lists channels: pid (the API's channel name), user, consumer_count and
    /// messages_unacknowledged, or the columns named.
    ListChannels { columns: Vec<String> },
    /// Lists the consumers of a virtual host (-p).
    ListConsumers { columns: Vec<String> },
    /// Lists users and their tags.
    ListUsers { columns: Vec<String> },
    /// Lists virtual hosts.
    ListVhosts { columns: Vec<String> },
    /// Lists the permissions in a virtual host (-p).
    ListPermissions,
    /// Lists a user's permissions in every virtual host.
    ListUserPermissions { user: String },
    /// Lists the policies of a virtual host (-p).
    ListPolicies,
    // Positional names differ from the global options' (--username, --password, --vhost):
    // clap gives an argument one id across a command and its subcommands.
    /// Creates a user with no tags and no permissions.
    AddUser { user: String, new_password: String },
    /// Deletes a user.
    DeleteUser { user: String },
    /// Sets a user's password.
    ChangePassword { user: String, new_password: String },
    /// Replaces a user's tags (none: no tags).
    SetUserTags { user: String, tags: Vec<String> },
    /// Sets a user's configure, write and read patterns in a virtual host (-p).
    SetPermissions {
        user: String,
        conf: String,
        write: String,
        read: String,
    },
    /// Removes a user's permissions in a virtual host (-p).
    ClearPermissions { user: String },
    /// Creates a virtual host.
    AddVhost { name: String },
    /// Deletes a virtual host and everything in it.
    DeleteVhost { name: String },
    /// Sets a policy in a virtual host (-p); DEFINITION is JSON.
    SetPolicy {
        name: String,
        pattern: String,
        definition: String,
        #[arg(long, default_value_t = 0)]
        priority: i64,
        #[arg(long = "apply-to", default_value = "all")]
        apply_to: String,
    },
    /// Removes a policy.
    ClearPolicy { name: String },
    /// Removes a queue's ready messages.
    PurgeQueue { queue: String },
    /// Deletes a queue, printing how many ready messages it held.
    DeleteQueue {
        queue: String,
        #[arg(short = 'e', long = "if-empty")]
        if_empty: bool,
        #[arg(short = 'u', long = "if-unused")]
        if_unused: bool,
    },
    /// Closes a connection, named as the management API names it ("127.0.0.1:40828 ->
    /// 127.0.0.1:5672").
    CloseConnection {
        connection: String,
        explanation: String,
    },
    /// Imports a definitions file ("-": stdin).
    ImportDefinitions { file: String },
    /// Exports the definitions to a file ("-": stdout).
    ExportDefinitions { file: String },
    /// `<fraction>` or `absolute <bytes|256MiB|1GB>`.
    SetVmMemoryHighWatermark {
        #[arg(num_args = 1..=2, required = true)]
        value: Vec<String>,
    },
    /// The node: versions, alarms, memory, disk, totals, listeners.
    Status,
    /// Succeeds when the node's management API answers.
    Ping,
    /// Succeeds when the broker is running.
    CheckRunning,
    /// Fails (69) while a memory or disk alarm is in effect.
    CheckLocalAlarms,
    /// As check_local_alarms (one node).
    CheckAlarms,
    /// Connects to every listener's port.
    CheckPortConnectivity,
    /// Succeeds when every virtual host is running.
    CheckVirtualHosts,
    /// Always succeeds: a single node.
    CheckIfNodeIsQuorumCritical,
    /// As check_running.
    IsRunning,
    /// The node answers and has no alarm (deprecated in RabbitMQ).
    NodeHealthCheck,
    /// Waits until the node answers (used by init scripts).
    AwaitStartup,
}
