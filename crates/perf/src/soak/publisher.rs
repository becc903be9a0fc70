//! A soak publisher: floods 1 KiB messages with a unique id each, confirms on, a bounded
//! window of unconfirmed ones, and keeps writing whatever the broker says (a flooding client
//! that ignores connection.blocked is the case the memory alarm exists for; the broker stops
//! reading it). It records every connection.blocked / unblocked it receives.

use super::ledger::{message_id, PublisherLedger};
use super::Shared;
use crate::client::{self, ClientError, Conn, ConnReader, ConnWriter, Incoming};
use bytes::{Buf, BytesMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;
use warren_codec::frame;
use warren_codec::generated::BasicPublish;
use warren_codec::{BasicProperties, ContentHeader, Method, ShortStr};

/// Messages appended per write at most.
const BATCH: u64 = 64;

pub(super) struct PublisherPlan {
    pub index: usize,
    pub persistent: bool,
    pub size: usize,
    pub queue: String,
    /// Unconfirmed messages allowed at once.
    pub window: u64,
}

/// One pre-encoded publish and where its id goes.
struct Template {
    frames: BytesMut,
    id_at: usize,
}

fn template(plan: &PublisherPlan, frame_max: u32) -> Template {
    let props = BasicProperties {
        delivery_mode: Some(if plan.persistent { 2 } else { 1 }),
        ..Default::default()
    };
    let m = Method::BasicPublish(BasicPublish {
        routing_key: ShortStr::try_from(plan.queue.as_str()).unwrap_or_default(),
        ..Default::default()
    });
    let mut frames = BytesMut::new();
    frame::encode_method(1, &m, &mut frames);
    frame::encode_header(1, &ContentHeader::new(plan.size as u64, props), &mut frames);
    // The body frame's 7-byte header comes first.
    let id_at = frames.len() + 7;
    frame::encode_body(1, &vec![0u8; plan.size.max(8)], frame_max, &mut frames);
    Template { frames, id_at }
}

/// Connects and puts the channel in confirm mode.
pub(super) async fn connect(
    uri: &crate::client::AmqpUri,
    index: usize,
) -> Result<Conn, ClientError> {
    let mut c = Conn::connect(uri, &format!("warren-perf soak publisher {index}")).await?;
    c.open_channel(1).await?;
    c.confirm_select(1).await?;
    Ok(c)
}

/// Publishes until `stop`, then waits for the outstanding confirms until `give_up`; returns
/// the ledger whatever happened (an error ends the loop early).
pub(super) async fn publish(
    c: Conn,
    plan: PublisherPlan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut give_up: watch::Receiver<bool>,
) -> (Result<(), ClientError>, PublisherLedger) {
    let (mut r, mut w) = c.split();
    let mut ledger = PublisherLedger::new(plan.persistent);
    let res = run(
        &mut r,
        &mut w,
        &plan,
        &mut ledger,
        &shared,
        &mut stop,
        &mut give_up,
    )
    .await;
    // A blocked broker reads nothing, so a clean close could hang: just drop the socket then.
    if ledger.open() == 0 {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            Conn::reunite(r, w).close(),
        )
        .await;
    }
    (res, ledger)
}

async fn run(
    r: &mut ConnReader,
    w: &mut ConnWriter,
    plan: &PublisherPlan,
    ledger: &mut PublisherLedger,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    give_up: &mut watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let tpl = template(plan, w.frame_max());
    let mut pending = BytesMut::with_capacity(BATCH as usize * tpl.frames.len());
    let mut blocked = false;
    loop {
        let stopping = *stop.borrow();
        if stopping && pending.is_empty() && ledger.open() == 0 {
            return Ok(());
        }
        if !stopping && pending.is_empty() {
            let n = plan.window.saturating_sub(ledger.open()).min(BATCH);
            for _ in 0..n {
                let id = message_id(plan.index, ledger.publish());
                let at = pending.len() + tpl.id_at;
                pending.extend_from_slice(&tpl.frames);
                pending[at..at + 8].copy_from_slice(&id.to_be_bytes());
            }
        }
        tokio::select! {
            biased;
            _ = give_up.changed() => return Ok(()),
            _ = stop.changed(), if !stopping => {}
            res = r.fill() => {
                res?;
                while let Some(raw) = r.next_buffered()? {
                    match client::classify(raw)? {
                        Incoming::Ack { delivery_tag, multiple } => {
                            let n = ledger.settle(delivery_tag, multiple, false);
                            shared.confirmed.fetch_add(n, Ordering::Relaxed);
                        }
                        Incoming::Nack { delivery_tag, multiple } => {
                            ledger.settle(delivery_tag, multiple, true);
                        }
                        Incoming::Other { method: Method::ConnectionBlocked(b), .. } => {
                            let reason = b.reason.to_string_lossy().into_owned();
                            shared.blocked_changed(plan.index, &mut blocked, true, reason);
                        }
                        Incoming::Other { method: Method::ConnectionUnblocked(_), .. } => {
                            shared.blocked_changed(plan.index, &mut blocked, false, String::new());
                        }
                        Incoming::Other { channel, method } => client::check_other(channel, &method)?,
                        _ => {}
                    }
                }
            }
            res = w.write_some(&pending), if !pending.is_empty() => {
                pending.advance(res?);
                if pending.is_empty() {
                    pending.clear();
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}
