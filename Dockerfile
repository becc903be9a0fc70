# Warren's container image. Needs BuildKit (Docker 23+ uses it by default; with older engines set
# DOCKER_BUILDKIT=1, and COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose 1.x). Stages:
#   build     compiles the release `warren` binary (clang/libclang-dev for RocksDB's bindgen)
#   prebuilt  takes an already built binary from the context instead (scripts/compose-check)
#   interop   the pika interop suite, run by `docker compose --profile interop` (docs/deployment.md)
#   runtime   the broker image: a slim Debian with the binary (also rabbitmqctl and
#             rabbitmq-diagnostics) and its entrypoint script (the default)
#
# The base images are build arguments: the defaults are the public images users get;
# scripts/compose-check, which has no registry, passes a Debian base it made with debootstrap.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG RUST_IMAGE=rust:${RUST_VERSION}-${DEBIAN_RELEASE}
ARG PYTHON_IMAGE=python:3.11-slim-${DEBIAN_RELEASE}
ARG RUNTIME_IMAGE=debian:${DEBIAN_RELEASE}-slim
# The stage the runtime copies /usr/local/bin/warren from: build (the default) or prebuilt.
ARG WARREN_BINARY_FROM=build

FROM ${RUST_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# -s: the release profile keeps line tables for profiling; the image does not need them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p warren \
    && install -s -m 0755 target/release/warren /usr/local/bin/warren

# A release binary built for the same Debian release, stripped, placed at target/docker/warren
# (the one file under target/ that .dockerignore lets in). Built only when selected.
FROM ${RUNTIME_IMAGE} AS prebuilt
COPY target/docker/warren /usr/local/bin/warren

FROM ${PYTHON_IMAGE} AS interop
WORKDIR /repo/interop
COPY interop/requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY interop/pytest.ini ./
COPY interop/tests ./tests
# The deployment checks in tests/test_deployment.py read these.
COPY Dockerfile docker-compose.yml .dockerignore Cargo.toml /repo/
COPY docker /repo/docker
COPY scripts /repo/scripts
CMD ["python", "-m", "pytest"]

FROM ${WARREN_BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE} AS runtime
RUN groupadd --system warren \
    && useradd --system --gid warren --home-dir /var/lib/warren --shell /usr/sbin/nologin warren \
    && mkdir -p /var/lib/warren /etc/rabbitmq/conf.d \
    && chown warren:warren /var/lib/warren
COPY --from=binary /usr/local/bin/warren /usr/local/bin/warren
# RabbitMQ's command names: the binary acts as the tool its argv[0] names.
RUN ln -s warren /usr/local/bin/rabbitmqctl \
    && ln -s warren /usr/local/bin/rabbitmq-diagnostics
COPY docker/entrypoint.sh /usr/local/bin/warren-entrypoint
COPY docker/rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
# Listen on IPv4 explicitly: container networks often have IPv6 disabled. NO_COLOR: the log
# goes to `docker logs` and collectors, not to a terminal. The settings files are RabbitMQ's
# image's paths; set in the image (not by the entrypoint) so that `docker exec ... rabbitmqctl`
# and the healthcheck read the same settings as the broker.
ENV WARREN_LISTEN=0.0.0.0:5672 \
    WARREN_DATA_DIR=/var/lib/warren \
    RABBITMQ_CONFIG_FILE=/etc/rabbitmq/rabbitmq.conf \
    RABBITMQ_CONFIG_FILES=/etc/rabbitmq/conf.d/*.conf \
    NO_COLOR=1
USER warren
# AMQPS (needs certificates: docs/deployment.md), AMQP, the management API, Prometheus metrics.
EXPOSE 5671 5672 15672 15692
VOLUME /var/lib/warren
# RabbitMQ's image's healthcheck command. It asks the management API (GET /api/overview), found
# through the same settings as the broker, logging in as the default user (docs/deployment.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["rabbitmq-diagnostics", "-q", "ping"]
# warren stops cleanly on SIGTERM (docker stop); the entrypoint execs it as PID 1.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/warren-entrypoint"]
