//! Listeners and lifecycle: open the durable store in the data dir and recover from it, bind
//! (dual-stack `[::]:5672` by default, like RabbitMQ; AMQPS on `tls_listen`, its TLS handshake
//! done in the connection's task within the handshake timeout), accept connections into their
//! own tasks,
//! and shut down: stop accepting, close every connection with 320 CONNECTION_FORCED, end and
//! wait for the broker's detached tasks (`crate::tasks`), flush the store.

use crate::broker::Broker;
use crate::config::Config;
use crate::connection::Stream;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use warren_store::Store;

/// A running broker.
pub struct Server {
    broker: Arc<Broker>,
    addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    /// Cancelled first at shutdown: the listeners stop accepting.
    accepting: CancellationToken,
    acceptors: Vec<JoinHandle<()>>,
    /// Values that must live as long as the server (a test's temporary data dir).
    attached: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

const AMQP_PORT: u16 = 5672;

async fn bind_all(config: &Config) -> io::Result<Vec<TcpListener>> {
    if config.no_tcp_listeners {
        return Ok(Vec::new());
    }
    if config.listen.is_empty() {
        return Ok(vec![bind_wildcard(AMQP_PORT).await?]);
    }
    let mut out = Vec::new();
    for addr in &config.listen {
        out.push(match addr {
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => bind_wildcard(addr.port()).await?,
            _ => TcpListener::bind(addr).await?,
        });
    }
    Ok(out)
}

/// Every interface: `[::]` (on Linux it accepts IPv4 too unless bindv6only is set), or
/// `0.0.0.0` where IPv6 is unavailable.
async fn bind_wildcard(port: u16) -> io::Result<TcpListener> {
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match TcpListener::bind(v6).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() != io::ErrorKind::AddrInUse => {
            warn!(error = %e, "cannot listen on [::]:{port}, falling back to IPv4 only");
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await
        }
        Err(e) => Err(e),
    }
}

/// `load_definitions`: the users, vhosts, permissions, topic permissions, limits and policies of a
/// RabbitMQ definitions file, imported (durably) at boot over what the store recovered. A file
/// that cannot be read or has a bad entry stops the start, naming the file.
fn load_definitions(broker: &Broker, path: &std::path::Path) -> io::Result<()> {
    use crate::access::definitions::AccessDefinitions;
    let fail = |e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("load_definitions {}: {e}", path.display()),
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let defs = AccessDefinitions::parse(&text).map_err(|e| fail(&e))?;
    broker.import_definitions(&defs).map_err(|e| fail(&e))?;
    info!(file = %path.display(), users = defs.users.len(), "definitions loaded");
    Ok(())
}

