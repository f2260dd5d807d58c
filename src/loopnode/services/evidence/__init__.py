"""The evidence log as operators and peers read it, replayed live."""
