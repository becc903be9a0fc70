"""Acknowledgements: ack, nack and reject with and without requeue, redelivery, prefetch."""

import subprocess
import time
import sys
import textwrap

import pika.exceptions
import pytest

from support import WAIT, closed_with, expect_bodies, get_one, ready_count, wait_for


def publish_all(ch, queue, bodies):
    for body in bodies:
        ch.basic_publish("", queue, body)


def test_ack_single_and_multiple(conn, ch, scratch):
    queue = scratch.queue(ch, "ack")
    publish_all(ch, queue, [b"1", b"2", b"3", b"4"])
    m1, _, _ = get_one(ch, queue, auto_ack=False)
    m2, _, _ = get_one(ch, queue, auto_ack=False)
    m3, _, _ = get_one(ch, queue, auto_ack=False)
    assert m1.delivery_tag < m2.delivery_tag < m3.delivery_tag
    ch.basic_ack(m1.delivery_tag)
    ch.basic_ack(m3.delivery_tag, multiple=True)  # settles 2 and 3
    ch.close()
    # Nothing was left unacked, so closing the channel requeues nothing.
    other = conn.channel()
    expect_bodies(other, queue, [b"4"])


def test_unacked_messages_return_redelivered_when_channel_closes(conn, ch, scratch):
    queue = scratch.queue(ch, "unacked")
    publish_all(ch, queue, [b"a", b"b"])
    get_one(ch, queue, auto_ack=False)
    get_one(ch, queue, auto_ack=False)
    ch.close()
    other = conn.channel()
    for body in (b"a", b"b"):
        method, _, got = get_one(other, queue)
        assert (got, method.redelivered) == (body, True)


def test_nack_with_requeue_redelivers(ch, scratch):
    queue = scratch.queue(ch, "nackrq")
    publish_all(ch, queue, [b"x"])
    method, _, _ = get_one(ch, queue, auto_ack=False)
    assert method.redelivered is False
    ch.basic_nack(method.delivery_tag, requeue=True)
    again, _, body = get_one(ch, queue, auto_ack=False)
    assert (body, again.redelivered) == (b"x", True)
    assert again.delivery_tag != method.delivery_tag
    ch.basic_ack(again.delivery_tag)


def test_nack_without_requeue_drops(ch, scratch):
    queue = scratch.queue(ch, "nackdrop")
    publish_all(ch, queue, [b"x", b"keep"])
    method, _, _ = get_one(ch, queue, auto_ack=False)
    ch.basic_nack(method.delivery_tag, requeue=False)
    expect_bodies(ch, queue, [b"keep"])


def test_nack_multiple(ch, scratch):
    queue = scratch.queue(ch, "nackmulti")
    publish_all(ch, queue, [b"1", b"2", b"3"])
    tags = [get_one(ch, queue, auto_ack=False)[0].delivery_tag for _ in range(3)]
    ch.basic_nack(tags[1], multiple=True, requeue=True)  # 1 and 2 back, 3 still held
    m1, _, b1 = get_one(ch, queue)
    m2, _, b2 = get_one(ch, queue)
    assert [(b1, m1.redelivered), (b2, m2.redelivered)] == [(b"1", True), (b"2", True)]
    assert ch.basic_get(queue, auto_ack=True) == (None, None, None)
    ch.basic_ack(tags[2])


def test_reject_with_requeue_redelivers(ch, scratch):
    queue = scratch.queue(ch, "rejectrq")
    publish_all(ch, queue, [b"r"])
    method, _, _ = get_one(ch, queue, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=True)
    again, _, body = get_one(ch, queue)
    assert (body, again.redelivered) == (b"r", True)


def test_reject_without_requeue_drops(ch, scratch):
    queue = scratch.queue(ch, "rejectdrop")
    publish_all(ch, queue, [b"r", b"keep"])
    method, _, _ = get_one(ch, queue, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=False)
    expect_bodies(ch, queue, [b"keep"])


def test_ack_of_unknown_delivery_tag_closes_channel_with_406(conn, ch, scratch):
    queue = scratch.queue(ch, "badack")
    publish_all(ch, queue, [b"once"])
    method, _, _ = get_one(ch, queue, auto_ack=False)
    ch.basic_ack(method.delivery_tag)
    ch.basic_ack(method.delivery_tag)  # acked twice: the broker closes the channel
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, passive=True)  # the next synchronous call sees the close
    assert closed_with(err.value)[0] == 406  # PRECONDITION_FAILED
    assert conn.is_open


