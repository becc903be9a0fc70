#!/bin/sh
# Entrypoint of Warren's container image: accepts the environment variables of RabbitMQ's
# official image and hands them to `warren` under its own WARREN_* names, then execs it (so
# warren is PID 1 and gets docker stop's SIGTERM itself).
#
# A WARREN_* variable wins over its RABBITMQ_* twin. warren's settings layer reads the
# RABBITMQ_* variables too, with the same precedence (docs/configuration.md), so the mapping
# below is redundant now, and harmless.
set -eu

if [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && [ -z "${WARREN_DEFAULT_USER:-}" ]; then
    export WARREN_DEFAULT_USER="$RABBITMQ_DEFAULT_USER"
fi
if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && [ -z "${WARREN_DEFAULT_PASS:-}" ]; then
    export WARREN_DEFAULT_PASS="$RABBITMQ_DEFAULT_PASS"
fi
# RABBITMQ_DEFAULT_VHOST, RABBITMQ_CONFIG_FILE and RABBITMQ_CONFIG_FILES are read by warren's
# settings layer itself; a setting it cannot use makes it exit with 78 (EX_CONFIG).

# The image names RabbitMQ's paths /etc/rabbitmq/rabbitmq.conf and /etc/rabbitmq/conf.d/*.conf.
# A mount over /etc/rabbitmq may hide them; RabbitMQ starts without them then, and so does
# warren (which refuses a named file it cannot read). Paths a user set are left alone.
if [ "${RABBITMQ_CONFIG_FILE:-}" = /etc/rabbitmq/rabbitmq.conf ] && [ ! -e /etc/rabbitmq/rabbitmq.conf ]; then
    unset RABBITMQ_CONFIG_FILE
fi
if [ "${RABBITMQ_CONFIG_FILES:-}" = '/etc/rabbitmq/conf.d/*.conf' ] && [ ! -d /etc/rabbitmq/conf.d ]; then
    unset RABBITMQ_CONFIG_FILES
fi

# By PATH (the image has it in /usr/local/bin), so tests can run this script with a stub.
exec warren "$@"
