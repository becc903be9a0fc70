#!/usr/bin/env python3
"""A priority-queue backlog under a memory watermark (docs/benchmarks.md, "Priority queues page").

Publishes MESSAGES x 1 KiB messages, priorities 0-9 in turn, with pika into a queue declared with
x-max-priority 10 and no consumer, then reports how many got in before the broker blocked the
publisher for 20 s (if it did) and the broker's RSS before, at its peak (sampled) and 3 s after.
Start the broker first with the watermark you want (the figures use 256 MiB), e.g.

    target/release/warren --listen 127.0.0.1:5797 --data-dir "$(mktemp -d)" \\
        --set vm_memory_high_watermark.absolute=256MiB
    interop/.venv/bin/python scripts/bench-priority-backlog.py --port 5797 --pid PID --persistent

and for RabbitMQ pass the pid of its beam.smp (the process its memory monitor measures).
"""

import argparse
import time

import pika

from bench_rss import rss_mib


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="the broker's pid, for its RSS")
    p.add_argument("--messages", type=int, default=400_000)
    p.add_argument("--persistent", action="store_true", help="durable queue, delivery mode 2")
    a = p.parse_args()

    params = pika.ConnectionParameters("127.0.0.1", a.port, blocked_connection_timeout=20)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    queue = "bench.priority.backlog"
    ch.queue_declare(queue, durable=a.persistent, arguments={"x-max-priority": 10})
    before = peak = rss_mib(a.pid)
    body = b"x" * 1024
    mode = 2 if a.persistent else 1
    started = time.monotonic()
    sent, blocked = 0, False
    try:
        for i in range(a.messages):
            props = pika.BasicProperties(priority=i % 10, delivery_mode=mode)
            ch.basic_publish("", queue, body, props)
            sent += 1
            if i % 20_000 == 0:
                conn.process_data_events(0)
                peak = max(peak, rss_mib(a.pid))
        conn.process_data_events(0)
    except pika.exceptions.ConnectionBlockedTimeout:
        blocked = True
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", a.port))
        ch = conn.channel()
    # Wait until what was sent is queued (or stop trying after a minute: a blocked publisher's
    # last frames may never have been read).
    queued = 0
    for _ in range(600):
        queued = ch.queue_declare(queue, passive=True).method.message_count
        peak = max(peak, rss_mib(a.pid))
        if queued >= sent:
            break
        time.sleep(0.1)
    secs = time.monotonic() - started
    time.sleep(3)
    after = rss_mib(a.pid)
    ch.queue_delete(queue)
    conn.close()
    kind = "persistent" if a.persistent else "transient"
    note = f"blocked for 20 s after {sent} publishes" if blocked else "never blocked"
    print(
        f"| {kind} | {queued} of {a.messages} queued in {secs:.1f} s ({note}) "
        f"| {before} | {max(peak, after)} | {after} |"
    )


if __name__ == "__main__":
    main()
