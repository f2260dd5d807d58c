"""Unit tests of the LoopCoin use cases."""
