"""Unit tests of the lifecycle use cases."""
