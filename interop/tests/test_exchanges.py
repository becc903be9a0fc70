"""Publish and consume through the default exchange and each built-in exchange type."""

import datetime
import decimal

import pika
import pytest

from support import expect_bodies, get_one


def test_default_exchange_routes_by_queue_name_and_keeps_properties(broker, ch, scratch):
    queue = scratch.queue(ch, "default")
    headers = {
        "trace": "abc-123",
        "attempt": 7,
        "big": 2**40,
        "negative": -5,
        "flag": True,
        "nothing": None,
        "price": decimal.Decimal("12.34"),
        "nested": {"region": "eu", "ids": [1, 2, 3]},
        "list": ["a", 2, False],
        "raw": b"\x00\xffbytes",
    }
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=2,
        priority=3,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="msg-1",
        timestamp=1700000000,
        type="order.placed",
        user_id=broker.user,
        app_id="interop-suite",
    )
    ch.basic_publish("", queue, b'{"order": 1}', props)

    method, got, body = get_one(ch, queue)
    assert body == b'{"order": 1}'
    assert (method.exchange, method.routing_key, method.redelivered) == ("", queue, False)
    assert method.message_count == 0
    for field in (
        "content_type", "content_encoding", "delivery_mode", "priority", "correlation_id",
        "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id",
    ):
        assert getattr(got, field) == getattr(props, field), field
    assert got.headers == headers


def test_unset_properties_stay_unset(ch, scratch):
    queue = scratch.queue(ch, "bare")
    ch.basic_publish("", queue, b"bare")
    _, props, body = get_one(ch, queue)
    assert body == b"bare"
    assert props.headers is None
    assert props.content_type is None
    assert props.delivery_mode is None
    assert props.timestamp is None


def test_timestamp_header_round_trips(ch, scratch):
    queue = scratch.queue(ch, "ts")
    when = datetime.datetime(2024, 5, 17, 12, 30, 0, tzinfo=datetime.timezone.utc)
    ch.basic_publish("", queue, b"t", pika.BasicProperties(headers={"at": when}))
    _, props, _ = get_one(ch, queue)
    assert props.headers == {"at": when}


def test_direct_exchange_routes_on_exact_key(ch, scratch):
    exchange = scratch.exchange(ch, "direct", "direct")
    q_red = scratch.queue(ch, "red")
    q_green = scratch.queue(ch, "green")
    ch.queue_bind(q_red, exchange, "red")
    ch.queue_bind(q_red, exchange, "green")
    ch.queue_bind(q_green, exchange, "green")

    for key in ("red", "green", "blue", "Red", "red.x"):
        ch.basic_publish(exchange, key, key.encode())
    ch.basic_publish(exchange, "green", b"end")

    expect_bodies(ch, q_red, [b"red", b"green", b"end"])
    expect_bodies(ch, q_green, [b"green", b"end"])


def test_direct_exchange_unbind_stops_routing(ch, scratch):
    exchange = scratch.exchange(ch, "direct", "unbind")
    queue = scratch.queue(ch, "unbind")
    marker = scratch.queue(ch, "marker")
    ch.queue_bind(queue, exchange, "k")
    ch.queue_bind(marker, exchange, "k")
    ch.basic_publish(exchange, "k", b"before")
    ch.queue_unbind(queue, exchange, "k")
    ch.basic_publish(exchange, "k", b"after")

    expect_bodies(ch, marker, [b"before", b"after"])
    expect_bodies(ch, queue, [b"before"])


def test_fanout_exchange_copies_to_every_bound_queue(ch, scratch):
    exchange = scratch.exchange(ch, "fanout", "fanout")
    queues = [scratch.queue(ch, f"fan{i}") for i in range(3)]
    for i, queue in enumerate(queues):
        ch.queue_bind(queue, exchange, f"ignored-{i}")
    props = pika.BasicProperties(message_id="fan-1", headers={"k": "v"})
    ch.basic_publish(exchange, "any.key", b"one", props)
    ch.basic_publish(exchange, "", b"two")

    for queue in queues:
        method, got, body = get_one(ch, queue)
        assert body == b"one"
        assert (method.exchange, method.routing_key) == (exchange, "any.key")
        assert (got.message_id, got.headers) == ("fan-1", {"k": "v"})
        expect_bodies(ch, queue, [b"two"])


