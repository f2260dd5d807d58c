"""Adapters around the core: storage, federation transport, clock."""
