"""Retries and limits the RabbitMQ way (the retries-and-limits issue): so far alternate exchanges,
consumer priorities and single active consumer.

Every scenario runs against Warren and RabbitMQ alike (the `broker` fixture).
"""

import pika
import pytest

from support import closed_with, expect_bodies, ready_count, wait_for


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
    assert closed_with(err.value) == (406, (
        f"PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '{main}' in "
        f"vhost '/': received none but current is the value '{ae}' of type 'longstr'"))


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
    # Published on the acking channel: an ack and a publish from two channels reach the queue
    # in no set order in RabbitMQ (one process per channel).
    high_ch.basic_publish("", queue, b"\x05")
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


def _get_eventually(conn, ch, queue, what):
    """basic.get until a message arrives: dead-lettering is asynchronous to the client."""
    got = []

    def poll():
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            got.append((method, props, body))
        return got

    wait_for(poll, what, conn)
    return got[0]


def test_rejected_message_is_dead_lettered_with_x_death(conn, ch, scratch):
    dlx = scratch.exchange(ch, "fanout", "dlx")
    dead = scratch.queue(ch, "dead")
    ch.queue_bind(dead, dlx, "")
    work = scratch.queue(ch, "work", arguments={"x-dead-letter-exchange": dlx})
    ch.basic_publish("", work, b"charge card",
                     pika.BasicProperties(message_id="order-1", expiration="60000"))
    method, _, _ = ch.basic_get(work)
    ch.basic_reject(method.delivery_tag, requeue=False)

    method, props, body = _get_eventually(conn, ch, dead, "the dead-lettered message")
    assert body == b"charge card"
    assert (method.exchange, method.routing_key) == (dlx, work)
    assert props.message_id == "order-1"
    assert props.expiration is None
    headers = props.headers
    assert headers["x-first-death-reason"] == "rejected"
    assert headers["x-first-death-queue"] == work
    assert headers["x-first-death-exchange"] == ""
    [death] = headers["x-death"]
    assert death["count"] == 1
    assert death["reason"] == "rejected"
    assert death["queue"] == work
    assert death["exchange"] == ""
    assert death["routing-keys"] == [work]
    assert death["original-expiration"] == "60000"
    assert "time" in death


