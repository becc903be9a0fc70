//! An in-process broker on an ephemeral loopback port, its data in a temporary directory, and
//! a lapin connection to it.

use std::path::{Path, PathBuf};
use warren_server::{Config, Server};

/// A broker listening on 127.0.0.1 with an ephemeral port, its data dir a fresh temporary
/// directory that lives as long as the server.
pub async fn start_broker_with(mut config: Config) -> Server {
    let dir = tempfile::tempdir().expect("temporary data dir");
    config.data_dir = dir.path().join("data");
    config.listen = vec!["127.0.0.1:0".parse().unwrap()];
    let mut server = Server::start(config).await.expect("broker starts");
    server.attach(dir);
    server
}

/// A fresh temporary directory and the (not yet created) data dir inside it, for tests that
/// restart a broker over the same data: the directory lives as long as the `TempDir`.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary dir");
    let dir = tmp.path().join("data");
    (tmp, dir)
}

/// A broker on an ephemeral loopback port over an existing data dir (restart tests).
pub async fn start_broker_in(data_dir: &Path) -> Server {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..Config::default()
    };
    Server::start(config).await.expect("broker starts")
}

/// A broker with the default configuration (see [`start_broker_with`]).
pub async fn start_broker() -> Server {
    start_broker_with(Config::default()).await
}

/// The amqp:// URL of a test broker (default vhost, guest/guest).
pub fn url(server: &Server) -> String {
    format!("amqp://guest:guest@{}/%2f", server.local_addr())
}

/// A lapin connection to a test broker, as guest.
pub async fn connect(server: &Server) -> lapin::Connection {
    lapin::Connection::connect(&url(server), lapin::ConnectionProperties::default())
        .await
        .expect("lapin connects")
}

/// A lapin connection to a test broker and a channel on it.
pub async fn open_channel(server: &Server) -> (lapin::Connection, lapin::Channel) {
    let conn = connect(server).await;
    let ch = conn.create_channel().await.expect("channel.open");
    (conn, ch)
}

/// A default broker, a connection to it and a channel on it: how most tests begin.
pub async fn broker_with_channel() -> (Server, lapin::Connection, lapin::Channel) {
    let server = start_broker().await;
    let (conn, ch) = open_channel(&server).await;
    (server, conn, ch)
}
