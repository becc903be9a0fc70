//! Message statistics with rates, as RabbitMQ's management plugin shows them: every
//! [`INTERVAL`] (RabbitMQ's `collect_statistics_interval`, 5 s) a task reads the counters the
//! broker's hot path already bumps (broker-wide, per vhost, per queue) and the queue depths, and
//! keeps this sample and the one before. A request reads the two samples: a `message_stats`
//! value is the last sample's, its `*_details.rate` the change between the two per second. No
//! request walks the queues for statistics; the sampler walks them once per interval.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use warren_server::info::{
    ChannelCounters, ExchangeCounters, GlobalCounters, MessageTotals, Octets, QueueCounters,
};
use warren_server::Admin;

/// How often the counters are sampled (RabbitMQ's default `collect_statistics_interval`).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The last two samples, shared by the sampler task and the handlers.
#[derive(Default)]
pub struct Rates {
    samples: RwLock<(Option<Sample>, Option<Sample>)>,
}

/// Counters and depths at one moment.
struct Sample {
    at: Instant,
    global: GlobalCounters,
    ready: u64,
    unacked: u64,
    vhosts: HashMap<String, (MessageTotals, u64, u64)>,
    queues: HashMap<(String, String), (QueueCounters, u64, u64)>,
    exchanges: HashMap<(String, String), ExchangeCounters>,
    connections: HashMap<u64, Octets>,
    channels: HashMap<(u64, u16), ChannelCounters>,
}

impl Rates {
    /// Starts sampling `admin` on the current tokio runtime (if there is one) for as long as
    /// the returned value lives.
    pub fn start(admin: Admin) -> Arc<Rates> {
        let rates = Arc::new(Rates::default());
        rates.sample(&admin, Live::default());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sample_every(Arc::downgrade(&rates), admin));
        }
        rates
    }

    fn sample(&self, admin: &Admin, live: Live) {
        let s = admin.stats();
        let vhosts = admin
            .vhost_stats()
            .into_iter()
            .map(|v| {
                let depth = (v.messages_ready, v.messages_unacknowledged);
                (v.name, (v.counters, depth.0, depth.1))
            })
            .collect();
        let queues = admin
            .queue_stats(None)
            .into_iter()
            .map(|q| {
                let depth = (q.messages_ready, q.messages_unacknowledged);
                ((q.vhost, q.name), (q.counters, depth.0, depth.1))
            })
            .collect();
        let sample = Sample {
            at: Instant::now(),
            global: s.counters,
            ready: s.messages_ready,
            unacked: s.messages_unacknowledged,
            vhosts,
            queues,
            exchanges: admin
                .exchange_stats()
                .into_iter()
                .map(|(v, x, c)| ((v, x), c))
                .collect(),
            connections: live.connections,
            channels: live.channels,
        };
        let mut samples = self.samples.write().unwrap_or_else(|p| p.into_inner());
        let last = samples.1.take();
        *samples = (last, Some(sample));
    }

    /// An object's entry in the last sample, with its entry in the one before and the seconds
    /// between the two: what each rate is made of. `None` before the object's first sample.
    fn entry<V>(&self, find: impl Fn(&Sample) -> Option<V>) -> Option<Entry<V>> {
        let samples = self.samples.read().unwrap_or_else(|p| p.into_inner());
        let cur = samples.1.as_ref()?;
        let now = find(cur)?;
        let before = samples.0.as_ref().and_then(|prev| {
            let dt = cur.at.duration_since(prev.at).as_secs_f64();
            Some((find(prev)?, dt))
        });
        Some(Entry { now, before })
    }

    /// The overview's `message_stats`, `queue_totals` and `churn_rates`.
    pub fn overview(&self) -> (Value, Value, Value) {
        let Some(e) = self.entry(|s| Some((s.global.clone(), s.ready, s.unacked))) else {
            return (json!({}), json!({}), json!({}));
        };
        (
            e.rates(|(g, _, _)| global_fields(g)),
            e.rates(|(_, ready, unacked)| depth_fields(*ready, *unacked)),
            e.rates(|(g, _, _)| churn_fields(g)),
        )
    }

    /// A vhost's `message_stats` and its message counts with their `*_details`, to merge into
    /// its JSON; nothing before the vhost's first sample.
    pub fn vhost(&self, name: &str) -> Map<String, Value> {
        let Some(e) = self.entry(|s| s.vhosts.get(name).copied()) else {
            return Map::new();
        };
        let mut out = object(e.rates(|(_, ready, unacked)| depth_fields(*ready, *unacked)));
        out.insert(
            "message_stats".into(),
            e.rates(|(c, _, _)| totals_fields(c)),
        );
        out
    }

    /// A queue's `message_stats` (absent while it has counted nothing, as RabbitMQ's) and the
    /// `*_details` of its message counts, to merge into its JSON.
    pub fn queue(&self, vhost: &str, name: &str) -> Map<String, Value> {
        let key = (vhost.to_string(), name.to_string());
        let Some(e) = self.entry(|s| s.queues.get(&key).copied()) else {
            return Map::new();
        };
        let mut out = object(e.rates(|(_, ready, unacked)| depth_fields(*ready, *unacked)));
        out.retain(|k, _| k.ends_with("_details"));
        if e.now.0 != QueueCounters::default() {
            out.insert("message_stats".into(), e.rates(|(c, _, _)| queue_fields(c)));
        }
        out
    }

    /// An exchange's `message_stats` (`publish_in`, `publish_out`, each once it is non-zero,
    /// as RabbitMQ shows them); `None` before its first publish.
    pub fn exchange(&self, vhost: &str, name: &str) -> Option<Value> {
        let key = (vhost.to_string(), name.to_string());
        let e = self.entry(|s| s.exchanges.get(&key).copied())?;
        let mut stats =
            object(e.rates(|c| vec![("publish_in", c.publish_in), ("publish_out", c.publish_out)]));
        if e.now.publish_out == 0 {
            stats.remove("publish_out");
            stats.remove("publish_out_details");
        }
        Some(Value::Object(stats))
    }

    /// A channel's `message_stats`: the publishing keys once it has published, the delivery
    /// keys once it has delivered, as RabbitMQ shows them; `None` before either.
    pub fn channel(&self, connection: u64, number: u16) -> Option<Value> {
        let e = self.entry(|s| s.channels.get(&(connection, number)).copied())?;
        let now = &e.now;
        let published = now.publish + now.return_unroutable + now.drop_unroutable > 0;
        let delivered =
            now.deliver + now.deliver_no_ack + now.get + now.get_no_ack + now.get_empty > 0;
        let mut all = object(e.rates(channel_fields));
        // The first four names are the publishing side's.
        for (i, (name, _)) in channel_fields(now).iter().enumerate() {
            if !(if i < 4 { published } else { delivered }) {
                all.remove(*name);
                all.remove(&format!("{name}_details"));
            }
        }
        (!all.is_empty()).then_some(Value::Object(all))
    }

    /// A connection's `recv_oct`/`send_oct` rates (`*_details`), to merge into its JSON; none
    /// before it has been in two samples.
    pub fn connection(&self, id: u64) -> Map<String, Value> {
        let Some(e) = self.entry(|s| s.connections.get(&id).copied()) else {
            return Map::new();
        };
        if e.before.is_none() {
            return Map::new();
        }
        let mut out = object(e.rates(|o| vec![("recv_oct", o.recv_oct), ("send_oct", o.send_oct)]));
        out.retain(|k, _| k.ends_with("_details"));
        out
    }
}

