"""Queues: server-named, exclusive, auto-delete, get, purge, delete, and declare errors."""

import pika
import pika.exceptions
import pytest

from support import closed_with, get_one, ready_count, unique, wait_for


def test_server_named_queues(ch, scratch):
    first = scratch.track_queue(ch.queue_declare("", exclusive=True).method.queue)
    second = scratch.track_queue(ch.queue_declare("", exclusive=True).method.queue)
    assert first.startswith("amq.gen-") and second.startswith("amq.gen-")
    assert first != second
    ch.basic_publish("", first, b"to the server-named queue")
    _, _, body = get_one(ch, first)
    assert body == b"to the server-named queue"


def test_exclusive_queue_is_locked_to_its_connection_and_dies_with_it(broker, scratch):
    owner = broker.connect()
    other = broker.connect()
    try:
        queue = scratch.track_queue(unique("exclusive"))
        owner.channel().queue_declare(queue, exclusive=True)

        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
            other.channel().queue_declare(queue, passive=True)
        assert closed_with(err.value)[0] == 405  # RESOURCE_LOCKED
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
            other.channel().basic_consume(queue, lambda *a: None)
        assert closed_with(err.value)[0] == 405

        owner.close()
        # Closing the owner deletes the queue: a passive declare now finds nothing.
        def gone():
            try:
                other.channel().queue_declare(queue, passive=True)
                return False
            except pika.exceptions.ChannelClosedByBroker as e:
                return e.reply_code == 404

        wait_for(gone, "the exclusive queue to be deleted with its connection")
        assert other.is_open
    finally:
        for c in (owner, other):
            if c.is_open:
                c.close()


def test_exclusive_consumer_locks_out_other_consumers(broker, conn, ch, scratch):
    queue = scratch.queue(ch, "exclconsumer")
    ch.basic_consume(queue, lambda *a: None, exclusive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        conn.channel().basic_consume(queue, lambda *a: None)
    assert closed_with(err.value)[0] == 403  # ACCESS_REFUSED
    assert conn.is_open and ch.is_open


def test_auto_delete_queue_goes_when_last_consumer_cancels(conn, ch, scratch):
    queue = scratch.queue(ch, "autodel", auto_delete=True)
    tag1 = ch.basic_consume(queue, lambda *a: None)
    tag2 = ch.basic_consume(queue, lambda *a: None)
    ch.basic_cancel(tag1)
    assert ready_count(ch, queue) == 0  # still there with one consumer left
    ch.basic_cancel(tag2)

    def gone():
        probe = conn.channel()
        try:
            probe.queue_declare(queue, passive=True)
            probe.close()
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            return e.reply_code == 404

    wait_for(gone, "the auto-delete queue to go after its last consumer cancelled")


def test_basic_get_on_empty_queue_and_message_count(ch, scratch):
    queue = scratch.queue(ch, "get")
    assert ch.basic_get(queue, auto_ack=True) == (None, None, None)
    for body in (b"a", b"b", b"c"):
        ch.basic_publish("", queue, body)
    method, _, body = get_one(ch, queue)
    assert body == b"a"
    assert method.message_count == 2  # messages left after this one
    method, _, body = get_one(ch, queue)
    assert (body, method.message_count) == (b"b", 1)
    method, _, body = get_one(ch, queue)
    assert (body, method.message_count) == (b"c", 0)
    assert ch.basic_get(queue, auto_ack=True) == (None, None, None)


def test_declare_ok_counts_purge_and_delete(ch, scratch):
    queue = scratch.queue(ch, "counts")
    for i in range(4):
        ch.basic_publish("", queue, str(i).encode())
    get_one(ch, queue, auto_ack=False)  # one unacked, three ready
    wait_for(lambda: ready_count(ch, queue) == 3, "declare-ok to count 3 ready messages")
    declare_ok = ch.queue_declare(queue, passive=True).method
    assert (declare_ok.queue, declare_ok.consumer_count) == (queue, 0)
    assert ch.queue_purge(queue).method.message_count == 3
    assert ready_count(ch, queue) == 0
    ch.basic_publish("", queue, b"last")
    get_one(ch, queue, auto_ack=False)
    ch.basic_recover(requeue=True)  # the two unacked come back to the queue
    wait_for(lambda: ready_count(ch, queue) == 2, "recover to requeue both unacked messages")
    assert ch.queue_delete(queue).method.message_count == 2


def test_passive_declare_of_missing_queue_closes_channel_with_404(broker, conn):
    missing = unique("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        conn.channel().queue_declare(missing, passive=True)
    # Some clients match on reply texts, so the text is part of the contract too.
    assert closed_with(err.value) == (404, f"NOT_FOUND - no queue '{missing}' in vhost '{broker.vhost}'")
    assert conn.is_open
    assert conn.channel().is_open  # the connection is still usable


def test_redeclare_with_different_durability_is_406(broker, conn, scratch):
    ch = conn.channel()
    queue = scratch.queue(ch, "equiv", durable=True)
    ch.queue_declare(queue, durable=True)  # the same declaration is fine
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, durable=False)
    assert closed_with(err.value) == (
        406,
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{queue}' in vhost "
        f"'{broker.vhost}': received 'false' but current is 'true'",
    )
    assert conn.is_open


def test_exchange_redeclare_with_different_type_is_406(conn, scratch):
    ch = conn.channel()
    exchange = scratch.exchange(ch, "direct", "equiv")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.exchange_declare(exchange, exchange_type="fanout")
    assert closed_with(err.value)[0] == 406
    assert conn.is_open


def test_durable_queue_and_persistent_message(ch, scratch):
    queue = scratch.queue(ch, "durable", durable=True)
    ch.basic_publish("", queue, b"keep", pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    _, props, body = get_one(ch, queue)
    assert (body, props.delivery_mode) == (b"keep", 2)
