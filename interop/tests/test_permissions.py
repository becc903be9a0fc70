"""Permissions (issue 15): every channel operation allowed or refused as RabbitMQ 3.10.8 decides,
with its reply code and text; topic permissions; the user_id property; the per-user channel limit
and the per-vhost queue limit.

The users (prefixed p_) come from interop/access-definitions.json, which interop/run has both
brokers load at boot. Against brokers started some other way, import that file into each first
(`rabbitmqctl import_definitions interop/access-definitions.json`; Warren: --load-definitions).

p_matrix's patterns grant by name: a name `p_<letters>.<suffix>` may be configured when the
letters include c, written when they include w, read when they include r.
"""

import re
import time
import uuid

import pika
import pytest

from support import WAIT, closed_with, expect_bodies, get_one

MATRIX = "p_matrix"
EMPTY = "p_empty"


def login(broker, user, **overrides):
    """A connection as one of the definitions file's users (password: name + '-pw')."""
    creds = pika.PlainCredentials(user, f"{user}-pw")
    return broker.connect(credentials=creds, **overrides)


@pytest.fixture
def users(broker):
    """Opens connections as other users; closes them when the scenario ends."""
    assert broker.vhost == "/", "the definitions grant the p_ users permissions on '/' only"
    opened = []

    def connect(user, **overrides):
        conn = login(broker, user, **overrides)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        if conn.is_open:
            conn.close()


def name(prefix):
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


class World:
    """Exchanges x_c, x_w, x_r and queues q_c, q_w, q_r (created by the URL's user, which may do
    anything), and unused names n_* (deleted afterwards if a scenario creates them)."""

    def __init__(self, ch, scratch):
        for letter in "cwr":
            x = scratch.track_exchange(name(f"p_{letter}"))
            ch.exchange_declare(x, "direct")
            setattr(self, f"x_{letter}", x)
            setattr(self, f"q_{letter}", scratch.track_queue(name(f"p_{letter}")))
            ch.queue_declare(getattr(self, f"q_{letter}"))
        ch.queue_bind(self.q_r, self.x_r, "k")
        for letters in ("c", "w", "r", "cr"):
            setattr(self, f"n_{letters}_x", scratch.track_exchange(name(f"p_{letters}")))
            setattr(self, f"n_{letters}_q", scratch.track_queue(name(f"p_{letters}")))

    def text(self, template):
        return template.format(**vars(self))


def refused(kind, resource, user=MATRIX):
    return (403, f"ACCESS_REFUSED - access to {kind} '{resource}' in vhost '/' refused for user "
                 f"'{user}'")


DEFAULT_EXCHANGE = (403, "ACCESS_REFUSED - operation not permitted on the default exchange")
OK = None


def publish(exchange, key="k", **props):
    def op(ch, w):
        ch.confirm_delivery()
        ch.basic_publish(w.text(exchange), w.text(key), b"m", pika.BasicProperties(**props))
    return op


def outcome(op, ch, world):
    """None if the operation succeeded, else the channel close's (code, text)."""
    try:
        op(ch, world)
    except pika.exceptions.ChannelClosedByBroker as e:
        return closed_with(e)
    return None


AE, DLX = "alternate-exchange", "x-dead-letter-exchange"

