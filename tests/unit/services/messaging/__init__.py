"""Unit tests of the messaging stack."""
