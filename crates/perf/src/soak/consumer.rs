//! The soak's consumers: the slow one, which acks one delivery at a time at a fixed rate
//! (10 msg/s) with a small prefetch while the publishers flood, and the drain, which consumes
//! everything left with autoack once publishing has stopped. A delivery counts (its id is
//! recorded) when it is acked, or at once under autoack; the slow consumer's unacked ones go
//! back to the queue when it closes and are counted by the drain.

use super::ledger::Deliveries;
use super::Shared;
use crate::client::{self, AmqpUri, ClientError, Conn, ConnReader, ConnWriter, Incoming};
use bytes::Buf;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use warren_codec::generated::BasicAck;
use warren_codec::Method;

/// An id no publisher of the run can have: a delivery without one.
const NO_ID: u64 = u64::MAX;

/// Follows deliveries across their frames and yields (delivery tag, id) when the id is read.
#[derive(Default)]
struct DeliveryReader {
    tag: u64,
    /// The id is still to be read from the next body frame.
    want_id: bool,
}

impl DeliveryReader {
    /// Feeds one frame; a delivery whose id it completes, or an error for a close.
    fn feed(&mut self, frame: Incoming) -> Result<Option<(u64, u64)>, ClientError> {
        match frame {
            Incoming::Deliver { delivery_tag } => {
                self.tag = delivery_tag;
                self.want_id = true;
            }
            Incoming::Header { body_size: 0 } if self.want_id => {
                self.want_id = false;
                return Ok(Some((self.tag, NO_ID)));
            }
            Incoming::Body { payload } if self.want_id => {
                self.want_id = false;
                let id = if payload.len() >= 8 {
                    (&payload[..8]).get_u64()
                } else {
                    NO_ID
                };
                return Ok(Some((self.tag, id)));
            }
            Incoming::Other { channel, method } => client::check_other(channel, &method)?,
            _ => {}
        }
        Ok(None)
    }
}

/// Connects, sets the prefetch (manual acks) and starts consuming `queue`.
pub(super) async fn connect(
    uri: &AmqpUri,
    queue: &str,
    name: &str,
    prefetch: Option<u16>,
) -> Result<Conn, ClientError> {
    let mut c = Conn::connect(uri, &format!("warren-perf soak {name}")).await?;
    c.open_channel(1).await?;
    if let Some(p) = prefetch {
        c.qos(1, p).await?;
    }
    c.consume(1, queue, name, prefetch.is_none()).await?;
    Ok(c)
}

/// Acks one delivery every `1 / rate` seconds, oldest first, until `stop`; then closes (the
/// broker requeues what was not acked).
pub(super) async fn slow(
    c: Conn,
    rate: f64,
    publishers: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> (Result<(), ClientError>, Deliveries) {
    let (mut r, mut w) = c.split();
    let mut got = Deliveries::new(publishers);
    let mut held = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reader = DeliveryReader::default();
    let res = loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break Ok(()),
            _ = tick.tick() => {
                if let Some((tag, id)) = held.pop_front() {
                    if let Err(e) = ack(&mut w, tag).await {
                        break Err(e);
                    }
                    got.record(id);
                    shared.slow_acked.fetch_add(1, Ordering::Relaxed);
                }
            }
            res = read(&mut r, &mut reader, |tag, id| held.push_back((tag, id))) => {
                if let Err(e) = res {
                    break Err(e);
                }
            }
        }
    };
    close(r, w).await;
    (res, got)
}

/// Consumes with autoack until `stop`, counting into `shared.drained`.
pub(super) async fn drain(
    c: Conn,
    publishers: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> (Result<(), ClientError>, Deliveries) {
    let (mut r, w) = c.split();
    let mut got = Deliveries::new(publishers);
    let mut reader = DeliveryReader::default();
    let res = loop {
        let before = got.total;
        tokio::select! {
            biased;
            _ = stop.changed() => break Ok(()),
            res = read(&mut r, &mut reader, |_, id| got.record(id)) => {
                if let Err(e) = res {
                    break Err(e);
                }
            }
        }
        shared
            .drained
            .fetch_add(got.total - before, Ordering::Relaxed);
    };
    close(r, w).await;
    (res, got)
}

/// Reads what arrives and hands each complete delivery to `each`.
async fn read(
    r: &mut ConnReader,
    reader: &mut DeliveryReader,
    mut each: impl FnMut(u64, u64),
) -> Result<(), ClientError> {
    r.fill().await?;
    while let Some(raw) = r.next_buffered()? {
        if let Some((tag, id)) = reader.feed(client::classify(raw)?)? {
            each(tag, id);
        }
    }
    Ok(())
}

async fn ack(w: &mut ConnWriter, tag: u64) -> Result<(), ClientError> {
    w.push_method(
        1,
        &Method::BasicAck(BasicAck {
            delivery_tag: tag,
            multiple: false,
        }),
    );
    w.flush().await
}

async fn close(r: ConnReader, w: ConnWriter) {
    let _ = tokio::time::timeout(Duration::from_secs(10), Conn::reunite(r, w).close()).await;
}
