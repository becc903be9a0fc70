"""Topology operations where Warren must answer exactly as RabbitMQ 3.10.8 does.

Idempotent unbinding (aio-pika's RPC pattern unbinds a reply queue that is already gone), the
checks of queue.declare (x-queue-type, argument values, arguments a queue type does not take,
the properties quorum and stream queues require), the "inequivalent arg" texts of a redeclare,
headers bindings with a bad x-match, and the shape of server-generated queue names. Every reply
code and text here was read off RabbitMQ 3.10.8 first.

The one deliberate difference: a quorum or stream queue that RabbitMQ would create is refused by
Warren with a 406 saying it does not have that queue type yet (docs/compatibility.md C23).
"""

import re

import pika
import pika.exceptions
import pytest

from support import closed_with, get_one, unique, wait_for


def refused(call):
    """(reply_code, reply_text) of the channel close that call() provokes."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        call()
    return closed_with(err.value)


def in_vhost(broker):
    return f"in vhost '{broker.vhost}'"


# --- unbinding is idempotent --------------------------------------------------------------


@pytest.mark.parametrize("missing", ["queue", "exchange", "both", "binding"])
def test_queue_unbind_of_what_does_not_exist_is_unbind_ok(conn, ch, scratch, missing):
    queue = unique("gone") if missing in ("queue", "both") else scratch.queue(ch, "unbindq")
    exchange = unique("gone") if missing in ("exchange", "both") else "amq.direct"
    ch.queue_unbind(queue, exchange, "k")
    ch.queue_unbind(queue, exchange, "k")  # and again
    assert ch.is_open and conn.is_open
    # The channel still works: a declare on it is answered.
    assert ch.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")


@pytest.mark.parametrize("missing", ["source", "destination", "both", "binding"])
def test_exchange_unbind_of_what_does_not_exist_is_unbind_ok(ch, scratch, missing):
    source = unique("gone") if missing in ("source", "both") else "amq.fanout"
    if missing in ("destination", "both"):
        destination = unique("gone")
    else:
        destination = scratch.exchange(ch, "fanout", "unbindd")
    ch.exchange_unbind(destination, source, "k")
    assert ch.is_open
    ch.exchange_declare("amq.fanout", "fanout", passive=True)


def test_rpc_reply_queue_unbound_after_it_auto_deleted(conn, ch, scratch):
    """aio-pika's RPC pattern: the reply queue auto-deletes, then the client unbinds it."""
    exchange = scratch.exchange(ch, "direct", "rpc")
    reply = ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
    ch.queue_bind(reply, exchange, reply)
    tag = ch.basic_consume(reply, lambda *a: None)
    ch.basic_cancel(tag)

    def gone():
        probe = conn.channel()
        try:
            probe.queue_declare(reply, passive=True)
            probe.close()
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            return e.reply_code == 404

    wait_for(gone, "the auto-delete reply queue to go")
    ch.queue_unbind(reply, exchange, reply)
    assert ch.is_open


def test_unbind_keeps_refusing_the_default_exchange(conn, ch, scratch):
    queue = scratch.queue(ch, "dflt")
    text = "ACCESS_REFUSED - operation not permitted on the default exchange"
    assert refused(lambda: ch.queue_unbind(queue, "", queue)) == (403, text)
    # Checked before the queue is looked up.
    assert refused(lambda: conn.channel().queue_unbind(unique("gone"), "", "k")) == (403, text)
    dest = scratch.exchange(conn.channel(), "direct", "dflt")
    assert refused(lambda: conn.channel().exchange_unbind(dest, "", "k")) == (403, text)
    assert refused(lambda: conn.channel().exchange_unbind("", "amq.direct", "k")) == (403, text)
    assert refused(lambda: conn.channel().exchange_unbind(unique("gone"), "", "k")) == (403, text)


def test_unbind_of_another_connections_exclusive_queue(broker, ch, scratch):
    owner = broker.connect()
    try:
        queue = scratch.track_queue(unique("excl"))
        owner_ch = owner.channel()
        owner_ch.queue_declare(queue, exclusive=True)
        owner_ch.queue_bind(queue, "amq.direct", "bound")
        # A binding that does not exist: nothing to unbind, unbind-ok.
        ch.queue_unbind(queue, "amq.direct", "unbound")
        ch.queue_unbind(queue, unique("gone"), "bound")
        # The binding that exists: the queue is locked to its owner.
        code, text = refused(lambda: ch.queue_unbind(queue, "amq.direct", "bound"))
        assert code == 405
        assert text.startswith(
            f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{queue}' "
            f"{in_vhost(broker)}"
        )
    finally:
        owner.close()