impl Server {
    /// Opens the store in `config.data_dir` (creating it if needed) and recovers durable
    /// state from it, then binds the listeners and starts accepting. A store that cannot be
    /// opened (corrupt, locked by another broker, not a Warren store) is an error naming the
    /// data dir: the broker never starts empty over data it could not read.
    pub async fn start(config: Config) -> io::Result<Server> {
        let limit = crate::config::MESSAGE_SIZE_LIMIT;
        for (name, value) in [
            ("max_message_size", config.max_message_size),
            ("frame_max", u64::from(config.frame_max)),
        ] {
            if value > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} {value} is over the limit of {limit} bytes (512 MiB, as RabbitMQ caps message sizes)"),
                ));
            }
        }
        // Built once, before anything else: a certificate or key that cannot be read stops
        // the start, naming the file.
        let tls = match config.tls_listen.is_empty() {
            true => None,
            false => Some(TlsAcceptor::from(Arc::new(crate::tls::server_config(
                &config.tls,
            )?))),
        };
        let dir = config.data_dir.clone();
        let options = config.store_options.clone();
        let (store, recovered) = tokio::task::spawn_blocking(move || Store::open(&dir, options))
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        let store = Arc::new(store);
        let broker = Broker::new(config, Some(store.clone()));
        let recovery_broker = broker.clone();
        tokio::task::spawn_blocking(move || {
            crate::broker::recovery::recover(&recovery_broker, &store, recovered)
        })
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
        if let Some(path) = &broker.config.load_definitions {
            load_definitions(&broker, path)?;
        }
        // An alarm already due (a full disk) holds publishers from the first connection on.
        broker.alarms().check();
        broker
            .tasks()
            .spawn_until_cancelled(broker.alarms().clone().monitor());
        let listeners = bind_all(&broker.config).await?;
        let accepting = broker.tasks().child_token();
        let mut addrs = Vec::new();
        let mut acceptors = Vec::new();
        for listener in listeners {
            let addr = listener.local_addr()?;
            info!(%addr, "listening for AMQP 0-9-1");
            addrs.push(addr);
            let accept = accept_loop(listener, broker.clone(), accepting.clone(), None);
            acceptors.push(broker.tasks().spawn(accept));
        }
        let mut tls_addrs = Vec::new();
        for addr in &broker.config.tls_listen {
            let listener = TcpListener::bind(addr).await?;
            let addr = listener.local_addr()?;
            info!(%addr, "listening for AMQP 0-9-1 over TLS");
            tls_addrs.push(addr);
            let accept = accept_loop(listener, broker.clone(), accepting.clone(), tls.clone());
            acceptors.push(broker.tasks().spawn(accept));
        }
        Ok(Server {
            broker,
            addrs,
            tls_addrs,
            accepting,
            acceptors,
            attached: Vec::new(),
        })
    }

    /// The first listening address (tests bind one ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The AMQPS listening addresses (`tls_listen`).
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    pub(crate) fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Users, permissions and limits: changes apply to open connections at their next check.
    pub fn access(&self) -> &crate::access::Access {
        self.broker.access()
    }

    /// Keeps `value` alive until the server is dropped or shut down (tests attach the
    /// temporary directory holding the server's data dir).
    pub fn attach<T: Send + Sync + 'static>(&mut self, value: T) {
        self.attached.push(Box::new(value));
    }

    /// Stops accepting, closes every connection with 320 CONNECTION_FORCED, ends the
    /// sleeping tasks (timers, watchers, delayed releases) and waits up to five seconds for
    /// every task to finish, then flushes the store. The store closes when the server (the
    /// last holder of the broker) is gone, so a new broker can open the same data dir.
    pub async fn shutdown(self) {
        self.accepting.cancel();
        for a in self.acceptors {
            // Each loop ends at the token; a connection it accepted before is closed below.
            let _ = a.await;
        }
        self.broker.shutdown_connections();
        let tasks = self.broker.tasks();
        if !tasks.cancel_and_wait(SHUTDOWN_WAIT).await {
            warn!(running = tasks.len(), "tasks still running at shutdown");
        }
        if let Some(store) = self.broker.store().cloned() {
            match tokio::task::spawn_blocking(move || store.checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "flushing the store at shutdown failed"),
                Err(e) => warn!(error = %e, "flushing the store at shutdown failed"),
            }
        }
        let holders = Arc::strong_count(&self.broker);
        if holders > 1 {
            warn!(
                holders,
                "the broker is still held: the store closes when it is let go"
            );
        }
        drop(self.broker);
        info!("broker stopped");
        drop(self.attached);
    }
}

/// How long shutdown waits for connections and detached tasks to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

async fn accept_loop(
    listener: TcpListener,
    broker: Arc<Broker>,
    accepting: CancellationToken,
    tls: Option<TlsAcceptor>,
) {
    loop {
        tokio::select! {
            _ = accepting.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => match &tls {
                    None => {
                        let serve = crate::connection::serve(broker.clone(), Stream::Tcp(socket), peer);
                        broker.tasks().spawn(serve);
                    }
                    Some(tls) => {
                        broker.tasks().spawn(serve_tls(broker.clone(), tls.clone(), socket, peer));
                    }
                },
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// The TLS handshake, then the connection. A client that does not speak TLS (a plain AMQP
/// header) fails the handshake at its first bytes and gets a TLS alert and the socket closed.
async fn serve_tls(broker: Arc<Broker>, tls: TlsAcceptor, socket: TcpStream, peer: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let timeout = broker.config.handshake_timeout;
    match tokio::time::timeout(timeout, tls.accept(socket)).await {
        Ok(Ok(stream)) => {
            crate::connection::serve(broker, Stream::Tls(Box::new(stream)), peer).await
        }
        Ok(Err(e)) => warn!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => warn!(%peer, "TLS handshake timeout: closing connection"),
    }
}
