//! The vhost's policies and operator policies: kept here, written through the metadata seam,
//! and applied to every queue and exchange they match as soon as one is set or cleared (and
//! to each new or recovered one as it appears). The lookup runs per declare and per policy
//! change, never per message.

use super::Vhost;
use crate::policy::{stored, Applied, Policies, Policy, PolicyKind};
use crate::queue::Queue;
use std::sync::{Arc, RwLockReadGuard};
use warren_codec::FieldTable;

impl Vhost {
    fn policy_set(&self) -> RwLockReadGuard<'_, Policies> {
        self.policies.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The vhost's policies and operator policies, as they are now.
    pub(crate) fn policies(&self) -> Policies {
        self.policy_set().clone()
    }

    /// Adds or replaces a policy and applies it; `true` if it is new.
    pub(crate) fn put_policy(&self, kind: PolicyKind, policy: Policy) -> bool {
        if let Some(meta) = &self.meta {
            let operator = kind == PolicyKind::Operator;
            meta.set_policy(&self.name, &policy.name, operator, stored::encode(&policy));
        }
        let created = self
            .policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .put(kind, policy);
        self.reapply_policies();
        created
    }

    /// Removes a policy and undoes what it did; `false` if there was none of that name.
    pub(crate) fn clear_policy(&self, kind: PolicyKind, name: &str) -> bool {
        let removed = self
            .policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(kind, name);
        if !removed {
            return false;
        }
        if let Some(meta) = &self.meta {
            meta.clear_policy(&self.name, name, kind == PolicyKind::Operator);
        }
        self.reapply_policies();
        true
    }

    /// A recovered policy, before the queues and exchanges it applies to are restored (they
    /// take it as they come back); the vhost's built-in exchanges, there already, take it now.
    pub(crate) fn restore_policy(&self, kind: PolicyKind, policy: Policy) {
        self.policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .put(kind, policy);
        self.reapply_policies();
    }

    /// What a queue named `name` gets (at declare and recovery).
    pub(super) fn queue_policy(&self, name: &str) -> Applied {
        let set = self.policy_set();
        match set.is_empty() {
            true => Applied::default(),
            false => set.for_queue(name),
        }
    }

    /// Records the policies an exchange gets (at declare and recovery); its alternate
    /// exchange with them.
    pub(super) fn take_exchange_policy(&self, name: &str, args: &FieldTable) -> Option<String> {
        let applied = {
            let set = self.policy_set();
            match set.is_empty() {
                true => Applied::default(),
                false => set.for_exchange(name),
            }
        };
        let alternate = applied.alternate_exchange(args);
        self.record_exchange_policy(name, applied);
        alternate
    }

    /// The policies in force on an exchange.
    pub(crate) fn exchange_policy(&self, name: &str) -> Applied {
        self.exchange_policies
            .get(name)
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// After a policy changed: every queue and exchange takes what now matches it.
    fn reapply_policies(&self) {
        let set = self.policies();
        let queues: Vec<Arc<Queue>> = self.queues.iter().map(|q| q.clone()).collect();
        for q in queues {
            q.apply_policy(set.for_queue(&q.name));
            // A policy may have given it an `x-expires` it did not have.
            self.watch_expiry(&q);
        }
        for (name, meta) in self.exchanges() {
            let applied = set.for_exchange(&name);
            if applied == self.exchange_policy(&name) {
                continue;
            }
            self.set_alternate_exchange(&name, applied.alternate_exchange(&meta.arguments));
            self.record_exchange_policy(&name, applied);
        }
    }

    fn record_exchange_policy(&self, name: &str, applied: Applied) {
        if applied.is_empty() {
            self.exchange_policies.remove(name);
        } else {
            self.exchange_policies.insert(name.to_string(), applied);
        }
    }
}
