"""Retries and limits the RabbitMQ way (the retries-and-limits issue): so far alternate exchanges,
consumer priorities and single active consumer.

Every scenario runs against Warren and RabbitMQ alike (the `broker` fixture).
"""

import pika
import pytest

from support import closed_with, expect_bodies, wait_for


def test_alternate_exchange_takes_what_the_exchange_cannot_route(conn, ch, scratch):
    ae = scratch.exchange(ch, "fanout", "ae")
    parked = scratch.queue(ch, "unrouted")
    ch.queue_bind(parked, ae, "")
    main = scratch.exchange(ch, "direct", "withae", arguments={"alternate-exchange": ae})
    routed = scratch.queue(ch, "routed")
    ch.queue_bind(routed, main, "known")

    returned = []
    ch.add_on_return_callback(lambda *args: returned.append(args))
    ch.basic_publish(main, "known", b"routed normally")
    # Mandatory, yet not returned: the alternate exchange routed it.
    ch.basic_publish(main, "unknown", b"to the alternate", mandatory=True)
    ch.basic_publish(main, "other", b"also alternate")

    expect_bodies(ch, routed, [b"routed normally"])
    expect_bodies(ch, parked, [b"to the alternate", b"also alternate"])
    conn.process_data_events(time_limit=0.3)
    assert returned == []


def test_alternate_exchange_that_routes_nowhere_returns_mandatory(conn, ch, scratch):
    ae = scratch.exchange(ch, "direct", "emptyae")  # no bindings at all
    main = scratch.exchange(ch, "direct", "deadend", arguments={"alternate-exchange": ae})
    missing = scratch.exchange(ch, "direct", "missingae",
                               arguments={"alternate-exchange": "interop.no-such-exchange"})
    returned = []
    ch.add_on_return_callback(lambda c, method, props, body: returned.append((method, body)))
    ch.basic_publish(main, "k", b"nowhere at all", mandatory=True)
    ch.basic_publish(missing, "k", b"alternate missing", mandatory=True)
    wait_for(lambda: len(returned) == 2, "two basic.returns", conn)
    assert [(m.reply_code, m.exchange, b) for m, b in returned] == [
        (312, main, b"nowhere at all"),
        (312, missing, b"alternate missing"),
    ]


def test_alternate_exchange_is_compared_on_redeclare(ch, scratch):
    ae = scratch.exchange(ch, "fanout", "ae1")
    main = scratch.exchange(ch, "direct", "redeclare", arguments={"alternate-exchange": ae})
    # The same argument again is equivalent.
    ch.exchange_declare(main, exchange_type="direct", arguments={"alternate-exchange": ae})
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.exchange_declare(main, exchange_type="direct")
    assert closed_with(err.value)[0] == 406
    assert "inequivalent arg 'alternate-exchange'" in closed_with(err.value)[1]


def _collect(conn, deliveries, count, what):
    wait_for(lambda: len(deliveries) >= count, what, conn)
    return deliveries


def test_consumer_priorities_prefer_the_highest_with_credit(conn, scratch):
    setup = conn.channel()
    queue = scratch.queue(setup, "prio")
    high_ch, low_ch = conn.channel(), conn.channel()
    high_ch.basic_qos(prefetch_count=2)
    low_ch.basic_qos(prefetch_count=100)
    high, low = [], []
    high_ch.basic_consume(queue, lambda c, m, p, b: high.append((m, b)),
                          arguments={"x-priority": 10})
    low_ch.basic_consume(queue, lambda c, m, p, b: low.append((m, b)))
    conn.process_data_events(time_limit=0.2)

    for i in range(5):
        setup.basic_publish("", queue, bytes([i]))
    _collect(conn, low, 3, "three deliveries to the low-priority consumer")
    conn.process_data_events(time_limit=0.2)
    assert [b for _, b in high] == [b"\x00", b"\x01"]
    assert [b for _, b in low] == [b"\x02", b"\x03", b"\x04"]

    for m, _ in high:
        high_ch.basic_ack(m.delivery_tag)
    setup.basic_publish("", queue, b"\x05")
    _collect(conn, high, 3, "the high-priority consumer preferred again")
    conn.process_data_events(time_limit=0.2)
    assert [b for _, b in high][2:] == [b"\x05"]
    assert len(low) == 3


def test_consumer_priority_must_be_an_integer(conn, ch, scratch):
    queue = scratch.queue(ch, "badprio")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.basic_consume(queue, lambda *a: None, arguments={"x-priority": "high"})
    code, text = closed_with(err.value)
    assert code == 406
    assert text.endswith(f"invalid arg 'x-priority' for queue '{queue}' in vhost '/': "
                         '"expected integer, got longstr"'), text


def test_single_active_consumer_hands_over_in_registration_order(conn, scratch):
    setup = conn.channel()
    queue = scratch.queue(setup, "sac", arguments={"x-single-active-consumer": True})
    first_ch, second_ch = conn.channel(), conn.channel()
    first, second = [], []
    first_ch.basic_consume(queue, lambda c, m, p, b: first.append((m, b)))
    second_ch.basic_consume(queue, lambda c, m, p, b: second.append((m, b)))
    conn.process_data_events(time_limit=0.2)

    for i in range(3):
        setup.basic_publish("", queue, bytes([i]))
    _collect(conn, first, 3, "three deliveries to the active consumer")
    conn.process_data_events(time_limit=0.2)
    assert second == []
    first_ch.basic_ack(first[0][0].delivery_tag)

    # The active consumer's channel closes: its unacked messages, then new ones, go to the next.
    first_ch.close()
    _collect(conn, second, 2, "the next consumer gets the requeued messages")
    setup.basic_publish("", queue, b"\x03")
    _collect(conn, second, 3, "and new ones")
    assert [(b, m.redelivered) for m, b in second] == [
        (b"\x01", True), (b"\x02", True), (b"\x03", False)]
