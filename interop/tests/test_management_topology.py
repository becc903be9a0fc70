"""Management API topology and live objects (issue 16): exchanges, queues, messages, bindings,
connections, channels, consumers.

WARREN_MGMT_URL / RABBITMQ_MGMT_URL: http:// base URLs of each broker's management API (and
WARREN_URL / RABBITMQ_URL, amqp://, for the connection scenario). Every
scenario runs once per URL set and asserts what RabbitMQ 3.10.8 answers: status codes, error
bodies, JSON keys and values, `properties_key` and `Location`. Names are unique per run
(prefixed m2-) and removed afterwards. Plain urllib: no HTTP client dependency.
"""

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pika
import pytest

ENV = (("warren", "WARREN_MGMT_URL"), ("rabbitmq", "RABBITMQ_MGMT_URL"))
URLS = [(n, os.environ[v].strip().rstrip("/")) for n, v in ENV if os.environ.get(v, "").strip()]
V = "%2F"


class Api:
    def __init__(self, base):
        self.base = base
        self.cleanup = []

    def call(self, method, path, body=None, auth=b"guest:guest"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method)
        req.add_header("authorization", "Basic " + base64.b64encode(auth).decode())
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, headers, text = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, text = e.code, e.headers, e.read()
        return status, headers, (json.loads(text) if text.strip() else None)

    def ok(self, method, path, body=None, status=None):
        got, headers, out = self.call(method, path, body)
        assert got == (status or {"GET": 200, "PUT": 201, "POST": 200, "DELETE": 204}[method]), (path, got, out)
        return out if method != "POST" or status != 201 else headers

    def queue(self, name, body=None):
        self.ok("PUT", f"queues/{V}/{name}", body or {})
        self.cleanup.append(f"queues/{V}/{name}")

    def exchange(self, name, body):
        self.ok("PUT", f"exchanges/{V}/{name}", body)
        self.cleanup.append(f"exchanges/{V}/{name}")

    def publish(self, key, payload, props=None, exchange="amq.default", encoding="string"):
        body = {"routing_key": key, "payload": payload, "payload_encoding": encoding, "properties": props or {}}
        return self.ok("POST", f"exchanges/{V}/{exchange}/publish", body)["routed"]

    def wait(self, path, field, want):
        """RabbitMQ's counts lag its stats interval; poll until they show."""
        deadline = time.monotonic() + 15
        while (got := self.ok("GET", path).get(field)) != want and time.monotonic() < deadline:
            time.sleep(0.5)
        assert got == want, (path, field, got)


@pytest.fixture(params=URLS or [None], ids=[n for n, _ in URLS] or ["no-broker"])
def api(request):
    if request.param is None:
        pytest.fail("set WARREN_MGMT_URL and/or RABBITMQ_MGMT_URL, or run interop/run")
    a = Api(request.param[1])
    a.amqp = os.environ.get({"warren": "WARREN_URL", "rabbitmq": "RABBITMQ_URL"}[request.param[0]])
    yield a
    for path in reversed(a.cleanup):
        a.call("DELETE", path)


def unique(role):
    return f"m2-{role}-{uuid.uuid4().hex[:8]}"


def bad(api, method, path, body, status, reason):
    got, _, out = api.call(method, path, body)
    assert (got, out) == (status, reason), path


NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


