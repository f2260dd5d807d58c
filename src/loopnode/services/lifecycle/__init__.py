"""Offers, matches, transfers, transactions: the engine and its use cases."""