# A consumer process that takes one message without acking it, then dies without closing its
# connection (os._exit: the kernel closes the socket, as when a worker crashes).
DYING_CONSUMER = textwrap.dedent(
    """
    import os, sys, pika
    params = pika.URLParameters(sys.argv[1])
    params.connection_attempts = 1
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    for method, props, body in ch.consume(sys.argv[2], inactivity_timeout=10):
        if method is None:
            sys.exit("no message within 10s")
        sys.stdout.write(body.decode() + "\\n")
        sys.stdout.flush()
        os._exit(0)
    """
)


def test_redelivery_after_consumer_dies(broker, ch, scratch):
    queue = scratch.queue(ch, "dying")
    publish_all(ch, queue, [b"job-1", b"job-2"])
    worker = subprocess.run(
        [sys.executable, "-c", DYING_CONSUMER, broker.url, queue],
        capture_output=True, text=True, timeout=30,
    )
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip() == "job-1"

    # The broker notices the dead connection asynchronously (RabbitMQ can take a moment):
    # wait until both messages are ready again before looking.
    deadline = time.monotonic() + 10
    while ch.queue_declare(queue, passive=True).method.message_count < 2:
        assert time.monotonic() < deadline, "the dead consumer's message was never requeued"
        time.sleep(0.05)
    # The dead consumer's unacked message is back, first in line and marked redelivered.
    method, _, body = get_one(ch, queue)
    assert (body, method.redelivered) == (b"job-1", True)
    method, _, body = get_one(ch, queue)
    assert (body, method.redelivered) == (b"job-2", False)


def test_prefetch_limits_unacked_deliveries(conn, ch, scratch):
    queue = scratch.queue(ch, "prefetch")
    publish_all(ch, queue, [str(i).encode() for i in range(5)])
    ch.basic_qos(prefetch_count=2)
    deliveries = []
    ch.basic_consume(queue, lambda c, m, p, b: deliveries.append((m.delivery_tag, b)))

    wait_for(lambda: len(deliveries) == 2, "the first two deliveries", conn)
    conn.process_data_events(time_limit=0.5)
    assert [b for _, b in deliveries] == [b"0", b"1"]  # no third while two are unacked

    ch.basic_ack(deliveries[0][0])
    wait_for(lambda: len(deliveries) == 3, "a third delivery after one ack", conn)
    conn.process_data_events(time_limit=0.5)
    assert [b for _, b in deliveries] == [b"0", b"1", b"2"]

    ch.basic_ack(deliveries[2][0], multiple=True)  # settles 1 and 2: room for two more
    wait_for(lambda: len(deliveries) == 5, "the last two deliveries", conn)
    assert [b for _, b in deliveries] == [b"0", b"1", b"2", b"3", b"4"]
    ch.basic_ack(deliveries[4][0], multiple=True)
    assert ready_count(ch, queue) == 0


def test_prefetch_is_per_consumer_on_a_shared_queue(broker, ch, scratch):
    """Two workers with prefetch 1 on one queue: work is split, not hoarded by the first."""
    queue = scratch.queue(ch, "workers")
    publish_all(ch, queue, [str(i).encode() for i in range(4)])
    workers = [broker.connect() for _ in range(2)]
    try:
        got = {0: [], 1: []}
        channels = []
        for i, worker in enumerate(workers):
            wch = worker.channel()
            wch.basic_qos(prefetch_count=1)
            wch.basic_consume(queue, lambda c, m, p, b, i=i: got[i].append((m.delivery_tag, b)))
            channels.append(wch)

        def pump():
            for worker in workers:
                worker.process_data_events(time_limit=0.02)

        deadline_rounds = int(WAIT / 0.04)
        for _ in range(deadline_rounds):
            pump()
            if got[0] and got[1]:
                break
        assert len(got[0]) == 1 and len(got[1]) == 1, got
        for i in (0, 1):
            channels[i].basic_ack(got[i][0][0])
        for _ in range(deadline_rounds):
            pump()
            if len(got[0]) + len(got[1]) == 4:
                break
        bodies = sorted(b for i in (0, 1) for _, b in got[i])
        assert bodies == [b"0", b"1", b"2", b"3"]
        assert len(got[0]) == 2 and len(got[1]) == 2, got
    finally:
        for worker in workers:
            if worker.is_open:
                worker.close()
