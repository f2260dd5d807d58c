"""`python -m loopnode.cli` is the `loopnode` command."""

from loopnode.cli.main import main

main()
