"""Unit tests of the federation adapters."""
