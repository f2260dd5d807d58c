"""Federation use cases: keys, peers, announcements, bids, outbox delivery, cross-node search."""
