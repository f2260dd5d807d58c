"""The `loopnode` entry point: `loopnode clearing …` starts without loading the node.

The full command app imports the web framework, the ORM and every service (seconds on a busy
machine). The clearing solver needs none of them, and the issue's budget for a whole
`loopnode clearing solve` run, process start included, is well under 2 s; so that group is
dispatched before the rest is imported. Everything else goes to `loopnode.cli.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["clearing"]:
        from loopnode.cli.clearing_cmd import clearing_app

        clearing_app(args=sys.argv[2:], prog_name="loopnode clearing")
        return
    from loopnode.cli.main import main as full

    full()
