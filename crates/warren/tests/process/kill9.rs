//! The crash test: the real `warren` binary is killed with SIGKILL while several connections
//! publish persistent messages with confirms, then restarted on the same data dir. Every
//! message whose confirm the publisher received must be consumed again; unconfirmed ones may
//! or may not be there (counted as duplicates-allowed "extra"). Repeated at several kill
//! points in one run, each round on the data dir the previous rounds left behind.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warren_testkit::{
    connect_when_up, consume_no_ack, data_dir, declare_durable_queue, free_port, spawn_warren,
};

const PUBLISHERS: usize = 3;
/// Confirms in flight per publisher.
const WINDOW: usize = 100;
/// Kill points, in milliseconds after the first confirm.
const KILL_AFTER_MS: [u64; 3] = [250, 700, 1500];

fn start_warren(dir: &Path, port: u16) -> Child {
    spawn_warren(Path::new(env!("CARGO_BIN_EXE_warren")), dir, port)
}

/// Publishes "r{round}-p{publisher}-{n}" until the connection dies; records confirmed ones.
async fn publisher(port: u16, queue: String, id: String, confirmed: Arc<Mutex<HashSet<String>>>) {
    let Ok(conn) = Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ConnectionProperties::default(),
    )
    .await
    else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    if ch
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .is_err()
    {
        return;
    }
    let mut in_flight = std::collections::VecDeque::new();
    for n in 0u64.. {
        let body = format!("{id}-{n}");
        let Ok(confirm) = ch
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
        else {
            return;
        };
        in_flight.push_back((body, confirm));
        if in_flight.len() >= WINDOW {
            let (body, confirm) = in_flight.pop_front().unwrap();
            match confirm.await {
                Ok(Confirmation::Ack(_)) => {
                    confirmed.lock().unwrap().insert(body);
                }
                Ok(other) => panic!("unexpected confirmation {other:?}"),
                Err(_) => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_kill_9_at_several_points() {
    let (_tmp, dir) = data_dir();
    let mut total_confirmed = 0;
    for (round, kill_after) in KILL_AFTER_MS.iter().enumerate() {
        let port = free_port();
        let mut warren = start_warren(&dir, port);
        let queue = format!("crash-{round}");
        let setup = connect_when_up(port).await;
        let ch = setup.create_channel().await.unwrap();
        declare_durable_queue(&ch, queue.as_str()).await;

        let confirmed = Arc::new(Mutex::new(HashSet::new()));
        let tasks: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                tokio::spawn(publisher(
                    port,
                    queue.clone(),
                    format!("r{round}-p{p}"),
                    confirmed.clone(),
                ))
            })
            .collect();
        // Kill points count from the first confirm, so a slow machine still kills mid-stream.
        let started = Instant::now();
        while confirmed.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Deliberately real time: the kill point is a moment in the publishers' stream.
        tokio::time::sleep(Duration::from_millis(*kill_after)).await;
        warren.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
        warren.wait().unwrap();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let confirmed = std::mem::take(&mut *confirmed.lock().unwrap());

        let port = free_port();
        let mut warren = start_warren(&dir, port);
        let conn = connect_when_up(port).await;
        let ch = conn.create_channel().await.unwrap();
        let mut recovered = HashSet::new();
        let mut duplicates = 0;
        let mut consumer = consume_no_ack(&ch, queue.as_str(), "drain").await;
        // Drain until the queue stays quiet (everything was recovered before the listener
        // opened, so a short idle gap means the queue is empty).
        while let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(1500), consumer.next()).await
        {
            let body = String::from_utf8(d.unwrap().data).unwrap();
            if !recovered.insert(body) {
                duplicates += 1;
            }
        }
        let lost: Vec<&String> = confirmed.difference(&recovered).collect();
        let unconfirmed_recovered = recovered.difference(&confirmed).count();
        eprintln!(
            "kill -9 round {round} after {kill_after} ms: confirmed {}, recovered {}, lost {}, \
             recovered but unconfirmed {unconfirmed_recovered}, duplicates {duplicates}",
            confirmed.len(),
            recovered.len(),
            lost.len()
        );
        assert!(
            lost.is_empty(),
            "confirmed messages lost: {} (e.g. {:?})",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        assert!(
            !confirmed.is_empty(),
            "round {round}: no confirms before the kill; the test proved nothing"
        );
        total_confirmed += confirmed.len();
        let _ = conn.close(200, "bye".into()).await;
        warren.kill().unwrap();
        warren.wait().unwrap();
    }
    eprintln!(
        "kill -9: {total_confirmed} confirmed messages over {} rounds, none lost",
        KILL_AFTER_MS.len()
    );
}
