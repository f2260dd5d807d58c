"""Unit tests of the evidence readers."""
