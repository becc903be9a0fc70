"""Static checks of the deployment files, and runs of the image's entrypoint and healthcheck
command outside Docker.

scripts/compose-check builds the image and runs it with Compose for real; it needs a Docker
engine and takes minutes, so it is not part of this suite (docs/deployment.md). What is checked
here needs none: docker-compose.yml parses and names the right image, ports, volume, environment,
healthcheck and profiles (Grafana's provisioning too), and keeps to what docker-compose 1.29
accepts; the check's override keeps to loopback and moves the ports through the image's settings
paths; the Dockerfile has the stages, base-image arguments, settings paths, CLI links, port,
volume and healthcheck the compose file relies on; the entrypoint maps RabbitMQ's variables; the
healthcheck command finds a live broker from the image's variables. These are not broker
scenarios, so they are not parametrized by broker.
"""

import json
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
DOCKER_DIR = REPO / "docker"
CHECK_OVERRIDE = DOCKER_DIR / "compose-check.yml"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
DATA_DIR = "/var/lib/warren"
HEALTHCHECK = ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


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
            result[current] = [("FROM", args)]
        elif current is not None:
            result[current].append((word, args))
    return result


def global_args(dockerfile):
    """The ARGs before the first FROM, as {name: default}."""
    result = {}
    for word, args in dockerfile:
        if word == "FROM":
            break
        if word == "ARG":
            name, _, default = args.partition("=")
            result[name] = default
    return result


def mount(volume):
    """(target, source) of a short-syntax volume; the source may hold ${VAR:?message}."""
    source, target = re.fullmatch(r"(.+):(/[^:]*)(?::ro|:rw)?", volume).groups()
    return target, source


