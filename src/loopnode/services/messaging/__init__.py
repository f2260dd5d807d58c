"""The node's one messaging stack: outbound transport port, durable outbox, delivery, replay.

Federation announcements, bids, key notices and core-dp envelopes all leave the node through
the port in `ports` (one transport, one URL policy, one set of failure reasons).
"""
