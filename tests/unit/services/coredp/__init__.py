"""Unit tests of the core-dp use cases."""
