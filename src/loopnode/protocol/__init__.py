"""The sans-I/O wire layer: models, JSON-LD, canonical JSON, signatures, envelopes, vectors."""
