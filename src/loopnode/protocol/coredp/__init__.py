"""The core-dp profile (0.1.0-lab), sans-I/O: envelopes, schemas and the profile's rules.

Modules: `envelope` (signing input, build, sign, verify), `schemas` (the official schemas with
AJV parity), `choreography` (the §4.6 state matrix), `search_rules`, `dna_rules`, `errors`,
`epcis`, `evidence_rules`. Nothing is imported here, so importing one module stays cheap.
"""
