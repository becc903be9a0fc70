"""Runs every broker scenario once per broker named in the environment.

WARREN_URL   amqp:// URL of a Warren broker   -> test ids end in [warren]
RABBITMQ_URL amqp:// URL of a RabbitMQ broker -> test ids end in [rabbitmq]

A scenario that passes on RabbitMQ and fails on Warren is a Warren bug; one that fails on
RabbitMQ tests a quirk rather than compatibility and must be fixed. With neither URL set, every
broker scenario fails (never skips) with a message saying how to run the suite.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from support import Broker, Scratch  # noqa: E402

BROKER_ENV = (("warren", "WARREN_URL"), ("rabbitmq", "RABBITMQ_URL"))

NO_BROKER_MESSAGE = (
    "no broker to test: set WARREN_URL and/or RABBITMQ_URL "
    "(e.g. amqp://guest:guest@127.0.0.1:5672/%2F), or run interop/run, which starts them"
)


def configured_brokers():
    return [
        Broker(name, os.environ[var].strip())
        for name, var in BROKER_ENV
        if os.environ.get(var, "").strip()
    ]


def pytest_report_header(config):
    brokers = configured_brokers()
    if not brokers:
        return "brokers under test: NONE -- " + NO_BROKER_MESSAGE
    return "brokers under test: " + ", ".join(f"{b.name}={b.redacted_url}" for b in brokers)


def pytest_generate_tests(metafunc):
    if "broker" not in metafunc.fixturenames:
        return
    brokers = configured_brokers()
    if brokers:
        metafunc.parametrize("broker", brokers, ids=[b.name for b in brokers], indirect=True)
    else:
        # One failing instance rather than an empty (silently skipped) parameter set.
        metafunc.parametrize("broker", [None], ids=["no-broker"], indirect=True)


@pytest.fixture
def broker(request):
    if request.param is None:
        pytest.fail(NO_BROKER_MESSAGE)
    return request.param


@pytest.fixture
def conn(broker):
    connection = broker.connect()
    yield connection
    if connection.is_open:
        connection.close()


@pytest.fixture
def ch(conn):
    return conn.channel()


@pytest.fixture
def scratch(broker):
    resources = Scratch(broker)
    yield resources
    resources.cleanup()
