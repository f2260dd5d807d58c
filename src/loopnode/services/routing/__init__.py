"""Routing (issue 11): signals, demand, LoopCost, routes, batches, overflow."""
