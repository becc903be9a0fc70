//! The commands, one module per family: `list` (list_*), `access` (users, vhosts,
//! permissions), `topology` (policies, queues, connections), `definitions` (import, export)
//! and `node` (status, ping, health checks, the memory watermark).

mod access;
mod definitions;
mod list;
mod node;
mod topology;

use crate::cli::{Command, Global};
use crate::error::{CtlError, CtlResult};
use crate::http::{Client, Reply};
use crate::output::Out;
use crate::target::Target;

/// What every command has at hand.
pub struct Ctx<'a> {
    pub client: Client<'a>,
    pub out: &'a mut Out,
    pub vhost: String,
    pub timeout: u64,
}

impl Ctx<'_> {
    /// The reply when it is a success; otherwise `Error:` and its reason, with the exit
    /// status `not_found` for a 404 and `other` for anything else.
    fn expect(&self, reply: Reply, not_found: u8, other: u8) -> CtlResult<Reply> {
        match reply.status {
            s if (200..300).contains(&s) => Ok(reply),
            404 => Err(CtlError::reason(not_found, reply.reason())),
            _ => Err(CtlError::reason(other, reply.reason())),
        }
    }
}

pub fn run(command: &Command, g: &Global, target: &Target, out: &mut Out) -> CtlResult<()> {
    let mut ctx = Ctx {
        client: Client::new(target),
        out,
        vhost: g.vhost.clone(),
        timeout: g.timeout,
    };
    let ctx = &mut ctx;
    use Command as C;
    match command {
        C::ListQueues { columns } => list::queues(ctx, columns),
        C::ListExchanges { columns } => list::exchanges(ctx, columns),
        C::ListBindings { columns } => list::bindings(ctx, columns),
        C::ListConnections { columns } => list::connections(ctx, columns),
        C::ListChannels { columns } => list::channels(ctx, columns),
        C::ListConsumers { columns } => list::consumers(ctx, columns),
        C::ListUsers { columns } => list::users(ctx, columns),
        C::ListVhosts { columns } => list::vhosts(ctx, columns),
        C::ListPermissions => list::permissions(ctx),
        C::ListUserPermissions { user } => list::user_permissions(ctx, user),
        C::ListPolicies => list::policies(ctx),
        C::AddUser { user, new_password } => access::add_user(ctx, user, new_password),
        C::DeleteUser { user } => access::delete_user(ctx, user),
        C::ChangePassword { user, new_password } => {
            access::change_password(ctx, user, new_password)
        }
        C::SetUserTags { user, tags } => access::set_user_tags(ctx, user, tags),
        C::SetPermissions {
            user,
            conf,
            write,
            read,
        } => access::set_permissions(ctx, user, [conf, write, read]),
        C::ClearPermissions { user } => access::clear_permissions(ctx, user),
        C::AddVhost { name } => access::add_vhost(ctx, name),
        C::DeleteVhost { name } => access::delete_vhost(ctx, name),
        C::SetPolicy {
            name,
            pattern,
            definition,
            priority,
            apply_to,
        } => topology::set_policy(ctx, name, pattern, definition, *priority, apply_to),
        C::ClearPolicy { name } => topology::clear_policy(ctx, name),
        C::PurgeQueue { queue } => topology::purge_queue(ctx, queue),
        C::DeleteQueue {
            queue,
            if_empty,
            if_unused,
        } => topology::delete_queue(ctx, queue, *if_empty, *if_unused),
        C::CloseConnection {
            connection,
            explanation,
        } => topology::close_connection(ctx, connection, explanation),
        C::ImportDefinitions { file } => definitions::import(ctx, file),
        C::ExportDefinitions { file } => definitions::export(ctx, file),
        C::SetVmMemoryHighWatermark { value } => node::set_watermark(ctx, value),
        C::Status => node::status(ctx),
        C::Ping => node::ping(ctx),
        C::CheckRunning => node::check_running(ctx),
        C::AwaitStartup => node::await_startup(ctx),
        C::CheckLocalAlarms | C::CheckAlarms => node::check_alarms(ctx),
        C::CheckPortConnectivity => node::check_ports(ctx),
        C::CheckVirtualHosts => node::check_vhosts(ctx),
        C::CheckIfNodeIsQuorumCritical => node::check_quorum_critical(ctx),
        C::IsRunning => node::is_running(ctx),
        C::NodeHealthCheck => node::health_check(ctx),
    }
}