# (id, user, operation, expected: OK or (code, text template) or a compiled pattern).
MATRIX_CASES = [
    ("xdecl-new-configure", MATRIX,
     lambda ch, w: ch.exchange_declare(w.n_c_x, "direct"), OK),
    ("xdecl-new-no-configure", MATRIX,
     lambda ch, w: ch.exchange_declare(w.n_w_x, "direct"), refused("exchange", "{n_w_x}")),
    ("xdecl-existing-no-configure", MATRIX,
     lambda ch, w: ch.exchange_declare(w.x_w, "direct"), refused("exchange", "{x_w}")),
    ("xdecl-passive-unchecked", EMPTY,
     lambda ch, w: ch.exchange_declare(w.x_w, passive=True), OK),
    ("xdecl-reserved-name-after-configure", MATRIX,
     lambda ch, w: ch.exchange_declare("amq.p_c", "direct"), refused("exchange", "amq.p_c")),
    ("xdecl-default", MATRIX,
     lambda ch, w: ch.exchange_declare("", "direct"), DEFAULT_EXCHANGE),
    ("xdecl-ae-needs-read-on-exchange", MATRIX,
     lambda ch, w: ch.exchange_declare(w.n_c_x, "direct", arguments={AE: w.x_w}),
     refused("exchange", "{n_c_x}")),
    ("xdecl-ae-needs-write-on-ae", MATRIX,
     lambda ch, w: ch.exchange_declare(w.n_cr_x, "direct", arguments={AE: w.x_c}),
     refused("exchange", "{x_c}")),
    ("xdecl-ae-allowed", MATRIX,
     lambda ch, w: ch.exchange_declare(w.n_cr_x, "direct", arguments={AE: w.x_w}), OK),
    ("xdel-configure", MATRIX, lambda ch, w: ch.exchange_delete(w.x_c), OK),
    ("xdel-no-configure", MATRIX,
     lambda ch, w: ch.exchange_delete(w.x_w), refused("exchange", "{x_w}")),
    ("xdel-missing-checked-first", EMPTY,
     lambda ch, w: ch.exchange_delete(w.n_c_x), refused("exchange", "{n_c_x}", EMPTY)),
    ("xdel-system", MATRIX, lambda ch, w: ch.exchange_delete("amq.direct"),
     (403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed")),
    ("qdecl-new-configure", MATRIX, lambda ch, w: ch.queue_declare(w.n_c_q), OK),
    ("qdecl-new-no-configure", MATRIX,
     lambda ch, w: ch.queue_declare(w.n_w_q), refused("queue", "{n_w_q}")),
    ("qdecl-existing-no-configure", MATRIX,
     lambda ch, w: ch.queue_declare(w.q_w), refused("queue", "{q_w}")),
    ("qdecl-passive-unchecked", EMPTY, lambda ch, w: ch.queue_declare(w.q_w, passive=True), OK),
    ("qdecl-server-named-name-checked", MATRIX,
     lambda ch, w: ch.queue_declare("", exclusive=True),
     re.compile(r"ACCESS_REFUSED - access to queue 'amq\.gen-[\w-]{22}' in vhost '/' refused "
                r"for user 'p_matrix'")),
    ("qdecl-reserved-name-first", EMPTY, lambda ch, w: ch.queue_declare("amq.p_c"),
     (403, "ACCESS_REFUSED - queue name 'amq.p_c' contains reserved prefix 'amq.*'")),
    ("qdecl-dlx-needs-read-on-queue", MATRIX,
     lambda ch, w: ch.queue_declare(w.n_c_q, arguments={DLX: w.x_w}), refused("queue", "{n_c_q}")),
    ("qdecl-dlx-needs-write-on-dlx", MATRIX,
     lambda ch, w: ch.queue_declare(w.n_cr_q, arguments={DLX: w.x_c}),
     refused("exchange", "{x_c}")),
    ("qdecl-dlx-default-exchange-is-amq-default", MATRIX,
     lambda ch, w: ch.queue_declare(w.n_cr_q, arguments={DLX: ""}),
     refused("exchange", "amq.default")),
    ("qdecl-dlx-allowed", MATRIX,
     lambda ch, w: ch.queue_declare(w.n_cr_q, arguments={DLX: w.x_w}), OK),
    ("qdel-configure", MATRIX, lambda ch, w: ch.queue_delete(w.q_c), OK),
    ("qdel-no-configure", MATRIX, lambda ch, w: ch.queue_delete(w.q_w), refused("queue", "{q_w}")),
    ("qdel-missing-checked-first", EMPTY,
     lambda ch, w: ch.queue_delete(w.n_c_q), refused("queue", "{n_c_q}", EMPTY)),
    ("qpurge-read", MATRIX, lambda ch, w: ch.queue_purge(w.q_r), OK),
    ("qpurge-no-read", MATRIX, lambda ch, w: ch.queue_purge(w.q_w), refused("queue", "{q_w}")),
    ("qpurge-missing", MATRIX, lambda ch, w: ch.queue_purge(w.n_r_q),
     (404, "NOT_FOUND - no queue '{n_r_q}' in vhost '/'")),
    ("qbind-allowed", MATRIX, lambda ch, w: ch.queue_bind(w.q_w, w.x_r, "k"), OK),
    ("qbind-needs-write-on-queue", MATRIX,
     lambda ch, w: ch.queue_bind(w.q_r, w.x_r, "k"), refused("queue", "{q_r}")),
    ("qbind-needs-read-on-exchange", MATRIX,
     lambda ch, w: ch.queue_bind(w.q_w, w.x_w, "k"), refused("exchange", "{x_w}")),
    ("qbind-default-exchange", MATRIX,
     lambda ch, w: ch.queue_bind(w.q_w, "", "k"), DEFAULT_EXCHANGE),
    ("qbind-missing-queue", MATRIX, lambda ch, w: ch.queue_bind(w.n_w_q, w.x_r, "k"),
     (404, "NOT_FOUND - no queue '{n_w_q}' in vhost '/'")),
    ("qbind-missing-exchange", MATRIX, lambda ch, w: ch.queue_bind(w.q_w, w.n_r_x, "k"),
     (404, "NOT_FOUND - no exchange '{n_r_x}' in vhost '/'")),
    ("qunbind-allowed", MATRIX, lambda ch, w: ch.queue_unbind(w.q_w, w.x_r, "k"), OK),
    ("qunbind-needs-write-on-queue", MATRIX,
     lambda ch, w: ch.queue_unbind(w.q_r, w.x_r, "k"), refused("queue", "{q_r}")),
    ("xbind-allowed", MATRIX, lambda ch, w: ch.exchange_bind(w.x_w, w.x_r, "k"), OK),
    ("xbind-needs-write-on-destination", MATRIX,
     lambda ch, w: ch.exchange_bind(w.x_r, w.x_r, "k"), refused("exchange", "{x_r}")),
    ("xbind-needs-read-on-source", MATRIX,
     lambda ch, w: ch.exchange_bind(w.x_w, w.x_w, "k"), refused("exchange", "{x_w}")),
    ("xbind-default-destination-write-checked-first", MATRIX,
     lambda ch, w: ch.exchange_bind("", w.x_r, "k"), refused("exchange", "amq.default")),
    ("xunbind-allowed", MATRIX, lambda ch, w: ch.exchange_unbind(w.x_w, w.x_r, "k"), OK),
    ("xunbind-needs-read-on-source", MATRIX,
     lambda ch, w: ch.exchange_unbind(w.x_w, w.x_w, "k"), refused("exchange", "{x_w}")),
    ("publish-write", MATRIX, publish("{x_w}"), OK),
    ("publish-no-write", MATRIX, publish("{x_r}"), refused("exchange", "{x_r}")),
    ("publish-default-exchange-is-amq-default", MATRIX, publish("", "{q_w}"),
     refused("exchange", "amq.default")),
    ("publish-missing-exchange", MATRIX, publish("{n_w_x}"),
     (404, "NOT_FOUND - no exchange '{n_w_x}' in vhost '/'")),
    ("publish-missing-exchange-write-checked-first", MATRIX, publish("{n_r_x}"),
     refused("exchange", "{n_r_x}")),
    ("publish-user-id-other", MATRIX, publish("{x_w}", user_id="someone"),
     (406, "PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user "
           "was 'p_matrix'")),
    ("publish-user-id-self", MATRIX, publish("{x_w}", user_id=MATRIX), OK),
    ("publish-user-id-impersonator", "p_imp", publish("{x_w}", user_id="someone"), OK),
    ("get-read", MATRIX, lambda ch, w: ch.basic_get(w.q_r, auto_ack=True), OK),
    ("get-no-read", MATRIX,
     lambda ch, w: ch.basic_get(w.q_w, auto_ack=True), refused("queue", "{q_w}")),
    ("get-missing", MATRIX, lambda ch, w: ch.basic_get(w.n_r_q, auto_ack=True),
     (404, "NOT_FOUND - no queue '{n_r_q}' in vhost '/'")),
    ("consume-read", MATRIX, lambda ch, w: ch.basic_consume(w.q_r, lambda *a: None), OK),
    ("consume-no-read", MATRIX,
     lambda ch, w: ch.basic_consume(w.q_w, lambda *a: None), refused("queue", "{q_w}")),
    ("consume-direct-reply-to-unchecked", EMPTY,
     lambda ch, w: ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True),
     OK),
]


@pytest.mark.parametrize("user,op,expected", [c[1:] for c in MATRIX_CASES],
                         ids=[c[0] for c in MATRIX_CASES])
def test_permission_matrix(ch, scratch, users, user, op, expected):
    world = World(ch, scratch)
    got = outcome(op, users(user).channel(), world)
    if isinstance(expected, re.Pattern):
        assert got is not None and got[0] == 403 and expected.fullmatch(got[1]), got
    elif expected is None:
        assert got is None
    else:
        assert got == (expected[0], world.text(expected[1]))


def topic_refused(key, exchange, user="p_topic"):
    return (403, f"ACCESS_REFUSED - access to topic '{key}' in exchange '{exchange}' in vhost '/' "
                 f"refused for user '{user}'")


LITERAL = "p_t.literal"  # named in the definitions' topic permissions


@pytest.fixture
def literal_exchange(ch, scratch):
    ch.exchange_declare(LITERAL, "topic")
    return scratch.track_exchange(LITERAL)


def test_topic_permissions_check_routing_keys_on_topic_exchanges_only(
        ch, scratch, users, literal_exchange):
    q = scratch.track_queue(name("p_tq"))
    ch.queue_declare(q)

    def attempt(op, user="p_topic", **overrides):
        channel = users(user, **overrides).channel()
        channel.confirm_delivery()
        try:
            op(channel)
        except pika.exceptions.ChannelClosedByBroker as e:
            return closed_with(e)
        return None

    def pub(exchange, key):
        return lambda c: c.basic_publish(exchange, key, b"t")

    # Write pattern ^{username}\. : the user's own prefix only; "" is a key like any other.
    assert attempt(pub("amq.topic", "p_topic.orders")) is None
    assert attempt(pub("amq.topic", "other")) == topic_refused("other", "amq.topic")
    assert attempt(pub("amq.topic", "")) == topic_refused("", "amq.topic")
    # Read pattern ^r\.{vhost}$ applies to binding and unbinding, queue or exchange.
    assert attempt(lambda c: c.queue_bind(q, "amq.topic", "r./")) is None
    assert attempt(lambda c: c.queue_bind(q, "amq.topic", "r.x")) == topic_refused("r.x", "amq.topic")
    assert attempt(lambda c: c.queue_unbind(q, "amq.topic", "r.x")) == \
        topic_refused("r.x", "amq.topic")
    assert attempt(lambda c: c.exchange_bind(LITERAL, "amq.topic", "r.x")) == \
        topic_refused("r.x", "amq.topic")
    # amq.direct has (restrictive) topic permissions too, but it is not a topic exchange.
    assert attempt(pub("amq.direct", "anything")) is None
    assert attempt(lambda c: c.queue_bind(q, "amq.direct", "anything")) is None
    # {client_id} is not filled in for AMQP 0-9-1: the placeholder matches only itself.
    assert attempt(pub(LITERAL, "{client_id}")) is None
    assert attempt(pub(LITERAL, "c1"), client_properties={"client_id": "c1"}) == \
        topic_refused("c1", LITERAL)
    # An empty pattern matches only the empty key.
    assert attempt(lambda c: c.queue_bind(q, LITERAL, "")) is None
    assert attempt(lambda c: c.queue_bind(q, LITERAL, "a")) == topic_refused("a", LITERAL)
    # The user name goes into the pattern unescaped: its "." matches any character.
    assert attempt(pub("amq.topic", "p_tXdot"), user="p_t.dot") is None
    assert attempt(pub("amq.topic", "p_t.dots"), user="p_t.dot") == \
        topic_refused("p_t.dots", "amq.topic", "p_t.dot")


def test_dead_letter_and_alternate_exchanges_are_not_checked_when_routing(ch, scratch, users):
    """Declaring them takes write on them; messages routed there later are not checked."""
    parked_x = scratch.track_exchange(name("p_dead"))  # p_matrix may not write to it
    ch.exchange_declare(parked_x, "fanout")
    parked = scratch.track_queue(name("p_dead"))
    ch.queue_declare(parked)
    ch.queue_bind(parked, parked_x)
    with_ae = scratch.track_exchange(name("p_w"))
    ch.exchange_declare(with_ae, "direct", arguments={AE: parked_x})
    with_dlx = scratch.track_queue(name("p_r"))
    ch.queue_declare(with_dlx, arguments={DLX: parked_x})
    ch.basic_publish("", with_dlx, b"rejected")

    mine = users(MATRIX).channel()
    mine.confirm_delivery()
    method, _, _ = get_one(mine, with_dlx, auto_ack=False)
    mine.basic_reject(method.delivery_tag, requeue=False)
    # Dead-lettering runs in the queue, apart from the channel's publishes (in RabbitMQ as well),
    # so the two routes have no order between them: wait for one before taking the next.
    expect_bodies(ch, parked, [b"rejected"])
    mine.basic_publish(with_ae, "unroutable", b"alternated")
    expect_bodies(ch, parked, [b"alternated"])


def test_channel_limit_counts_the_users_channels_on_all_connections(users):
    first = users("p_chan")
    first.channel()
    second = users("p_chan")
    second.channel()
    deadline = time.monotonic() + WAIT
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as err:
        while True:
            # RabbitMQ counts a new channel in the background, so an open just after one can
            # still pass: take it back and ask again.
            extra = second.channel()
            assert time.monotonic() < deadline, "a third channel is never refused"
            extra.close()
            time.sleep(0.1)
    assert closed_with(err.value) == (530, (
        "NOT_ALLOWED - number of channels opened for user 'p_chan' has reached the maximum "
        "allowed user limit of (2)"))
    assert first.is_open


def test_vhost_queue_limit_refuses_new_queues_only(users):
    conn = users("p_vlim", virtual_host="p_lim")
    ch = conn.channel()
    # Exclusive: nothing outlives the scenario in the limited vhost.
    first = ch.queue_declare(name("p_l"), exclusive=True).method.queue
    ch.queue_declare(first, exclusive=True)
    ch.queue_declare(first, passive=True)
    second = name("p_l")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare(second, exclusive=True)
    assert closed_with(err.value) == (406, (
        f"PRECONDITION_FAILED - cannot declare queue '{second}': queue limit in vhost 'p_lim' (1) "
        "is reached"))
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
        ch.queue_declare("", exclusive=True)
    code, text = closed_with(err.value)
    assert code == 406 and re.fullmatch(
        r"PRECONDITION_FAILED - cannot declare queue 'amq\.gen-[\w-]{22}': queue limit in vhost "
        r"'p_lim' \(1\) is reached", text), text
