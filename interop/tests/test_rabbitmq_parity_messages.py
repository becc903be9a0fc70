"""Message-level parity with RabbitMQ 3.10.8 (the real-client-suites issue): sender-selected
distribution (CC/BCC headers) on publish and through dead-lettering, the delayed-message
exchange's released `x-delay`, and length limits after messages are put back in a queue.

Every scenario runs against Warren and RabbitMQ alike (the `broker` fixture), except the
delayed-message ones: RabbitMQ here lacks the plugin.
"""

import time

import pika
import pytest

from support import closed_with, wait_for


def _get(conn, ch, queue, what):
    got = []

    def poll():
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            got.append((method, props, body))
        return bool(got)

    wait_for(poll, what, conn)
    return got[0]


def _drain(ch, queue):
    out = []
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append((method, props, body))


def _bodies(ch, queue):
    return [body for _, _, body in _drain(ch, queue)]


def _count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


# ----- CC and BCC -----


def _fan(ch, scratch, keys):
    """A direct exchange with one queue bound per key; returns (exchange, {key: queue})."""
    x = scratch.exchange(ch, "direct", "cc")
    queues = {}
    for key in keys:
        queues[key] = scratch.queue(ch, key)
        ch.queue_bind(queues[key], x, key)
    return x, queues


def test_cc_and_bcc_keys_route_too_and_bcc_is_never_delivered(conn, ch, scratch):
    ch.confirm_delivery()
    x, queues = _fan(ch, scratch, ["k", "c1", "c2", "b1", "other"])
    ch.basic_publish(x, "k", b"order", pika.BasicProperties(
        headers={"CC": ["c1", "c2"], "BCC": ["b1"], "app": 1}))
    for key in ["k", "c1", "c2", "b1"]:
        method, props, body = _get(conn, ch, queues[key], f"the copy for {key}")
        assert (method.routing_key, body) == ("k", b"order")
        assert props.headers == {"CC": ["c1", "c2"], "app": 1}
        assert _count(ch, queues[key]) == 0
    assert _count(ch, queues["other"]) == 0


def test_a_queue_reached_by_several_keys_gets_one_copy(ch, scratch):
    ch.confirm_delivery()
    q = scratch.queue(ch, "once")
    ch.basic_publish("", q, b"once", pika.BasicProperties(
        headers={"CC": [q, q, 5], "BCC": [q]}))
    [(method, props, body)] = _drain(ch, q)
    assert body == b"once"
    assert props.headers == {"CC": [q, q, 5]}


def test_bcc_alone_leaves_an_empty_header_table(ch, scratch):
    ch.confirm_delivery()
    q = scratch.queue(ch, "bcc")
    ch.basic_publish("", q, b"x", pika.BasicProperties(headers={"BCC": ["nowhere"]},
                                                      content_type="text/plain"))
    [(_, props, _)] = _drain(ch, q)
    assert props.headers == {}
    assert props.content_type == "text/plain"


def test_a_returned_message_keeps_cc_and_loses_bcc(conn, ch, scratch):
    returned = []
    ch.add_on_return_callback(lambda _ch, method, props, body: returned.append((method, props)))
    ch.basic_publish("", "interop.nowhere", b"x", pika.BasicProperties(
        headers={"CC": ["interop.nowhere2"], "BCC": ["interop.nowhere3"]}), mandatory=True)
    wait_for(lambda: returned, "the basic.return", conn)
    method, props = returned[0]
    assert method.routing_key == "interop.nowhere"
    assert props.headers == {"CC": ["interop.nowhere2"]}


def test_the_alternate_exchange_gets_a_cc_message_only_if_no_key_matched(ch, scratch):
    ch.confirm_delivery()
    ae = scratch.exchange(ch, "fanout", "ae")
    unrouted = scratch.queue(ch, "unrouted")
    ch.queue_bind(unrouted, ae)
    x = scratch.exchange(ch, "direct", "main", arguments={"alternate-exchange": ae})
    main = scratch.queue(ch, "main")
    ch.queue_bind(main, x, "good")
    ch.basic_publish(x, "bad", b"cc good", pika.BasicProperties(headers={"CC": ["good"]}))
    ch.basic_publish(x, "bad", b"cc worse", pika.BasicProperties(headers={"CC": ["worse"]}))
    assert _bodies(ch, main) == [b"cc good"]
    assert _bodies(ch, unrouted) == [b"cc worse"]


