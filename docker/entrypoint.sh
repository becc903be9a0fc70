#!/bin/sh
# Entrypoint of Warren's container image: accepts the environment variables of RabbitMQ's
# official image and hands them to `warren` under its own WARREN_* names, then execs it (so
# warren is PID 1 and gets docker stop's SIGTERM itself).
#
# A WARREN_* variable wins over its RABBITMQ_* twin. This mapping is a stopgap until Warren has
# its own settings layer (docs/deployment.md, "What waits on other issues").
set -eu

if [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && [ -z "${WARREN_DEFAULT_USER:-}" ]; then
    export WARREN_DEFAULT_USER="$RABBITMQ_DEFAULT_USER"
fi
if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && [ -z "${WARREN_DEFAULT_PASS:-}" ]; then
    export WARREN_DEFAULT_PASS="$RABBITMQ_DEFAULT_PASS"
fi
# Warren creates only the vhost "/" so far: refuse another rather than ignore it silently.
case "${RABBITMQ_DEFAULT_VHOST:-/}" in
    /) ;;
    *)
        echo "warren-entrypoint: RABBITMQ_DEFAULT_VHOST=$RABBITMQ_DEFAULT_VHOST is not supported yet;" \
            "Warren's default vhost is always /" >&2
        exit 78 # EX_CONFIG
        ;;
esac

# By PATH (the image has it in /usr/local/bin), so tests can run this script with a stub.
exec warren "$@"