def test_exchange_declare_redeclare_get_and_delete(api):
    x, q = unique("x"), unique("q")
    api.exchange(x, {"type": "direct", "durable": True})
    api.ok("PUT", f"exchanges/{V}/{x}", {"type": "direct", "durable": True}, status=204)
    inequivalent = f"inequivalent arg 'type' for exchange '{x}' in vhost '/': received 'fanout' but current is 'direct'"
    bad(api, "PUT", f"exchanges/{V}/{x}", {"type": "fanout", "durable": True}, 400,
        {"error": "bad_request", "reason": inequivalent})
    bad(api, "PUT", f"exchanges/{V}/{unique('x')}", {"type": "bogus"}, 400,
        {"error": "bad_request", "reason": "unknown exchange type 'bogus'"})
    bad(api, "PUT", f"exchanges/{V}/{unique('x')}", {"durable": "yes"}, 400,
        {"error": "bad_request", "reason": ["not_boolean", "yes"]})
    one = api.ok("GET", f"exchanges/{V}/{x}")
    want = {"name": x, "vhost": "/", "type": "direct", "durable": True, "auto_delete": False,
            "internal": False, "arguments": {}, "incoming": [], "outgoing": []}
    assert {k: one[k] for k in want} == want
    default = api.ok("GET", f"exchanges/{V}/amq.default")
    assert (default["name"], default["type"]) == ("", "direct")
    names = [e["name"] for e in api.ok("GET", f"exchanges/{V}?columns=name")]
    assert "" in names and "amq.topic" in names and x in names
    assert any(e["name"] == x for e in api.ok("GET", "exchanges"))
    api.queue(q)
    api.ok("POST", f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "k"}, status=201)
    bad(api, "DELETE", f"exchanges/{V}/{x}?if-unused=true", None, 400,
        {"error": "bad_request", "reason": f"exchange '{x}' in vhost '/' in use"})
    bad(api, "DELETE", f"exchanges/{V}/amq.direct", None, 401,
        {"error": "not_authorised", "reason": "Access refused."})
    api.ok("DELETE", f"exchanges/{V}/{x}")
    bad(api, "GET", f"exchanges/{V}/{x}", None, 404, NOT_FOUND)
    bad(api, "DELETE", f"exchanges/{V}/{x}", None, 404, NOT_FOUND)
    bad(api, "GET", "exchanges/m2-no-such-vhost", None, 404, NOT_FOUND)


def test_publish_routes_and_refuses_like_rabbitmq(api):
    q = unique("q")
    api.queue(q)
    assert api.publish(q, "hello") is True
    assert api.publish(unique("nowhere"), "hello") is False
    bad(api, "POST", f"exchanges/{V}/amq.default/publish", {"routing_key": "k", "payload": "p"}, 400,
        {"error": "bad_request", "reason": "[{key_missing,properties},{key_missing,payload_encoding}]"})
    missing = unique("x")
    body = {"routing_key": "k", "payload": "p", "payload_encoding": "string", "properties": {}}
    bad(api, "POST", f"exchanges/{V}/{missing}/publish", body, 400,
        {"error": "bad_request", "reason": f"404 NOT_FOUND - no exchange '{missing}' in vhost '/'"})


def test_queue_declare_get_counts_and_delete(api):
    q = unique("q")
    api.queue(q, {"durable": False, "arguments": {"x-max-length": 10}})
    api.ok("PUT", f"queues/{V}/{q}", {"durable": False, "arguments": {"x-max-length": 10}}, status=204)
    bad(api, "PUT", f"queues/{V}/{q}", {"durable": True, "arguments": {"x-max-length": 10}}, 400,
        {"error": "bad_request",
         "reason": f"inequivalent arg 'durable' for queue '{q}' in vhost '/': received 'true' but current is 'false'"})
    api.publish(q, "one")
    api.publish(q, "two")
    api.wait(f"queues/{V}/{q}", "messages", 2)
    one = api.ok("GET", f"queues/{V}/{q}")
    want = {"name": q, "vhost": "/", "durable": False, "auto_delete": False, "exclusive": False,
            "arguments": {"x-max-length": 10}, "type": "classic", "state": "running",
            "messages": 2, "messages_ready": 2, "messages_unacknowledged": 0, "consumers": 0}
    assert {k: one[k] for k in want} == want
    assert isinstance(one["node"], str)
    listed = api.ok("GET", f"queues/{V}?columns=name,messages")
    assert {"name": q, "messages": 2} in listed
    page = api.ok("GET", f"queues?page=1&page_size=100&name={q}")
    assert (page["filtered_count"], page["items"][0]["name"]) == (1, q)
    bad(api, "DELETE", f"queues/{V}/{q}?if-empty=true", None, 400,
        {"error": "bad_request", "reason": f"queue '{q}' in vhost '/' not empty"})
    api.ok("DELETE", f"queues/{V}/{q}/contents")
    api.wait(f"queues/{V}/{q}", "messages", 0)
    api.ok("DELETE", f"queues/{V}/{q}?if-empty=true")
    for method in ("GET", "DELETE"):
        bad(api, method, f"queues/{V}/{q}", None, 404, NOT_FOUND)
    bad(api, "DELETE", f"queues/{V}/{q}/contents", None, 404, NOT_FOUND)


