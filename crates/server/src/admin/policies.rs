//! Policies and operator policies: list, look up, set (validated as RabbitMQ validates them,
//! applied at once to what they match) and clear.

use super::{Admin, PolicyInfo};
use crate::error::{AmqpError, AmqpResult};
use crate::policy::{Policy, PolicyKind, PolicySpec};
use crate::vhost::Vhost;

fn info(vhost: &str, p: &Policy) -> PolicyInfo {
    PolicyInfo {
        vhost: vhost.to_string(),
        name: p.name.clone(),
        pattern: p.pattern.clone(),
        apply_to: p.apply_to.as_str(),
        priority: p.priority.clone(),
        definition: p.definition.clone(),
    }
}

fn of_vhost(v: &Vhost, kind: PolicyKind) -> Vec<PolicyInfo> {
    let set = v.policies();
    set.list(kind).iter().map(|p| info(&v.name, p)).collect()
}

impl Admin {
    /// The policies (or operator policies) of one vhost, or of all, by vhost and name.
    pub fn policies(&self, kind: PolicyKind, vhost: Option<&str>) -> AmqpResult<Vec<PolicyInfo>> {
        let mut out = match vhost {
            Some(name) => of_vhost(&*self.find_vhost(name)?, kind),
            None => self
                .broker
                .vhosts()
                .iter()
                .flat_map(|v| of_vhost(v, kind))
                .collect(),
        };
        out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        Ok(out)
    }

    /// One policy; 404 NOT_FOUND if the vhost or the policy is not there.
    pub fn policy(&self, kind: PolicyKind, vhost: &str, name: &str) -> AmqpResult<PolicyInfo> {
        let v = self.find_vhost(vhost)?;
        let set = v.policies();
        set.get(kind, name)
            .map(|p| info(vhost, p))
            .ok_or_else(|| AmqpError::not_found(format!("no policy '{name}' in vhost '{vhost}'")))
    }

    /// Validates and sets a policy, applying it to every queue and exchange it matches;
    /// `true` if it is new. A bad one is 406 PRECONDITION_FAILED with RabbitMQ's text (what
    /// follows "Validation failed" in its management API).
    pub fn set_policy(&self, kind: PolicyKind, vhost: &str, spec: &PolicySpec) -> AmqpResult<bool> {
        let v = self.find_vhost(vhost)?;
        let policy = spec
            .validate(kind)
            .map_err(AmqpError::precondition_failed)?;
        Ok(v.put_policy(kind, policy))
    }

    /// Clears a policy, undoing what it did; `false` if there was none of that name.
    pub fn clear_policy(&self, kind: PolicyKind, vhost: &str, name: &str) -> AmqpResult<bool> {
        Ok(self.find_vhost(vhost)?.clear_policy(kind, name))
    }
}
