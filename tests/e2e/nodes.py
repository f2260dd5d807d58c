"""The node launcher lives in the package (`loopnode demo` uses it too); tests import it here."""

from loopnode.demo.cluster import FAST_SETTINGS, Federation, Node, NodeSpec, free_port

__all__ = ["FAST_SETTINGS", "Federation", "Node", "NodeSpec", "free_port"]
