"""The management HTTP API, against Warren's and RabbitMQ's (issue 16).

WARREN_MGMT_URL / RABBITMQ_MGMT_URL: http:// base URLs of each broker's management API (interop/run
exports both; RabbitMQ's node gets the rabbitmq_management plugin). Every scenario runs once per
URL set and asserts what RabbitMQ 3.10.8 answers: status codes, error bodies and JSON keys. Names
are unique per run and removed afterwards. Plain urllib: no HTTP client dependency.
"""

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

MGMT_ENV = (("warren", "WARREN_MGMT_URL"), ("rabbitmq", "RABBITMQ_MGMT_URL"))
CONFIGURED = [(n, os.environ[v].strip().rstrip("/")) for n, v in MGMT_ENV if os.environ.get(v, "").strip()]


class Api:
    def __init__(self, name, base):
        self.name, self.base = name, base
        self.created = []  # (path) to DELETE afterwards, newest first

    def call(self, method, path, body=None, auth=("guest", "guest"), raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, headers, text = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, text = e.code, e.headers, e.read()
        return status, headers, (json.loads(text) if text.strip() else None)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def make(self, path, body):
        status, _, _ = self.call("PUT", path, body)
        assert status == 201, (path, status)
        self.created.insert(0, path)

    def wait_up(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("whoami")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} management API at {self.base} does not answer")
            time.sleep(0.5)

    def cleanup(self):
        for path in self.created:
            self.call("DELETE", path)


@pytest.fixture(params=CONFIGURED or [None], ids=[n for n, _ in CONFIGURED] or ["no-broker"])
def api(request):
    if request.param is None:
        pytest.fail("no management API to test: set WARREN_MGMT_URL and/or RABBITMQ_MGMT_URL, or run interop/run")
    a = Api(*request.param)
    a.wait_up()
    yield a
    a.cleanup()


def unique(role):
    return f"mgmt-{role}-{uuid.uuid4().hex[:8]}"


def q(name):
    return urllib.parse.quote(name, safe="")


NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


def test_login_is_http_basic_with_rabbitmqs_challenge(api):
    status, headers, _ = api.get("whoami", auth=None)
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="RabbitMQ Management"'
    status, _, body = api.get("whoami", auth=("guest", "wrong"))
    assert (status, body) == (401, {"error": "not_authorized", "reason": "Login failed"})
    assert api.get("whoami")[::2] == (200, {"name": "guest", "tags": ["administrator"]})


def test_tags_decide_what_a_user_reaches(api):
    users = {tag: unique(tag or "plain") for tag in ["", "management", "monitoring", "policymaker"]}
    for tag, name in users.items():
        api.make(f"users/{name}", {"password": "pw", "tags": tag})

    def as_(tag, path):
        status, _, body = api.get(path, auth=(users[tag], "pw"))
        return status, body

    assert as_("", "whoami") == (401, {"error": "not_authorised", "reason": "Not management user"})
    for tag in ["management", "monitoring", "policymaker"]:
        assert as_(tag, "whoami") == (200, {"name": users[tag], "tags": [tag]})
        assert as_(tag, "overview")[0] == 200
        assert as_(tag, "users") == (401, {"error": "not_authorised", "reason": "Not administrator user"})
        assert as_(tag, "health/checks/alarms") == (200, {"status": "ok"})
    assert as_("management", "nodes") == (401, {"error": "not_authorised", "reason": "Not monitor user"})
    assert as_("monitoring", "nodes")[0] == 200
    assert as_("management", "vhosts") == (200, [])


def test_vhost_life_cycle(api):
    name = unique("vh")
    assert api.call("PUT", f"vhosts/{q(name)}", {"description": "d", "tags": "a,b"})[0] == 201
    api.created.insert(0, f"vhosts/{q(name)}")
    status, _, v = api.get(f"vhosts/{q(name)}")
    assert status == 200
    assert {"name", "description", "tags", "metadata", "tracing", "cluster_state"} <= set(v)
    assert (v["description"], v["tags"], v["metadata"]) == ("d", ["a", "b"], {"description": "d", "tags": ["a", "b"]})
    assert api.call("PUT", f"vhosts/{q(name)}", {"description": "d2"})[0] == 204
    assert api.get(f"vhosts/{q(name)}")[2]["tags"] == []
    assert api.call("DELETE", f"vhosts/{q(name)}")[0] == 204
    assert api.call("DELETE", f"vhosts/{q(name)}")[1:][1] == NOT_FOUND
    status, _, body = api.call("PUT", f"vhosts/{q(name)}", raw=b"{bad")
    assert (status, body) == (400, {"error": "bad_request", "reason": "not_json"})


def test_user_life_cycle_and_its_errors(api):
    name = unique("user")
    api.make(f"users/{name}", {"password": "pw", "tags": "management"})
    status, _, u = api.get(f"users/{name}")
    assert status == 200
    assert set(u) == {"name", "password_hash", "hashing_algorithm", "tags", "limits"}
    assert (u["hashing_algorithm"], u["tags"], u["limits"]) == ("rabbit_password_hashing_sha256", ["management"], {})
    assert api.call("PUT", f"users/{name}", {"password": "pw", "tags": "monitoring"})[0] == 204
    assert api.get("whoami", auth=(name, "pw"))[2]["tags"] == ["monitoring"]
    # Tags without a password: the old password no longer logs in.
    assert api.call("PUT", f"users/{name}", {"tags": "monitoring"})[0] == 204
    assert api.get("whoami", auth=(name, "pw"))[0] == 401

    def reason(body):
        status, _, answer = api.call("PUT", f"users/{name}", body)
        assert status == 400 and answer["error"] == "bad_request"
        return answer["reason"]

    assert reason({}) == "tags_not_present"
    assert reason({"password_hash": "zzz", "tags": ""}) == ["not_base64", "zzz"]
    assert any(x["name"] == name for x in api.get("users/without-permissions")[2])
    other = unique("user")
    hashed = {"password_hash": u["password_hash"], "hashing_algorithm": u["hashing_algorithm"], "tags": "management"}
    api.make(f"users/{other}", hashed)
    assert api.get("whoami", auth=(other, "pw"))[0] == 200
    status, _, body = api.call("POST", "users/bulk-delete", {"users": [other, unique("nobody")]})
    assert status == 400 and body["reason"][0] == "no_such_user"
    assert api.get(f"users/{other}")[1:][1] == NOT_FOUND
    assert api.call("POST", "users/bulk-delete", {})[2]["reason"] == "[{key_missing,users}]"


def test_permissions_and_topic_permissions(api):
    user = unique("perm")
    api.make(f"users/{user}", {"password": "pw", "tags": ""})
    path = f"permissions/%2F/{user}"
    grant = {"configure": ".*", "write": ".*", "read": "^r"}
    assert api.call("PUT", path, grant)[0] == 201
    assert api.call("PUT", path, grant)[0] == 204
    assert api.get(path)[2] == {"user": user, "vhost": "/", **grant}
    assert api.get(f"users/{user}/permissions")[2] == [{"user": user, "vhost": "/", **grant}]
    assert any(p["user"] == user for p in api.get("vhosts/%2F/permissions")[2])
    assert any(p["user"] == user for p in api.get("permissions")[2])
    status, _, body = api.call("PUT", path, {"configure": ".*"})
    assert (status, body["reason"]) == (400, "[{key_missing,write},{key_missing,read}]")
    status, _, body = api.call("PUT", f"permissions/{unique('novhost')}/{user}", grant)
    assert (status, body["reason"]) == (400, "vhost_or_user_not_found")
    assert api.call("DELETE", path)[0] == 204
    assert api.call("DELETE", path)[2] == NOT_FOUND
    topic_path = f"topic-permissions/%2F/{user}"
    assert api.call("PUT", topic_path, {"exchange": "amq.topic", "write": "^a", "read": ".*"})[0] == 201
    assert api.get(topic_path)[2] == [{"user": user, "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": ".*"}]
    assert api.call("PUT", topic_path, {"write": "", "read": ""})[2]["reason"] == "[{key_missing,exchange}]"
    assert api.call("DELETE", topic_path)[0] == 204
    assert api.get(topic_path)[2] == NOT_FOUND


def test_limits(api):
    vhost, user = unique("lim"), unique("lim")
    api.make(f"vhosts/{vhost}", {})
    api.make(f"users/{user}", {"password": "pw", "tags": ""})
    assert api.call("PUT", f"vhost-limits/{vhost}/max-queues", {"value": 5})[0] == 204
    assert api.get(f"vhost-limits/{vhost}")[2] == [{"vhost": vhost, "value": {"max-queues": 5}}]
    assert {"vhost": vhost, "value": {"max-queues": 5}} in api.get("vhost-limits")[2]
    assert api.call("PUT", f"vhost-limits/{vhost}/bogus", {"value": 5})[0] == 400
    assert api.call("PUT", f"vhost-limits/{vhost}/max-queues", {})[2]["reason"] == "[{key_missing,value}]"
    status, _, body = api.call("PUT", f"vhost-limits/{unique('none')}/max-queues", {"value": 1})
    assert (status, body) == (404, {"error": "not_found", "reason": "vhost_not_found"})
    assert api.call("DELETE", f"vhost-limits/{vhost}/max-queues")[0] == 204
    assert api.get(f"vhost-limits/{vhost}")[2] == []
    assert api.call("PUT", f"user-limits/{user}/max-channels", {"value": 3})[0] == 204
    assert api.get(f"user-limits/{user}")[2] == [{"user": user, "value": {"max-channels": 3}}]
    status, _, body = api.call("PUT", f"user-limits/{unique('none')}/max-channels", {"value": 3})
    assert status == 400 and body["reason"][0] == "no_such_user"
    assert api.call("DELETE", f"user-limits/{user}/max-channels")[0] == 204
    assert api.get(f"user-limits/{user}")[2] == []


def test_lists_page_sort_and_select_columns(api):
    prefix = unique("page")
    for i in range(3):
        api.make(f"vhosts/{prefix}-{i}", {})
    status, _, page = api.get(f"vhosts?page=1&page_size=2&name={prefix}&columns=name")
    assert status == 200
    assert page == {"filtered_count": 3, "item_count": 2, "items": [{"name": f"{prefix}-0"}, {"name": f"{prefix}-1"}],
                    "page": 1, "page_count": 2, "page_size": 2, "total_count": page["total_count"]}
    names = [v["name"] for v in api.get("vhosts?sort=name&sort_reverse=true&columns=name")[2] if v["name"].startswith(prefix)]
    assert names == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]
    status, _, body = api.get(f"vhosts?page=9&page_size=1&name={prefix}")
    assert (status, body) == (400, {"error": "page_out_of_range", "reason": "Page out of range, page: 9 page size: 1, len: 3"})
    status, _, body = api.get("vhosts?page=0")
    assert (status, body["error"]) == (400, "invalid_pagination_parameters")
    assert api.get("vhosts?page=x")[2] == {"error": "bad_request", "reason": "Pagination parameters are invalid"}