/// One object's values in the last sample and, with the seconds between, in the one before.
struct Entry<V> {
    now: V,
    before: Option<(V, f64)>,
}

impl<V> Entry<V> {
    /// `fields` of the last sample with their rates since the one before.
    fn rates(&self, fields: impl Fn(&V) -> Fields) -> Value {
        let before = self.before.as_ref().map(|(b, _)| fields(b));
        let dt = self.before.as_ref().map(|(_, dt)| *dt);
        with_rates(&fields(&self.now), before.as_deref(), dt)
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What the connection tasks tell when asked: their socket traffic and channels' counters.
#[derive(Default)]
struct Live {
    connections: HashMap<u64, Octets>,
    channels: HashMap<(u64, u16), ChannelCounters>,
}

async fn ask_connections(admin: &Admin) -> Live {
    let mut live = Live::default();
    for c in admin.connections().await {
        live.connections.insert(c.id, c.octets);
        for ch in admin.channels(c.id).await.unwrap_or_default() {
            live.channels.insert((c.id, ch.number), ch.counters);
        }
    }
    live
}

/// RabbitMQ's names for a channel's counters: the four publishing ones first.
fn channel_fields(c: &ChannelCounters) -> Fields {
    let deliver_get = c.deliver + c.deliver_no_ack + c.get + c.get_no_ack;
    vec![
        ("publish", c.publish),
        ("confirm", c.confirm),
        ("return_unroutable", c.return_unroutable),
        ("drop_unroutable", c.drop_unroutable),
        ("deliver", c.deliver),
        ("deliver_no_ack", c.deliver_no_ack),
        ("get", c.get),
        ("get_no_ack", c.get_no_ack),
        ("get_empty", c.get_empty),
        ("redeliver", c.redeliver),
        ("ack", c.ack),
        ("deliver_get", deliver_get),
    ]
}

async fn sample_every(rates: Weak<Rates>, admin: Admin) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let live = ask_connections(&admin).await;
        let Some(rates) = rates.upgrade() else { return };
        // The walk over every queue is short but not free: off the async workers.
        let admin = admin.clone();
        let done = tokio::task::spawn_blocking(move || rates.sample(&admin, live)).await;
        if done.is_err() {
            return;
        }
    }
}