def test_get_ackmodes_encodings_and_truncate(api):
    q = unique("q")
    api.queue(q)
    props = {"delivery_mode": 2, "headers": {"a": 1}, "content_type": "text/plain"}
    api.publish(q, "hello", props)
    api.publish(q, base64.b64encode(b"\x00\x01\x02\xff").decode(), encoding="base64")
    got = api.ok("POST", f"queues/{V}/{q}/get", {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert got == [
        {"payload_bytes": 5, "redelivered": False, "exchange": "", "routing_key": q, "message_count": 1,
         "properties": props, "payload": "hello", "payload_encoding": "string"},
        {"payload_bytes": 4, "redelivered": False, "exchange": "", "routing_key": q, "message_count": 0,
         "properties": [], "payload": "AAEC/w==", "payload_encoding": "base64"},
    ]
    # RabbitMQ requeues them when the API's channel closes, after its reply: ask until one is
    # back (an empty get changes nothing).
    deadline = time.monotonic() + 5
    while not (got := api.ok("POST", f"queues/{V}/{q}/get",
                             {"count": 1, "ackmode": "reject_requeue_false", "encoding": "base64",
                              "truncate": 2})):
        assert time.monotonic() < deadline, "the requeued messages never came back"
        time.sleep(0.1)
    assert [(m["payload"], m["payload_bytes"], m["redelivered"]) for m in got] == [("aGU=", 5, True)]
    api.wait(f"queues/{V}/{q}", "messages", 1)
    bad(api, "POST", f"queues/{V}/{q}/get", {"count": 1}, 400,
        {"error": "bad_request", "reason": "[{key_missing,ackmode},{key_missing,encoding}]"})
    bad(api, "POST", f"queues/{V}/{q}/get", {"ackmode": "ack_requeue_true", "encoding": "auto"}, 400,
        {"error": "bad_request", "reason": "[{key_missing,count}]"})
    bad(api, "POST", f"queues/{V}/{q}/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "x"}, 400,
        {"error": "bad_request", "reason": "Unsupported encoding. Please use auto or base64."})
    missing = unique("q")
    bad(api, "POST", f"queues/{V}/{missing}/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}, 404,
        {"error": "not_found", "reason": f"NOT_FOUND - no queue '{missing}' in vhost '/'"})


def test_bindings_in_all_forms_with_properties_keys(api):
    x, x2, q = unique("x"), unique("x"), unique("q")
    api.exchange(x, {"type": "direct"})
    api.exchange(x2, {"type": "fanout"})
    api.queue(q)
    created = [
        (f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "k1"}, f"{q}/k1"),
        (f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "k", "arguments": {"x": "y"}}, f"{q}/k~FO7NeQ"),
        (f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "k1", "arguments": {"x-a": "b", "n": 1}}, f"{q}/k1~IDmrlw"),
        (f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "a b/c~d"}, f"{q}/a%2Bb%252Fc%257Ed"),
        (f"bindings/{V}/e/{x}/e/{x2}", {}, f"{x2}/~"),
    ]
    for path, body, location in created:
        assert api.ok("POST", path, body, status=201)["location"] == location
    keys = sorted(b["properties_key"] for b in api.ok("GET", f"bindings/{V}/e/{x}/q/{q}"))
    assert keys == ["a+b%2Fc%7Ed", "k1", "k1~IDmrlw", "k~FO7NeQ"]
    one = api.ok("GET", f"bindings/{V}/e/{x}/q/{q}/k1~IDmrlw")
    assert one == {"source": x, "vhost": "/", "destination": q, "destination_type": "queue", "routing_key": "k1",
                   "arguments": {"n": 1, "x-a": "b"}, "properties_key": "k1~IDmrlw"}
    assert len(api.ok("GET", f"exchanges/{V}/{x}/bindings/source")) == 5
    assert [b["source"] for b in api.ok("GET", f"exchanges/{V}/{x2}/bindings/destination")] == [x]
    assert [b["source"] for b in api.ok("GET", f"queues/{V}/{q}/bindings")] == ["", x, x, x, x]
    assert len([b for b in api.ok("GET", f"bindings/{V}") if b["source"] == x]) == 5
    assert api.ok("GET", f"bindings/{V}/e/{unique('x')}/q/{q}") == []
    assert api.ok("GET", f"exchanges/{V}/{unique('x')}/bindings/source") == []
    ghost = unique("q")
    assert [(b["source"], b["properties_key"]) for b in api.ok("GET", f"queues/{V}/{ghost}/bindings")] == [("", ghost)]
    api.ok("DELETE", f"bindings/{V}/e/{x}/q/{q}/k1~IDmrlw")
    api.ok("DELETE", f"bindings/{V}/e/{x}/e/{x2}/~")
    for method in ("GET", "DELETE"):
        bad(api, method, f"bindings/{V}/e/{x}/q/{q}/k1~IDmrlw", None, 404, NOT_FOUND)
    missing = unique("q")
    bad(api, "POST", f"bindings/{V}/e/{x}/q/{missing}", {"routing_key": "k"}, 404,
        {"error": "not_found", "reason": f"no queue '{missing}' in vhost '/'"})
    bad(api, "POST", f"bindings/{V}/e/amq.default/q/{q}", {"routing_key": "k"}, 401,
        {"error": "not_authorised", "reason": "Access refused."})


