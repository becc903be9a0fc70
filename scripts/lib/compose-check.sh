# shellcheck shell=bash
# Helpers of scripts/compose-check (sourced, not executed): the Docker engine, the local base
# image, and the small pika probes the check runs against the container. Callers set
# REPO_ROOT, WORK, DOCKER, VENV and CHECK_URL first.

# Debian packages the check needs beyond scripts/lib/prereqs.sh's.
COMPOSE_CHECK_PACKAGES=(docker.io docker-compose debootstrap binutils)

log() { printf 'compose-check: %s\n' "$*" >&2; }

# Installs the missing packages. Keeps apt from starting Docker's service: the check starts
# its own engine, with its own flags, and only when none is running.
compose_check_install() {
    local missing=() pkg
    for pkg in "${COMPOSE_CHECK_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "present: ${COMPOSE_CHECK_PACKAGES[*]}"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || { log "as root, install: ${missing[*]}"; return 1; }
    echo "installing: ${missing[*]}"
    local guard=/usr/sbin/policy-rc.d added_guard=0 status=0
    if [[ ! -e $guard ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && added_guard=1
    fi
    { DEBIAN_FRONTEND=noninteractive apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } \
        || status=$?
    [[ $added_guard -eq 1 ]] && rm -f "$guard"
    return "$status"
}

# Starts dockerd unless an engine already answers. Ours has no default bridge and no iptables
# rules: the check's containers use the host's network, so no private-range network is made.
ENGINE_PID=""
engine_up() {
    if "$DOCKER" info >/dev/null 2>&1; then
        echo "an engine is already running: using it (server $("$DOCKER" version -f '{{.Server.Version}}'))"
        return 0
    fi
    setsid dockerd --bridge=none --iptables=false >"$WORK/dockerd.log" 2>&1 </dev/null &
    ENGINE_PID=$!
    local deadline=$((SECONDS + 60))
    until "$DOCKER" info >/dev/null 2>&1; do
        if ! kill -0 "$ENGINE_PID" 2>/dev/null || [[ $SECONDS -ge $deadline ]]; then
            log "dockerd did not come up; its log:"
            tail -n 30 "$WORK/dockerd.log" >&2
            return 1
        fi
        sleep 0.5
    done
    echo "started dockerd (pid $ENGINE_PID, --bridge=none --iptables=false)"
}

engine_down() {
    [[ -n $ENGINE_PID ]] || return 0
    kill -TERM "$ENGINE_PID" 2>/dev/null || return 0
    local deadline=$((SECONDS + 30))
    while kill -0 "$ENGINE_PID" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do sleep 0.5; done
    if kill -0 "$ENGINE_PID" 2>/dev/null; then
        log "dockerd ignored SIGTERM for 30s; killing it"
        kill -KILL -- "-$ENGINE_PID" 2>/dev/null || true
    fi
    echo "stopped the dockerd this check started"
}

# base_image TAG RELEASE: a minimal Debian RELEASE root file system from the package mirror,
# imported as TAG. Reused when TAG exists (COMPOSE_CHECK_KEEP=1 keeps it between runs).
base_image() {
    local tag=$1 release=$2 rootfs="$WORK/rootfs"
    if "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
        echo "base image $tag exists: reusing it"
        return 0
    fi
    local mirror=${COMPOSE_CHECK_MIRROR:-http://deb.debian.org/debian}
    debootstrap --variant=minbase "$release" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log" >&2; return 1; }
    # What a slim image leaves out too: package lists and caches, documentation, translations.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" -c . | "$DOCKER" import - "$tag" >/dev/null || return 1
    rm -rf "$rootfs"
    echo "imported $tag from debootstrap $release ($mirror)"
}

# render_compose OUT: docker-compose.yml with docker/compose-check.yml on top, as merged by
# docker-compose itself (which validates both), less two things docker-compose 1.29 cannot drop
# in an override: the broker's published ports (its client refuses them beside host networking,
# where they mean nothing: the listener is on the host already) and the services of the other
# profiles (1.29 makes a bridge network for them even when they do not run).
render_compose() {
    docker-compose -f docker-compose.yml -f docker/compose-check.yml config >"$WORK/merged.yml" \
        || return 1
    "$VENV/bin/python" - "$WORK/merged.yml" "$1" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
warren = config["services"]["warren"]
assert warren["network_mode"] == "host", "the check's containers must use the host network"
warren.pop("ports", None)
config["services"] = {"warren": warren}
config.pop("networks", None)
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
EOF
    echo "compose file for the check: $1 (broker service only, no published ports)"
}

# container_id: the id of the check's broker container.
container_id() {
    "${COMPOSE[@]}" ps -q warren
}

# wait_healthy SECONDS [CONTAINER]: until the container's (default: the broker service's)
# healthcheck reports healthy.
wait_healthy() {
    local start=$SECONDS deadline=$((SECONDS + $1)) id=${2:-} status
    [[ -n $id ]] || id=$(container_id)
    [[ -n $id ]] || { log "no warren container"; return 1; }
    while true; do
        status=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$id")
        [[ $status == healthy ]] && { echo "healthy after $((SECONDS - start))s"; return 0; }
        if [[ $SECONDS -ge $deadline ]]; then
            log "not healthy after $1s (status: $status); container log:"
            "$DOCKER" logs --tail 30 "$id" >&2
            return 1
        fi
        sleep 1
    done
}

# probe publish|verify QUEUE COUNT: publishes COUNT persistent messages to a new durable queue,
# or checks that exactly those messages are in it (then deletes it).
probe() {
    "$VENV/bin/python" - "$CHECK_URL" "$@" <<'EOF'
import sys, pika
url, action, queue, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
params = pika.URLParameters(url)
params.connection_attempts, params.socket_timeout = 1, 5
conn = pika.BlockingConnection(params)
ch = conn.channel()
bodies = [f"compose-check {i}".encode() for i in range(count)]
if action == "publish":
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    for body in bodies:
        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    print(f"published {count} persistent messages to {queue} (confirmed)")
else:
    ready = ch.queue_declare(queue, durable=True, passive=True).method.message_count
    got = []
    while True:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        got.append(body)
    ch.queue_delete(queue)
    if got != bodies:
        sys.exit(f"after the restart {queue} held {len(got)} messages ({ready} ready), expected {count}")
    print(f"all {count} messages still in {queue}, in order")
conn.close()
EOF
}

# http_probe MGMT_URL METRICS_URL: the management API lets guest in and the metrics endpoint
# serves RabbitMQ's metric names, on the ports the mounted settings files set.
http_probe() {
    "$VENV/bin/python" - "$@" <<'EOF'
import base64, json, sys, urllib.request
mgmt, metrics = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"{mgmt}/api/overview")
req.add_header("authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
with urllib.request.urlopen(req, timeout=10) as r:
    overview = json.load(r)
print(f"management API on {mgmt}: /api/overview answers (product {overview.get('product_name')})")
with urllib.request.urlopen(f"{metrics}/metrics", timeout=10) as r:
    text = r.read().decode()
if "rabbitmq_connections" not in text:
    sys.exit(f"{metrics}/metrics has no rabbitmq_connections series")
print(f"metrics on {metrics}: {len(text.splitlines())} lines")
EOF
}

# login_probe URL GUEST_URL: waits (30 s) for URL to accept a login, declares and deletes a
# queue through it, and checks GUEST_URL's login is refused (403 ACCESS_REFUSED).
login_probe() {
    "$VENV/bin/python" - "$@" <<'EOF'
import sys, time, pika, pika.exceptions
url, guest_url = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
while True:
    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        break
    except pika.exceptions.AMQPConnectionError as e:
        if time.monotonic() > deadline:
            sys.exit(f"no login with the default user: {e!r}")
        time.sleep(0.5)
ch = conn.channel()
queue = ch.queue_declare("", exclusive=True).method.queue
ch.queue_delete(queue)
conn.close()
print("RABBITMQ_DEFAULT_USER/PASS logged in to RABBITMQ_DEFAULT_VHOST and declared a queue")
try:
    pika.BlockingConnection(pika.URLParameters(guest_url)).close()
    sys.exit("guest could log in although RABBITMQ_DEFAULT_USER named another user")
except pika.exceptions.ProbableAuthenticationError:
    print("guest refused: not made when RABBITMQ_DEFAULT_USER names another user")
EOF
}
