//! The one seam through which every definition write goes: declaring and deleting exchanges
//! and queues, binding and unbinding, the access records (vhosts, users, permissions, topic
//! permissions), policies, and dropping what recovery could not read. The RocksDB
//! store is behind it now; a replicated log can take its place without the callers changing.
//! Message writes (enqueue, ack, delivery counts, purge) do not come through here.

use super::formats::{encode_binding_of, encode_exchange, encode_queue};
use super::ExchangeMeta;
use super::QueueOptions;
use bytes::Bytes;
use std::sync::Arc;
use warren_codec::FieldTable;
use warren_routing::Binding;
use warren_store::{Command, QueueId, Store};

/// Where durable definitions are written.
#[derive(Debug, Clone)]
pub(crate) struct MetadataStore {
    store: Arc<Store>,
}

impl MetadataStore {
    pub(crate) fn new(store: Arc<Store>) -> MetadataStore {
        MetadataStore { store }
    }

    /// Synced, but nobody waits for it: the declare-ok (bind-ok, delete-ok) does not.
    fn write(&self, cmds: Vec<Command>) {
        drop(self.store.submit(cmds, true));
    }

    /// A durable exchange. A delayed-message exchange also gets the hidden queue that keeps
    /// its persistent held messages (named `hidden_queue`, see `vhost::delayed`): its id.
    pub(crate) fn declare_exchange(
        &self,
        vhost: &str,
        name: &str,
        meta: &ExchangeMeta,
        hidden_queue: Option<String>,
    ) -> Option<QueueId> {
        let mut cmds = vec![Command::DeclareExchange {
            vhost: vhost.to_string(),
            name: name.to_string(),
            def: encode_exchange(meta),
        }];
        let hidden = hidden_queue.map(|hidden_name| {
            let queue = self.store.allocate_queue_id();
            cmds.push(Command::DeclareQueue {
                vhost: vhost.to_string(),
                name: hidden_name,
                queue,
                def: encode_queue(&QueueOptions {
                    durable: true,
                    exclusive_owner: None,
                    auto_delete: false,
                    arguments: FieldTable::new(),
                }),
            });
            queue
        });
        self.write(cmds);
        hidden
    }

    /// A durable exchange is gone, with the stored `bindings` it had either way and its
    /// hidden queue, if it was a delayed-message exchange with one.
    pub(crate) fn delete_exchange(
        &self,
        vhost: &str,
        name: &str,
        bindings: &[Binding],
        hidden_queue: Option<QueueId>,
    ) {
        let mut cmds: Vec<Command> = bindings.iter().map(|b| unbind_command(vhost, b)).collect();
        cmds.push(Command::DeleteExchange {
            vhost: vhost.to_string(),
            name: name.to_string(),
        });
        if let Some(queue) = hidden_queue {
            cmds.push(Command::DeleteQueue { queue });
        }
        self.write(cmds);
    }

    /// A new durable, non-exclusive queue: its place in the store.
    pub(crate) fn declare_queue(&self, vhost: &str, name: &str, options: &QueueOptions) -> QueueId {
        let queue = self.store.allocate_queue_id();
        self.write(vec![Command::DeclareQueue {
            vhost: vhost.to_string(),
            name: name.to_string(),
            queue,
            def: encode_queue(options),
        }]);
        queue
    }

    /// A durable queue is gone, with its messages.
    pub(crate) fn delete_queue(&self, queue: QueueId) {
        self.write(vec![Command::DeleteQueue { queue }]);
    }

    /// A binding between durable ends.
    pub(crate) fn bind(&self, vhost: &str, b: &Binding) {
        let key = encode_binding_of(b);
        self.write(vec![Command::Bind {
            vhost: vhost.to_string(),
            key: key.clone(),
            def: key,
        }]);
    }

    pub(crate) fn unbind(&self, vhost: &str, b: &Binding) {
        self.write(vec![unbind_command(vhost, b)]);
    }

    // The access records arrive encoded (`access::stored`: their types are above this room).

    /// A vhost's record, new or changed.
    pub(crate) fn put_vhost(&self, name: &str, def: Bytes) {
        self.write(vec![Command::PutVhost {
            name: name.to_string(),
            def,
        }]);
    }

    /// A vhost is gone, with everything stored in it (the store's one cascading command).
    pub(crate) fn delete_vhost(&self, name: &str) {
        self.write(vec![Command::DeleteVhost {
            name: name.to_string(),
        }]);
    }

