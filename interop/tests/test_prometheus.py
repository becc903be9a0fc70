"""Prometheus metrics side by side: the same workload on each broker, then its metrics
endpoint is scraped and the counter deltas compared with what the workload did (the same
expected numbers for both brokers), and the families RabbitMQ's Grafana "RabbitMQ-Overview"
dashboard and issue 17 name must all be present.

WARREN_PROMETHEUS_URL / RABBITMQ_PROMETHEUS_URL  http:// base URL of each broker's
prometheus.tcp.port (interop/run sets them). The global counters are node-wide, so the node
must see no other traffic while a scenario runs (interop/run's private node does not).
"""

import os
import re
import urllib.parse
import urllib.request

import pika.exceptions
import pytest

from support import WAIT, get_one, unique, wait_for

PROMETHEUS_ENV = {"warren": "WARREN_PROMETHEUS_URL", "rabbitmq": "RABBITMQ_PROMETHEUS_URL"}

# Every family the Overview dashboard queries, and the rest issue 17 names.
REQUIRED_FAMILIES = """
rabbitmq_build_info rabbitmq_identity_info rabbitmq_connections rabbitmq_channels
rabbitmq_queues rabbitmq_consumers rabbitmq_channel_consumers
rabbitmq_connections_opened_total rabbitmq_connections_closed_total
rabbitmq_channels_opened_total rabbitmq_channels_closed_total
rabbitmq_queues_declared_total rabbitmq_queues_created_total rabbitmq_queues_deleted_total
rabbitmq_queue_messages_ready rabbitmq_queue_messages_unacked rabbitmq_queue_messages
rabbitmq_queue_consumers rabbitmq_global_messages_received_total
rabbitmq_global_messages_received_confirm_total rabbitmq_global_messages_routed_total
rabbitmq_global_messages_confirmed_total rabbitmq_global_messages_unroutable_dropped_total
rabbitmq_global_messages_unroutable_returned_total rabbitmq_global_messages_delivered_total
rabbitmq_global_messages_delivered_consume_auto_ack_total
rabbitmq_global_messages_delivered_consume_manual_ack_total
rabbitmq_global_messages_delivered_get_auto_ack_total
rabbitmq_global_messages_delivered_get_manual_ack_total rabbitmq_global_messages_get_empty_total
rabbitmq_global_messages_redelivered_total rabbitmq_global_messages_acknowledged_total
rabbitmq_global_publishers rabbitmq_global_consumers rabbitmq_process_open_fds
rabbitmq_process_max_fds rabbitmq_process_open_tcp_sockets rabbitmq_process_max_tcp_sockets
rabbitmq_process_resident_memory_bytes rabbitmq_resident_memory_limit_bytes
rabbitmq_disk_space_available_bytes rabbitmq_disk_space_available_limit_bytes
rabbitmq_alarms_memory_used_watermark rabbitmq_alarms_free_disk_space_watermark
""".split()

CLASSIC = '{protocol="amqp091",queue_type="rabbit_classic_queue"}'
AMQP = '{protocol="amqp091"}'

# What the workload below does to each counter.
EXPECTED_DELTAS = {
    "rabbitmq_global_messages_received_total" + AMQP: 15,
    "rabbitmq_global_messages_received_confirm_total" + AMQP: 12,
    "rabbitmq_global_messages_confirmed_total" + AMQP: 12,
    "rabbitmq_global_messages_routed_total" + AMQP: 10,
    "rabbitmq_global_messages_unroutable_dropped_total" + AMQP: 3,
    "rabbitmq_global_messages_unroutable_returned_total" + AMQP: 2,
    "rabbitmq_global_messages_delivered_get_manual_ack_total" + CLASSIC: 6,
    "rabbitmq_global_messages_delivered_get_auto_ack_total" + CLASSIC: 1,
    "rabbitmq_global_messages_delivered_consume_auto_ack_total" + CLASSIC: 5,
    "rabbitmq_global_messages_delivered_consume_manual_ack_total" + CLASSIC: 0,
    "rabbitmq_global_messages_delivered_total" + CLASSIC: 12,
    "rabbitmq_global_messages_redelivered_total" + CLASSIC: 2,
    "rabbitmq_global_messages_acknowledged_total" + CLASSIC: 4,
    "rabbitmq_global_messages_get_empty_total" + CLASSIC: 1,
    "rabbitmq_queues_declared_total": 1,
    "rabbitmq_queues_created_total": 1,
    "rabbitmq_queues_deleted_total": 1,
    "rabbitmq_connections_opened_total": 1,
    "rabbitmq_channels_opened_total": 2,
}

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)")


