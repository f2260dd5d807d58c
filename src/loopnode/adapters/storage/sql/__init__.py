"""SQL stores of each feature, built lazily by the unit of work."""