    pub(crate) fn put_user(&self, name: &str, def: Bytes) {
        self.write(vec![Command::PutUser {
            name: name.to_string(),
            def,
        }]);
    }

    /// A user is gone, with its permissions in `granted` and topic permissions in
    /// `topic_granted` (vhost names), in one write.
    pub(crate) fn delete_user(&self, name: &str, granted: &[String], topic_granted: &[String]) {
        let user = || name.to_string();
        let mut cmds: Vec<Command> = granted
            .iter()
            .map(|v| Command::ClearPermissions {
                vhost: v.clone(),
                user: user(),
            })
            .collect();
        cmds.extend(
            topic_granted
                .iter()
                .map(|v| Command::ClearTopicPermissions {
                    vhost: v.clone(),
                    user: user(),
                }),
        );
        cmds.push(Command::DeleteUser { name: user() });
        self.write(cmds);
    }

    pub(crate) fn set_permissions(&self, vhost: &str, user: &str, def: Bytes) {
        self.write(vec![Command::SetPermissions {
            vhost: vhost.to_string(),
            user: user.to_string(),
            def,
        }]);
    }

    pub(crate) fn clear_permissions(&self, vhost: &str, user: &str) {
        self.write(vec![Command::ClearPermissions {
            vhost: vhost.to_string(),
            user: user.to_string(),
        }]);
    }

    /// A user's topic permissions in a vhost, all of them in one record; `None` clears it.
    pub(crate) fn set_topic_permissions(&self, vhost: &str, user: &str, def: Option<Bytes>) {
        let (vhost, user) = (vhost.to_string(), user.to_string());
        self.write(vec![match def {
            None => Command::ClearTopicPermissions { vhost, user },
            Some(def) => Command::SetTopicPermissions { vhost, user, def },
        }]);
    }

    /// A policy (`operator`: an operator policy), new or changed, encoded by `policy::stored`.
    pub(crate) fn set_policy(&self, vhost: &str, name: &str, operator: bool, def: Bytes) {
        self.write(vec![Command::SetPolicy {
            vhost: vhost.to_string(),
            name: name.to_string(),
            operator,
            def,
        }]);
    }

    pub(crate) fn clear_policy(&self, vhost: &str, name: &str, operator: bool) {
        self.write(vec![Command::ClearPolicy {
            vhost: vhost.to_string(),
            name: name.to_string(),
            operator,
        }]);
    }

    /// Removes what recovery could not use, in one write nobody waits for.
    pub(crate) fn discard(&self, discards: Discards) {
        if !discards.0.is_empty() {
            self.store.submit_detached(discards.0);
        }
    }
}

/// The store command that removes a binding.
fn unbind_command(vhost: &str, b: &Binding) -> Command {
    Command::Unbind {
        vhost: vhost.to_string(),
        key: encode_binding_of(b),
    }
}

/// Stored definitions recovery drops (unreadable, or their exchange or vhost is gone).
#[derive(Debug, Default)]
pub(crate) struct Discards(Vec<Command>);

impl Discards {
    pub(crate) fn exchange(&mut self, vhost: String, name: String) {
        self.0.push(Command::DeleteExchange { vhost, name });
    }

    pub(crate) fn queue(&mut self, queue: QueueId) {
        self.0.push(Command::DeleteQueue { queue });
    }

    /// A binding by its key in the store.
    pub(crate) fn binding(&mut self, vhost: String, key: Bytes) {
        self.0.push(Command::Unbind { vhost, key });
    }

    pub(crate) fn user(&mut self, name: String) {
        self.0.push(Command::DeleteUser { name });
    }

    pub(crate) fn permissions(&mut self, vhost: String, user: String) {
        self.0.push(Command::ClearPermissions { vhost, user });
    }

    pub(crate) fn topic_permissions(&mut self, vhost: String, user: String) {
        self.0.push(Command::ClearTopicPermissions { vhost, user });
    }

    /// A policy that cannot be read back.
    pub(crate) fn policy(&mut self, vhost: String, name: String, operator: bool) {
        self.0.push(Command::ClearPolicy {
            vhost,
            name,
            operator,
        });
    }

    /// Everything stored in a vhost that has no record (a vhost deleted while one of its
    /// connections still declared), or whose record cannot be read.
    pub(crate) fn vhost(&mut self, name: String) {
        self.0.push(Command::DeleteVhost { name });
    }
}
