"""Connection and publish details where Warren must match RabbitMQ 3.10.8 exactly.

The close scenarios drive the broker over a plain socket with pika's own frame codec
(pika.frame / pika.spec): pika's connection classes never write after their close, and the
point here is what the broker does with frames written after (or behind) a close.
"""

import socket
import threading
import time
from urllib.parse import urlsplit

import pika
import pika.exceptions
import pytest
from pika import frame, spec

from support import WAIT, ready_count, wait_for

BODY = b"x" * 28


class RawAmqp:
    """An AMQP 0-9-1 client on a bare socket, frames encoded and decoded by pika."""

    def __init__(self, broker):
        url = urlsplit(broker.url)
        self.sock = socket.create_connection((url.hostname, url.port or 5672), timeout=WAIT)
        self.buf = b""
        self.user = broker.user
        self.password = url.password or "guest"
        self.vhost = broker.vhost

    def send(self, frames):
        self.sock.sendall(b"".join(f.marshal() for f in frames))

    def method(self, channel, method):
        return frame.Method(channel, method)

    def publish(self, channel, routing_key, body=BODY, properties=None):
        """The three frames of a basic.publish to the default exchange."""
        return [
            self.method(channel, spec.Basic.Publish(exchange="", routing_key=routing_key)),
            frame.Header(channel, len(body), properties or spec.BasicProperties()),
            frame.Body(channel, body),
        ]

    def next_frame(self):
        """The next frame, None at EOF."""
        while True:
            if self.buf:
                used, decoded = frame.decode_frame(self.buf)
                if decoded is not None:
                    self.buf = self.buf[used:]
                    return decoded
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def expect(self, method_class):
        while True:
            got = self.next_frame()
            assert got is not None, f"EOF while waiting for {method_class.NAME}"
            if isinstance(got, frame.Heartbeat):
                continue
            assert isinstance(got, frame.Method) and isinstance(got.method, method_class), (
                f"expected {method_class.NAME}, got {got}")
            return got.method

    def handshake(self, reply=spec.Connection.OpenOk):
        """Logs in and opens the vhost; returns the broker's reply to connection.open."""
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(spec.Connection.Start)
        response = b"\0" + self.user.encode() + b"\0" + self.password.encode()
        self.send([self.method(0, spec.Connection.StartOk({}, "PLAIN", response, "en_US"))])
        tune = self.expect(spec.Connection.Tune)
        self.send([
            self.method(0, spec.Connection.TuneOk(tune.channel_max, tune.frame_max, 0)),
            self.method(0, spec.Connection.Open(self.vhost)),
        ])
        return self.expect(reply)

    def open_channel(self, channel):
        self.send([self.method(channel, spec.Channel.Open())])
        self.expect(spec.Channel.OpenOk)

    def stays_open(self, seconds=0.5):
        """True if the broker neither closes nor resets the socket within `seconds`."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) != b""
        except socket.timeout:
            return True
        except ConnectionError:
            return False
        finally:
            self.sock.settimeout(WAIT)

    def closes(self):
        """True once the broker has closed the socket (EOF or reset) within WAIT."""
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


@pytest.fixture
def raw(broker):
    client = RawAmqp(broker)
    yield client
    client.close()


def test_frames_after_a_client_close_are_read_and_dropped(raw):
    # amqplib pipelines publishes and its close; its frame mux can even write the close ahead
    # of the last channel frames. The broker answers close-ok and keeps reading until the
    # client closes: closing at once would turn the client's writes into EPIPE / resets.
    raw.handshake()
    raw.open_channel(1)
    frames = [raw.method(0, spec.Connection.Close(200, "bye", 0, 0))]
    for _ in range(200):
        frames += raw.publish(1, "nowhere")
    raw.send(frames)
    raw.expect(spec.Connection.CloseOk)
    for _ in range(5):
        raw.send([f for _ in range(200) for f in raw.publish(1, "nowhere")])
        raw.send([raw.method(2, spec.Channel.Open())])  # dropped too: no channel.open-ok
        time.sleep(0.02)
    assert raw.stays_open(), "the broker closed the socket before the client did"


def test_many_pipelined_publishes_then_close(raw, broker, scratch, ch):
    # The same with a queue that takes the messages: everything before the close is routed.
    queue = scratch.queue(ch, "parity.close")
    raw.handshake()
    raw.open_channel(1)
    frames = [f for _ in range(2000) for f in raw.publish(1, queue)]
    frames.append(raw.method(0, spec.Connection.Close(200, "bye", 0, 0)))
    raw.send(frames)
    raw.expect(spec.Connection.CloseOk)
    raw.send(raw.publish(1, queue))
    assert raw.stays_open()
    raw.close()
    wait_for(lambda: ready_count(ch, queue) == 2000, "all 2000 messages")


def test_frames_while_the_broker_closes_are_dropped_until_close_ok(raw):
    # A second channel.open on an open channel is a 504 connection error. Until the client's
    # close-ok, the broker drops its frames, answers its own connection.close with close-ok,
    # and keeps the socket; close-ok ends the connection.
    raw.handshake()
    raw.open_channel(1)
    raw.send([raw.method(1, spec.Channel.Open())])
    close = raw.expect(spec.Connection.Close)
    assert (close.reply_code, close.reply_text) == (
        504, "CHANNEL_ERROR - second 'channel.open' seen")
    raw.send([f for _ in range(300) for f in raw.publish(1, "nowhere")])
    raw.send([raw.method(1, spec.Channel.Close(200, "", 0, 0))])
    raw.send([raw.method(0, spec.Connection.Close(200, "bye", 0, 0))])
    raw.expect(spec.Connection.CloseOk)
    assert raw.stays_open(), "closed before the client's close-ok"
    raw.send([raw.method(0, spec.Connection.CloseOk())])
    assert raw.closes(), "still open after the client's close-ok"


def test_refused_vhost_waits_for_close_ok(broker):
    client = RawAmqp(broker)
    client.vhost = "parity-b-no-such-vhost"
    try:
        close = client.handshake(reply=spec.Connection.Close)
        assert (close.reply_code, close.class_id, close.method_id) == (530, 10, 40)
        assert client.stays_open(), "closed before the client's close-ok"
        client.send([client.method(0, spec.Connection.CloseOk())])
        assert client.closes()
    finally:
        client.close()


@pytest.mark.parametrize("mode", [0, 3, 255])
def test_unknown_delivery_mode_closes_the_channel(conn, ch, scratch, mode):
    queue = scratch.queue(ch, "parity.mode")
    ch.basic_publish("", queue, b"m", pika.BasicProperties(delivery_mode=mode))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, passive=True)
    assert (err.value.reply_code, err.value.reply_text) == (
        406, f"PRECONDITION_FAILED - invalid message: {{delivery_mode_unknown,{mode}}}")
    assert conn.is_open
    assert conn.channel().queue_declare(queue, passive=True).method.message_count == 0


def test_delivery_mode_one_two_or_absent_is_accepted(ch, scratch):
    queue = scratch.queue(ch, "parity.mode")
    for props in (pika.BasicProperties(delivery_mode=1), pika.BasicProperties(delivery_mode=2),
                  pika.BasicProperties(), None):
        ch.basic_publish("", queue, b"m", props)
    wait_for(lambda: ready_count(ch, queue) == 4, "the four messages")


def test_expiration_is_checked_before_delivery_mode(ch, scratch):
    queue = scratch.queue(ch, "parity.mode")
    ch.basic_publish("", queue, b"m", pika.BasicProperties(delivery_mode=3, expiration="abc"))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, passive=True)
    assert (err.value.reply_code, err.value.reply_text) == (
        406, "PRECONDITION_FAILED - invalid expiration 'abc': no_integer")


def _seventh_goes_to(broker, conn, ch, queue, same_connection):
    """hi (x-priority 10, prefetch 2) and lo (x-priority 1, prefetch 10) share `queue`; after
    six messages (2 to hi, 4 to lo) hi acks one, then a third connection publishes a seventh.
    Returns who got it.

    The ack's effect is confirmed by a round trip on hi's channel (basic.qos) before the
    publish: an ack and a publish on two different connections race inside either broker
    (both brokers were seen to lose it now and then without the round trip).
    """
    other = conn if same_connection else broker.connect()
    publisher = broker.connect()
    try:
        got = {"hi": [], "lo": []}

        def on_message(name):
            return lambda _ch, method, _props, body: got[name].append((method.delivery_tag, body))

        hi = ch
        hi.basic_qos(prefetch_count=2)
        hi.basic_consume(queue, on_message("hi"), arguments={"x-priority": 10})
        lo = other.channel()
        lo.basic_qos(prefetch_count=10)
        lo.basic_consume(queue, on_message("lo"), arguments={"x-priority": 1})
        pch = publisher.channel()
        pch.confirm_delivery()
        for i in range(6):
            pch.basic_publish("", queue, b"m%d" % i)

        def pump(until, what):
            def step():
                for c in {id(conn): conn, id(other): other}.values():
                    c.process_data_events(time_limit=0.01)
                return until()
            wait_for(step, what)

        pump(lambda: len(got["hi"]) == 2 and len(got["lo"]) == 4, "2 messages to hi, 4 to lo")
        hi.basic_ack(got["hi"][0][0])
        hi.basic_qos(prefetch_count=2)  # round trip: the broker has handled the ack
        pch.basic_publish("", queue, b"seventh")
        pump(lambda: any(b == b"seventh" for k in got for _, b in got[k]), "the seventh message")
        return [k for k in got if any(b == b"seventh" for _, b in got[k])]
    finally:
        publisher.close()
        if other is not conn:
            other.close()


@pytest.mark.parametrize("same_connection", [False, True], ids=["connections", "channels"])
def test_acked_credit_goes_to_the_higher_priority_consumer(broker, conn, scratch,
                                                           same_connection):
    for _ in range(3):
        queue = scratch.queue(conn.channel(), "parity.prio")
        fresh = broker.connect()
        try:
            assert _seventh_goes_to(broker, fresh, fresh.channel(), queue,
                                    same_connection) == ["hi"]
        finally:
            fresh.close()


def test_global_prefetch_holds_while_many_queues_dispatch_at_once(broker, conn, ch, scratch):
    # basic.qos global=true: one limit for all the channel's consumers. Publishers on eight
    # connections fill eight queues at once, so the queues hand out messages concurrently;
    # together they must stop at the limit, not overshoot it.
    limit, queues = 5, [scratch.queue(ch, "parity.global") for _ in range(8)]
    consumer = broker.connect()
    try:
        cch = consumer.channel()
        cch.basic_qos(prefetch_count=limit, global_qos=True)
        got = []
        for queue in queues:
            cch.basic_consume(queue, lambda _c, m, _p, _b: got.append(m.delivery_tag))
        start = threading.Barrier(len(queues))
        errors = []

        def publish(queue):
            try:
                with broker.connect() as publisher:
                    pch = publisher.channel()
                    start.wait(timeout=WAIT)
                    for _ in range(50):
                        pch.basic_publish("", queue, b"g")
            except Exception as e:  # reported below: a thread cannot fail the test itself
                errors.append(e)

        threads = [threading.Thread(target=publish, args=(q,)) for q in queues]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        wait_for(lambda: sum(ready_count(ch, q) for q in queues) == 8 * 50 - limit,
                 "every message but the prefetched ones ready", conn=consumer)
        consumer.process_data_events(time_limit=0.3)
        assert len(got) == limit
        cch.basic_ack(got[0])
        wait_for(lambda: len(got) == limit + 1, "one more delivery after one ack", conn=consumer)
        consumer.process_data_events(time_limit=0.3)
        assert len(got) == limit + 1
    finally:
        consumer.close()
