//! Helpers for the lapin interop scenarios in `tests/`.
//!
//! Every scenario runs once per broker named in the environment (`WARREN_URL`, `RABBITMQ_URL`),
//! each in its own task, so one broker's failure never hides another's result. The tests are
//! `#[ignore]`d because they need running brokers: `interop/run` starts them and runs
//! `cargo test -p warren-lapin-interop -- --include-ignored` with the URLs set.

use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, ErrorKind,
    ExchangeKind,
};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// How long a scenario waits for something the broker should do promptly.
pub const WAIT: Duration = Duration::from_secs(5);

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

/// A loopback TCP relay in front of a broker. It counts the bytes the broker sends, and
/// [`Proxy::cut`] drops every relayed socket at once: the broker sees the TCP connection
/// close without a `connection.close`, as when a client process crashes.
pub struct Proxy {
    uri: AMQPUri,
    from_broker: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(broker: &Broker) -> Proxy {
        let target = broker.uri();
        let upstream = format!("{}:{}", target.authority.host, target.authority.port);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy: bind a loopback port");
        let mut uri = target;
        uri.authority.host = "127.0.0.1".to_owned();
        uri.authority.port = listener.local_addr().expect("proxy: local addr").port();
        let from_broker = Arc::new(AtomicU64::new(0));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (from_broker, links) = (from_broker.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let link = tokio::spawn(relay(client, upstream.clone(), from_broker.clone()));
                    links
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(link.abort_handle());
                }
            })
        };
        Proxy {
            uri,
            from_broker,
            links,
            accept,
        }
    }

    /// The broker's URI, pointed at this proxy.
    pub fn uri(&self) -> AMQPUri {
        self.uri.clone()
    }

    /// A connection to the broker through this proxy.
    pub async fn connect(&self, broker: &Broker) -> Connection {
        broker.connect_uri(self.uri()).await
    }

    /// Bytes relayed from the broker to clients so far.
    pub fn bytes_from_broker(&self) -> u64 {
        self.from_broker.load(Ordering::SeqCst)
    }

    /// Drops every relayed connection, both sockets, without any AMQP close.
    pub fn cut(&self) {
        for link in self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn relay(client: TcpStream, upstream: String, from_broker: Arc<AtomicU64>) {
    let Ok(broker) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut client_rx, &mut broker_tx).await;
        let _ = broker_tx.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = broker_rx.read(&mut buf).await {
            from_broker.fetch_add(n as u64, Ordering::SeqCst);
            if client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_tx.shutdown().await;
    };
    tokio::join!(up, down);
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

/// Bounded wait: panics naming what never happened.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(WAIT, what, fut).await
}

/// Bounded wait with its own limit, for slow things such as multi-MiB bodies.
pub async fn within_for<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Polls `check` until it holds, within WAIT.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// The reply code and text of a channel or connection closed by the broker; panics on any
/// other kind of error.
pub fn amqp_error(err: &lapin::Error) -> (u16, String) {
    match err.kind() {
        ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected the broker to close with a reply code, got {other:?}"),
    }
}

/// A queue or exchange name that no other run can collide with.
pub fn unique(role: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("interop.lapin.{role}.{}.{nanos:x}.{n}", std::process::id())
}

/// Declares an exclusive queue: it disappears with its connection, even if the scenario panics.
pub async fn exclusive_queue(ch: &Channel, role: &str) -> String {
    let name = unique(role);
    ch.queue_declare(
        name.as_str().into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue.declare");
    name
}

/// Ready messages in a queue, from a passive queue.declare.
pub async fn ready_count(ch: &Channel, queue: &str) -> u32 {
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("passive queue.declare")
    .message_count()
}

/// A channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.expect("channel.open");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch
}

/// Publishes on a confirm-mode channel and waits for the broker's confirm. A confirmed
/// message is enqueued, so a basic.get right after it sees it.
pub async fn publish_props(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Confirmation {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .expect("basic.publish");
    within("a publisher confirm", confirm)
        .await
        .expect("confirm")
}

/// [`publish_props`] without properties; asserts a plain ack.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    let c = publish_props(ch, exchange, key, body, BasicProperties::default()).await;
    assert!(matches!(c, Confirmation::Ack(None)), "publish got {c:?}");
}

/// Declares a uniquely named, auto-delete exchange of `kind`.
pub async fn declare_exchange(ch: &Channel, role: &str, kind: ExchangeKind) -> String {
    let name = unique(role);
    ch.exchange_declare(
        name.as_str().into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
    name
}

pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    )
    .await
    .expect("queue.bind");
}

/// basic.get; `None` is get-empty.
pub async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<BasicGetMessage> {
    within(
        "basic.get",
        ch.basic_get(queue.into(), BasicGetOptions { no_ack }),
    )
    .await
    .expect("basic.get")
}

/// basic.get that must find a message.
pub async fn get_one(ch: &Channel, queue: &str, no_ack: bool) -> BasicGetMessage {
    get(ch, queue, no_ack)
        .await
        .unwrap_or_else(|| panic!("get-empty on {queue}, expected a message"))
}

/// Every ready message's body, taken with auto-ack basic.get until get-empty.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    while let Some(m) = get(ch, queue, true).await {
        bodies.push(m.delivery.data);
    }
    bodies
}

/// Asserts the queue holds exactly `expected` (in order), and empties it.
pub async fn expect_bodies(ch: &Channel, queue: &str, expected: &[&[u8]]) {
    let got = drain(ch, queue).await;
    let show = |v: &[&[u8]]| {
        v.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    };
    let got_refs: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
    assert_eq!(show(&got_refs), show(expected), "bodies in {queue}");
}

pub async fn consume(ch: &Channel, queue: &str) -> Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("basic.consume")
}

/// The next delivery, within WAIT.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    within("a delivery", consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery error")
}

/// Asserts no delivery arrives for a while.
pub async fn assert_quiet(consumer: &mut Consumer, for_how_long: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(for_how_long, consumer.next()).await {
        panic!("unexpected delivery: {d:?}");
    }
}
