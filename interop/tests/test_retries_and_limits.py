"""Retries and limits the RabbitMQ way (the retries-and-limits issue): so far alternate exchanges.

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
