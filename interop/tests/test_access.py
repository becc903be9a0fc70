"""Login and connection.open (issue 15): refused logins, users without a password, vhosts that
are missing or not permitted, and the per-vhost and per-user connection limits, with RabbitMQ
3.10.8's reply codes and texts; and what the broker offers and does with a mechanism it does
not offer.

The users and vhosts (prefixed a_) come from interop/access-definitions.json, which interop/run
has both brokers load at boot (password: the user's name + '-pw'). Against brokers started some
other way, import that file into each first (`rabbitmqctl import_definitions FILE`; Warren:
--load-definitions FILE).

a_conn allows 2 connections; a_one may hold 2 connections (any vhosts: a_conn, a_free);
a_two may use a_conn only; a_nopw has no password and permissions on "/".
"""

import ast
import re
import socket
import time
from urllib.parse import urlsplit

import pika
import pika.exceptions
import pytest
from pika import frame, spec

from support import WAIT

LOGIN_REFUSED = (403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                      "For details see the broker logfile.")


def params(broker, user, password=None, vhost="/"):
    return broker.parameters(
        credentials=pika.PlainCredentials(user, f"{user}-pw" if password is None else password),
        virtual_host=vhost,
    )


def refusal(error):
    """(reply_code, reply_text) of the close behind pika's Probable*Error during the handshake
    (pika keeps only the repr of the ConnectionClosedByBroker it got)."""
    m = re.search(r"\((\d+)\) (.+)$", str(error.args[0]))
    assert m, f"not a broker's close: {error!r}"
    return int(m.group(1)), ast.literal_eval(m.group(2))


def refused(broker, user, password=None, vhost="/"):
    deadline = time.monotonic() + WAIT
    with pytest.raises((pika.exceptions.ProbableAuthenticationError,
                        pika.exceptions.ProbableAccessDeniedError)) as err:
        while True:
            # RabbitMQ counts connections against the limits in the background: one opened
            # just before may not count yet. Take this one back and ask again.
            pika.BlockingConnection(params(broker, user, password, vhost)).close()
            assert time.monotonic() < deadline, f"{user} is never refused"
            time.sleep(0.1)
    return refusal(err.value)


@pytest.fixture
def logins(broker):
    """Opens connections as the definitions' users; closes them when the scenario ends. Each
    is used for a round trip first, so both brokers have counted it before the next login."""
    opened = []

    def login(user, vhost):
        deadline = time.monotonic() + WAIT
        while True:
            try:
                conn = pika.BlockingConnection(params(broker, user, vhost=vhost))
                break
            except pika.exceptions.ProbableAccessDeniedError:
                # RabbitMQ forgets closed connections (the last scenario's) in the background.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        opened.append(conn)
        conn.channel().close()
        return conn

    yield login
    for conn in opened:
        if conn.is_open:
            conn.close()


def test_a_wrong_password_is_refused_with_403(broker):
    assert refused(broker, "a_one", "not-the-password", "a_free") == LOGIN_REFUSED


@pytest.mark.parametrize("password", ["", "anything"])
def test_a_user_without_a_password_cannot_log_in_with_one(broker, password):
    assert refused(broker, "a_nopw", password) == LOGIN_REFUSED


def test_open_of_a_vhost_without_permissions_is_530(broker):
    assert refused(broker, "a_two", vhost="/") == (
        530, "NOT_ALLOWED - access to vhost '/' refused for user 'a_two'")


def test_open_of_a_missing_vhost_is_530(broker):
    assert refused(broker, "a_one", vhost="a_no_such_vhost") == (
        530, "NOT_ALLOWED - vhost a_no_such_vhost not found")


def test_the_vhost_connection_limit_refuses_at_open(broker, logins):
    logins("a_two", "a_conn")
    logins("a_two", "a_conn")
    # a_one is under its own limit: the vhost's refuses it.
    assert refused(broker, "a_one", vhost="a_conn") == (
        530, "NOT_ALLOWED - access to vhost 'a_conn' refused for user 'a_one': connection limit "
             "(2) is reached")
    # Another vhost is not counted against it.
    logins("a_one", "a_free")


def test_the_user_connection_limit_counts_every_vhost(broker, logins):
    logins("a_one", "a_free")
    logins("a_one", "a_conn")
    assert refused(broker, "a_one", vhost="a_free") == (
        530, "NOT_ALLOWED - connection refused for user 'a_one': user connection limit (2) is "
             "reached")
    # Other users are not.
    logins("a_two", "a_conn")


class Start:
    """A bare socket past connection.start, frames by pika's codec."""

    def __init__(self, broker):
        url = urlsplit(broker.url)
        self.sock = socket.create_connection((url.hostname, url.port or 5672), timeout=WAIT)
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.buf = b""
        start = self.next_frame()
        assert isinstance(start.method, spec.Connection.Start), start
        self.mechanisms = start.method.mechanisms

    def next_frame(self):
        """The next frame; None once the broker has closed (or reset) the socket."""
        while True:
            if self.buf:
                used, decoded = frame.decode_frame(self.buf)
                if decoded is not None:
                    self.buf = self.buf[used:]
                    return decoded
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buf += data

    def start_ok(self, mechanism, response, failure_close):
        caps = {"authentication_failure_close": failure_close}
        ok = spec.Connection.StartOk({"capabilities": caps}, mechanism, response, "en_US")
        self.sock.sendall(frame.Method(0, ok).marshal())


@pytest.fixture
def start(broker):
    opened = []

    def connect():
        s = Start(broker)
        opened.append(s)
        return s

    yield connect
    for s in opened:
        s.sock.close()


def test_plain_and_amqplain_are_offered(start):
    assert start().mechanisms == b"AMQPLAIN PLAIN"


@pytest.mark.parametrize("mechanism", ["EXAMPLE", "RABBIT-CR-DEMO"])
def test_a_mechanism_not_offered_gets_no_reply_and_the_socket_closes(start, mechanism):
    s = start()
    s.start_ok(mechanism, b"\0guest\0guest", failure_close=True)
    assert s.next_frame() is None


def test_a_refused_login_without_the_capability_just_closes_the_socket(start):
    s = start()
    s.start_ok("PLAIN", b"\0a_one\0wrong", failure_close=False)
    assert s.next_frame() is None


def test_a_malformed_plain_response_gets_no_reply_even_with_the_capability(start):
    s = start()
    s.start_ok("PLAIN", b"a_one", failure_close=True)
    assert s.next_frame() is None
