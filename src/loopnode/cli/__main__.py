"""`python -m loopnode.cli` is the `loopnode` command."""

from loopnode.cli.entry import main

main()
