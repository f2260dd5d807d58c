"""Unit tests of the federation use cases."""
