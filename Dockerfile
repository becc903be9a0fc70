# syntax=docker/dockerfile:1
# Warren's container image. Three stages:
#   build    compiles the release `warren` binary (clang/libclang-dev for RocksDB's bindgen)
#   interop  the pika interop suite, run by `docker compose --profile interop` (see docs/deployment.md)
#   runtime  the broker image: a slim Debian with only the binary (the default, last stage)
#
# Never built here: our machines have no Docker engine. See docs/deployment.md.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p warren-server \
    && install -m 0755 target/release/warren /usr/local/bin/warren

FROM python:3.11-slim-${DEBIAN_RELEASE} AS interop
WORKDIR /repo/interop
COPY interop/requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY interop/pytest.ini ./
COPY interop/tests ./tests
# The deployment checks in tests/test_deployment.py read these.
COPY Dockerfile docker-compose.yml .dockerignore Cargo.toml /repo/
CMD ["python", "-m", "pytest"]

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN groupadd --system warren \
    && useradd --system --gid warren --home-dir /var/lib/warren --shell /usr/sbin/nologin warren \
    && mkdir -p /var/lib/warren \
    && chown warren:warren /var/lib/warren
COPY --from=build /usr/local/bin/warren /usr/local/bin/warren
# Listen on IPv4 explicitly: container networks often have IPv6 disabled.
ENV WARREN_LISTEN=0.0.0.0:5672 \
    WARREN_DATA_DIR=/var/lib/warren
USER warren
EXPOSE 5672
VOLUME /var/lib/warren
# No AMQP client in this image: the check is "the port accepts a TCP connection".
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "</dev/tcp/127.0.0.1/5672"]
# warren stops cleanly on SIGTERM (docker stop).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/warren"]
