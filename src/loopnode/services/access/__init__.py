"""Who may do what: API keys, bearer tokens, rate limits, record ownership."""