def test_queue_ttl_expires_messages_into_the_dead_letter_queue(conn, ch, scratch):
    expired = scratch.queue(ch, "expired")
    short = scratch.queue(ch, "short", arguments={
        "x-message-ttl": 100, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": expired})
    for i in range(3):
        ch.basic_publish("", short, bytes([i]))
    bodies = []
    for _ in range(3):
        method, props, body = _get_eventually(conn, ch, expired, "an expired message")
        [death] = props.headers["x-death"]
        assert (death["reason"], death["queue"]) == ("expired", short)
        assert method.routing_key == expired
        bodies.append(body)
    assert bodies == [b"\x00", b"\x01", b"\x02"]
    assert ch.basic_get(short)[0] is None


def test_per_message_expiration_drops_at_the_head(conn, ch, scratch):
    queue = scratch.queue(ch, "plain")
    ch.basic_publish("", queue, b"soon gone", pika.BasicProperties(expiration="30"))
    ch.basic_publish("", queue, b"stays")
    conn.sleep(0.15)
    method, _, body = ch.basic_get(queue, auto_ack=True)
    assert body == b"stays"
    assert ch.basic_get(queue)[0] is None


@pytest.mark.parametrize("uncover", ["basic.get", "drop-head"])
def test_an_expiring_message_uncovered_at_the_head_expires_on_its_own(conn, ch, scratch, uncover):
    # Behind a message without TTL it cannot expire; once basic.get or x-max-length takes
    # that one away it must expire on time with nothing else happening to the queue.
    expired = scratch.queue(ch, "expired")
    queue = scratch.queue(ch, "uncovered", arguments={
        "x-max-length": 2, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": expired})
    ch.basic_publish("", queue, b"first")
    ch.basic_publish("", queue, b"expiring", pika.BasicProperties(expiration="50"))
    if uncover == "basic.get":
        assert ch.basic_get(queue, auto_ack=True)[2] == b"first"
    else:
        ch.basic_publish("", queue, b"third")
        _, props, body = _get_eventually(conn, ch, expired, "the dropped head")
        assert (body, props.headers["x-death"][0]["reason"]) == (b"first", "maxlen")
    method, props, body = _get_eventually(conn, ch, expired, "the uncovered expiring message")
    assert body == b"expiring"
    assert [d["reason"] for d in props.headers["x-death"]] == ["expired"]
    left = 0 if uncover == "basic.get" else 1
    assert ch.queue_declare(queue, passive=True).method.message_count == left


@pytest.mark.parametrize("value,why", [
    ("soon", "no_integer"),
    ("-5", "{value_negative,-5}"),
    ("10s", '{leftover_string,"s"}'),
])
def test_invalid_expiration_is_refused(conn, ch, scratch, value, why):
    queue = scratch.queue(ch, "badexp")
    ch.basic_publish("", queue, b"x", pika.BasicProperties(expiration=value))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, passive=True)
    assert closed_with(err.value) == (
        406, f"PRECONDITION_FAILED - invalid expiration '{value}': {why}")


def test_retry_pipeline_parks_a_message_after_three_attempts(conn, ch, scratch):
    """work --nack--> retry (TTL) --expire--> work, parked once x-death says 3 tries."""
    work = scratch.queue(ch, "work")
    retry = scratch.queue(ch, "retry", arguments={
        "x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": work})
    # Redeclaring with other arguments would be a 406: recreate work with its dead-letter route.
    ch.queue_delete(work)
    ch.queue_declare(work, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": retry})
    parked = scratch.queue(ch, "parked")
    ch.basic_publish("", work, b"payment 42")

    attempts = []

    def tries(props):
        for death in (props.headers or {}).get("x-death", []):
            if death["queue"] == work and death["reason"] == "rejected":
                return death["count"]
        return 0

    def on_message(c, method, props, body):
        attempts.append(tries(props))
        if tries(props) >= 3:
            c.basic_publish("", parked, body, props)
            c.basic_ack(method.delivery_tag)
        else:
            c.basic_nack(method.delivery_tag, requeue=False)

    worker = conn.channel()
    worker.basic_qos(prefetch_count=1)
    worker.basic_consume(work, on_message)
    method, props, body = _get_eventually(conn, ch, parked, "the parked message")
    assert attempts == [0, 1, 2, 3]
    counts = {(d["queue"], d["reason"]): d["count"] for d in props.headers["x-death"]}
    assert counts == {(work, "rejected"): 3, (retry, "expired"): 3}
    assert props.headers["x-first-death-queue"] == work
    assert body == b"payment 42"


def test_a_dead_letter_cycle_without_rejections_is_dropped(conn, ch, scratch):
    name = scratch.queue(ch, "loop-probe")  # reserve a unique name, then recreate with the loop
    ch.queue_delete(name)
    ch.queue_declare(name, arguments={
        "x-message-ttl": 30, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name})
    ch.basic_publish("", name, b"round and round")
    wait_for(lambda: ready_count(ch, name) == 0, "the first expiry", conn)
    # Had it been dead-lettered back, it would be there again within a few expiries.
    conn.sleep(0.3)
    assert ch.basic_get(name)[0] is None


def _drain(ch, queue):
    bodies = []
    while True:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def test_max_length_drops_from_the_head_into_the_dead_letter_queue(conn, ch, scratch):
    overflowed = scratch.queue(ch, "overflowed")
    bounded = scratch.queue(ch, "bounded", arguments={
        "x-max-length": 2, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": overflowed})
    for i in range(1, 6):
        ch.basic_publish("", bounded, bytes([i]))
    wait_for(lambda: ch.queue_declare(overflowed, passive=True).method.message_count == 3,
             "three dead-lettered messages", conn)
    assert _drain(ch, bounded) == [b"\x04", b"\x05"]
    dropped = []
    for _ in range(3):
        _, props, body = _get_eventually(conn, ch, overflowed, "a dropped message")
        [death] = props.headers["x-death"]
        assert (death["reason"], death["queue"]) == ("maxlen", bounded)
        dropped.append(body)
    assert dropped == [b"\x01", b"\x02", b"\x03"]

    byte_bounded = scratch.queue(ch, "bytes", arguments={"x-max-length-bytes": 10})
    for i in range(1, 5):
        ch.basic_publish("", byte_bounded, bytes([i]) * 4)
    assert _drain(ch, byte_bounded) == [b"\x03" * 4, b"\x04" * 4]


def test_reject_publish_nacks_and_reject_publish_dlx_dead_letters_too(conn, ch, scratch):
    ch.confirm_delivery()
    full = scratch.queue(ch, "full", arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    results = []
    for i in range(1, 5):
        try:
            ch.basic_publish("", full, bytes([i]))
            results.append(True)
        except pika.exceptions.NackError:
            results.append(False)
    assert results == [True, True, False, False]
    assert _drain(ch, full) == [b"\x01", b"\x02"]
    ch.basic_publish("", full, b"\x05")  # room again: acked (no NackError)

    refused = scratch.queue(ch, "refused")
    full_dlx = scratch.queue(ch, "fulldlx", arguments={
        "x-max-length": 1, "x-overflow": "reject-publish-dlx",
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": refused})
    ch.basic_publish("", full_dlx, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", full_dlx, b"refused")
    _, props, body = _get_eventually(conn, ch, refused, "the refused message")
    assert body == b"refused"
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    assert _drain(ch, full_dlx) == [b"kept"]


def test_a_persistent_message_refused_by_one_durable_queue_is_dead_lettered_into_another(
        conn, ch, scratch):
    # The dead letter goes to a durable queue that the same persistent publish reached (and,
    # declared first, is locked first in Warren): it must be routed once that queue is free.
    fan = scratch.exchange(ch, "fanout", "fan", durable=True)
    kept = scratch.queue(ch, "kept", durable=True)
    full = scratch.queue(ch, "full", durable=True, arguments={
        "x-max-length": 0, "x-overflow": "reject-publish-dlx",
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": kept})
    ch.queue_bind(kept, fan)
    ch.queue_bind(full, fan)
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish(fan, "", b"m", pika.BasicProperties(delivery_mode=2))
    first = _get_eventually(conn, ch, kept, "a message in the other queue")
    second = _get_eventually(conn, ch, kept, "the dead letter")
    reasons = sorted([d["reason"] for d in (props.headers or {}).get("x-death", [])]
                     for _, props, _ in (first, second))
    assert reasons == [[], ["maxlen"]]
    assert [first[2], second[2]] == [b"m", b"m"]
    assert _drain(ch, full) == []


def test_x_expires_deletes_a_queue_once_unused(conn, ch, scratch):
    idle = scratch.queue(ch, "idle", arguments={"x-expires": 150})
    ch.basic_publish("", idle, b"publishing is not using")
    consumed = scratch.queue(ch, "consumed", arguments={"x-expires": 150})
    cch = conn.channel()
    cch.basic_consume(consumed, lambda *a: None)
    conn.sleep(0.7)

    def exists(name):
        probe = conn.channel()
        try:
            probe.queue_declare(name, passive=True)
            probe.close()
            return True
        except pika.exceptions.ChannelClosedByBroker as err:
            assert closed_with(err)[0] == 404
            return False

    assert not exists(idle)
    assert exists(consumed)
    # Once its last consumer is gone, the clock starts. (Not polled: a passive declare is a
    # use and restarts it.)
    cch.close()
    conn.sleep(0.7)
    assert not exists(consumed)


def test_direct_reply_to_answers_rpc_without_a_reply_queue(conn, ch, scratch):
    rpc = scratch.queue(ch, "rpc")
    client = conn.channel()
    replies = []
    client.basic_consume("amq.rabbitmq.reply-to",
                         lambda c, m, p, b: replies.append((m, p, b)), auto_ack=True)
    client.basic_publish("", rpc, b"2+2", pika.BasicProperties(
        reply_to="amq.rabbitmq.reply-to", correlation_id="req-1"))

    _, props, body = _get_eventually(conn, ch, rpc, "the request")
    assert body == b"2+2"
    address = props.reply_to
    assert address.startswith("amq.rabbitmq.reply-to.") and address != "amq.rabbitmq.reply-to"
    ch.basic_publish("", address, b"4", pika.BasicProperties(correlation_id="req-1"))
    wait_for(lambda: replies, "the reply", conn)
    method, rprops, rbody = replies[0]
    assert rbody == b"4"
    assert rprops.correlation_id == "req-1"
    assert method.routing_key == address


def test_direct_reply_to_mandatory_reply_is_returned_even_when_delivered(conn, ch, scratch):
    # RabbitMQ routes a reply address to no queue, so mandatory means returned (NO_ROUTE),
    # whether or not the address is live; the live one is delivered as well.
    rpc = scratch.queue(ch, "rpcm")
    client = conn.channel()
    replies = []
    client.basic_consume("amq.rabbitmq.reply-to",
                         lambda c, m, p, b: replies.append(b), auto_ack=True)
    client.basic_publish("", rpc, b"q", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    _, props, _ = _get_eventually(conn, ch, rpc, "the request")
    ch.confirm_delivery()
    for address in (props.reply_to, props.reply_to + "0", "amq.rabbitmq.reply-to.zzz"):
        with pytest.raises(pika.exceptions.UnroutableError) as err:
            ch.basic_publish("", address, b"4", mandatory=True)
        returned = err.value.messages[0].method
        assert (returned.reply_code, returned.reply_text) == (312, "NO_ROUTE")
    wait_for(lambda: replies, "the reply", conn)
    conn.sleep(0.2)
    assert replies == [b"4"]


def test_direct_reply_to_consumer_must_not_ack(ch):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)
    assert closed_with(err.value) == (
        406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")


def test_direct_reply_to_needs_a_reply_consumer(ch, scratch):
    queue = scratch.queue(ch, "norc")
    ch.basic_publish("", queue, b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(queue, passive=True)
    assert closed_with(err.value) == (
        406, "PRECONDITION_FAILED - fast reply consumer does not exist")


def test_priority_queue_delivers_highest_priority_first(ch, scratch):
    queue = scratch.queue(ch, "prio", arguments={"x-max-priority": 10})
    for body, priority in [(1, 1), (2, 5), (3, None), (4, 10), (5, 5), (6, 20)]:
        ch.basic_publish("", queue, bytes([body]), pika.BasicProperties(priority=priority))
    # 20 counts as the maximum (10); no priority counts as 0; publish order within a priority.
    assert _drain(ch, queue) == [bytes([b]) for b in (4, 6, 2, 5, 1, 3)]

    fifo = scratch.queue(ch, "fifo")
    ch.basic_publish("", fifo, b"\x01", pika.BasicProperties(priority=1))
    ch.basic_publish("", fifo, b"\x02", pika.BasicProperties(priority=9))
    assert _drain(ch, fifo) == [b"\x01", b"\x02"]


def test_priority_queue_requeues_into_place(conn, ch, scratch):
    queue = scratch.queue(ch, "prioreq", arguments={"x-max-priority": 5})
    for body, priority in [(1, 1), (2, 5), (3, 3)]:
        ch.basic_publish("", queue, bytes([body]), pika.BasicProperties(priority=priority))
    method, _, body = ch.basic_get(queue)
    assert body == b"\x02"
    ch.basic_reject(method.delivery_tag, requeue=True)
    wait_for(lambda: ch.queue_declare(queue, passive=True).method.message_count == 3,
             "the requeued message back", conn)
    got = []
    for _ in range(3):
        m, _, b = ch.basic_get(queue, auto_ack=True)
        got.append((b, m.redelivered))
    assert got == [(b"\x02", True), (b"\x03", False), (b"\x01", False)]


def test_delayed_message_exchange_holds_messages_for_their_x_delay(broker, conn, ch, scratch):
    """Warren's built-in x-delayed-message (RabbitMQ needs a plugin, absent here)."""
    if broker.name != "warren":
        pytest.skip("RabbitMQ needs the rabbitmq_delayed_message_exchange plugin for this")
    later = scratch.exchange(ch, "x-delayed-message", "later",
                             arguments={"x-delayed-type": "direct"})
    queue = scratch.queue(ch, "reminders")
    ch.queue_bind(queue, later, "remind")
    ch.basic_publish(later, "remind", b"in 200 ms",
                     pika.BasicProperties(headers={"x-delay": 200}))
    ch.basic_publish(later, "remind", b"now")
    assert _drain(ch, queue) == [b"now"]
    _, _, body = _get_eventually(conn, ch, queue, "the delayed message")
    assert body == b"in 200 ms"


@pytest.mark.parametrize("key,value,why", [
    ("x-message-ttl", -1, "{value_negative,-1}"),
    ("x-message-ttl", "abc", '"expected integer, got longstr"'),
    ("x-expires", 0, "{value_zero,0}"),
    ("x-max-length", -1, "{value_negative,-1}"),
    ("x-max-length-bytes", -2, "{value_negative,-2}"),
    ("x-max-priority", 256, "{max_value_exceeded,256}"),
    ("x-overflow", "bogus", "invalid_overflow"),
    ("x-single-active-consumer", "yes", "{unacceptable_type,longstr}"),
    ("x-dead-letter-routing-key", 5, "{unacceptable_type,signedint}"),
    ("x-queue-mode", "bogus", "\"unsupported queue mode 'bogus'\""),
])
def test_invalid_queue_arguments_are_refused(ch, scratch, key, value, why):
    name = scratch.queue(ch, "argprobe")  # a unique name, then a fresh one that never exists
    bad = name + ".bad"
    arguments = {key: value}
    if key == "x-dead-letter-routing-key":
        arguments["x-dead-letter-exchange"] = ""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(bad, arguments=arguments)
    assert closed_with(err.value) == (
        406, f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{bad}' in vhost '/': {why}")


def test_dead_letter_arguments_are_checked(conn, scratch):
    ch = conn.channel()
    name = scratch.queue(ch, "dlprobe") + ".bad"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(name, arguments={"x-dead-letter-exchange": 5})
    assert closed_with(err.value) == (406, (
        f"PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in "
        f"queue '{name}' in vhost '/'"))
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(name, arguments={"x-dead-letter-routing-key": "k"})
    assert closed_with(err.value) == (406, (
        f"PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{name}' in "
        f"vhost '/': routing_key_but_no_dlx_defined"))