def test_a_headers_exchange_does_not_see_bcc(ch, scratch):
    ch.confirm_delivery()
    x = scratch.exchange(ch, "headers", "hdr")
    q = scratch.queue(ch, "matched")
    ch.queue_bind(q, x, arguments={"x-match": "any", "BCC": ["z"], "CC": ["y"]})
    ch.basic_publish(x, "", b"bcc", pika.BasicProperties(headers={"BCC": ["z"]}))
    ch.basic_publish(x, "", b"cc", pika.BasicProperties(headers={"CC": ["y"]}))
    assert _bodies(ch, q) == [b"cc"]


@pytest.mark.parametrize("header,value,type_name", [
    ("CC", "c1", "longstr"),
    ("BCC", "c1", "longstr"),
    ("CC", 5, "signedint"),
    ("BCC", {"k": "v"}, "table"),
])
def test_cc_and_bcc_must_be_arrays(ch, scratch, header, value, type_name):
    q = scratch.queue(ch, "badcc")
    ch.basic_publish("", q, b"x", pika.BasicProperties(headers={header: value}))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(q, passive=True)
    assert closed_with(err.value) == (
        406, f'PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,'
             f'"{header}",{type_name}}}')


def test_a_missing_or_internal_exchange_is_reported_before_a_bad_cc(broker, ch, scratch):
    ch.basic_publish("interop.no-such-exchange", "k", b"x",
                     pika.BasicProperties(headers={"CC": "c1"}))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare("", exclusive=True)
    assert closed_with(err.value) == (
        404, f"NOT_FOUND - no exchange 'interop.no-such-exchange' in vhost '{broker.vhost}'")
    ch = ch.connection.channel()
    internal = scratch.exchange(ch, "direct", "internal", internal=True)
    ch.basic_publish(internal, "k", b"x", pika.BasicProperties(headers={"BCC": 5}))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare("", exclusive=True)
    assert closed_with(err.value) == (
        403, f"ACCESS_REFUSED - cannot publish to internal exchange '{internal}' "
             f"in vhost '{broker.vhost}'")


@pytest.mark.parametrize("dead_letter_key", [None, "dk"])
def test_dead_lettering_a_cc_message(conn, ch, scratch, dead_letter_key):
    """Without a dead-letter routing key the message goes on with its own key, CC and BCC
    keys and keeps CC; with one, only that key is used and CC is dropped. Either way x-death
    records the original key and the CC keys (not BCC)."""
    ch.confirm_delivery()
    x, _ = _fan(ch, scratch, [])
    dlx, dead = _fan(ch, scratch, ["k", "c1", "c2", "b1", "dk"])
    args = {"x-dead-letter-exchange": dlx}
    if dead_letter_key:
        args["x-dead-letter-routing-key"] = dead_letter_key
    work = scratch.queue(ch, "work", arguments=args)
    for key in ["k", "c1"]:
        ch.queue_bind(work, x, key)
    ch.basic_publish(x, "k", b"job", pika.BasicProperties(
        headers={"CC": ["c1", "c2"], "BCC": ["b1"]}))
    ch2 = conn.channel()
    method, props, _ = ch2.basic_get(work)
    assert props.headers == {"CC": ["c1", "c2"]}
    assert ch2.basic_get(work, auto_ack=True)[0] is None  # one copy, though two keys match
    ch2.basic_reject(method.delivery_tag, requeue=False)

    reached = ["dk"] if dead_letter_key else ["k", "c1", "c2", "b1"]
    for key in reached:
        method, props, body = _get(conn, ch, dead[key], f"the dead letter via {key}")
        assert (method.routing_key, body) == (dead_letter_key or "k", b"job")
        headers = dict(props.headers)
        [death] = headers.pop("x-death")
        assert (death["reason"], death["queue"]) == ("rejected", work)
        assert death["routing-keys"] == ["k", "c1", "c2"]
        expected_cc = {} if dead_letter_key else {"CC": ["c1", "c2"]}
        assert {k: v for k, v in headers.items() if k == "CC"} == expected_cc
    for key in set(dead) - set(reached):
        assert _count(ch, dead[key]) == 0


def test_a_dead_lettered_message_has_its_headers_sorted_by_key(conn, ch, scratch):
    ch.confirm_delivery()
    dead = scratch.queue(ch, "dead")
    work = scratch.queue(ch, "work", arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead})
    ch.basic_publish("", work, b"m", pika.BasicProperties(headers={"zz": 1, "B": 2, "aa": 3}))
    method, props, _ = ch.basic_get(work)
    assert list(props.headers) == ["zz", "B", "aa"]  # as published
    ch.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = _get(conn, ch, dead, "the dead letter")
    assert list(props.headers) == ["B", "aa", "x-death", "x-first-death-exchange",
                                   "x-first-death-queue", "x-first-death-reason", "zz"]


