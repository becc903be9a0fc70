"""Flow control: a consumer that stops reading holds its queue back instead of having the
broker buffer every message for it, and takes them all once it reads again.

RabbitMQ 3.10 keeps about 400 messages in flight to such a consumer (its credit flow between
queue and channel); Warren keeps a 4 MiB delivery window per connection. Either way most of
a large backlog stays in the queue, which is what this asserts.
"""

import time

from support import ready_count, wait_for

BODY = b"x" * 16384
COUNT = 6000  # 96 MiB: far more than any window plus the kernel's socket buffers


def test_consumer_that_does_not_read_leaves_its_backlog_queued(broker, conn, ch, scratch):
    queue = scratch.queue(ch, "flow")
    slow = broker.connect()
    try:
        slow_ch = slow.channel()
        received = []
        slow_ch.basic_consume(queue, lambda c, m, p, body: received.append(len(body)), auto_ack=True)
        # pika reads its socket only inside its own calls: from here on `slow` reads nothing.
        for _ in range(COUNT):
            ch.basic_publish("", queue, BODY)
        # Give the publishes a second to land: in RabbitMQ the queue may answer the passive
        # declare ahead of publishes still on their way from the channel.
        time.sleep(1)
        ready = ready_count(ch, queue)
        assert ready >= COUNT // 2, f"only {ready} of {COUNT} still queued for a stalled consumer"

        # 96 MiB through pure-Python pika: far slower than either broker on a busy runner.
        wait_for(lambda: len(received) == COUNT, f"all {COUNT} deliveries once it reads", conn=slow,
                 timeout=30)
        assert set(received) == {len(BODY)}
        assert ready_count(ch, queue) == 0
    finally:
        slow.close()
