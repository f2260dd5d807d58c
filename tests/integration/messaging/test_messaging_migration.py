"""Migration 0009 moves every queued message and every seen key into the messaging tables.

The database is brought to the schema before 0009 (federation and core-dp outboxes apart),
rows are written the way the old code wrote them, then `upgrade heads` runs: every row must
arrive with its state, a core-dp peer's messages must keep their order, and the one delivery
worker must be able to send what was in flight.
"""

from __future__ import annotations

import asyncio
from functools import partial

import orjson
from sqlalchemy import Engine, text

from loopnode.adapters.storage.engine import make_engine
from loopnode.adapters.storage.migrate import upgrade
from loopnode.adapters.storage.uow import SqlUnitOfWork
from loopnode.services.federation.delivery import FederationChannel
from loopnode.services.messaging.delivery import Delivery, DeliverySettings
from loopnode.services.messaging.ports import CORE_DP, FEDERATION, PeerResponse
from tests.fakes import FakeClock

NOW_US = 1_780_000_000_000_000


def _old_rows(connection: object) -> None:
    execute = connection.execute  # type: ignore[attr-defined]
    for row_id, peer, status, attempts, error in (
        (1, "berlin.loop", "pending", 2, "unreachable: down"),
        (2, "vienna.loop", "dead", 16, "HTTP 400: no"),
        (3, "berlin.loop", "delivered", 1, None),
    ):
        execute(
            text(
                "INSERT INTO fed_outbox (id, peer_id, kind, method, path, body, dedupe_key, "
                "status, attempts, next_attempt_us, last_error, created_us, updated_us) "
                "VALUES (:id, :peer, 'announce', 'POST', '/federate/announce', :body, :key, "
                ":status, :attempts, :next, :error, :now, :now)"
            ),
            {
                "id": row_id,
                "peer": peer,
                "body": f'{{"n": {row_id}}}',
                "key": f"ann:{row_id}",
                "status": status,
                "attempts": attempts,
                "next": NOW_US - 1,
                "error": error,
                "now": NOW_US - 10,
            },
        )
    for row_id, kind, status in (
        (7, "material.register", "pending"),
        (8, "offer.publish", "pending"),
        (9, "capabilities.announce", "failed"),
    ):
        execute(
            text(
                "INSERT INTO coredp_outbox (id, peer_node, message_type, conversation_id, "
                "idempotency_key, body, subject_document, status, attempt, first_message_id, "
                "last_message_id, unreached, next_attempt_us, deadline_us, created_us, "
                "updated_us) VALUES (:id, 'berlin.loop', :kind, 'conv-1', :key, '{\"a\": 1}', "
                ":doc, :status, 1, 'msg-first', 'msg-last', 3, :next, :deadline, :now, :now)"
            ),
            {
                "id": row_id,
                "kind": kind,
                "key": f"idem-{row_id}",
                "doc": '{"id": "MAT-1"}' if row_id == 7 else None,
                "status": status,
                "next": NOW_US - 1,
                "deadline": NOW_US + 3_600_000_000,
                "now": NOW_US - 10,
            },
        )
    execute(
        text("INSERT INTO fed_seen_signatures VALUES ('node-sig:berlin.loop:abc', :e)"),
        {"e": NOW_US + 1},
    )
    execute(
        text("INSERT INTO coredp_seen_messages VALUES ('core-dp:berlin.loop:m1', :e)"),
        {"e": NOW_US + 2},
    )


def _before_0009_with_rows(engine: Engine) -> None:
    for head in ("0002", "0003", "0004"):
        upgrade(engine, head)
    with engine.begin() as connection:
        _old_rows(connection)