def interpolate_defaults(text):
    """What compose makes of ${VAR:-default} when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_compose_broker_service(compose):
    warren = compose["services"]["warren"]
    assert warren["image"] == "warren:latest"
    assert warren["build"] == {"context": ".", "dockerfile": "Dockerfile", "target": "runtime"}
    assert "5672:5672" in warren["ports"]
    assert f"warren-data:{DATA_DIR}" in warren["volumes"]
    # A fixed volume name: the data does not move when the project (directory) name changes.
    assert compose["volumes"]["warren-data"] == {"name": "warren-data"}
    env = warren["environment"]
    # RabbitMQ's variable names; never guest by default (guest may only log in from loopback).
    assert env["RABBITMQ_DEFAULT_USER"] == "${RABBITMQ_DEFAULT_USER:-warren}"
    assert env["RABBITMQ_DEFAULT_PASS"] == "${RABBITMQ_DEFAULT_PASS:-warren}"
    assert env["WARREN_DATA_DIR"] == DATA_DIR
    assert env["WARREN_LISTEN"] == "0.0.0.0:5672"  # the port that is published and health-checked
    health = warren["healthcheck"]
    assert health["test"] == HEALTHCHECK
    for key in ("interval", "timeout", "start_period"):
        assert re.fullmatch(r"\d+s", health[key]), key
    assert health["retries"] >= 1
    assert warren["restart"] == "unless-stopped"
    assert re.fullmatch(r"\d+s", warren["stop_grace_period"])


def test_compose_file_keeps_to_what_compose_1_29_accepts(compose):
    """docker-compose 1.29 (Debian's) rejects a top-level `name` and `depends_on.*.required`,
    both of which Compose v2 accepts; `docker-compose config` showed both errors."""
    assert "name" not in compose
    assert "version" not in compose  # obsolete in v2, optional in 1.29
    for name, service in compose["services"].items():
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            for target, condition in depends.items():
                assert "required" not in condition, f"{name} -> {target}"


def test_compose_interop_profile(compose):
    interop = compose["services"]["interop"]
    assert interop["profiles"] == ["interop"]
    assert interop["build"]["target"] == "interop"
    assert interop["depends_on"]["warren"]["condition"] == "service_healthy"
    raw = interop["environment"]["WARREN_URL"]
    # The suite logs in with whatever user the broker service was configured with.
    assert raw.startswith("amqp://${RABBITMQ_DEFAULT_USER:-warren}:${RABBITMQ_DEFAULT_PASS:-warren}@")
    url = urlsplit(interpolate_defaults(raw))
    assert (url.scheme, url.username, url.password) == ("amqp", "warren", "warren")
    assert (url.hostname, url.port, url.path) == ("warren", 5672, "/%2F")
    assert "RABBITMQ_URL" in interop["environment"]
    # It leaves out only whole files that need interop/run's setup; each still exists.
    ignored = [a.split("=", 1)[1] for a in interop["command"] if a.startswith("--ignore=")]
    assert interop["command"][:3] == ["python", "-m", "pytest"] and ignored
    for path in ignored:
        assert (Path(__file__).parent.parent / path).is_file(), path


def test_compose_rabbitmq_and_metrics_profiles(compose):
    services = compose["services"]
    rabbit = services["rabbitmq"]
    assert rabbit["profiles"] == ["rabbitmq"]
    assert rabbit["image"] == "rabbitmq:3.10-management"
    # Host ports must not clash with Warren's 5672.
    assert all(not p.startswith("5672:") for p in rabbit["ports"])
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["metrics"]
    [mount] = services["prometheus"]["volumes"]
    source = mount.split(":")[0]
    scrape = yaml.safe_load((REPO / source).read_text())
    [job] = scrape["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["warren:15692"]
    # Only the broker runs without a profile.
    unprofiled = [name for name, s in services.items() if not s.get("profiles")]
    assert unprofiled == ["warren"]


def test_metrics_profile_provisions_grafana_with_the_warren_dashboard(compose):
    """Grafana gets the profile's Prometheus as a data source and the dashboard from
    docker/grafana; the dashboard queries only families test_prometheus.py checks both brokers
    serve (so it works against RabbitMQ too)."""
    from test_prometheus import REQUIRED_FAMILIES

    grafana = compose["services"]["grafana"]
    mounts = dict(mount(v) for v in grafana["volumes"])
    provisioning = REPO / mounts["/etc/grafana/provisioning"]
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "warren.yml").read_text())[
        "providers"]
    dashboards = REPO / mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "warren.json").read_text())
    targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
    assert targets and all(t["datasource"]["uid"] == source["uid"] for t in targets)
    families = {re.sub(r"_total$", "", f) for f in REQUIRED_FAMILIES}
    queried = {re.sub(r"_total$", "", m) for t in targets for m in re.findall(r"rabbitmq_\w+",
                                                                              t["expr"])}
    assert queried and queried <= families, sorted(queried - families)


def test_check_override_keeps_to_loopback_and_its_own_names():
    """scripts/compose-check runs the broker with this file on top: host network, a loopback
    listener, and its own image and volume, so a real deployment is never touched."""
    override = yaml.safe_load(CHECK_OVERRIDE.read_text())
    warren = override["services"]["warren"]
    assert warren["network_mode"] == "host"
    assert "ports" not in warren and "networks" not in warren
    listen = interpolate_defaults(warren["environment"]["WARREN_LISTEN"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", listen), listen
    assert not listen.endswith(":5672")  # a RabbitMQ may hold it on the host
    assert warren["image"] != "warren:latest"
    assert override["volumes"]["warren-data"]["name"] != "warren-data"


def test_check_override_mounts_settings_off_rabbitmqs_ports():
    """The management API and metrics move through the image's settings paths (rabbitmq.conf
    and conf.d), so the check proves the image reads them; off 15672 and 15692, which a RabbitMQ
    on the same host network may hold. The listeners bind the AMQP listener's loopback address."""
    warren = yaml.safe_load(CHECK_OVERRIDE.read_text())["services"]["warren"]
    mounts = dict(mount(v) for v in warren["volumes"])
    assert mounts["/etc/rabbitmq/rabbitmq.conf"] == "./docker/compose-check/rabbitmq.conf"
    assert mounts["/etc/rabbitmq/conf.d"] == "./docker/compose-check/conf.d"
    # The check's own certificates and definitions (interop/certs.py), named by the check.
    assert mounts["/etc/rabbitmq/tls"].startswith("${COMPOSE_CHECK_TLS:?")
    settings = {}
    for path in [DOCKER_DIR / "compose-check" / "rabbitmq.conf",
                 *sorted((DOCKER_DIR / "compose-check" / "conf.d").glob("*.conf"))]:
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                settings[key.strip()] = value.strip()
    assert settings["load_definitions"] == "/etc/rabbitmq/tls/definitions.json"
    assert settings["ssl_options.certfile"].startswith("/etc/rabbitmq/tls/")
    tls = settings["listeners.ssl.default"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", tls) and not tls.endswith(":5671"), tls
    ports = {settings["management.tcp.port"], settings["prometheus.tcp.port"]}
    assert len(ports) == 2 and not ports & {"15672", "15692"}, ports


def test_dockerfile_stages(dockerfile):
    by_stage = stages(dockerfile)
    # runtime last: the default target
    assert list(by_stage) == ["build", "prebuilt", "interop", "binary", "runtime"]
    build = " ".join(args for _, args in by_stage["build"])
    assert "clang" in build and "libclang-dev" in build
    assert "cargo build --release --locked -p warren" in build
    runtime = by_stage["runtime"]
    assert ("COPY", "--from=binary /usr/local/bin/warren /usr/local/bin/warren") in runtime
    # AMQPS, AMQP, the management API and the Prometheus metrics, RabbitMQ's ports
    assert ("EXPOSE", "5671 5672 15672 15692") in runtime
    assert ("VOLUME", DATA_DIR) in runtime
    assert ("ENTRYPOINT", '["/usr/local/bin/warren-entrypoint"]') in runtime
    env = " ".join(args for word, args in runtime if word == "ENV")
    assert f"WARREN_DATA_DIR={DATA_DIR}" in env and "WARREN_LISTEN=0.0.0.0:5672" in env
    # RabbitMQ's image's settings paths, in the image's environment so the CLI reads them too.
    assert "RABBITMQ_CONFIG_FILE=/etc/rabbitmq/rabbitmq.conf" in env
    assert "RABBITMQ_CONFIG_FILES=/etc/rabbitmq/conf.d/*.conf" in env
    run = " ".join(args for word, args in runtime if word == "RUN")
    assert "mkdir -p /var/lib/warren /etc/rabbitmq/conf.d" in run
    # RabbitMQ's command names beside the binary, which dispatches on argv[0].
    for tool in ("rabbitmqctl", "rabbitmq-diagnostics"):
        assert f"ln -s warren /usr/local/bin/{tool}" in run
    [health] = [args for word, args in runtime if word == "HEALTHCHECK"]
    assert health.endswith('CMD ["rabbitmq-diagnostics", "-q", "ping"]')
    assert any(word == "USER" and args == "warren" for word, args in runtime)
    copied = {args for word, args in runtime if word == "COPY"}
    assert "docker/entrypoint.sh /usr/local/bin/warren-entrypoint" in copied
    assert "docker/rabbitmq.conf /etc/rabbitmq/rabbitmq.conf" in copied
    assert ("COPY", "target/docker/warren /usr/local/bin/warren") in by_stage["prebuilt"]


def test_dockerfile_base_images_are_arguments_defaulting_to_public_images(dockerfile):
    """One Dockerfile: users get the public images, the check passes its debootstrap base."""
    args = global_args(dockerfile)
    assert args["RUST_IMAGE"] == "rust:${RUST_VERSION}-${DEBIAN_RELEASE}"
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-${DEBIAN_RELEASE}"
    assert args["RUNTIME_IMAGE"] == "debian:${DEBIAN_RELEASE}-slim"
    assert args["DEBIAN_RELEASE"] == "bookworm"
    assert args["WARREN_BINARY_FROM"] == "build"  # users compile; only the check takes a binary
    froms = {name: body[0][1] for name, body in stages(dockerfile).items()}
    assert froms == {
        "build": "${RUST_IMAGE} AS build",
        "prebuilt": "${RUNTIME_IMAGE} AS prebuilt",
        "interop": "${PYTHON_IMAGE} AS interop",
        "binary": "${WARREN_BINARY_FROM} AS binary",
        "runtime": "${RUNTIME_IMAGE} AS runtime",
    }


def test_dockerfile_rust_is_at_least_the_workspace_msrv(dockerfile):
    version = global_args(dockerfile)["RUST_VERSION"]
    image_version = tuple(int(x) for x in version.split("."))
    msrv = re.search(r'rust-version\s*=\s*"([\d.]+)"', (REPO / "Cargo.toml").read_text())
    assert image_version >= tuple(int(x) for x in msrv.group(1).split("."))


def test_dockerignore_keeps_build_output_out_of_the_context():
    lines = [line for line in (REPO / ".dockerignore").read_text().split() if line]
    for entry in ("target", ".git", "**/.venv"):
        assert entry in lines
    # The one exception: the binary the `prebuilt` stage copies.
    assert [line for line in lines if line.startswith("!")] == ["!target/docker/warren"]


def run_entrypoint(tmp_path, env, *args):
    """docker/entrypoint.sh with a stub `warren` first on PATH that prints what it was given."""
    stub = tmp_path / "warren"
    stub.write_text('#!/bin/sh\necho "user=${WARREN_DEFAULT_USER:-} pass=${WARREN_DEFAULT_PASS:-}'
                    ' vhost=${RABBITMQ_DEFAULT_VHOST:-} args=$*"\n'
                    'echo "file=${RABBITMQ_CONFIG_FILE-unset} files=${RABBITMQ_CONFIG_FILES-unset}"\n')
    stub.chmod(0o755)
    full_env = {"PATH": f"{tmp_path}:/usr/bin:/bin", **env}
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=full_env, capture_output=True,
                          text=True, timeout=10)