def test_exclusive_and_used_queues_are_refused_like_rabbitmq(api):
    if not api.amqp:
        pytest.fail("this scenario needs WARREN_URL / RABBITMQ_URL beside the management URL")
    conn = pika.BlockingConnection(pika.URLParameters(api.amqp))
    try:
        ch = conn.channel()
        mine, used = unique("q"), unique("q")
        ch.queue_declare(mine, exclusive=True)
        ch.queue_declare(used, auto_delete=True)
        ch.basic_consume(used, lambda *a: None)
        locked = (f"cannot obtain exclusive access to locked queue '{mine}' in vhost '/'. It could be originally "
                  "declared on another connection or the exclusive property value does not match that of the "
                  "original declaration.")
        assert api.call("GET", f"queues/{V}/{mine}")[0] == 200
        for method, path, body in (("PUT", "", {}), ("DELETE", "/contents", None), ("DELETE", "", None)):
            bad(api, method, f"queues/{V}/{mine}{path}", body, 400, {"error": "bad_request", "reason": locked})
        bad(api, "POST", f"queues/{V}/{mine}/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"},
            400, {"error": "bad_request", "reason": f"405 RESOURCE_LOCKED - {locked}"})
        bad(api, "DELETE", f"queues/{V}/{used}?if-unused=true", None, 400,
            {"error": "bad_request", "reason": f"queue '{used}' in vhost '/' in use"})
        bad(api, "PUT", f"queues/{V}/amq.{unique('q')}", {}, 401, {"error": "not_authorised", "reason": "Access refused."})
        internal = unique("x")
        api.exchange(internal, {"type": "fanout", "internal": True})
        body = {"routing_key": "", "payload": "x", "payload_encoding": "string", "properties": {}}
        bad(api, "POST", f"exchanges/{V}/{internal}/publish", body, 400, {"error": "bad_request",
            "reason": f"403 ACCESS_REFUSED - cannot publish to internal exchange '{internal}' in vhost '/'"})
    finally:
        conn.close()

