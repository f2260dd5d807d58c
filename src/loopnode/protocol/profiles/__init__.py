"""Regulatory extension-guidance profiles (battery, packaging, waste shipment) as lint rules."""

from loopnode.protocol.profiles.lint import RULES, Finding, Rule, lint

__all__ = ["RULES", "Finding", "Rule", "lint"]
