"""`python -m loopnode` is the `loopnode` command."""

from loopnode.cli.entry import main

main()
