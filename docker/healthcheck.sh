#!/bin/bash
# Healthcheck of Warren's container image: healthy when the broker answers the AMQP 0-9-1
# protocol header with a frame (Connection.Start), on the port of the first WARREN_LISTEN
# address (default 5672). Needs only bash and coreutils, which the runtime image has.
set -euo pipefail

first=${WARREN_LISTEN:-0.0.0.0:5672}
first=${first%%,*}
port=${first##*:}
host=${first%:*}
host=${host#[}
host=${host%]}
# A wildcard address is reached through loopback.
case "$host" in
    0.0.0.0 | "") host=127.0.0.1 ;;
    ::) host=::1 ;;
esac

exec 3<>"/dev/tcp/$host/$port"
printf 'AMQP\0\0\x09\x01' >&3
# Frame type 1 (method frame) is the first byte of Connection.Start.
first_byte=$(timeout 3 head -c 1 <&3 | od -An -tx1 | tr -d ' \n')
exec 3>&-
[[ $first_byte == 01 ]]
