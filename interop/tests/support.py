"""Small helpers shared by the interop scenarios.

Everything here goes through unmodified pika: the suite must exercise a broker exactly the way
applications do. Waits are always bounded so a broker that never answers fails a scenario
instead of hanging it.
"""

import time
import uuid
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions

# How long a scenario waits for something the broker should do promptly.
WAIT = 5.0


class Broker:
    """A broker under test: a name for test ids and an amqp:// URL."""

    def __init__(self, name, url):
        self.name = name
        self.url = url

    @property
    def user(self):
        return unquote(urlsplit(self.url).username or "guest")

    @property
    def vhost(self):
        """The virtual host the URL names ("/" when it names none, as pika assumes)."""
        path = urlsplit(self.url).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    @property
    def redacted_url(self):
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        return self.url.replace(":" + parts.password + "@", ":***@", 1)

    def parameters(self, **overrides):
        """pika parameters for this broker; overrides set attributes such as heartbeat."""
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = WAIT
        params.blocked_connection_timeout = 30
        for key, value in overrides.items():
            setattr(params, key, value)
        return params

    def connect(self, **overrides):
        return pika.BlockingConnection(self.parameters(**overrides))

    def __repr__(self):
        return f"Broker({self.name!r}, {self.redacted_url!r})"


def unique(role):
    """A queue or exchange name no other run (or other broker state) can collide with."""
    return f"interop.{role}.{uuid.uuid4().hex[:12]}"


class Scratch:
    """Creates uniquely named queues and exchanges and deletes them when the scenario ends.

    RabbitMQ keeps state across runs, so every scenario cleans up after itself, even on failure.
    """

    def __init__(self, broker):
        self.broker = broker
        self.queues = []
        self.exchanges = []

    def queue(self, ch, role="q", **kwargs):
        name = unique(role)
        ch.queue_declare(name, **kwargs)
        self.queues.append(name)
        return name

    def exchange(self, ch, exchange_type, role="x", **kwargs):
        name = unique(role)
        ch.exchange_declare(name, exchange_type=exchange_type, **kwargs)
        self.exchanges.append(name)
        return name

    def track_queue(self, name):
        """Also delete a queue created some other way (server-named, or by a subprocess)."""
        self.queues.append(name)
        return name

    def track_exchange(self, name):
        """Also delete an exchange created some other way (by another user, say)."""
        self.exchanges.append(name)
        return name

    def cleanup(self):
        if not (self.queues or self.exchanges):
            return
        conn = self.broker.connect()
        try:
            for kind, names in (("queue", self.queues), ("exchange", self.exchanges)):
                for name in names:
                    ch = conn.channel()
                    try:
                        if kind == "queue":
                            ch.queue_delete(name)
                        else:
                            ch.exchange_delete(name)
                        ch.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        pass  # already gone, or exclusive to a connection that still lives
        finally:
            conn.close()


def wait_for(predicate, what, conn=None, timeout=WAIT):
    """Polls predicate() until it is true, letting conn process I/O in between; fails on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        if conn is not None:
            conn.process_data_events(time_limit=0.05)
        else:
            time.sleep(0.05)


def get_one(ch, queue, auto_ack=True, timeout=WAIT):
    """basic.get, polling until a message is there; returns (method, properties, body)."""
    deadline = time.monotonic() + timeout
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=auto_ack)
        if method is not None:
            return method, props, body
        if time.monotonic() > deadline:
            raise AssertionError(f"no message arrived in {queue} within {timeout}s")
        time.sleep(0.05)


def expect_bodies(ch, queue, bodies, timeout=WAIT):
    """Asserts the queue holds exactly these bodies, in this order, and nothing else.

    Messages published on one channel reach a queue in publish order, so once the last expected
    body has arrived anything published before it would have been seen too.
    """
    got = []
    for _ in bodies:
        _, _, body = get_one(ch, queue, timeout=timeout)
        got.append(body)
    method, _, extra = ch.basic_get(queue, auto_ack=True)
    if method is not None:
        got.append(extra)
    assert got == list(bodies), f"{queue}: expected {list(bodies)}, got {got}"


def ready_count(ch, queue):
    """Messages ready for delivery in a queue, from a passive queue.declare."""
    return ch.queue_declare(queue, passive=True).method.message_count


def closed_with(excinfo_value):
    """(reply_code, reply_text) of a ChannelClosedByBroker / ConnectionClosedByBroker error."""
    return excinfo_value.reply_code, excinfo_value.reply_text