def test_bind_looks_for_the_exchange_before_the_queue(broker, conn, ch):
    queue, exchange = unique("gone"), unique("gone")
    assert refused(lambda: ch.queue_bind(queue, exchange, "k")) == (
        404,
        f"NOT_FOUND - no exchange '{exchange}' {in_vhost(broker)}",
    )
    assert refused(lambda: conn.channel().queue_bind(queue, "", "k")) == (
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )


def test_deleting_what_does_not_exist_is_ok_but_system_exchanges_stay(broker, conn, ch):
    ch.exchange_delete(unique("gone"))
    ch.exchange_delete(unique("gone"), if_unused=True)
    assert ch.queue_delete(unique("gone")).method.message_count == 0
    assert ch.queue_delete(unique("gone"), if_unused=True, if_empty=True).method.message_count == 0
    for name in ("amq.direct", "amq.match", "amq.nosuch"):
        assert refused(lambda: conn.channel().exchange_delete(name)) == (
            403,
            f"ACCESS_REFUSED - deletion of system exchange '{name}' {in_vhost(broker)} not allowed",
        )
    assert refused(lambda: conn.channel().exchange_delete("")) == (
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )


def test_exchange_declare_checks_the_type_then_the_default_exchange(broker, conn, ch, scratch):
    assert refused(lambda: ch.exchange_declare("", "direct", passive=True)) == (
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    existing = scratch.exchange(conn.channel(), "direct", "typed")
    # A passive declare does not look at the type.
    conn.channel().exchange_declare(existing, "nosuchtype", passive=True)
    # Otherwise an unknown type is a connection error, whatever the name.
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as err:
        conn.channel().exchange_declare(existing, "nosuchtype")
    assert closed_with(err.value) == (503, "COMMAND_INVALID - unknown exchange type 'nosuchtype'")


# --- x-queue-type and the other declare arguments ------------------------------------------


@pytest.mark.parametrize(
    "value, why",
    [
        ("bogus", "\"unsupported queue type 'bogus'\""),
        ("", "\"unsupported queue type ''\""),
        ("Classic", "\"unsupported queue type 'Classic'\""),
        (1, "{unacceptable_type,signedint}"),
        (True, "{unacceptable_type,bool}"),
        (b"classic", "{unacceptable_type,binary}"),
    ],
)
def test_unknown_or_mistyped_queue_type_is_refused(broker, ch, value, why):
    queue = unique("qtype")
    assert refused(lambda: ch.queue_declare(queue, arguments={"x-queue-type": value})) == (
        406,
        f"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '{queue}' "
        f"{in_vhost(broker)}: {why}",
    )


def test_classic_queue_type_is_a_classic_queue(ch, scratch):
    queue = scratch.queue(ch, "classic", arguments={"x-queue-type": "classic"})
    # Without x-queue-type a queue is classic too: the redeclare is equivalent.
    ch.queue_declare(queue)
    ch.basic_publish("", queue, b"classic")
    assert get_one(ch, queue)[2] == b"classic"


@pytest.mark.parametrize(
    "queue_type, properties, why",
    [
        ("quorum", {}, "non-durable"),
        ("quorum", {"durable": True, "exclusive": True}, "exclusive-owner"),
        ("quorum", {"durable": True, "auto_delete": True}, "auto-delete"),
        ("quorum", {"exclusive": True}, "exclusive-owner"),
        ("stream", {"auto_delete": True, "exclusive": True}, "auto-delete"),
        ("stream", {}, "non-durable"),
    ],
)
def test_quorum_and_stream_queues_need_their_properties(broker, ch, queue_type, properties, why):
    queue = unique(queue_type)
    declare = lambda: ch.queue_declare(  # noqa: E731
        queue, arguments={"x-queue-type": queue_type}, **properties
    )
    assert refused(declare) == (
        406,
        f"PRECONDITION_FAILED - invalid property '{why}' for queue '{queue}' {in_vhost(broker)}",
    )


@pytest.mark.parametrize("queue_type", ["quorum", "stream"])
def test_quorum_and_stream_queues_cannot_be_server_named(ch, queue_type):
    declare = lambda: ch.queue_declare(  # noqa: E731
        "", durable=True, arguments={"x-queue-type": queue_type, "x-max-length": -1}
    )
    assert refused(declare) == (
        406,
        f"PRECONDITION_FAILED - Cannot declare a server-named queue for type "
        f"rabbit_{queue_type}_queue",
    )


@pytest.mark.parametrize(
    "queue_type, argument, value",
    [
        ("classic", "x-max-age", "1D"),
        ("classic", "x-delivery-limit", 5),
        ("classic", "x-max-in-memory-length", 5),
        ("classic", "x-quorum-initial-group-size", 3),
        ("classic", "x-queue-leader-locator", "client-local"),
        ("quorum", "x-max-priority", 5),
        ("quorum", "x-queue-mode", "lazy"),
        ("stream", "x-message-ttl", 1000),
        ("stream", "x-single-active-consumer", True),
    ],
)
def test_arguments_a_queue_type_does_not_take_are_refused(broker, ch, queue_type, argument, value):
    queue = unique("typearg")
    arguments = {"x-queue-type": queue_type, argument: value}
    assert refused(lambda: ch.queue_declare(queue, durable=True, arguments=arguments)) == (
        406,
        f"PRECONDITION_FAILED - invalid arg '{argument}' for queue '{queue}' {in_vhost(broker)} "
        f"of queue type rabbit_{queue_type}_queue",
    )


@pytest.mark.parametrize("queue_type", ["quorum", "stream"])
def test_a_valid_quorum_or_stream_declare(broker, ch, scratch, queue_type):
    """RabbitMQ creates it; Warren, which has neither type yet, says so rather than pretend."""
    queue = scratch.track_queue(unique(queue_type))
    declare = lambda: ch.queue_declare(  # noqa: E731
        queue, durable=True, arguments={"x-queue-type": queue_type}
    )
    if broker.name == "rabbitmq":
        assert declare().method.queue == queue
    else:
        assert refused(declare) == (
            406,
            f"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '{queue}' "
            f"{in_vhost(broker)}: \"queue type '{queue_type}' is not supported by this broker "
            f"(Warren) yet; only classic queues are\"",
        )


@pytest.mark.parametrize(
    "arguments, argument, why",
    [
        ({"x-message-ttl": 315360000001}, "x-message-ttl", "{value_too_large,315360000001}"),
        ({"x-expires": 315360000001}, "x-expires", "{value_too_large,315360000001}"),
        ({"x-queue-version": 3}, "x-queue-version", "\"unsupported queue version '3'\""),
        ({"x-queue-version": 0}, "x-queue-version", "\"unsupported queue version '0'\""),
        ({"x-queue-version": "1"}, "x-queue-version", '"expected integer, got longstr"'),
        # Several bad arguments: RabbitMQ reports the first in its own order, not the table's.
        ({"x-max-length": -1, "x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
        ({"x-message-ttl": -1, "x-expires": 0}, "x-expires", "{value_zero,0}"),
        ({"x-max-priority": 300, "x-max-length-bytes": -1}, "x-max-length-bytes",
         "{value_negative,-1}"),
        ({"x-single-active-consumer": 1, "x-overflow": "bad"}, "x-overflow", "invalid_overflow"),
        ({"x-queue-version": 7, "x-queue-mode": "bad"}, "x-queue-mode",
         "\"unsupported queue mode 'bad'\""),
        ({"x-queue-type": "bogus", "x-max-length": -1}, "x-queue-type",
         "\"unsupported queue type 'bogus'\""),
    ],
)
def test_argument_values_are_checked_in_rabbitmqs_order(broker, ch, arguments, argument, why):
    queue = unique("badarg")
    assert refused(lambda: ch.queue_declare(queue, arguments=arguments)) == (
        406,
        f"PRECONDITION_FAILED - invalid arg '{argument}' for queue '{queue}' "
        f"{in_vhost(broker)}: {why}",
    )


def test_accepted_limits_and_versions(ch):
    for arguments in (
        {"x-message-ttl": 315360000000},
        {"x-expires": 315360000000},
        {"x-queue-version": 1},
        {"x-queue-version": 2},
        {"x-queue-master-locator": "client-local"},
        {"x-unknown-to-everyone": "fine"},
    ):
        ch.queue_declare(unique("okarg"), exclusive=True, arguments=arguments)


# --- redeclares: the "inequivalent arg" texts of RabbitMQ 3.10.8 ----------------------------


@pytest.mark.parametrize(
    "first, second, argument, difference",
    [
        ({"x-message-ttl": 1000}, {"x-message-ttl": 2000}, "x-message-ttl",
         "received '2000' but current is '1000'"),
        ({"x-message-ttl": 1000}, {"x-message-ttl": 2**33}, "x-message-ttl",
         "received '8589934592' but current is '1000'"),
        ({"x-max-length": 1000}, {"x-max-length": "1000"}, "x-max-length",
         "received '1000' but current is '1000'"),
        ({"x-dead-letter-exchange": "a"}, {"x-dead-letter-exchange": "b"},
         "x-dead-letter-exchange", "received 'b' but current is 'a'"),
        ({"x-single-active-consumer": True}, {"x-single-active-consumer": False},
         "x-single-active-consumer", "received 'false' but current is 'true'"),
        ({"x-single-active-consumer": True}, {}, "x-single-active-consumer",
         "received none but current is the value 'true' of type 'bool'"),
        ({}, {"x-message-ttl": 1000}, "x-message-ttl",
         "received the value '1000' of type 'signedint' but current is none"),
        ({"x-max-priority": 5}, {}, "x-max-priority",
         "received none but current is the value '5' of type 'signedint'"),
        ({"x-queue-mode": "lazy"}, {"x-queue-mode": "default"}, "x-queue-mode",
         "received 'default' but current is 'lazy'"),
        ({"x-queue-version": 1}, {"x-queue-version": 2}, "x-queue-version",
         "received '2' but current is '1'"),
        ({"x-message-ttl": 1, "x-max-length": 1}, {"x-message-ttl": 2, "x-max-length": 2},
         "x-message-ttl", "received '2' but current is '1'"),
        # A redeclare is compared, not validated.
        ({}, {"x-max-length": -1}, "x-max-length",
         "received the value '-1' of type 'signedint' but current is none"),
        ({}, {"x-queue-type": "quorum"}, "x-queue-type",
         "received the value 'quorum' of type 'longstr' but current is none"),
    ],
)
def test_inequivalent_queue_redeclare_texts(broker, ch, scratch, first, second, argument,
                                            difference):
    queue = scratch.queue(ch, "ineq", arguments=first)
    assert refused(lambda: ch.queue_declare(queue, arguments=second)) == (
        406,
        f"PRECONDITION_FAILED - inequivalent arg '{argument}' for queue '{queue}' "
        f"{in_vhost(broker)}: {difference}",
    )


def test_equivalent_queue_redeclares(ch, scratch):
    queue = scratch.queue(ch, "eq", arguments={"x-message-ttl": 1000, "x-queue-type": "classic"})
    ch.queue_declare(queue, arguments={"x-message-ttl": 1000})
    ch.queue_declare(queue, arguments={"x-message-ttl": 1000, "x-delivery-limit": 5})


@pytest.mark.parametrize(
    "first, second, difference",
    [
        ("a", "b", "received 'b' but current is 'a'"),
        ("a", 1, "received '1' but current is 'a'"),
        ("a", None, "received none but current is the value 'a' of type 'longstr'"),
        (None, "a", "received the value 'a' of type 'longstr' but current is none"),
    ],
)
def test_inequivalent_alternate_exchange_texts(broker, ch, scratch, first, second, difference):
    def args(alternate):
        return {} if alternate is None else {"alternate-exchange": alternate}

    exchange = scratch.exchange(ch, "direct", "ineqx", arguments=args(first))
    assert refused(lambda: ch.exchange_declare(exchange, "direct", arguments=args(second))) == (
        406,
        f"PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '{exchange}' "
        f"{in_vhost(broker)}: {difference}",
    )


# --- headers bindings with a bad x-match ----------------------------------------------------


@pytest.mark.parametrize(
    "x_match, text",
    [
        ("bogus", "Invalid x-match field value <<\"bogus\">>; expected all, any, all-with-x, or "
                  "any-with-x"),
        ("ANY", "Invalid x-match field value <<\"ANY\">>; expected all, any, all-with-x, or "
                "any-with-x"),
        (1, "Invalid x-match field type signedint (value 1); expected longstr"),
        (True, "Invalid x-match field type bool (value true); expected longstr"),
        (b"all", "Invalid x-match field type binary (value <<\"all\">>); expected longstr"),
    ],
)
def test_bad_x_match_is_precondition_failed(conn, ch, scratch, x_match, text):
    queue = scratch.queue(ch, "xmatch")
    arguments = {"x-match": x_match}
    expected = (406, f"PRECONDITION_FAILED - {text}")
    assert refused(lambda: ch.queue_bind(queue, "amq.headers", "", arguments=arguments)) == expected
    destination = scratch.exchange(conn.channel(), "direct", "xmatch")
    bind = lambda: conn.channel().exchange_bind(  # noqa: E731
        destination, "amq.headers", "", arguments=arguments
    )
    assert refused(bind) == expected
    # Unbinding with the same arguments finds no binding: unbind-ok.
    conn.channel().queue_unbind(queue, "amq.headers", "", arguments=arguments)


def test_x_match_is_only_read_by_headers_exchanges(ch, scratch):
    queue = scratch.queue(ch, "xmatchdirect")
    ch.queue_bind(queue, "amq.direct", "k", arguments={"x-match": "bogus"})
    ch.basic_publish("amq.direct", "k", b"routed")
    assert get_one(ch, queue)[2] == b"routed"


# --- server-generated names -----------------------------------------------------------------


def test_server_named_queues_look_like_rabbitmqs(ch):
    # 16 random bytes in unpadded URL-safe base64: 22 characters, the last carrying 2 bits.
    shape = re.compile(r"amq\.gen-[A-Za-z0-9_-]{21}[AQgw]")
    names = {ch.queue_declare("", exclusive=True).method.queue for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert shape.fullmatch(name), name
