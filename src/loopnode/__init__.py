"""loopnode: a node for LOOP, the Local Optimization with Overflow Protocol."""

__version__ = "0.1.0"
LOOP_SPEC_VERSION = "0.2.0"
