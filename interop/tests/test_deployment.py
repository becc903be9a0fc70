"""Checks of the deployment files that can be made without a Docker engine.

No Docker engine runs on our machines, so the image is never built here. What can be checked is
checked: docker-compose.yml parses and names the right image, ports, volume, environment,
healthcheck and profiles; the Dockerfile has the stages, port, volume and healthcheck the compose
file relies on; the healthcheck command really tells an open port from a closed one; and the
binary documents every WARREN_* variable the compose file sets. These are not broker scenarios,
so they are not parametrized by broker.
"""

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import configured_brokers

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DATA_DIR = "/var/lib/warren"
HEALTHCHECK = ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/5672"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def dockerfile():
    """The Dockerfile as (instruction, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
    return instructions


def stages(dockerfile):
    """{stage name: [(instruction, args), ...]} in file order."""
    result, current = {}, None
    for word, args in dockerfile:
        if word == "FROM":
            current = args.split(" AS ")[-1].strip() if " AS " in args else args
            result[current] = []
        elif current is not None:
            result[current].append((word, args))
    return result


def interpolate_defaults(text):
    """What compose makes of ${VAR:-default} when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_compose_broker_service(compose):
    warren = compose["services"]["warren"]
    assert warren["image"] == "warren:latest"
    assert warren["build"]["context"] == "."
    assert warren["build"]["dockerfile"] == "Dockerfile"
    assert warren["build"]["target"] == "runtime"
    assert "5672:5672" in warren["ports"]
    assert f"warren-data:{DATA_DIR}" in warren["volumes"]
    assert "warren-data" in compose["volumes"]
    env = warren["environment"]
    # Never guest by default: guest may only log in from loopback, and container clients are not.
    assert env["WARREN_DEFAULT_USER"] == "${WARREN_DEFAULT_USER:-warren}"
    assert env["WARREN_DEFAULT_PASS"] == "${WARREN_DEFAULT_PASS:-warren}"
    assert env["WARREN_DATA_DIR"] == DATA_DIR
    assert env["WARREN_LISTEN"] == "0.0.0.0:5672"  # the port that is published and health-checked
    health = warren["healthcheck"]
    assert health["test"] == HEALTHCHECK
    for key in ("interval", "timeout", "start_period"):
        assert re.fullmatch(r"\d+s", health[key]), key
    assert health["retries"] >= 1


def test_compose_interop_profile(compose):
    interop = compose["services"]["interop"]
    assert interop["profiles"] == ["interop"]
    assert interop["build"]["target"] == "interop"
    assert interop["depends_on"]["warren"]["condition"] == "service_healthy"
    raw = interop["environment"]["WARREN_URL"]
    # The suite logs in with whatever user the broker service was configured with.
    assert raw.startswith("amqp://${WARREN_DEFAULT_USER:-warren}:${WARREN_DEFAULT_PASS:-warren}@")
    url = urlsplit(interpolate_defaults(raw))
    assert (url.scheme, url.username, url.password) == ("amqp", "warren", "warren")
    assert (url.hostname, url.port, url.path) == ("warren", 5672, "/%2F")
    assert "RABBITMQ_URL" in interop["environment"]


def test_compose_rabbitmq_profile(compose):
    rabbit = compose["services"]["rabbitmq"]
    assert rabbit["profiles"] == ["rabbitmq"]
    assert rabbit["image"] == "rabbitmq:3.10-management"
    # Host ports must not clash with Warren's 5672.
    assert all(not p.startswith("5672:") for p in rabbit["ports"])
    # Only the broker runs without a profile.
    unprofiled = [name for name, s in compose["services"].items() if not s.get("profiles")]
    assert unprofiled == ["warren"]


def test_dockerfile_stages(dockerfile):
    by_stage = stages(dockerfile)
    assert list(by_stage) == ["build", "interop", "runtime"]  # runtime last: the default target
    build = " ".join(args for _, args in by_stage["build"])
    assert "clang" in build and "libclang-dev" in build
    assert "cargo build --release --locked -p warren-server" in build
    runtime = by_stage["runtime"]
    assert ("EXPOSE", "5672") in runtime
    assert ("VOLUME", DATA_DIR) in runtime
    assert ("ENTRYPOINT", '["/usr/local/bin/warren"]') in runtime
    env = " ".join(args for word, args in runtime if word == "ENV")
    assert f"WARREN_DATA_DIR={DATA_DIR}" in env and "WARREN_LISTEN=0.0.0.0:5672" in env
    [health] = [args for word, args in runtime if word == "HEALTHCHECK"]
    assert health.endswith('CMD ["bash", "-c", "</dev/tcp/127.0.0.1/5672"]')
    assert any(word == "USER" and args == "warren" for word, args in runtime)


def test_dockerfile_rust_is_at_least_the_workspace_msrv(dockerfile):
    [arg] = [a for w, a in dockerfile if w == "ARG" and a.startswith("RUST_VERSION=")]
    image_version = tuple(int(x) for x in arg.split("=")[1].split("."))
    msrv = re.search(r'rust-version\s*=\s*"([\d.]+)"', (REPO / "Cargo.toml").read_text())
    assert image_version >= tuple(int(x) for x in msrv.group(1).split("."))


def test_dockerignore_keeps_build_output_out_of_the_context():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in ("target", ".git", "**/.venv"):
        assert entry in ignored


def run_healthcheck(host, port):
    """The compose healthcheck's command, aimed at host:port instead of 127.0.0.1:5672."""
    argv = [arg.replace("127.0.0.1/5672", f"{host}/{port}") for arg in HEALTHCHECK[1:]]
    return subprocess.run(argv, capture_output=True, timeout=10).returncode


def test_healthcheck_command_tells_open_from_closed_ports():
    assert shutil.which("bash"), "the healthcheck needs bash, as the runtime image has"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert run_healthcheck("127.0.0.1", port) == 0
    assert run_healthcheck("127.0.0.1", port) != 0  # closed now
    for broker in configured_brokers():
        url = urlsplit(broker.url)
        assert run_healthcheck(url.hostname, url.port or 5672) == 0, broker.name


def test_warren_documents_every_variable_compose_sets(compose):
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("WARREN_BIN not set (interop/run sets it to the binary it built)")
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True,
                               timeout=10, check=True).stdout
    for name in compose["services"]["warren"]["environment"]:
        if name.startswith("WARREN_"):
            assert f"env: {name}" in help_text, f"warren --help does not mention {name}"


def test_docker_compose_config_when_available():
    """`docker compose config` validates against the real schema, when the plugin exists."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("the docker CLI here has no compose plugin ('docker compose' unknown)")
    out = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "--profile", "interop",
         "--profile", "rabbitmq", "config"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    assert resolved["services"]["warren"]["image"] == "warren:latest"
    assert set(resolved["services"]) == {"warren", "interop", "rabbitmq"}


def test_interop_image_holds_every_repo_file_these_checks_read(dockerfile):
    """The compose interop profile runs this file inside the interop image, where the repository
    is only what that stage copies to /repo: every top-level file read here must be copied."""
    copied = set()
    for word, args in stages(dockerfile)["interop"]:
        if word == "COPY":
            parts = args.split()
            if parts[-1] == "/repo/":
                copied.update(parts[:-1])
    source = Path(__file__).read_text()
    read_here = set(re.findall(r'REPO / "([\w.-]+)"', source))
    read_here |= {p.name for p in (COMPOSE_FILE, DOCKERFILE)}
    assert read_here <= copied, f"not copied into the interop image: {sorted(read_here - copied)}"
