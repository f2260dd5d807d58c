"""Demo data for `loopnode seed`."""
