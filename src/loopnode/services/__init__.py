"""Use cases over ports: the node's behaviour, independent of HTTP and SQL."""
