#!/usr/bin/env python3
"""Unacknowledged messages under a memory watermark (docs/benchmarks.md, "Unacked messages page").

A consumer with no prefetch limit takes every message of a durable queue and acks none, while
a publisher sends MESSAGES x 1 KiB persistent messages with pika. Reports how many the consumer
holds when the publisher is done (or blocked for 20 s), and the broker's RSS before, at its
peak (sampled) and 3 s after. Start the broker first with the watermark you want (the figures
use 256 MiB), e.g.

    target/release/warren --listen 127.0.0.1:5797 --data-dir "$(mktemp -d)" \\
        --set vm_memory_high_watermark.absolute=256MiB
    interop/.venv/bin/python scripts/bench-unacked-backlog.py --port 5797 --pid PID

and for RabbitMQ pass the pid of its beam.smp (the process its memory monitor measures).
"""

import argparse
import threading
import time

import pika

from bench_rss import rss_mib


class Holder(threading.Thread):
    """Consumes without a prefetch limit and never acks (its own connection and thread, as
    pika's blocking connections are not shared between threads)."""

    def __init__(self, port: int, queue: str):
        super().__init__(daemon=True)
        self.port, self.queue = port, queue
        self.held = 0
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", self.port))
        ch = conn.channel()

        def on_message(_ch, _method, _props, _body):
            self.held += 1

        ch.basic_consume(self.queue, on_message)
        self.ready.set()
        while not self.stop.is_set():
            conn.process_data_events(time_limit=0.1)
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="the broker's pid, for its RSS")
    p.add_argument("--messages", type=int, default=400_000)
    a = p.parse_args()

    params = pika.ConnectionParameters("127.0.0.1", a.port, blocked_connection_timeout=20)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    queue = "bench.unacked.backlog"
    ch.queue_declare(queue, durable=True)
    holder = Holder(a.port, queue)
    holder.start()
    holder.ready.wait(10)
    before = peak = rss_mib(a.pid)
    body = b"x" * 1024
    props = pika.BasicProperties(delivery_mode=2)
    started = time.monotonic()
    sent, blocked = 0, False
    try:
        for i in range(a.messages):
            ch.basic_publish("", queue, body, props)
            sent += 1
            if i % 20_000 == 0:
                conn.process_data_events(0)
                peak = max(peak, rss_mib(a.pid))
        conn.process_data_events(0)
    except pika.exceptions.ConnectionBlockedTimeout:
        blocked = True
    # Wait until the holder has what was sent (or stop after a minute).
    for _ in range(600):
        peak = max(peak, rss_mib(a.pid))
        if holder.held >= sent:
            break
        time.sleep(0.1)
    secs = time.monotonic() - started
    time.sleep(3)
    after = rss_mib(a.pid)
    held = holder.held
    holder.stop.set()
    holder.join(10)
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", a.port))
    conn.channel().queue_delete(queue)
    conn.close()
    note = f"blocked for 20 s after {sent} publishes" if blocked else "never blocked"
    print(
        f"| {held} of {a.messages} held unacked after {secs:.1f} s ({note}) "
        f"| {before} | {max(peak, after)} | {after} |"
    )


if __name__ == "__main__":
    main()