def test_entrypoint_maps_rabbitmq_variables(tmp_path):
    out = run_entrypoint(tmp_path, {"RABBITMQ_DEFAULT_USER": "ann", "RABBITMQ_DEFAULT_PASS": "pw",
                                    "RABBITMQ_DEFAULT_VHOST": "/"}, "--listen", "127.0.0.1:1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "user=ann pass=pw vhost=/ args=--listen 127.0.0.1:1"
    # WARREN_* wins over its RABBITMQ_* twin.
    out = run_entrypoint(tmp_path, {"RABBITMQ_DEFAULT_USER": "ann", "WARREN_DEFAULT_USER": "bob"})
    assert out.stdout.splitlines()[0] == "user=bob pass= vhost= args="
    # Any vhost reaches warren, whose settings layer reads RABBITMQ_DEFAULT_VHOST itself.
    out = run_entrypoint(tmp_path, {"RABBITMQ_DEFAULT_VHOST": "orders"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "user= pass= vhost=orders args="


def test_entrypoint_drops_the_images_settings_paths_when_hidden(tmp_path):
    """The image names /etc/rabbitmq/rabbitmq.conf and conf.d/*.conf; when a mount hides them
    (absent here, outside the image), warren starts without them, as RabbitMQ does. Paths a
    user set stay, so warren refuses them if they are missing."""
    if Path("/etc/rabbitmq/rabbitmq.conf").exists() or Path("/etc/rabbitmq/conf.d").is_dir():
        pytest.skip("this machine has /etc/rabbitmq files (a RabbitMQ package)")
    image = {"RABBITMQ_CONFIG_FILE": "/etc/rabbitmq/rabbitmq.conf",
             "RABBITMQ_CONFIG_FILES": "/etc/rabbitmq/conf.d/*.conf"}
    out = run_entrypoint(tmp_path, image)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "file=unset files=unset"
    mine = {"RABBITMQ_CONFIG_FILE": "/my/rabbitmq.conf", "RABBITMQ_CONFIG_FILES": "/my/conf.d"}
    out = run_entrypoint(tmp_path, mine)
    assert out.stdout.splitlines()[1] == "file=/my/rabbitmq.conf files=/my/conf.d"


def test_the_healthcheck_command_finds_the_broker_through_its_settings(tmp_path):
    """The image's healthcheck, `rabbitmq-diagnostics -q ping` (the binary under that name),
    given only the variables the image and compose set: it finds the management API through the
    listener and management.tcp.port, logs in as the default user, and fails when nothing
    answers there."""
    binary, mgmt = os.environ.get("WARREN_BIN"), os.environ.get("WARREN_MGMT_URL", "").strip()
    if not binary or not mgmt:
        pytest.skip("WARREN_BIN or WARREN_MGMT_URL not set (interop/run and compose-check set both)")
    [warren] = [b for b in configured_brokers() if b.name == "warren"]
    amqp, http = urlsplit(warren.url), urlsplit(mgmt)
    tool = tmp_path / "rabbitmq-diagnostics"
    tool.symlink_to(binary)

    def ping(management_port):
        env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1",
               "WARREN_LISTEN": f"{amqp.hostname}:{amqp.port}",
               "WARREN_MANAGEMENT__TCP__PORT": str(management_port),
               "RABBITMQ_DEFAULT_USER": amqp.username, "RABBITMQ_DEFAULT_PASS": amqp.password}
        return subprocess.run([str(tool), "-q", "ping"], env=env, capture_output=True, text=True,
                              timeout=30)

    out = ping(http.port)
    assert out.returncode == 0, out.stderr
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert ping(port).returncode != 0


def test_warren_reads_every_variable_compose_sets(compose):
    """Each WARREN_* the compose files set is one the binary reads; each RABBITMQ_* one the
    entrypoint maps."""
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("WARREN_BIN not set (interop/run sets it to the binary it built)")
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True,
                               timeout=10, check=True).stdout
    entrypoint = ENTRYPOINT.read_text()
    override = yaml.safe_load(CHECK_OVERRIDE.read_text())
    names = set(compose["services"]["warren"]["environment"])
    names |= set(override["services"]["warren"]["environment"])
    for name in names:
        if name.startswith("WARREN_"):
            assert f"env: {name}" in help_text, f"warren --help does not mention {name}"
        elif name.startswith("RABBITMQ_"):
            assert f"${name}" in entrypoint, f"docker/entrypoint.sh does not map {name}"


def compose_commands():
    """The Compose implementations on this machine: v2 (`docker compose`) and/or 1.29."""
    found = []
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        found.append([docker, "compose"])
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    return found


def test_compose_config_validates_when_compose_is_installed():
    """`config` validates against each installed Compose's own schema, with every profile and
    with the check's override on top. scripts/compose-check installs docker-compose 1.29."""
    commands = compose_commands()
    if not commands:
        pytest.skip("neither `docker compose` nor docker-compose is installed here")
    for command in commands:
        for extra in ([], ["-f", str(CHECK_OVERRIDE)]):
            out = subprocess.run(
                [*command, "-f", str(COMPOSE_FILE), *extra, "--profile", "interop", "--profile",
                 "rabbitmq", "--profile", "metrics", "config"],
                capture_output=True, text=True, timeout=60, cwd=REPO,
                env={**os.environ, "COMPOSE_CHECK_TLS": "/nonexistent"},
            )
            assert out.returncode == 0, f"{command} {extra}: {out.stderr}"
            resolved = yaml.safe_load(out.stdout)
            assert set(resolved["services"]) == {"warren", "interop", "rabbitmq", "prometheus",
                                                 "grafana"}
            expected = "warren:compose-check" if extra else "warren:latest"
            assert resolved["services"]["warren"]["image"] == expected


def test_scripts_parse():
    for script in (REPO / "scripts" / "compose-check", REPO / "scripts" / "lib" / "compose-check.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=10)
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True, timeout=10)


def test_interop_image_holds_every_repo_file_these_checks_read(dockerfile):
    """The compose interop profile runs this file inside the interop image, where the repository
    is only what that stage copies to /repo: every top-level entry read here must be copied."""
    copied = set()
    for word, args in stages(dockerfile)["interop"]:
        if word == "COPY":
            parts = args.split()
            if parts[-1].startswith("/repo/"):
                copied.update(parts[:-1])
    source = Path(__file__).read_text()
    read_here = set(re.findall(r'REPO / "([\w.-]+)"', source))
    read_here |= {p.name for p in (COMPOSE_FILE, DOCKERFILE, DOCKER_DIR)}
    assert read_here <= copied, f"not copied into the interop image: {sorted(read_here - copied)}"
