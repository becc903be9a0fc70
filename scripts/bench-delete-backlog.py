#!/usr/bin/env python3
"""Deleting a queue with a large stored backlog (docs/benchmarks.md, "Deleting a large queue").

Fills a durable queue with MESSAGES x 1 KiB persistent messages (warren-perf's backlog scenario,
kept), then deletes it with pika while sampling the broker's RSS every 10 ms. Reports the RSS
before the delete, its peak during and after, how long `queue.delete` took to answer, and how
long a persistent publish with confirms into another queue took at most while the deleted
queue's entries were being removed. Start the broker first, e.g.

    target/release/warren --listen 127.0.0.1:5798 --data-dir "$(mktemp -d)"
    interop/.venv/bin/python scripts/bench-delete-backlog.py --port 5798 --pid PID
"""

import argparse
import subprocess
import threading
import time
from pathlib import Path

import pika

from bench_rss import rss_mib

REPO = Path(__file__).resolve().parent.parent


def short_count(n: int) -> str:
    """How warren-perf names a backlog scenario of `n` messages (backlog-2m, backlog-500k)."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def fill(port: int, messages: int) -> str:
    """The backlog's queue name, filled by warren-perf and kept."""
    out = subprocess.run(
        [str(REPO / "target/release/warren-perf"), "run", "--uri",
         f"amqp://guest:guest@127.0.0.1:{port}/%2f", "--scenario", f"backlog-{short_count(messages)}", "--count", str(messages),
         "--persistent", "--keep", "-s", "1024"],
        check=True, capture_output=True, text=True).stdout
    names = [line.split(": ", 1)[1] for line in out.splitlines()
             if line.startswith("kept queue: ")]
    if not names:
        raise RuntimeError(f"no kept queue in warren-perf's output:\n{out}")
    return names[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--messages", type=int, default=2_000_000)
    a = ap.parse_args()
    queue = fill(a.port, a.messages)
    time.sleep(3)
    params = pika.ConnectionParameters("127.0.0.1", a.port)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    depth = ch.queue_declare(queue, passive=True).method.message_count
    before = rss_mib(a.pid)
    samples = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mib(a.pid))
            time.sleep(0.01)

    probes = []

    def probe() -> None:
        # Persistent publishes with confirms into another queue while the delete runs.
        pconn = pika.BlockingConnection(params)
        pch = pconn.channel()
        pch.queue_declare("delete-probe", durable=True)
        pch.confirm_delivery()
        while not stop.is_set():
            t = time.monotonic()
            pch.basic_publish("", "delete-probe", b"x" * 1024,
                              pika.BasicProperties(delivery_mode=2))
            probes.append(time.monotonic() - t)
            time.sleep(0.005)
        pch.queue_delete("delete-probe")
        pconn.close()

    threads = [threading.Thread(target=sample), threading.Thread(target=probe)]
    for t in threads:
        t.start()
    time.sleep(1)
    t0 = time.monotonic()
    ch.queue_delete(queue)
    answered = time.monotonic() - t0
    time.sleep(10)
    stop.set()
    for t in threads:
        t.join()
    conn.close()
    print(f"queue {queue}: {depth} messages; RSS before {before} MiB, peak {max(samples)} MiB, "
          f"10 s after {samples[-1]} MiB; queue.delete answered in {answered:.2f} s; "
          f"slowest confirmed publish meanwhile {max(probes) * 1000:.0f} ms "
          f"({len(probes)} publishes)")


if __name__ == "__main__":
    main()
