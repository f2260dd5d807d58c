"""Unit tests of the messaging transport."""