@pytest.fixture
def metrics_url(broker):
    url = os.environ.get(PROMETHEUS_ENV[broker.name], "").strip()
    if not url:
        pytest.fail(f"{PROMETHEUS_ENV[broker.name]} is not set: run interop/run")
    return url.rstrip("/")


def scrape(base, path="/metrics"):
    """Series (name with its labels as written) to value; and the family names present."""
    with urllib.request.urlopen(base + path, timeout=WAIT) as response:
        text = response.read().decode()
    series = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            series[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return series, {name.split("{")[0] for name in series}


def workload(broker):
    """Publish 10 (confirmed), 3 unroutable dropped, 2 unroutable returned; get 6 with manual
    ack, ack 4 and reject 2 back; get 1 auto-ack, consume the last 5 auto-ack; one get-empty."""
    conn = broker.connect()
    try:
        confirming = conn.channel()
        confirming.confirm_delivery()
        plain = conn.channel()
        queue = unique("R-metrics")
        plain.queue_declare(queue)
        for i in range(10):
            confirming.basic_publish("", queue, f"m{i}".encode())
        nowhere = unique("R-nowhere")
        for _ in range(3):
            plain.basic_publish("amq.direct", nowhere, b"u")
        for _ in range(2):
            with pytest.raises(pika.exceptions.UnroutableError):
                confirming.basic_publish("amq.direct", nowhere, b"r", mandatory=True)
        taken = [get_one(plain, queue, auto_ack=False)[0] for _ in range(6)]
        for method in taken[:4]:
            plain.basic_ack(method.delivery_tag)
        for method in taken[4:]:
            plain.basic_reject(method.delivery_tag, requeue=True)
        get_one(plain, queue, auto_ack=True)
        received = []
        plain.basic_consume(queue, lambda *a: received.append(a[3]), auto_ack=True)
        wait_for(lambda: len(received) == 5, "five deliveries", conn)
        assert plain.basic_get(queue, auto_ack=True)[0] is None
        plain.queue_delete(queue)
    finally:
        conn.close()


def test_workload_counters_match_what_the_workload_did(broker, metrics_url):
    before, _ = scrape(metrics_url)
    workload(broker)
    deltas = {}

    def settled():
        after, _ = scrape(metrics_url)
        deltas.update({k: after.get(k, 0) - before.get(k, 0) for k in EXPECTED_DELTAS})
        return deltas == EXPECTED_DELTAS

    try:
        wait_for(settled, "the counters to reach the workload's numbers", timeout=3 * WAIT)
    except AssertionError:
        wrong = {k: (v, EXPECTED_DELTAS[k]) for k, v in deltas.items() if v != EXPECTED_DELTAS[k]}
        raise AssertionError(f"(got, expected) per counter: {wrong}") from None


def test_every_dashboard_family_is_present(broker, metrics_url):
    _, families = scrape(metrics_url)
    missing = [f for f in REQUIRED_FAMILIES if f not in families]
    assert not missing, f"missing families: {missing}"


def test_per_object_has_a_series_per_queue(broker, metrics_url, ch, scratch):
    queue = scratch.queue(ch, "R-per-object")
    ch.basic_publish("", queue, b"x")
    labels = f'{{vhost="{broker.vhost}",queue="{queue}"}}'

    def shown():
        series, _ = scrape(metrics_url, "/metrics/per-object")
        return series.get("rabbitmq_queue_messages_ready" + labels) == 1

    # RabbitMQ refreshes queue gauges every collect_statistics_interval (5 s).
    wait_for(shown, "the queue's ready count in /metrics/per-object", timeout=4 * WAIT)
    vhost = urllib.parse.quote(broker.vhost, safe="")
    detailed, _ = scrape(
        metrics_url, f"/metrics/detailed?family=queue_coarse_metrics&vhost={vhost}"
    )
    assert detailed.get("rabbitmq_detailed_queue_messages" + labels) == 1
    assert not any(k.startswith("rabbitmq_detailed_queue_consumers") for k in detailed)
