"""Passports as published documents: resolver, EPCIS events, credentials."""
