//! The broker's start and stop as clients see them: a clean shutdown closes connections with
//! 320, and limits over RabbitMQ's 512 MiB cap are refused at start.

use warren_testkit::{start_broker, within, RawClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_closes_clients_with_connection_forced() {
    let server = start_broker().await;
    let mut client = RawClient::with_channel_1(&server).await;
    let stopping = tokio::spawn(server.shutdown());
    let text = client.expect_connection_close(320).await;
    assert!(text.starts_with("CONNECTION_FORCED"), "{text}");
    within("shutdown to finish", stopping).await.unwrap();
}

#[tokio::test]
async fn message_sizes_over_rabbitmqs_512_mib_cap_are_refused_at_start() {
    for config in [
        warren_server::Config {
            max_message_size: (512 << 20) + 1,
            ..Default::default()
        },
        warren_server::Config {
            frame_max: (512 << 20) + 1,
            ..Default::default()
        },
    ] {
        let err = match warren_server::Server::start(config).await {
            Ok(_) => panic!("a broker started with an oversized limit"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("512 MiB"), "{err}");
    }
}