# ----- delayed-message exchange -----


def _needs_the_plugin(broker):
    if broker.name != "warren":
        pytest.skip("RabbitMQ needs the rabbitmq_delayed_message_exchange plugin, "
                    "not installed on the reference broker")


def _delayed(ch, scratch, role="later"):
    return scratch.exchange(ch, "x-delayed-message", role,
                            arguments={"x-delayed-type": "direct"})


def test_a_delayed_message_arrives_with_x_delay_negated(broker, conn, ch, scratch):
    _needs_the_plugin(broker)
    later = _delayed(ch, scratch)
    q = scratch.queue(ch, "reminders")
    ch.queue_bind(q, later, "remind")
    ch.basic_publish(later, "remind", b"later", pika.BasicProperties(
        headers={"x-delay": 300, "app": "a"}, message_id="m-1", delivery_mode=2))
    assert _count(ch, q) == 0
    _, props, body = _get(conn, ch, q, "the delayed message")
    assert body == b"later"
    assert props.headers == {"x-delay": -300, "app": "a"}
    assert list(props.headers) == ["app", "x-delay"]  # sorted, as the plugin leaves them
    assert (props.message_id, props.delivery_mode) == ("m-1", 2)


@pytest.mark.parametrize("delay", [0, -300])
def test_a_message_with_no_positive_x_delay_goes_at_once_unchanged(broker, ch, scratch, delay):
    _needs_the_plugin(broker)
    later = _delayed(ch, scratch)
    q = scratch.queue(ch, "now")
    ch.queue_bind(q, later, "k")
    ch.confirm_delivery()
    ch.basic_publish(later, "k", b"now", pika.BasicProperties(headers={"x-delay": delay}))
    [(_, props, body)] = _drain(ch, q)
    assert (body, props.headers) == (b"now", {"x-delay": delay})


def test_a_delayed_message_goes_to_its_cc_and_bcc_keys_too(broker, conn, ch, scratch):
    _needs_the_plugin(broker)
    later = _delayed(ch, scratch)
    queues = {}
    for key in ["k", "c1", "b1"]:
        queues[key] = scratch.queue(ch, key)
        ch.queue_bind(queues[key], later, key)
    ch.basic_publish(later, "k", b"later", pika.BasicProperties(
        headers={"x-delay": 200, "CC": ["c1"], "BCC": ["b1"]}))
    for key in ["k", "c1", "b1"]:
        method, props, body = _get(conn, ch, queues[key], f"the delayed copy for {key}")
        assert (method.routing_key, body) == ("k", b"later")
        assert props.headers == {"x-delay": -200, "CC": ["c1"]}


def test_a_message_through_two_delayed_exchanges_is_delayed_once(broker, conn, ch, scratch):
    _needs_the_plugin(broker)
    first = _delayed(ch, scratch, "first")
    second = _delayed(ch, scratch, "second")
    ch.exchange_bind(second, first, "k")
    q = scratch.queue(ch, "twice")
    ch.queue_bind(q, second, "k")
    started = time.monotonic()
    ch.basic_publish(first, "k", b"once", pika.BasicProperties(headers={"x-delay": 400}))
    _, props, body = _get(conn, ch, q, "the message released by the first exchange")
    elapsed = time.monotonic() - started
    assert body == b"once"
    assert props.headers == {"x-delay": -400}
    # Held once (400 ms), not again by the second exchange (which would make it 800).
    assert 0.35 <= elapsed < 0.8, elapsed
    time.sleep(0.5)
    assert _count(ch, q) == 0


# ----- length limits after a requeue -----

PUT_BACK = ["nack", "reject", "recover", "channel_close", "connection_close", "cancel"]
OVERFLOW = ["drop-head", "reject-publish", "reject-publish-dlx"]
LIMITS = [("x-max-length", 2), ("x-max-length-bytes", 4)]  # bodies are 2 bytes

# (ready after the put-back as (body, redelivered), dead-lettered bodies, nacked publishes)
AFTER_PUT_BACK = {
    # The requeued m0 and m1 go back to the head; drop-head trims the queue from there.
    "drop-head": ([(b"m3", False), (b"m4", False)], [b"m2", b"m0", b"m1"], []),
    # reject-publish(-dlx) only refuses publishes: the queue stays over its limit.
    "reject-publish": (
        [(b"m0", True), (b"m1", True), (b"m2", False), (b"m3", False)], [], [b"m4"]),
    "reject-publish-dlx": (
        [(b"m0", True), (b"m1", True), (b"m2", False), (b"m3", False)], [b"m4"], [b"m4"]),
}


