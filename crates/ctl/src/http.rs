//! The management API client (ureq, blocking): JSON in and out, Basic auth, paths built from
//! percent-encoded segments (the vhost `/` is `%2F`). A node that cannot be reached, or that
//! refuses the credentials, is exit status 69 as in rabbitmqctl; other error statuses are
//! handed to the command, which knows what a 404 means for it.

use crate::error::{CtlError, CtlResult, EX_UNAVAILABLE};
use crate::target::Target;
use base64::Engine;
use serde_json::Value;
use ureq::Agent;

/// One answer: the status and the JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `reason` of RabbitMQ's `{"error", "reason"}` body, else the status.
    pub fn reason(&self) -> String {
        match self.body.get("reason").or_else(|| self.body.get("error")) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => format!("HTTP status {}", self.status),
        }
    }
}

pub struct Client<'a> {
    target: &'a Target,
    agent: Agent,
    auth: String,
}

impl<'a> Client<'a> {
    pub fn new(target: &'a Target) -> Client<'a> {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            // No HTTP(S)_PROXY from the environment: the API is the broker's own, usually on
            // loopback, and a proxy between them would only get in the way.
            .proxy(None)
            .timeout_global(Some(target.timeout))
            .build()
            .into();
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", target.username, target.password));
        Client {
            target,
            agent,
            auth: format!("Basic {token}"),
        }
    }

    /// `/api/` and the segments, each percent-encoded.
    pub fn url(&self, segments: &[&str]) -> String {
        let mut url = self.target.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().push("api").extend(segments);
        }
        url.to_string()
    }

    pub fn get(&self, segments: &[&str]) -> CtlResult<Reply> {
        self.send("GET", &self.url(segments), None, None)
    }

    pub fn put(&self, segments: &[&str], body: &Value) -> CtlResult<Reply> {
        self.send("PUT", &self.url(segments), Some(body.to_string()), None)
    }

    pub fn post_raw(&self, segments: &[&str], body: String) -> CtlResult<Reply> {
        self.send("POST", &self.url(segments), Some(body), None)
    }

    /// DELETE, with an `X-Reason` header where given (closing a connection).
    pub fn delete(&self, url: &str, reason: Option<&str>) -> CtlResult<Reply> {
        self.send("DELETE", url, None, reason)
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        reason: Option<&str>,
    ) -> CtlResult<Reply> {
        let result = match (method, body) {
            ("GET", _) => self
                .agent
                .get(url)
                .header("authorization", &self.auth)
                .call(),
            ("DELETE", _) => {
                let mut req = self.agent.delete(url).header("authorization", &self.auth);
                if let Some(r) = reason {
                    req = req.header("x-reason", r);
                }
                req.call()
            }
            (m, body) => {
                let req = match m {
                    "PUT" => self.agent.put(url),
                    _ => self.agent.post(url),
                };
                req.header("authorization", &self.auth)
                    .content_type("application/json")
                    .send(body.unwrap_or_default())
            }
        };
        let mut resp = result.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        // A failed login; a logged-in user the API refuses is `not_authorised`, the command's.
        if status == 401 && body["error"] != "not_authorised" {
            return Err(CtlError::new(
                EX_UNAVAILABLE,
                format!(
                    "Error: the management API at {} refused the credentials of user '{}' (HTTP 401). \
                     Give --username and --password, or a --node URL with them.",
                    self.target.authority(),
                    self.target.username
                ),
            ));
        }
        Ok(Reply { status, body })
    }

    fn unreachable(&self, e: ureq::Error) -> CtlError {
        CtlError::new(
            EX_UNAVAILABLE,
            format!(
                "Error: unable to perform an operation on node at {} (management HTTP API): {e}\n\n\
                 * Is the node running, with its management API on this port?\n\
                 * Set the address with --node http://HOST:PORT, --host/--port or {} (docs/cli.md).",
                self.target.authority(),
                crate::target::URL_VAR
            ),
        )
    }
}
