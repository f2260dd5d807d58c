"""Federation transport: signed httpx requests, TLS contexts and certificates, the key file."""