def _take_two(consumer_conn, consumer_ch, queue, by_consumer):
    """m0 and m1 delivered, unacked: by basic.get, or to a consumer (for the cancel case)."""
    if not by_consumer:
        return [consumer_ch.basic_get(queue)[0].delivery_tag for _ in range(2)], None
    consumer_ch.basic_qos(prefetch_count=2)
    tags = []
    tag = consumer_ch.basic_consume(queue, lambda _c, m, _p, _b: tags.append(m.delivery_tag))
    wait_for(lambda: len(tags) == 2, "two deliveries", consumer_conn)
    return tags, tag


def _put_back(path, consumer_conn, consumer_ch, tags, consumer_tag):
    if path == "nack":
        consumer_ch.basic_nack(tags[-1], multiple=True, requeue=True)
    elif path == "reject":
        for tag in tags:
            consumer_ch.basic_reject(tag, requeue=True)
    elif path == "recover":
        consumer_ch.basic_recover(requeue=True)
    elif path == "channel_close":
        consumer_ch.close()
    elif path == "connection_close":
        consumer_conn.close()
    elif path == "cancel":
        consumer_ch.basic_cancel(consumer_tag)
    # A synchronous round trip on the consumer's connection, when it is still open, so the
    # put-back has been handled before the publisher's side looks.
    if consumer_conn.is_open:
        consumer_conn.channel().close()


@pytest.mark.parametrize("limit,limit_value", LIMITS, ids=["length", "bytes"])
@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("path", PUT_BACK)
def test_length_limit_after_messages_are_put_back(broker, conn, ch, scratch,
                                                  path, overflow, limit, limit_value):
    _put_back_scenario(broker, conn, ch, scratch, path, overflow, limit, limit_value)


@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("path", ["nack", "connection_close"])
def test_length_limit_after_persistent_messages_are_put_back(broker, conn, ch, scratch,
                                                             path, overflow):
    _put_back_scenario(broker, conn, ch, scratch, path, overflow, "x-max-length", 2,
                       persistent=True)


def _put_back_scenario(broker, conn, ch, scratch, path, overflow, limit, limit_value,
                       persistent=False):
    ch.confirm_delivery()
    dead = scratch.queue(ch, "dead", durable=persistent)
    q = scratch.queue(ch, "bounded", durable=persistent, arguments={
        limit: limit_value, "x-overflow": overflow,
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead})
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1)
    for body in [b"m0", b"m1"]:
        ch.basic_publish("", q, body, props)
    consumer_conn = broker.connect()
    try:
        consumer_ch = consumer_conn.channel()
        tags, consumer_tag = _take_two(consumer_conn, consumer_ch, q, path == "cancel")
        nacked = []
        for body in [b"m2", b"m3", b"m4"]:
            try:
                ch.basic_publish("", q, body, props)
            except pika.exceptions.NackError:
                nacked.append(body)
        _put_back(path, consumer_conn, consumer_ch, tags, consumer_tag)
        ready, dead_bodies, expected_nacks = AFTER_PUT_BACK[overflow]
        assert nacked == expected_nacks
        if path == "cancel":
            # Cancelling a consumer puts nothing back: m0 and m1 stay unacked on its channel
            # until that closes.
            before = [b for b in dead_bodies if b not in (b"m0", b"m1")]
            wait_for(lambda: _count(ch, dead) == len(before), "dead letters", conn)
            assert _count(ch, q) == 2
            consumer_ch.close()
        wait_for(lambda: _count(ch, dead) == len(dead_bodies), "dead letters", conn)
        # RabbitMQ requeues a closed channel's messages once the queue sees that channel go,
        # after close-ok; for reject-publish nothing above waits for that.
        wait_for(lambda: _count(ch, q) == len(ready), "the put-back", conn)
        got = [(body, method.redelivered) for method, _, body in _drain(ch, q)]
        assert got == ready
        letters = _drain(ch, dead)
        assert [body for _, _, body in letters] == dead_bodies
        for _, props, _ in letters:
            [death] = props.headers["x-death"]
            assert (death["reason"], death["queue"]) == ("maxlen", q)
    finally:
        if consumer_conn.is_open:
            consumer_conn.close()
