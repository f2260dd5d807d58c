"""The messaging stack's adapters: the one httpx transport and its URL policy."""
