"""The EPCIS event-id index: `ni:///sha-256;…` event id → evidence sequence (issue 13 item 3).

EPCIS event ids are content hashes of the event built from an evidence entry, so they cannot be
looked up without computing them; the index remembers each computed id once. It is a cache:
dropping it loses nothing, the next lookup rebuilds it from the evidence log.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from loopnode.adapters.storage.tables.core import metadata

epcis_event_index = Table(
    "epcis_event_index",
    metadata,
    Column("event_id", String(96), primary_key=True),
    Column("sequence", BigInteger, nullable=False, unique=True),
)
