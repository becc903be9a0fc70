"""Policies and operator policies (issue 16), set through each broker's management API and
checked with pika: what a policy does to a queue or an exchange, on both brokers alike.

Each broker's AMQP URL (WARREN_URL / RABBITMQ_URL) goes with its management URL
(WARREN_MGMT_URL / RABBITMQ_MGMT_URL, which interop/run exports). Every policy here matches only
this scenario's uniquely named queues and exchanges, and is removed afterwards. RabbitMQ applies
a policy to its queues a moment after the PUT returns, and its management API shows queue fields
only after its next statistics tick: behaviour and JSON are polled for, never slept on.
"""

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pika
import pytest

from support import expect_bodies, get_one, ready_count, wait_for

MGMT_ENV = {"warren": "WARREN_MGMT_URL", "rabbitmq": "RABBITMQ_MGMT_URL"}


class Mgmt:
    """The broker's management API, undoing every policy it set."""

    def __init__(self, broker):
        base = os.environ.get(MGMT_ENV[broker.name], "").strip().rstrip("/")
        if not base:
            pytest.fail(f"{MGMT_ENV[broker.name]} is not set: run interop/run, which exports it")
        self.base = base
        self.vhost = urllib.parse.quote(broker.vhost, safe="")
        self.made = []

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method)
        req.add_header("content-type", "application/json")
        req.add_header("authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        return status, (json.loads(text) if text.strip() else None)

    def policy(self, name, pattern, definition, priority=0, apply_to="all", kind="policies"):
        body = {"pattern": pattern, "definition": definition, "priority": priority, "apply-to": apply_to}
        status, reply = self.call("PUT", f"{kind}/{self.vhost}/{name}", body)
        assert status in (201, 204), (status, reply)
        self.made.append(f"{kind}/{self.vhost}/{name}")

    def clear(self, name, kind="policies"):
        path = f"{kind}/{self.vhost}/{name}"
        assert self.call("DELETE", path)[0] == 204
        self.made.remove(path)

    def queue(self, name):
        status, body = self.call("GET", f"queues/{self.vhost}/{urllib.parse.quote(name, safe='')}")
        assert status == 200, (status, body)
        return body

    def exchange(self, name):
        status, body = self.call("GET", f"exchanges/{self.vhost}/{urllib.parse.quote(name, safe='')}")
        assert status == 200, (status, body)
        return body

    def cleanup(self):
        for path in reversed(self.made):
            self.call("DELETE", path)


@pytest.fixture
def mgmt(broker):
    m = Mgmt(broker)
    yield m
    m.cleanup()


@pytest.fixture
def tag():
    """A prefix for this scenario's names, and the pattern that matches only them."""
    prefix = f"interop.pol.{uuid.uuid4().hex[:10]}"
    return prefix, "^" + re.escape(prefix)


def publish(ch, queue, *bodies, **props):
    for body in bodies:
        ch.basic_publish("", queue, body, pika.BasicProperties(**props))


def settle(ch, queue, count):
    wait_for(lambda: ready_count(ch, queue) == count, f"{queue} to hold {count} messages", timeout=10)


def test_max_length_from_a_policy_drops_from_the_head(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    mgmt.policy(f"{prefix}.p", pattern, {"max-length": 2})
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, b"1", b"2", b"3")
    expect_bodies(ch, q, [b"2", b"3"])


def test_a_policy_trims_an_existing_queue_and_clearing_it_restores(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, *[str(i).encode() for i in range(5)])
    settle(ch, q, 5)
    mgmt.policy(f"{prefix}.p", pattern, {"max-length": 2})
    settle(ch, q, 2)
    mgmt.clear(f"{prefix}.p")
    publish(ch, q, b"5", b"6")
    settle(ch, q, 4)
    expect_bodies(ch, q, [b"3", b"4", b"5", b"6"])


def test_message_ttl_from_a_policy_expires_new_messages(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, b"before")
    settle(ch, q, 1)
    mgmt.policy(f"{prefix}.p", pattern, {"message-ttl": 100})
    time.sleep(0.5)
    # A message already in keeps the expiry it had (none).
    expect_bodies(ch, q, [b"before"])
    # RabbitMQ applies the policy a moment after the PUT: wait for a fresh message to expire.
    deadline = time.monotonic() + 10
    while True:
        publish(ch, q, b"after")
        time.sleep(0.3)
        if ready_count(ch, q) == 0:
            break
        assert time.monotonic() < deadline, "the policy's TTL never applied"
        ch.queue_purge(q)


def test_a_dead_letter_exchange_from_a_policy(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    dlq = scratch.track_queue(f"dlq.{prefix}")
    ch.queue_declare(dlq)
    mgmt.policy(f"{prefix}.p", pattern, {"dead-letter-exchange": "", "dead-letter-routing-key": dlq})
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, b"m")
    method, _, _ = get_one(ch, q, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=False)
    _, props, body = get_one(ch, dlq)
    assert body == b"m"
    assert props.headers["x-death"][0]["reason"] == "rejected"


def test_the_higher_priority_wins(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    mgmt.policy(f"{prefix}.low", pattern, {"max-length": 1}, priority=1)
    mgmt.policy(f"{prefix}.high", pattern, {"max-length": 3}, priority=5)
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, b"1", b"2", b"3", b"4")
    expect_bodies(ch, q, [b"2", b"3", b"4"])


def test_the_smaller_of_argument_and_policy_wins_and_the_argument_wins_overflow(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    mgmt.policy(f"{prefix}.p", pattern, {"max-length": 5, "overflow": "reject-publish"})
    small = scratch.track_queue(f"{prefix}.small")
    ch.queue_declare(small, arguments={"x-max-length": 2, "x-overflow": "drop-head"})
    big = scratch.track_queue(f"{prefix}.big")
    ch.queue_declare(big, arguments={"x-max-length": 10})
    publish(ch, small, b"1", b"2", b"3")
    expect_bodies(ch, small, [b"2", b"3"])  # x-max-length 2 < 5, x-overflow drop-head
    publish(ch, big, *[str(i).encode() for i in range(7)])
    settle(ch, big, 5)  # the policy's 5 < 10, its reject-publish refuses the rest
    expect_bodies(ch, big, [b"0", b"1", b"2", b"3", b"4"])


def test_an_operator_policy_caps_a_policy(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    mgmt.policy(f"{prefix}.p", pattern, {"max-length": 4, "message-ttl": 60000})
    mgmt.policy(f"{prefix}.o", pattern, {"max-length": 2}, kind="operator-policies")
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    publish(ch, q, b"1", b"2", b"3")
    expect_bodies(ch, q, [b"2", b"3"])
    want = {"max-length": 2, "message-ttl": 60000}

    def shown():
        body = mgmt.queue(q)
        return (body.get("policy"), body.get("operator_policy"), body.get("effective_policy_definition"))

    wait_for(lambda: shown() == (f"{prefix}.p", f"{prefix}.o", want), "the queue's policy fields", timeout=20)
    mgmt.clear(f"{prefix}.o", kind="operator-policies")
    publish(ch, q, b"4", b"5", b"6", b"7", b"8")
    settle(ch, q, 4)


def test_an_alternate_exchange_from_a_policy_and_the_json_fields(ch, mgmt, scratch, tag):
    prefix, pattern = tag
    ae = scratch.exchange(ch, "fanout", role="ae")
    caught = scratch.queue(ch, role="caught")
    ch.queue_bind(caught, ae)
    x = scratch.track_exchange(f"{prefix}.x")
    ch.exchange_declare(x, exchange_type="direct")
    mgmt.policy(f"{prefix}.p", pattern, {"alternate-exchange": ae}, apply_to="exchanges")
    wait_for(lambda: mgmt.exchange(x).get("policy") == f"{prefix}.p", "the exchange's policy", timeout=20)
    ch.basic_publish(x, "nowhere", b"unroutable")
    assert get_one(ch, caught)[2] == b"unroutable"
    # An exchange-only policy leaves queues alone; a queue with none shows nulls and {}.
    q = scratch.track_queue(f"{prefix}.q")
    ch.queue_declare(q)
    wait_for(lambda: "effective_policy_definition" in mgmt.queue(q), "the queue's stats", timeout=20)
    body = mgmt.queue(q)
    assert (body["policy"], body["operator_policy"], body["effective_policy_definition"]) == (None, None, {})
    mgmt.clear(f"{prefix}.p")
    wait_for(lambda: "policy" not in mgmt.exchange(x), "the exchange's policy to go", timeout=20)
