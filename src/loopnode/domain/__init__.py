"""The domain core: LOOP's rules as plain Python, with no web, storage or network imports."""
