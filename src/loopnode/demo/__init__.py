"""The three-city federation demo (`loopnode demo`) and the node launcher it runs on."""
