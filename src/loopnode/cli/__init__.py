"""The `loopnode` command line."""
