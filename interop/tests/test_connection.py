"""Connection-level behaviour: handshake, auth, heartbeats, channels, big bodies, cancels."""

import hashlib
import random
import time
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest

from support import Broker, get_one, wait_for

MiB = 1024 * 1024


def test_handshake_advertises_the_capabilities_clients_use(conn):
    props = conn._impl.server_properties  # what connection.start carried
    caps = props["capabilities"]
    for cap in ("publisher_confirms", "basic.nack", "consumer_cancel_notify",
                "authentication_failure_close", "per_consumer_qos", "consumer_priorities",
                "direct_reply_to"):
        assert caps.get(cap) is True, cap
    assert props.get("product")
    assert props.get("version")
    assert conn.basic_nack_supported and conn.publisher_confirms_supported
    assert conn.consumer_cancel_notify_supported


def test_wrong_password_is_refused(broker):
    parts = urlsplit(broker.url)
    user = parts.username or "guest"
    netloc = f"{user}:definitely-wrong@{parts.hostname}:{parts.port or 5672}"
    bad = Broker(broker.name, urlunsplit(parts._replace(netloc=netloc)))
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as err:
        bad.connect()
    assert "403" in str(err.value) and "ACCESS_REFUSED" in str(err.value)


def test_heartbeats_keep_an_idle_connection_open(broker):
    conn = broker.connect(heartbeat=2)
    try:
        assert conn._impl.params.heartbeat == 2  # the negotiated value (connection.tune-ok)
        received_before = conn._impl.bytes_received
        idle_until = time.monotonic() + 5
        while time.monotonic() < idle_until:
            conn.process_data_events(time_limit=0.5)
        # Nothing but heartbeats could have arrived while we idled.
        heartbeat_bytes = conn._impl.bytes_received - received_before
        assert heartbeat_bytes >= 8 * 2, f"only {heartbeat_bytes} bytes from the broker in 5s"
        assert heartbeat_bytes % 8 == 0  # a heartbeat frame is 8 bytes
        assert conn.is_open
        ch = conn.channel()  # and it still works
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", queue, b"after idling")
        assert get_one(ch, queue)[2] == b"after idling"
    finally:
        if conn.is_open:
            conn.close()


def test_many_channels_on_one_connection(conn, scratch):
    count = 100
    assert conn._impl.params.channel_max >= count
    channels = [conn.channel() for _ in range(count)]
    assert len({c.channel_number for c in channels}) == count
    queues = [scratch.queue(c, f"chan{i}") for i, c in enumerate(channels)]
    for i, (c, queue) in enumerate(zip(channels, queues)):
        c.basic_publish("", queue, f"channel {i}".encode())
    for i, (c, queue) in enumerate(zip(channels, queues)):
        assert get_one(c, queue)[2] == f"channel {i}".encode()
    for c in channels[::2]:
        c.close()
    # Closing half the channels leaves the rest (and the connection) working.
    for c, queue in list(zip(channels, queues))[1::2]:
        c.basic_publish("", queue, b"still here")
        assert get_one(c, queue)[2] == b"still here"
    assert conn.is_open


def random_body(size, seed):
    return random.Random(seed).randbytes(size)


def test_large_messages_across_many_body_frames(conn, ch, scratch):
    frame_max = conn._impl.params.frame_max
    queue = scratch.queue(ch, "large")
    sizes = [6 * MiB, 3 * MiB + 17, frame_max - 8, frame_max - 7, 0]
    bodies = [random_body(size, seed) for seed, size in enumerate(sizes)]
    assert len(bodies[0]) // frame_max >= 40  # really many body frames
    for i, body in enumerate(bodies):
        ch.basic_publish("", queue, body, pika.BasicProperties(message_id=str(i)))

    # The first two by basic.get, the rest by a consumer: both delivery paths.
    for i in (0, 1):
        _, props, got = get_one(ch, queue, timeout=30)
        assert props.message_id == str(i)
        assert len(got) == len(bodies[i])
        assert hashlib.sha256(got).digest() == hashlib.sha256(bodies[i]).digest()
    received = []
    ch.basic_consume(queue, lambda c, m, p, b: received.append((p.message_id, b)), auto_ack=True)
    wait_for(lambda: len(received) == 3, "three consumed messages", conn, timeout=30)
    assert [m for m, _ in received] == ["2", "3", "4"]
    for (_, got), body in zip(received, bodies[2:]):
        assert got == body


def test_broker_cancels_consumer_when_its_queue_is_deleted(conn, ch, scratch):
    queue = scratch.queue(ch, "cancelnotify")
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    tag = ch.basic_consume(queue, lambda *a: None)

    other = conn.channel()
    other.queue_delete(queue)

    wait_for(lambda: cancels, "basic.cancel from the broker", conn)
    assert cancels[0].consumer_tag == tag
    assert tag not in ch.consumer_tags
    assert ch.is_open  # the channel survives its consumer
    assert conn.is_open


def test_client_cancel_stops_deliveries(conn, ch, scratch):
    queue = scratch.queue(ch, "clientcancel")
    got = []
    tag = ch.basic_consume(queue, lambda c, m, p, b: got.append(b), auto_ack=True)
    ch.basic_publish("", queue, b"before")
    wait_for(lambda: got, "a delivery", conn)
    ch.basic_cancel(tag)
    ch.basic_publish("", queue, b"after")
    assert get_one(ch, queue)[2] == b"after"  # stayed in the queue: no consumer took it
    assert got == [b"before"]
