//! A loopback TCP relay in front of a broker, for scenarios that need to see or cut the
//! bytes between client and broker.

use crate::interop::Broker;
use lapin::uri::AMQPUri;
use lapin::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

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