type Fields = Vec<(&'static str, u64)>;

/// RabbitMQ's names for the broker-wide counters.
fn global_fields(g: &GlobalCounters) -> Fields {
    totals_fields(&MessageTotals {
        received: g.messages_received,
        received_confirm: g.messages_received_confirm,
        routed: g.messages_routed,
        unroutable_dropped: g.messages_unroutable_dropped,
        unroutable_returned: g.messages_unroutable_returned,
        confirmed: g.messages_confirmed,
        consume_auto_ack: g.messages_delivered_consume_auto_ack,
        consume_manual_ack: g.messages_delivered_consume_manual_ack,
        get_auto_ack: g.messages_delivered_get_auto_ack,
        get_manual_ack: g.messages_delivered_get_manual_ack,
        get_empty: g.messages_get_empty,
        redelivered: g.messages_redelivered,
        acknowledged: g.messages_acknowledged,
    })
}

/// RabbitMQ's names for a vhost's (or the broker's) message counters.
fn totals_fields(m: &MessageTotals) -> Fields {
    let deliver_get = m.consume_manual_ack + m.consume_auto_ack + m.get_manual_ack + m.get_auto_ack;
    vec![
        ("publish", m.received),
        ("confirm", m.confirmed),
        ("return_unroutable", m.unroutable_returned),
        ("drop_unroutable", m.unroutable_dropped),
        ("get", m.get_manual_ack),
        ("get_no_ack", m.get_auto_ack),
        ("deliver", m.consume_manual_ack),
        ("deliver_no_ack", m.consume_auto_ack),
        ("redeliver", m.redelivered),
        ("ack", m.acknowledged),
        ("deliver_get", deliver_get),
        ("get_empty", m.get_empty),
    ]
}

/// RabbitMQ's names for a queue's counters.
fn queue_fields(q: &QueueCounters) -> Fields {
    vec![
        ("ack", q.ack),
        ("deliver", q.deliver),
        ("deliver_get", q.deliver_get),
        ("deliver_no_ack", q.deliver_no_ack),
        ("get", q.get),
        ("get_empty", q.get_empty),
        ("get_no_ack", q.get_no_ack),
        ("publish", q.publish),
        ("redeliver", q.redeliver),
    ]
}

/// RabbitMQ's names for the lifecycle counters.
fn churn_fields(g: &GlobalCounters) -> Fields {
    vec![
        ("channel_closed", g.channels_closed),
        ("channel_created", g.channels_opened),
        ("connection_closed", g.connections_closed),
        ("connection_created", g.connections_opened),
        ("queue_created", g.queues_created),
        ("queue_declared", g.queues_declared),
        ("queue_deleted", g.queues_deleted),
    ]
}

fn depth_fields(ready: u64, unacked: u64) -> Fields {
    vec![
        ("messages", ready + unacked),
        ("messages_ready", ready),
        ("messages_unacknowledged", unacked),
    ]
}

/// `{name: value, name_details: {rate}}` for each field; the rate is the change since the
/// sample before, per second, to one decimal as RabbitMQ shows it (0.0 without one). A depth
/// can fall, so its rate can be negative.
fn with_rates(
    now: &[(&'static str, u64)],
    before: Option<&[(&'static str, u64)]>,
    dt: Option<f64>,
) -> Value {
    let mut m = Map::new();
    for (i, (name, value)) in now.iter().enumerate() {
        let rate = match (before, dt) {
            (Some(b), Some(dt)) if dt > 0.0 => (*value as f64 - b[i].1 as f64) / dt,
            _ => 0.0,
        };
        m.insert((*name).to_string(), json!(value));
        m.insert(
            format!("{name}_details"),
            json!({"rate": (rate * 10.0).round() / 10.0}),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_the_change_per_second_to_one_decimal() {
        let v = with_rates(&[("publish", 30)], Some(&[("publish", 5)]), Some(4.0));
        assert_eq!(v, json!({"publish": 30, "publish_details": {"rate": 6.3}}));
        let falling = with_rates(&[("messages", 0)], Some(&[("messages", 10)]), Some(5.0));
        assert_eq!(falling["messages_details"]["rate"], json!(-2.0));
        let first = with_rates(&[("ack", 7)], None, None);
        assert_eq!(first["ack_details"]["rate"], json!(0.0));
    }
}
