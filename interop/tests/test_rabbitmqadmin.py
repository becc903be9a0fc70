"""rabbitmqadmin, the script RabbitMQ's management plugin ships, run unchanged against Warren's and
RabbitMQ's management APIs (issue 16): list, show, declare, delete, publish, get, export and
import.

The script comes from the rabbitmq-server Debian package (the plugin's priv/www/cli directory,
or /usr/bin/rabbitmqadmin); without it every scenario fails under INTEROP_REQUIRE_RABBITMQ=1 and
is skipped otherwise, saying why. WARREN_MGMT_URL / RABBITMQ_MGMT_URL name the APIs.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid

import pika
import pytest

NODES = (("warren", "WARREN_MGMT_URL"), ("rabbitmq", "RABBITMQ_MGMT_URL"))
CONFIGURED = [(n, os.environ[v].strip().rstrip("/")) for n, v in NODES if os.environ.get(v, "").strip()]
PLUGIN_CLI = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_management-*/priv/www/cli/rabbitmqadmin"


def find_script():
    found = sorted(glob.glob(PLUGIN_CLI)) or [p for p in [shutil.which("rabbitmqadmin")] if p]
    return found[-1] if found else None


class Admin:
    def __init__(self, name, base, script):
        url = urllib.parse.urlparse(base)
        self.name, self.script = name, script
        self.conn = ["-H", url.hostname, "-P", str(url.port), "-u", "guest", "-p", "guest"]

    def run(self, *args):
        """The script under this Python; (exit status, stdout + stderr)."""
        p = subprocess.run([sys.executable, self.script, *self.conn, *args],
                           capture_output=True, text=True, timeout=50)
        return p.returncode, p.stdout + p.stderr

    def ok(self, *args):
        code, out = self.run(*args)
        assert code == 0, (args, out)
        return out

    def rows(self, kind, *columns):
        """`list KIND` as raw JSON (every column, whatever the API sends)."""
        return json.loads(self.ok("-f", "raw_json", "list", kind, *columns))


@pytest.fixture(params=CONFIGURED or [None], ids=[n for n, _ in CONFIGURED] or ["no-broker"])
def admin(request):
    if request.param is None:
        pytest.fail("no management API to test: set WARREN_MGMT_URL and/or RABBITMQ_MGMT_URL, or run interop/run")
    script = find_script()
    if script is None:
        if os.environ.get("INTEROP_REQUIRE_RABBITMQ") == "1":
            pytest.fail("rabbitmqadmin not found: install rabbitmq-server (its management plugin ships it)")
        pytest.skip("rabbitmqadmin not found (install rabbitmq-server to run these scenarios)")
    a = Admin(*request.param, script)
    deadline = time.monotonic() + 60
    while a.run("list", "vhosts")[0] != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"{a.name}: rabbitmqadmin list vhosts never succeeded")
        time.sleep(0.5)
    return a


def unique(role):
    return f"adm-{role}-{uuid.uuid4().hex[:8]}"


def test_lists(admin):
    assert any(u["name"] == "guest" and u["tags"] == ["administrator"] for u in admin.rows("users"))
    assert any(v["name"] == "/" for v in admin.rows("vhosts"))
    names = {x["name"] for x in admin.rows("exchanges")}
    assert {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"} <= names
    assert any(p["user"] == "guest" and p["vhost"] == "/" for p in admin.rows("permissions"))
    assert len(admin.rows("nodes")) == 1
    for kind in ["queues", "bindings", "connections", "channels", "consumers"]:
        assert isinstance(admin.rows(kind), list)
    # The default table format over the same answers.
    table = admin.ok("list", "exchanges", "name", "type")
    assert "| amq.fanout " in table and "| fanout " in table, table
    assert admin.ok("-f", "tsv", "-q", "list", "users", "name").splitlines().count("guest") == 1


def test_declare_publish_get_and_delete(admin):
    q, x = unique("q"), unique("x")
    try:
        assert admin.ok("declare", "queue", f"name={q}", "durable=false",
                        'arguments={"x-max-length": 5}') == "queue declared\n"
        assert admin.ok("declare", "exchange", f"name={x}", "type=fanout") == "exchange declared\n"
        assert admin.ok("declare", "binding", f"source={x}", f"destination={q}", "routing_key=k") == "binding declared\n"
        assert admin.ok("publish", f"exchange={x}", "routing_key=k", "payload=hello") == "Message published\n"
        assert admin.ok("publish", f"routing_key={q}", "payload=hi",
                        'properties={"content_type": "text/plain"}') == "Message published\n"
        got = json.loads(admin.ok("-f", "raw_json", "get", f"queue={q}", "ackmode=ack_requeue_false", "count=2"))
        assert [(m["payload"], m["exchange"], m["routing_key"]) for m in got] == [("hello", x, "k"), ("hi", "", q)]
        assert [m["message_count"] for m in got] == [1, 0]
        assert got[1]["properties"] == {"content_type": "text/plain"}
        assert json.loads(admin.ok("-f", "raw_json", "get", f"queue={q}")) == []
        [queue] = [r for r in admin.rows("queues") if r["name"] == q]
        assert (queue["durable"], queue["arguments"]) == (False, {"x-max-length": 5})
        [b] = [r for r in admin.rows("bindings") if r["source"] == x]
        assert (b["destination"], b["routing_key"], b["properties_key"]) == (q, "k", "k")
        assert admin.ok("delete", "binding", f"source={x}", "destination_type=queue", f"destination={q}",
                        "properties_key=k") == "binding deleted\n"
        assert not [r for r in admin.rows("bindings") if r["source"] == x]
    finally:
        admin.run("delete", "exchange", f"name={x}")
        admin.run("delete", "queue", f"name={q}")
    assert q not in {r["name"] for r in admin.rows("queues")}
    assert x not in {r["name"] for r in admin.rows("exchanges")}
    code, out = admin.run("purge", "queue", f"name={q}")
    assert code == 1 and "*** Not found: /api/queues/%2F/" in out, out


def test_users_vhosts_and_permissions(admin):
    user, vhost = unique("user"), unique("vh")
    try:
        assert admin.ok("declare", "user", f"name={user}", "password=pw", "tags=monitoring") == "user declared\n"
        assert admin.ok("declare", "vhost", f"name={vhost}") == "vhost declared\n"
        assert admin.ok("declare", "permission", f"vhost={vhost}", f"user={user}",
                        "configure=.*", "write=.*", "read=^r") == "permission declared\n"
        [u] = [r for r in admin.rows("users") if r["name"] == user]
        assert u["tags"] == ["monitoring"]
        perms = {(p["user"], p["read"]) for p in admin.rows("permissions") if p["vhost"] == vhost}
        assert perms == {(user, "^r"), ("guest", ".*")}
    finally:
        admin.run("delete", "user", f"name={user}")
        admin.run("delete", "vhost", f"name={vhost}")
    assert user not in {r["name"] for r in admin.rows("users")}
    assert vhost not in {r["name"] for r in admin.rows("vhosts")}


def test_export_and_import(admin, tmp_path):
    q = unique("defs")
    path = tmp_path / "defs.json"
    try:
        admin.ok("declare", "queue", f"name={q}", "durable=true")
        out = admin.ok("export", str(path))
        assert out.startswith("Exported definitions for ") and str(path) in out, out
        defs = json.loads(path.read_text())
        assert any(x["name"] == q for x in defs["queues"])
        admin.ok("delete", "queue", f"name={q}")
        out = admin.ok("import", str(path))
        assert out.startswith("Uploaded definitions from "), out
        assert q in {r["name"] for r in admin.rows("queues")}
    finally:
        admin.run("delete", "queue", f"name={q}")


def test_live_objects_and_the_overview(admin):
    amqp = os.environ.get({"warren": "WARREN_URL", "rabbitmq": "RABBITMQ_URL"}[admin.name], "").strip()
    if not amqp:
        pytest.fail(f"{admin.name}: no AMQP URL to open a connection with")
    conn = pika.BlockingConnection(pika.URLParameters(amqp))
    try:
        ch = conn.channel()
        q = ch.queue_declare(unique("live"), exclusive=True).method.queue
        tag = unique("tag")
        ch.basic_consume(q, lambda *a: None, consumer_tag=tag)
        # RabbitMQ lists live objects from its statistics, a few seconds late.
        deadline = time.monotonic() + 30
        while True:
            # (RabbitMQ shows `channel_details` as [] until the channel's stats arrive.)
            mine = [c for c in admin.rows("consumers") if c["consumer_tag"] == tag and c["channel_details"]]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert mine and (mine[0]["queue"]["name"], mine[0]["prefetch_count"]) == (q, 0), mine
        channel = mine[0]["channel_details"]["name"]
        assert channel in {c["name"] for c in admin.rows("channels")}
        connection = mine[0]["channel_details"]["connection_name"]
        [row] = [c for c in admin.rows("connections") if c["name"] == connection]
        assert (row["user"], row["vhost"]) == ("guest", "/")
        table = admin.ok("list", "connections")
        assert connection in table and "| guest " in table, table
        overview = admin.ok("show", "overview")
        assert "rabbitmq_version" in overview and "3.10.8" in overview, overview
    finally:
        conn.close()
