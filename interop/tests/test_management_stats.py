"""The management API's message statistics (`message_stats` and the `*_details` rates), against
Warren's and RabbitMQ's (issue 16).

A known workload through pika, then the queue's, the vhost's and the overview's statistics: the
same keys on both brokers, and the queue's counters equal to what was done. Both brokers sample
their counters every 5 s (RabbitMQ's `collect_statistics_interval`), so the checks poll until
the sample shows the workload, bounded at 20 s.
"""

import time
import urllib.parse

import pika
import pytest

from test_management_topology import V, api, unique  # noqa: F401 (the fixture)

QUEUE_KEYS = {"ack", "deliver", "deliver_get", "deliver_no_ack", "get", "get_empty", "get_no_ack", "publish", "redeliver"}
VHOST_KEYS = QUEUE_KEYS | {"confirm", "return_unroutable", "drop_unroutable"}
DEPTH_DETAILS = {"messages_details", "messages_ready_details", "messages_unacknowledged_details"}


def with_details(keys):
    return keys | {f"{k}_details" for k in keys}


def poll(api, path, done):
    deadline = time.monotonic() + 20
    while True:
        out = api.ok("GET", path)
        if done(out) or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def workload(api, queue):
    """3 publishes, a get with ack, a get without ack, a get-empty elsewhere, a consumer
    delivery that is rejected (requeued) and then redelivered and acked."""
    conn = pika.BlockingConnection(pika.URLParameters(api.amqp))
    try:
        ch = conn.channel()
        ch.queue_declare(queue)
        for i in range(3):
            ch.basic_publish("", queue, b"m%d" % i)
        method, _, _ = ch.basic_get(queue, auto_ack=False)
        ch.basic_ack(method.delivery_tag)
        ch.basic_get(queue, auto_ack=True)
        got = []
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(queue, lambda c, m, p, b: got.append(m))
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.2)
        assert got, "no delivery"
        ch.basic_reject(got[0].delivery_tag, requeue=True)
        while len(got) < 2 and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.2)
        assert len(got) == 2 and got[1].redelivered
        ch.basic_ack(got[1].delivery_tag)
    finally:
        conn.close()


def test_queue_and_vhost_message_stats_count_a_known_workload(api):
    if not api.amqp:
        pytest.fail("this scenario needs WARREN_URL / RABBITMQ_URL beside the management URL")
    queue = unique("stats")
    api.cleanup.append(f"queues/{V}/{queue}")
    workload(api, queue)
    want = {"publish": 3, "get": 1, "get_no_ack": 1, "deliver": 2, "deliver_no_ack": 0,
            "deliver_get": 4, "redeliver": 1, "ack": 2, "get_empty": 0}
    # RabbitMQ's counters come from separate statistics tables, each on its own 5 s timer.
    q = poll(api, f"queues/{V}/{queue}",
             lambda q: {k: q.get("message_stats", {}).get(k) for k in QUEUE_KEYS} == want
             and DEPTH_DETAILS <= set(q))
    stats = q.get("message_stats")
    assert stats is not None, q
    assert set(stats) == with_details(QUEUE_KEYS)
    assert {k: stats[k] for k in QUEUE_KEYS} == want
    assert all(isinstance(stats[f"{k}_details"]["rate"], (int, float)) for k in QUEUE_KEYS)
    assert DEPTH_DETAILS <= set(q)
    vhost = poll(api, f"vhosts/{V}",
                 lambda v: VHOST_KEYS <= set(v.get("message_stats", {}))
                 and v["message_stats"].get("publish", 0) >= 3 and DEPTH_DETAILS <= set(v))
    assert VHOST_KEYS <= set(vhost["message_stats"]), vhost
    assert vhost["message_stats"]["publish"] >= 3
    assert DEPTH_DETAILS <= set(vhost)
    overview = api.ok("GET", "overview")
    assert VHOST_KEYS <= set(overview["message_stats"]), overview["message_stats"]
    assert with_details({"messages", "messages_ready", "messages_unacknowledged"}) <= set(overview["queue_totals"])
    churn = {"channel_closed", "channel_created", "connection_closed", "connection_created",
             "queue_created", "queue_declared", "queue_deleted"}
    assert with_details(churn) <= set(overview["churn_rates"])


