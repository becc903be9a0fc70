"""AMQPS with pika's ssl_options, against each broker's TLS listener.

interop/run starts both brokers with a TLS listener that asks for a client certificate (verified
against a CA it made for the run, not required) and offers EXTERNAL, and sets:

WARREN_TLS_URL / RABBITMQ_TLS_URL  amqps:// URL of each broker's TLS listener
INTEROP_TLS_DIR                    ca.pem, client.pem / client_key.pem (signed by the CA),
                                   untrusted.pem / untrusted_key.pem (another CA)
INTEROP_TLS_CLIENT_DN              client.pem's subject DN, a user on both brokers

A broker under test (WARREN_URL / RABBITMQ_URL) without its TLS URL fails these scenarios.
"""

import os
import socket
import ssl
import time
from pathlib import Path

import pika
import pika.credentials
import pika.exceptions
import pytest

from support import WAIT, Broker, expect_bodies, unique

TLS_ENV = {"warren": "WARREN_TLS_URL", "rabbitmq": "RABBITMQ_TLS_URL"}


@pytest.fixture
def tls(broker):
    """The broker's TLS listener, as a Broker with an amqps:// URL."""
    url = os.environ.get(TLS_ENV[broker.name], "").strip()
    if not url:
        pytest.fail(f"{TLS_ENV[broker.name]} is not set: run interop/run, which starts TLS")
    return Broker(broker.name, url)


@pytest.fixture
def certs():
    path = os.environ.get("INTEROP_TLS_DIR", "").strip()
    if not path:
        pytest.fail("INTEROP_TLS_DIR is not set: run interop/run, which makes the certificates")
    return Path(path)


def context(certs, identity=None, version=None):
    """A client TLS context trusting the run's CA, with a client certificate if named."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if identity:
        ctx.load_cert_chain(str(certs / f"{identity}.pem"), str(certs / f"{identity}_key.pem"))
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return pika.SSLOptions(ctx, "localhost")


def port_of(broker):
    return pika.URLParameters(broker.url).port


def round_trip(conn):
    ch = conn.channel()
    queue = unique("tls")
    ch.queue_declare(queue, exclusive=True)
    large = bytes(i % 251 for i in range(300_000))
    ch.basic_publish("", queue, b"small")
    ch.basic_publish("", queue, large)
    expect_bodies(ch, queue, [b"small", large])


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
def test_publish_and_consume_over_each_tls_version(tls, certs, version):
    conn = tls.connect(ssl_options=context(certs, version=version))
    try:
        round_trip(conn)
    finally:
        conn.close()


def test_password_login_with_and_without_a_client_certificate(tls, certs):
    for identity in (None, "client"):
        conn = tls.connect(ssl_options=context(certs, identity))
        assert conn.is_open
        conn.close()


def test_an_untrusted_client_certificate_is_refused(tls, certs):
    started = time.monotonic()
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        tls.connect(ssl_options=context(certs, "untrusted")).close()
    assert time.monotonic() - started < WAIT


def test_external_login_with_the_client_certificate(tls, certs):
    conn = tls.connect(
        ssl_options=context(certs, "client"),
        credentials=pika.credentials.ExternalCredentials(),
    )
    try:
        round_trip(conn)
    finally:
        conn.close()


def test_external_without_a_certificate_is_refused(tls, certs):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as err:
        tls.connect(
            ssl_options=context(certs), credentials=pika.credentials.ExternalCredentials()
        ).close()
    assert (
        "(403) 'ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. "
        "For details see the broker logfile.'" in str(err.value)
    )


def test_external_is_not_offered_on_the_plain_port(broker):
    # pika raises this when connection.start does not list the mechanism.
    with pytest.raises(pika.exceptions.AuthenticationError) as err:
        broker.connect(credentials=pika.credentials.ExternalCredentials()).close()
    assert err.value.args == ("EXTERNAL",)


def test_plain_amqp_on_the_tls_port_ends_promptly(broker, tls):
    """The TLS port answers an AMQP header with a TLS alert at most, then closes; a plain
    connection on the plain port works meanwhile."""
    bystander = broker.connect()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(tls)), timeout=WAIT) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
    assert got == b"" or got[0] == 0x15, f"not a TLS alert: {got!r}"
    assert time.monotonic() - started < 2
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        broker.connect(port=port_of(tls), ssl_options=None).close()
    assert time.monotonic() - started < WAIT
    round_trip(bystander)
    bystander.close()


def test_tls_on_the_plain_port_fails_promptly(broker, certs):
    """The plain port answers a TLS ClientHello with its AMQP header: not a TLS record."""
    started = time.monotonic()
    with pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER"):
        broker.connect(ssl_options=context(certs)).close()
    assert time.monotonic() - started < 2