def test_upgrading_moves_every_outbox_row_and_seen_key(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _before_0009_with_rows(engine)
        upgrade(engine)
        with SqlUnitOfWork(engine, "munich.loop") as uow:
            fed = uow.messaging.outbox.page(None, 0, 100, channel=FEDERATION)
            dp = uow.messaging.outbox.page(None, 0, 100, channel=CORE_DP)
            assert not uow.messaging.seen.remember("node-sig:berlin.loop:abc", NOW_US)
            assert not uow.messaging.seen.remember("core-dp:berlin.loop:m1", NOW_US)
        with engine.connect() as connection:
            tables = set(
                connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        if engine.dialect.name == "sqlite"
                        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert not tables & {
        "fed_outbox",
        "coredp_outbox",
        "fed_seen_signatures",
        "coredp_seen_messages",
    }
    assert [(r.peer_id, r.status, r.attempts, r.last_error) for r in fed] == [
        ("berlin.loop", "pending", 2, "unreachable: down"),
        ("vienna.loop", "dead", 16, "HTTP 400: no"),
        ("berlin.loop", "delivered", 1, None),
    ]
    assert [orjson.loads(r.body)["n"] for r in fed] == [1, 2, 3]
    assert {r.dedupe_key for r in fed} == {"ann:1", "ann:2", "ann:3"}
    assert [(r.kind, r.status, r.lane) for r in dp] == [
        ("material.register", "pending", "core-dp"),
        ("offer.publish", "pending", "core-dp"),
        ("capabilities.announce", "dead", "core-dp"),
    ]
    first = dp[0]
    assert (first.attempts, first.unreached, first.correlation_id) == (1, 3, "conv-1")
    assert (first.first_message_id, first.last_message_id) == ("msg-first", "msg-last")
    assert first.deadline_us == NOW_US + 3_600_000_000
    assert first.path == "/core-dp/messages" and first.dedupe_key == "idem-7"
    assert orjson.loads(first.attachment or "null") == {"id": "MAT-1"}
    assert dp[1].attachment is None


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def send(
        self, peer: object, method: str, path: str, body: bytes, **_: object
    ) -> PeerResponse:
        self.sent.append((getattr(peer, "node_id", ""), path, body))
        return PeerResponse(202, b"{}")


def test_a_moved_in_flight_federation_row_is_delivered_by_the_one_worker(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _before_0009_with_rows(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO fed_peers (node_id, name, endpoint, status, capabilities, "
                    "created_us, updated_us) VALUES ('berlin.loop', 'Berlin', "
                    "'https://berlin.example/api/v1', 'approved', '[]', 0, 0)"
                )
            )
        upgrade(engine)
        clock = FakeClock()
        clock.current = clock.current.fromtimestamp(NOW_US / 1_000_000, clock.current.tzinfo)
        recorder = _Recorder()
        delivery = Delivery(
            partial(SqlUnitOfWork, engine, "munich.loop"),
            clock,
            recorder,  # type: ignore[arg-type]
            lambda: 1.0,
            DeliverySettings(),
            [FederationChannel()],
        )
        assert asyncio.run(delivery.run_once()) == 1
        with SqlUnitOfWork(engine, "munich.loop") as uow:
            [row] = [r for r in uow.messaging.outbox.page(None, 0, 10) if r.id == 1]
    finally:
        engine.dispose()
    assert recorder.sent == [("berlin.loop", "/federate/announce", b'{"n": 1}')]
    assert (row.status, row.attempts) == ("delivered", 3)


def test_downgrading_splits_the_tables_back_and_upgrading_again_merges_them(
    database_url: str,
) -> None:
    from alembic import command

    from loopnode.adapters.storage.migrate import alembic_config

    engine = make_engine(database_url)
    try:
        _before_0009_with_rows(engine)
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")  # undoes 0009 only
        with engine.connect() as connection:
            statuses = connection.execute(
                text("SELECT message_type, status, attempt FROM coredp_outbox ORDER BY id")
            ).all()
            announced = connection.execute(text("SELECT COUNT(*) FROM fed_outbox")).scalar_one()
            signatures = connection.execute(
                text("SELECT replay_key FROM fed_seen_signatures")
            ).scalars()
            signature_keys = list(signatures)
        upgrade(engine)
        with SqlUnitOfWork(engine, "munich.loop") as uow:
            again = uow.messaging.outbox.page(None, 0, 100)
    finally:
        engine.dispose()
    assert [tuple(r) for r in statuses] == [
        ("material.register", "pending", 1),
        ("offer.publish", "pending", 1),
        ("capabilities.announce", "failed", 1),
    ]
    assert announced == 3 and signature_keys == ["node-sig:berlin.loop:abc"]
    assert len(again) == 6