def test_connections_channels_consumers_and_forced_close(api):
    if not api.amqp:
        pytest.fail("the connection scenario needs WARREN_URL / RABBITMQ_URL beside the management URL")
    conn = pika.BlockingConnection(pika.URLParameters(api.amqp))
    try:
        ch = conn.channel()
        q = ch.queue_declare(unique("q"), auto_delete=True).method.queue
        ch.basic_qos(prefetch_count=7)
        ch.basic_consume(q, lambda *a: None, consumer_tag="m2-tag")
        port = conn._impl._transport._sock.getsockname()[1]
        deadline = time.monotonic() + 15
        while not (mine := [c for c in api.ok("GET", "connections") if c.get("peer_port") == port and "state" in c]):
            assert time.monotonic() < deadline, "the connection is never listed"
            time.sleep(0.5)
        c = mine[0]
        broker_port = int(api.amqp.rsplit(":", 1)[1].split("/")[0])
        assert c["name"] == f"127.0.0.1:{port} -> 127.0.0.1:{broker_port}"
        assert {k: c[k] for k in ("user", "vhost", "peer_host", "port", "protocol", "state")} == {
            "user": "guest", "vhost": "/", "peer_host": "127.0.0.1", "port": broker_port,
            "protocol": "AMQP 0-9-1", "state": "running"}
        name = urllib.parse.quote(c["name"], safe="")
        assert api.ok("GET", f"connections/{name}")["name"] == c["name"]
        assert c["name"] in [x["name"] for x in api.ok("GET", f"vhosts/{V}/connections")]
        want = {"name": f"{c['name']} (1)", "number": 1, "prefetch_count": 7, "consumer_count": 1,
                "confirm": False, "transactional": False, "user": "guest", "vhost": "/"}
        # RabbitMQ lists a channel as created (prefetch 0, no consumer) until its next stats
        # emission, up to 5 s later.
        while (listed := [{k: x.get(k) for k in want}
                          for x in api.ok("GET", f"connections/{name}/channels")]) != [want]:
            assert time.monotonic() < deadline, f"the channel is never listed as {want}: {listed}"
            time.sleep(0.5)
        chan = urllib.parse.quote(want["name"], safe="")
        assert api.ok("GET", f"channels/{chan}")["connection_details"]["name"] == c["name"]
        assert want["name"] in [x["name"] for x in api.ok("GET", "channels")]
        while not (cons := [x for x in api.ok("GET", f"consumers/{V}")
                            if x["channel_details"]["name"] == want["name"]]):
            assert time.monotonic() < deadline, "the consumer is never listed"
            time.sleep(0.5)
        assert [(x["consumer_tag"], x["queue"], x["prefetch_count"]) for x in cons] == [
            ("m2-tag", {"name": q, "vhost": "/"}, 7)]
        req = urllib.request.Request(f"{api.base}/api/connections/{name}", method="DELETE")
        req.add_header("authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("X-Reason", "m2 says bye")
        assert urllib.request.urlopen(req, timeout=30).status == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            conn.process_data_events(5)
            ch.basic_qos(prefetch_count=1)
        assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - m2 says bye")
        # RabbitMQ's management database drops a closed connection a moment later (its
        # statistics are collected asynchronously): wait for it, bounded.
        deadline = time.monotonic() + 15
        while api.call("GET", f"connections/{name}", None)[0] != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        bad(api, "GET", f"connections/{name}", None, 404, NOT_FOUND)
    finally:
        if conn.is_open:
            conn.close()


def test_properties_keys_hash_every_argument_type(api):
    x, q = unique("x"), unique("q")
    api.exchange(x, {"type": "headers"})
    api.queue(q)
    want = {"~BX2YyQ": {"l": [1, "x"]}, "~_sQtSA": {"b": True}, "~fF0G0A": {"f": 1.5},
            "~lqI1bQ": {"t": {"a": "s", "z": 1}}, "~nMVrCA": {"big": 10000000000, "neg": -5}}
    for args in want.values():
        api.ok("POST", f"bindings/{V}/e/{x}/q/{q}", {"routing_key": "", "arguments": args}, status=201)
    got = {b["properties_key"]: b["arguments"] for b in api.ok("GET", f"bindings/{V}/e/{x}/q/{q}")}
    assert got == want



def test_a_management_user_is_held_to_its_amqp_permissions(api):
    user, ok, other = unique("u"), unique("ok"), unique("q")
    api.ok("PUT", f"users/{user}", {"password": "pw", "tags": "management"})
    api.cleanup.append(f"users/{user}")
    pattern = f"^{ok}.*"
    api.ok("PUT", f"permissions/{V}/{user}", {"configure": pattern, "write": pattern, "read": pattern})
    api.queue(other)
    as_user = f"{user}:pw".encode()
    refused = (401, {"error": "not_authorised", "reason": "Access refused."})
    get = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    publish = {"routing_key": "x", "payload": "x", "payload_encoding": "string", "properties": {}}
    cases = [
        ("PUT", f"queues/{V}/{other}x", {}, refused),
        ("PUT", f"exchanges/{V}/{other}x", {"type": "fanout"}, refused),
        ("DELETE", f"queues/{V}/{other}", None, refused),
        ("DELETE", f"queues/{V}/{other}/contents", None, refused),
        ("POST", f"queues/{V}/{other}/get", get, (401, {"error": "not_authorised",
         "reason": f"ACCESS_REFUSED - access to queue '{other}' in vhost '/' refused for user '{user}'"})),
        ("POST", f"exchanges/{V}/amq.direct/publish", publish, (400, {"error": "bad_request",
         "reason": f"403 ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user '{user}'"})),
        ("PUT", f"queues/{V}/{ok}", {}, (201, None)),
        ("POST", f"bindings/{V}/e/amq.direct/q/{ok}", {}, refused),
        ("DELETE", f"queues/{V}/{ok}", None, (204, None)),
    ]
    for method, path, body, want in cases:
        status, _, out = api.call(method, path, body, auth=as_user)
        assert (status, out) == want, (method, path)
