"""The core-dp profile: signed envelopes in and out, choreography steps."""
