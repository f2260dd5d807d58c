"""LoopCoin: the ledger, settlement and clearing use cases (issue 10)."""