def test_topic_exchange_wildcards(ch, scratch):
    exchange = scratch.exchange(ch, "topic", "topic")
    q_orange = scratch.queue(ch, "orange")
    q_rabbit = scratch.queue(ch, "rabbit")
    q_all = scratch.queue(ch, "all")
    ch.queue_bind(q_orange, exchange, "*.orange.*")
    ch.queue_bind(q_rabbit, exchange, "*.*.rabbit")
    ch.queue_bind(q_rabbit, exchange, "lazy.#")
    ch.queue_bind(q_all, exchange, "#")

    keys = [
        "quick.orange.rabbit",       # orange, rabbit
        "lazy.orange.elephant",      # orange, rabbit
        "quick.orange.fox",          # orange
        "lazy.brown.fox",            # rabbit
        "lazy.pink.rabbit",          # rabbit, once although two bindings match
        "quick.brown.fox",           # none but '#'
        "quick.orange.male.rabbit",  # none but '#'
        "lazy.orange.male.rabbit",   # rabbit
        "lazy",                      # rabbit: '#' matches zero words
        "orange",                    # none but '#'
    ]
    for key in keys:
        ch.basic_publish(exchange, key, key.encode())
    ch.basic_publish(exchange, "lazy.orange.end", b"end")

    enc = [k.encode() for k in keys]
    expect_bodies(ch, q_orange, [enc[0], enc[1], enc[2], b"end"])
    expect_bodies(ch, q_rabbit, [enc[0], enc[1], enc[3], enc[4], enc[7], enc[8], b"end"])
    expect_bodies(ch, q_all, enc + [b"end"])


def test_headers_exchange_all_and_any(ch, scratch):
    exchange = scratch.exchange(ch, "headers", "headers")
    q_all = scratch.queue(ch, "hall")
    q_any = scratch.queue(ch, "hany")
    ch.queue_bind(q_all, exchange, "", {"x-match": "all", "format": "pdf", "type": "report"})
    ch.queue_bind(q_any, exchange, "", {"x-match": "any", "format": "pdf", "type": "log"})

    cases = [
        ("both", {"format": "pdf", "type": "report"}),             # all, any
        ("pdf-log", {"format": "pdf", "type": "log"}),             # any
        ("zip-report", {"format": "zip", "type": "report"}),       # none
        ("pdf-only", {"format": "pdf"}),                           # any
        ("extra", {"format": "pdf", "type": "report", "n": 1}),    # all, any
        ("no-headers", None),                                      # none
    ]
    for body, headers in cases:
        ch.basic_publish(exchange, "rk", body.encode(), pika.BasicProperties(headers=headers))
    ch.basic_publish(exchange, "", b"end", pika.BasicProperties(headers={"format": "pdf", "type": "report"}))

    expect_bodies(ch, q_all, [b"both", b"extra", b"end"])
    expect_bodies(ch, q_any, [b"both", b"pdf-log", b"pdf-only", b"extra", b"end"])


@pytest.mark.parametrize("name,kind", [
    ("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
    ("amq.headers", "headers"), ("amq.match", "headers"),
])
def test_predeclared_amq_exchanges(ch, scratch, name, kind):
    ch.exchange_declare(name, passive=True)
    ch.exchange_declare(name, exchange_type=kind, durable=True)  # an equivalent redeclare is fine
    queue = scratch.queue(ch, "amq")
    if kind == "headers":
        ch.queue_bind(queue, name, "", {"x-match": "all", "k": "v"})
        ch.basic_publish(name, "", b"via " + name.encode(), pika.BasicProperties(headers={"k": "v"}))
    else:
        ch.queue_bind(queue, name, "orders.#" if kind == "topic" else "orders")
        ch.basic_publish(name, "orders", b"via " + name.encode())
    expect_bodies(ch, queue, [b"via " + name.encode()])
