"""Publishing guarantees: mandatory returns, publisher confirms, transactions."""

import pika
import pika.exceptions
import pytest

from support import closed_with, expect_bodies, get_one, ready_count, unique, wait_for


def test_mandatory_unroutable_message_is_returned(conn, ch, scratch):
    exchange = scratch.exchange(ch, "direct", "mandatory")
    returned = []
    ch.add_on_return_callback(lambda c, method, props, body: returned.append((method, props, body)))
    props = pika.BasicProperties(message_id="lost-1", headers={"why": "no binding"})
    ch.basic_publish(exchange, "nowhere", b"unroutable", props, mandatory=True)

    wait_for(lambda: returned, "basic.return", conn)
    method, got, body = returned[0]
    assert (method.reply_code, method.reply_text) == (312, "NO_ROUTE")
    assert (method.exchange, method.routing_key) == (exchange, "nowhere")
    assert body == b"unroutable"
    assert (got.message_id, got.headers) == ("lost-1", {"why": "no binding"})


def test_mandatory_routable_and_non_mandatory_unroutable_are_not_returned(conn, ch, scratch):
    exchange = scratch.exchange(ch, "direct", "notreturned")
    queue = scratch.queue(ch, "routable")
    ch.queue_bind(queue, exchange, "here")
    returned = []
    ch.add_on_return_callback(lambda *args: returned.append(args))
    ch.basic_publish(exchange, "here", b"routed", mandatory=True)
    ch.basic_publish(exchange, "nowhere", b"dropped")  # not mandatory: silently dropped
    ch.basic_publish(exchange, "here", b"end", mandatory=True)
    expect_bodies(ch, queue, [b"routed", b"end"])
    conn.process_data_events(time_limit=0.3)
    assert returned == []


def test_mandatory_return_with_confirms(ch, scratch):
    exchange = scratch.exchange(ch, "fanout", "mandconfirm")
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError) as err:
        ch.basic_publish(exchange, "k", b"nobody listens", mandatory=True)
    [message] = err.value.messages
    assert message.body == b"nobody listens"
    assert message.method.reply_code == 312
    # An unroutable message is still confirmed with an ack (pika raises NackError on nack).
    queue = scratch.queue(ch, "afterwards")
    ch.queue_bind(queue, exchange)
    ch.basic_publish(exchange, "k", b"now routed", mandatory=True)
    expect_bodies(ch, queue, [b"now routed"])


def test_publisher_confirms(ch, scratch):
    queue = scratch.queue(ch, "confirms", durable=True)
    ch.confirm_delivery()
    for i in range(50):
        # BlockingChannel waits for each basic.ack; a basic.nack would raise NackError.
        ch.basic_publish("", queue, str(i).encode(),
                         pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    # Confirmed means enqueued: all 50 are there now, no polling needed.
    assert ready_count(ch, queue) == 50


def test_publish_to_missing_exchange_closes_channel_with_404(conn, scratch):
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.basic_publish(unique("no-such-exchange"), "k", b"x")
    assert closed_with(err.value)[0] == 404
    assert conn.is_open


def test_tx_commit_and_rollback(conn, ch, scratch):
    queue = scratch.queue(ch, "tx")
    observer = conn.channel()
    ch.tx_select()

    ch.basic_publish("", queue, b"one")
    ch.basic_publish("", queue, b"two")
    ch.queue_declare(queue, passive=True)  # a round trip: the publishes have reached the broker
    assert ready_count(observer, queue) == 0  # not visible before commit
    ch.tx_commit()
    assert ready_count(observer, queue) == 2

    ch.basic_publish("", queue, b"rolled back")
    ch.tx_rollback()
    ch.basic_publish("", queue, b"three")
    ch.tx_commit()
    expect_bodies(observer, queue, [b"one", b"two", b"three"])


def test_tx_acks_take_effect_on_commit(conn, ch, scratch):
    queue = scratch.queue(ch, "txack")
    ch.basic_publish("", queue, b"work")
    ch.tx_select()
    method, _, body = get_one(ch, queue, auto_ack=False)  # published outside the transaction
    assert body == b"work"
    ch.basic_ack(method.delivery_tag)
    ch.tx_commit()
    ch.close()
    # The ack was committed, so closing the channel requeues nothing.
    assert ready_count(conn.channel(), queue) == 0