def test_definitions_export_and_import(api):
    status, _, defs = api.get("definitions")
    assert status == 200
    assert {"rabbit_version", "users", "vhosts", "permissions", "topic_permissions", "parameters",
            "global_parameters", "policies", "queues", "exchanges", "bindings"} <= set(defs)
    assert all(set(v) == {"name"} for v in defs["vhosts"])
    user, vhost = unique("def"), unique("def")
    doc = {"users": [{"name": user, "password": "pw", "tags": "management"}], "vhosts": [{"name": vhost}],
           "permissions": [{"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}]}
    api.created[:0] = [f"users/{user}", f"vhosts/{vhost}"]
    assert api.call("POST", "definitions", doc)[0] in (201, 204)
    assert api.get(f"permissions/{vhost}/{user}")[0] == 200
    status, _, per_vhost = api.get(f"definitions/{vhost}")
    assert status == 200 and {"rabbit_version", "queues", "exchanges", "bindings", "policies"} <= set(per_vhost)
    assert "users" not in per_vhost
    assert api.call("POST", "definitions", raw=b"{bad")[:3:2] == (400, {"error": "bad_request", "reason": "failed_to_parse_json"})


def test_definitions_carry_the_topology(api):
    vhost = unique("topo")
    doc = {"vhosts": [{"name": vhost}],
           "exchanges": [{"name": "x", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                          "internal": False, "arguments": {}}],
           "queues": [{"name": "q", "vhost": vhost, "durable": True, "auto_delete": False,
                       "arguments": {"x-message-ttl": 1000}}],
           "bindings": [{"source": "x", "vhost": vhost, "destination": "q", "destination_type": "queue",
                         "routing_key": "a.#", "arguments": {}}]}
    api.created.insert(0, f"vhosts/{vhost}")
    assert api.call("POST", "definitions", doc)[0] == 204
    out = api.get(f"definitions/{vhost}")[2]
    assert out["queues"] == [{"name": "q", "durable": True, "auto_delete": False, "arguments": {"x-message-ttl": 1000}}]
    assert out["exchanges"] == [{"name": "x", "type": "topic", "durable": True, "auto_delete": False, "internal": False,
                                 "arguments": {}}]
    assert out["bindings"] == [{"source": "x", "destination": "q", "destination_type": "queue", "routing_key": "a.#",
                                "arguments": {}}]
    more = {"queues": [{"name": "q2", "durable": True, "auto_delete": False, "arguments": {}}]}
    assert api.call("POST", f"definitions/{vhost}", more)[0] == 204
    assert len(api.get(f"definitions/{vhost}")[2]["queues"]) == 2
    nowhere = unique("nowhere")
    bad = {"queues": [{"name": "q", "vhost": nowhere, "durable": True, "auto_delete": False, "arguments": {}}]}
    assert api.call("POST", "definitions", bad)[::2] == (400, {"error": "bad_request", "reason": ["no_such_vhost", nowhere]})


def test_health_checks_and_aliveness(api):
    for check in ["alarms", "local-alarms", "virtual-hosts"]:
        assert api.get(f"health/checks/{check}")[::2] == (200, {"status": "ok"})
    assert api.get("health/checks/node-is-quorum-critical")[2]["status"] == "ok"
    port = int(urllib.parse.urlparse(api.base).port)
    assert api.get(f"health/checks/port-listener/{port}")[::2] == (200, {"status": "ok", "port": port})
    status, _, body = api.get("health/checks/port-listener/1")
    assert status == 503 and body["status"] == "failed" and body["reason"] == "No active listener"
    assert port in body["ports"] and body["missing"] == 1
    assert api.get("health/checks/port-listener/abc")[::2] == (400, {"error": "bad_request", "reason": "Invalid port"})
    assert api.get("aliveness-test/%2F")[::2] == (200, {"status": "ok"})
    assert api.get(f"aliveness-test/{unique('none')}")[2] == NOT_FOUND


def test_overview_and_nodes(api):
    status, _, o = api.get("overview")
    assert status == 200
    assert {"management_version", "rabbitmq_version", "node", "cluster_name", "object_totals", "queue_totals",
            "listeners", "message_stats", "exchange_types"} <= set(o)
    assert {"connections", "channels", "queues", "exchanges", "consumers"} == set(o["object_totals"])
    status, _, nodes = api.get("nodes")
    assert status == 200 and len(nodes) == 1 and nodes[0]["name"] == o["node"]
    assert {"name", "type", "running", "mem_used", "mem_limit", "mem_alarm", "disk_free", "disk_free_limit",
            "disk_free_alarm"} <= set(nodes[0])
    assert api.get(f"nodes/{q(o['node'])}")[0] == 200
    assert api.get("no-such-endpoint")[::2] == (404, NOT_FOUND)
