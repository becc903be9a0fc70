"""The seed's story: one "order placed" event fanned out to four independent services.

Payment, inventory, e-mail and shipping each run as their own process would: their own
connection, their own durable queue bound to the shop's fanout exchange, manual acks. E-mail
hits a transient failure and nacks with requeue; only e-mail sees the order again, and every
service's ack settles its own copy only.
"""

import json

import pika

from support import ready_count, wait_for

SERVICES = ("payment", "inventory", "email", "shipping")


def test_order_placed_fans_out_to_four_services(broker, ch, scratch):
    exchange = scratch.exchange(ch, "fanout", "shop.orders", durable=True)
    queues = {}
    for service in SERVICES:
        queues[service] = scratch.queue(ch, f"shop.{service}", durable=True)
        ch.queue_bind(queues[service], exchange)

    connections = {service: broker.connect() for service in SERVICES}
    try:
        seen = {service: [] for service in SERVICES}
        channels = {}

        def handler(service):
            def on_message(sch, method, props, body):
                seen[service].append((method.redelivered, props.message_id, json.loads(body)))
                if service == "email" and not method.redelivered:
                    sch.basic_nack(method.delivery_tag, requeue=True)  # SMTP hiccup: retry
                else:
                    sch.basic_ack(method.delivery_tag)
            return on_message

        for service, sconn in connections.items():
            sch = sconn.channel()
            sch.basic_qos(prefetch_count=1)
            sch.basic_consume(queues[service], handler(service))
            channels[service] = sch

        order = {"event": "order placed", "order_id": "A-1001", "total": "59.90",
                 "items": [{"sku": "TEA-1", "qty": 2}, {"sku": "MUG-7", "qty": 1}]}
        ch.confirm_delivery()
        ch.basic_publish(exchange, "order.placed", json.dumps(order).encode(),
                         pika.BasicProperties(content_type="application/json",
                                              delivery_mode=pika.DeliveryMode.Persistent,
                                              message_id="A-1001"))

        def pump():
            for sconn in connections.values():
                sconn.process_data_events(time_limit=0.01)

        def all_done():
            pump()
            return all(len(seen[s]) == (2 if s == "email" else 1) for s in SERVICES)

        wait_for(all_done, "every service to handle the order")
        for _ in range(10):  # give any stray duplicate a chance to show up
            pump()

        for service in ("payment", "inventory", "shipping"):
            assert seen[service] == [(False, "A-1001", order)], service
        assert seen["email"] == [(False, "A-1001", order), (True, "A-1001", order)]

        # Every copy is settled: closing the services' channels requeues nothing.
        for sch in channels.values():
            sch.close()
        for service in SERVICES:
            assert ready_count(ch, queues[service]) == 0, service
    finally:
        for sconn in connections.values():
            if sconn.is_open:
                sconn.close()
