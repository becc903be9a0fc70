//! The interop side: the brokers named in the environment (`WARREN_URL`, `RABBITMQ_URL`) and
//! [`on_each_broker`], which runs a scenario once per broker, each in its own task, so one
//! broker's failure never hides another's result. `interop/run` starts both brokers and runs
//! the lapin scenarios (`cargo test -p warren-lapin-interop -- --include-ignored`).

use crate::wait::within;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::future::Future;
use std::time::Duration;

/// A whole scenario's time limit, so a silent broker fails the test instead of hanging it.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// A broker under test.
#[derive(Clone, Debug)]
pub struct Broker {
    pub name: &'static str,
    pub url: String,
}

impl Broker {
    pub async fn connect(&self) -> Connection {
        within(
            "connecting",
            Connection::connect(&self.url, ConnectionProperties::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", self.name))
    }

    /// A new connection and a channel on it.
    pub async fn open_channel(&self) -> (Connection, Channel) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.expect("channel.open");
        (conn, ch)
    }

    /// A new connection and a confirm-mode channel on it: how most scenarios begin.
    pub async fn confirm_channel(&self) -> (Connection, Channel) {
        let conn = self.connect().await;
        let ch = crate::confirm_channel(&conn).await;
        (conn, ch)
    }

    /// The broker's URL, parsed.
    pub fn uri(&self) -> AMQPUri {
        self.url
            .parse()
            .unwrap_or_else(|e| panic!("{}: bad URL {:?}: {e}", self.name, self.url))
    }

    /// The user the suite logs in as (what `user_id` must say, on RabbitMQ).
    pub fn username(&self) -> String {
        self.uri().authority.userinfo.username
    }

    /// The virtual host of the URL (as it appears in reply texts).
    pub fn vhost(&self) -> String {
        self.uri().vhost
    }

    /// Connects with a modified URI (e.g. another heartbeat, or through a [`Proxy`]).
    pub async fn connect_uri(&self, uri: AMQPUri) -> Connection {
        within(
            "connecting",
            Connection::connect_uri(uri, ConnectionProperties::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", self.name))
    }
}

/// The brokers named in the environment; panics with how to run the suite when there are none.
pub fn brokers() -> Vec<Broker> {
    let found: Vec<Broker> = [("warren", "WARREN_URL"), ("rabbitmq", "RABBITMQ_URL")]
        .into_iter()
        .filter_map(|(name, var)| {
            let url = std::env::var(var).ok()?.trim().to_owned();
            (!url.is_empty()).then_some(Broker { name, url })
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no broker to test: set WARREN_URL and/or RABBITMQ_URL \
         (e.g. amqp://guest:guest@127.0.0.1:5672/%2F), or run interop/run, which starts them"
    );
    found
}

/// Runs `scenario` against every configured broker and panics listing each broker it failed on.
pub async fn on_each_broker<F, Fut>(scenario: F)
where
    F: Fn(Broker) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut failures = Vec::new();
    for broker in brokers() {
        let name = broker.name;
        let task = tokio::spawn(tokio::time::timeout(SCENARIO_LIMIT, scenario(broker)));
        match task.await {
            Ok(Ok(())) => eprintln!("[{name}] passed"),
            Ok(Err(_)) => failures.push(format!("[{name}] timed out after {SCENARIO_LIMIT:?}")),
            Err(join) => {
                let why = match join.try_into_panic() {
                    Ok(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(e) => e.to_string(),
                };
                failures.push(format!("[{name}] {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "failed on:\n{}", failures.join("\n"));
}
