"""Passport registries: registration, search, cursors, NodeInfo, seeding."""