def test_a_queue_without_traffic_has_no_message_stats(api):
    queue = unique("quiet")
    api.queue(queue)
    # Its depth rates show once a statistics sample has seen it: the absence must survive that.
    q = poll(api, f"queues/{V}/{queue}", lambda q: DEPTH_DETAILS <= set(q))
    assert DEPTH_DETAILS <= set(q), q
    assert "message_stats" not in q


def test_rates_follow_a_steady_publisher(api):
    if not api.amqp:
        pytest.fail("this scenario needs WARREN_URL / RABBITMQ_URL beside the management URL")
    queue = unique("rate")
    api.cleanup.append(f"queues/{V}/{queue}")
    conn = pika.BlockingConnection(pika.URLParameters(api.amqp))
    try:
        ch = conn.channel()
        ch.queue_declare(queue)
        # ~100 msg/s for up to 20 s, until the queue's publish rate shows it.
        deadline, rate, growth = time.monotonic() + 30, 0.0, 0.0
        while time.monotonic() < deadline and (rate < 20 or growth <= 0):
            for _ in range(10):
                ch.basic_publish("", queue, b"x")
            conn.process_data_events(time_limit=0.1)
            q = api.ok("GET", f"queues/{V}/{queue}")
            rate = q.get("message_stats", {}).get("publish_details", {}).get("rate", 0.0)
            growth = q.get("messages_details", {}).get("rate", 0.0)
        assert rate >= 20, q.get("message_stats")
        assert growth > 0, q.get("messages_details")
    finally:
        conn.close()


def test_exchange_channel_and_connection_statistics(api):
    if not api.amqp:
        pytest.fail("this scenario needs WARREN_URL / RABBITMQ_URL beside the management URL")
    exchange, queues = unique("fan"), [unique("fq1"), unique("fq2")]
    api.exchange(exchange, {"type": "fanout"})
    for q in queues:
        api.queue(q)
        api.ok("POST", f"bindings/{V}/e/{exchange}/q/{q}", {"routing_key": ""}, status=201)
    conn = pika.BlockingConnection(pika.URLParameters(api.amqp))
    try:
        ch = conn.channel()
        for _ in range(3):
            ch.basic_publish(exchange, "", b"x")
        ch.basic_get(queues[0], auto_ack=True)
        conn.process_data_events(time_limit=0.2)
        x = poll(api, f"exchanges/{V}/{exchange}",
                 lambda x: (x.get("message_stats", {}).get("publish_in"),
                            x.get("message_stats", {}).get("publish_out")) == (3, 6))
        stats = x.get("message_stats", {})
        assert {k: stats.get(k) for k in ("publish_in", "publish_out")} == {"publish_in": 3, "publish_out": 6}, x
        assert {"publish_in_details", "publish_out_details"} <= set(stats)
        def mine(c):
            stats = c.get("message_stats", {})
            return stats.get("publish") == 3 and stats.get("get_no_ack") == 1

        channels = poll(api, "channels", lambda cs: any(mine(c) for c in cs))
        channel = next((c for c in channels if mine(c)), None)
        assert channel is not None, channels
        stats = channel["message_stats"]
        assert {"publish", "confirm", "return_unroutable", "drop_unroutable",
                "get_no_ack", "deliver_get"} <= set(stats), stats
        assert stats["get_no_ack"] == 1 and "publish_details" in stats
        path = "connections/" + urllib.parse.quote(channel["connection_details"]["name"], safe="")
        keys = ("recv_oct", "recv_cnt", "send_oct", "send_cnt")
        connection = poll(api, path, lambda c: all(c.get(k, 0) > 0 for k in keys))
        for key in keys:
            assert connection.get(key, 0) > 0, (key, connection)
    finally:
        conn.close()
