//! A Warren broker with its metrics endpoint, for trying the endpoint (and the interop
//! scenarios) before the `warren` binary serves it:
//! `cargo run -p warren-prometheus --example serve -- AMQP_ADDR PROMETHEUS_ADDR`.
//! It shows the one call the binary makes: [`warren_prometheus::serve`].

use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use warren_server::{Config, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let amqp: SocketAddr = args.next().unwrap_or("127.0.0.1:5672".into()).parse()?;
    let metrics: SocketAddr = args.next().unwrap_or("127.0.0.1:15692".into()).parse()?;
    let data =
        std::env::temp_dir().join(format!("warren-prometheus-example-{}", std::process::id()));
    let config = Config {
        data_dir: data.clone(),
        listen: vec![amqp],
        ..Config::default()
    };
    let server = Server::start(config).await?;
    let stop = CancellationToken::new();
    warren_prometheus::serve(server.admin(), metrics, stop.clone()).await?;
    tokio::signal::ctrl_c().await?;
    stop.cancel();
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(data);
    Ok(())
}
