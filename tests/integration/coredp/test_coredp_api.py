"""The core-dp exchange between two in-process nodes (DECISIONS 20; docs/core-dp.md).

munich.loop (origin) and berlin.loop (counterparty) each have their own database (SQLite, or
PostgreSQL for the `postgres` half) and key, trust each other's keys, and talk through
`httpx.ASGITransport`: munich's core-dp transport posts straight into berlin's app. Hand-made
envelopes (signed with munich's key) probe the receiver's refusals over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from loopnode.adapters.storage.uow import SqlUnitOfWork
from loopnode.bootstrap import build_coredp
from loopnode.domain.times import format_timestamp, to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes, sha256_hex
from loopnode.protocol.coredp.choreography import convergence_hash
from loopnode.protocol.coredp.envelope import (
    NodeRef,
    build_envelope,
    new_idempotency_key,
    new_message_id,
    sign_envelope,
)
from loopnode.protocol.trust import KeyRecord
from loopnode.services.coredp.messages import SUBJECT_HEADER, CoreDpSettings, choreography_body
from loopnode.services.coredp.ports import OutboundMessage
from loopnode.services.federation.ports import PeerRow
from loopnode.services.lifecycle.custody import Custody
from loopnode.services.lifecycle.engine import Exchange
from loopnode.web.app import create_app
from tests import lifecycle_payloads as p
from tests import official
from tests.conftest import create_postgres_database
from tests.fakes import CountingHex, FakeClock

T = TypeVar("T")
MESSAGES = "/api/v1/core-dp/messages"
MUNICH_SEED, BERLIN_SEED = b"\x11" * 32, b"\x22" * 32
BERLIN_URL = "http://berlin.test"
MUNICH_URL = "http://munich.test"
MAT = p.MATERIAL_ID


@dataclass
class Node:
    container: Any
    app: Any
    key: Ed25519PrivateKey

    @property
    def node_id(self) -> str:
        return str(self.container.settings.node_id)

    @property
    def key_id(self) -> str:
        return keys.key_id(keys.public_raw(self.key), self.node_id)

    @property
    def exchange(self) -> Any:
        return self.container.coredp.exchange

    def ref(self) -> NodeRef:
        return NodeRef(self.node_id, f"https://{self.node_id}/api/v1", self.key_id)


@dataclass
class Pair:
    munich: Node
    berlin: Node
    clock: FakeClock
    urls: dict[str, str]

    def drive(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine in a fresh event loop, closing the transports' clients after."""

        async def main() -> T:
            try:
                return await make()
            finally:
                for node in (self.munich, self.berlin):
                    await node.container.coredp.transport.aclose()

        return asyncio.run(main())


def _node(
    base: Path,
    name: str,
    city: str,
    code: str,
    seed: bytes,
    url: str,
    clock: FakeClock,
    random_hex: Any,
    coredp: CoreDpSettings | None = None,
) -> Node:
    from loopnode.bootstrap import build
    from loopnode.config import load_settings

    base.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    keys.save_private_key(key, base / "node_ed25519.key")
    settings = load_settings(
        base,
        node_id=f"{name}.loop",
        name=f"{city} LOOP node",
        country="DE",
        city_code=code,
        city=city,
        base_url=f"https://{name}.example",
        database_url=url,
        federation_worker=False,
    )
    container = build(settings, clock=clock, random_hex=random_hex)
    if coredp is not None:
        container.coredp = _rewired(container, coredp)
    return Node(container, create_app(container=container), key)


def _rewired(container: Any, tunables: CoreDpSettings) -> Any:
    return build_coredp(
        container.settings,
        partial(SqlUnitOfWork, container.engine, container.settings.node_id),
        container.clock,
        container.node,
        exchange=Exchange(Custody(container.node, CountingHex())),
        signing_key=container.federation.keys.signing_key,
        random_hex=CountingHex(),
        search=container.search.core_dp_search,
        coredp_settings=tunables,
    )


def trust(node: Node, other: Node, endpoint: str, *, status: str = "approved") -> None:
    container = node.container
    now = container.clock.now()
    with container.uow(write=True) as uow:
        uow.federation.peers.put(
            PeerRow(
                node_id=other.node_id,
                name=other.node_id,
                endpoint=endpoint + "/api/v1",
                status=status,
                capabilities=(),
                created_us=to_us(now),
                updated_us=to_us(now),
                approved_us=to_us(now) if status == "approved" else None,
            )
        )
        record = KeyRecord(
            other.node_id,
            other.key_id,
            keys.public_raw(other.key),
            "active",
            valid_from=now - timedelta(days=1),
        )
        uow.federation.peer_keys.put(record, "import", to_us(now))


def connect(pair: Pair) -> None:
    """munich's transport posts into berlin's app and the other way round."""
    munich, berlin = pair.munich, pair.berlin
    munich.container.coredp.transport.mount(BERLIN_URL, httpx.ASGITransport(app=berlin.app))
    berlin.container.coredp.transport.mount(MUNICH_URL, httpx.ASGITransport(app=munich.app))


def make_pair(
    tmp_path: Path, database_url: str, clock: FakeClock, **berlin_settings: Any
) -> Iterator[Pair]:
    drop = None
    if database_url.startswith("sqlite"):
        second = f"sqlite:///{tmp_path / 'berlin.db'}"
    else:
        second, drop = create_postgres_database()
    munich = _node(
        tmp_path / "munich",
        "munich",
        "Munich",
        "MUC",
        MUNICH_SEED,
        database_url,
        clock,
        CountingHex(),
    )
    tunables = CoreDpSettings(**berlin_settings) if berlin_settings else None
    berlin = _node(
        tmp_path / "berlin", "berlin", "Berlin", "BER", BERLIN_SEED, second, clock, None, tunables
    )
    trust(munich, berlin, BERLIN_URL)
    trust(berlin, munich, MUNICH_URL)
    pair = Pair(munich, berlin, clock, {"munich": database_url, "berlin": second})
    connect(pair)
    try:
        yield pair
    finally:
        munich.container.close()
        berlin.container.close()
        if drop is not None:
            drop()


@pytest.fixture
def pair(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Pair]:
    yield from make_pair(tmp_path, database_url, clock)


@pytest.fixture
def manual_receipt_pair(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Pair]:
    yield from make_pair(tmp_path, database_url, clock, auto_receive=False)


def register_material(node: Node, value: float = 100) -> None:
    node.container.registry.register("material", p.material(value=value), "tests")


def offer_payload(value: float = 100) -> dict[str, Any]:
    return p.offer(MAT, value)


# -- hand-made envelopes ----------------------------------------------------------------------
def signed(
    sender: Node,
    receiver: Node,
    message_type: str,
    body: dict[str, Any],
    *,
    created: Any = None,
    message_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    envelope = build_envelope(
        message_type=message_type,
        sender=sender.ref(),
        receiver=receiver.ref(),
        body=body,
        message_id=message_id or new_message_id(),
        idempotency_key=idempotency_key or body.get("idempotency_key") or new_idempotency_key(),
        created_at=created or sender.container.clock.now(),
    )
    return sign_envelope(envelope, sender.key)


def publish_body(
    origin: Node, counterparty: Node, offer: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return choreography_body(
        "offer.publish",
        conversation_id=extra.pop("conversation_id", "conv_" + "a" * 32),
        origin_node=origin.node_id,
        counterparty_node=counterparty.node_id,
        subject_type="offer",
        subject_id=offer["id"],
        timeout_at=format_timestamp(origin.container.clock.now() + timedelta(hours=1)),
        idempotency_key=extra.pop("idempotency_key", new_idempotency_key()),
        local_evidence_hash_sha256=sha256_hex(offer),
        **extra,
    )


def snapshot(document: dict[str, Any]) -> dict[str, str]:
    text = base64.urlsafe_b64encode(canonical_bytes(document)).rstrip(b"=").decode()
    return {SUBJECT_HEADER: text}


def post(node: Node, envelope: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    with TestClient(node.app, raise_server_exceptions=False) as client:
        return client.post(MESSAGES, json=envelope, headers=headers or {})


def full_offer() -> dict[str, Any]:
    return {**p.offer(MAT, 100), "id": "OFR-DE-MUC-2026-0000000A01", "status": "open"}


def assert_dp_error(reference_dir: Path, response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert official.errors(reference_dir, "error.schema.json", body) == []


# -- the whole exchange ---------------------------------------------------------------------------
def test_offer_match_transfer_leaves_both_nodes_in_agreement(
    pair: Pair, reference_dir: Path
) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    run = pair.drive(lambda: munich.exchange.run(berlin.node_id, offer_payload(), to_city="Berlin"))

    assert run.capabilities.state == "capabilities-confirmed"
    assert run.offer.state == "offer-acked"
    assert run.match.state == "match-accepted"
    assert run.transfer.state == "transfer-acked"
    for entity, conv in (("offer", run.offer), ("match", run.match), ("transfer", run.transfer)):
        ours = munich.container.lifecycle.get(entity, conv.subject_id)
        theirs = berlin.container.lifecycle.get(entity, conv.subject_id)
        assert ours == theirs
    assert munich.container.lifecycle.get("offer", run.offer.subject_id)["status"] == "withdrawn"
    assert berlin.container.lifecycle.get("match", run.match.subject_id)["status"] == "accepted"
    assert (
        berlin.container.lifecycle.get("transfer", run.transfer.subject_id)["status"] == "completed"
    )
    for node in (munich, berlin):
        record = node.container.registry.get("material", MAT)
        assert record.current_city == "Berlin"

    # Capabilities: both store the accepted version and the other's key id.
    caps_b = berlin.exchange.conversation(run.capabilities.conversation_id)
    assert (
        caps_b.accepted_profile_version == run.capabilities.accepted_profile_version == "0.1.0-lab"
    )
    assert run.capabilities.peer_key_id == berlin.key_id and caps_b.peer_key_id == munich.key_id

    # Convergence: equal evidence hashes and the same convergence hash on both sides.
    theirs = berlin.exchange.conversation(run.transfer.conversation_id)
    assert theirs.state == "transfer-acked"
    ours = run.transfer
    assert ours.local_evidence_hash == ours.peer_evidence_hash == theirs.local_evidence_hash
    expected = convergence_hash(ours.subject_id, ours.local_evidence_hash, ours.peer_evidence_hash)
    assert ours.convergence_hash == theirs.convergence_hash == expected
    transfer_doc = munich.container.lifecycle.get("transfer", ours.subject_id)
    assert ours.local_evidence_hash == sha256_hex(transfer_doc)

    # Evidence: every step on both nodes, each entry valid against the official schema.
    steps = {
        "offer-published",
        "offer-acked",
        "match-proposed",
        "match-accepted",
        "transfer-dispatched",
        "transfer-received",
        "transfer-acked",
    }
    for node in (munich, berlin):
        entries = node.container.evidence.page(0, 500, "core-dp")["entries"]
        for entry in entries:
            assert official.errors(reference_dir, "evidence-entry.schema.json", entry) == []
        assert steps <= {e["event_type"] for e in entries}
        acked = [e for e in entries if e["event_type"] == "transfer-acked"]
        assert acked[0]["subject"] == {"type": "transfer", "id": ours.subject_id}
    pay_m = _payload_hashes(munich, "transfer-acked")
    assert pay_m == _payload_hashes(berlin, "transfer-acked")


def _payload_hashes(node: Node, event_type: str) -> list[str]:
    entries = node.container.evidence.page(0, 500, "core-dp")["entries"]
    return [e["payload_hash_sha256"] for e in entries if e["event_type"] == event_type]


def test_the_passport_travels_first_as_a_dna_register(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload(40)))
    mirrored = berlin.container.registry.get("material", MAT)
    assert mirrored.source_node == munich.node_id
    assert mirrored.document == munich.container.registry.get("material", MAT).document
    delivered = [row.message_type for row in munich.exchange.outbox("delivered")]
    assert delivered == ["material.register", "offer.publish"]


def test_a_partial_offer_agrees_on_the_offer_match_and_transfer(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich, 100)
    run = pair.drive(lambda: munich.exchange.run(berlin.node_id, offer_payload(30)))
    for entity, conv in (("offer", run.offer), ("match", run.match), ("transfer", run.transfer)):
        assert munich.container.lifecycle.get(
            entity, conv.subject_id
        ) == berlin.container.lifecycle.get(entity, conv.subject_id)
    # The split child has a node-local id on each side; the parents agree.
    for node in (munich, berlin):
        assert node.container.registry.get("material", MAT).document["quantity"]["value"] == 70


def test_a_refused_match_is_rejected_and_the_origin_reopens_its_offer(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    offered = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    berlin.container.lifecycle.transition(
        "offer", offered.subject_id, {"status": "withdrawn"}, "tests"
    )
    matched = pair.drive(lambda: munich.exchange.propose_match(berlin.node_id, offered.subject_id))
    assert matched.state == "match-rejected"
    assert "withdrawn" in (matched.last_error or "")
    assert munich.container.lifecycle.get("match", matched.subject_id)["status"] == "rejected"
    assert munich.container.lifecycle.get("offer", offered.subject_id)["status"] == "open"


def test_an_offer_without_its_passport_is_rejected(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    offer = full_offer()
    envelope = signed(munich, berlin, "offer.publish", publish_body(munich, berlin, offer))
    response = post(berlin, envelope, snapshot(offer))
    assert response.status_code == 200
    reply = response.json()
    assert reply["message_type"] == "offer.reject"
    assert reply["body"]["state"] == "offer-rejected"
    assert "names no material" in reply["body"]["reason"]
    assert reply["sender"]["node_id"] == berlin.node_id
    assert reply["receiver"] == envelope["sender"]
    with berlin.container.uow() as uow:
        assert uow.exchange.get("offer", offer["id"]) is None


def test_a_counterparty_that_confirms_receipt_later_gets_the_final_ack(
    manual_receipt_pair: Pair,
) -> None:
    pair = manual_receipt_pair
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    run = pair.drive(lambda: munich.exchange.run(berlin.node_id, offer_payload()))
    assert run.transfer.state == "transfer-dispatched"
    transfer_id = run.transfer.subject_id
    assert berlin.container.lifecycle.get("transfer", transfer_id)["status"] == "in_transit"

    confirmed = pair.drive(lambda: berlin.exchange.confirm_receipt(run.transfer.conversation_id))
    assert confirmed.state == "transfer-acked"
    ours = munich.exchange.conversation(run.transfer.conversation_id)
    assert ours.state == "transfer-acked"
    assert ours.convergence_hash == confirmed.convergence_hash is not None
    assert munich.container.lifecycle.get(
        "transfer", transfer_id
    ) == berlin.container.lifecycle.get("transfer", transfer_id)
    assert berlin.container.lifecycle.get("transfer", transfer_id)["status"] == "completed"


# -- the receiver's refusals --------------------------------------------------------------------
def test_a_tampered_body_or_signature_is_signature_invalid(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    offer = full_offer()
    envelope = signed(munich, berlin, "offer.publish", publish_body(munich, berlin, offer))
    tampered = {**envelope, "body": {**envelope["body"], "attempt": 1, "reason": "changed"}}
    assert_dp_error(reference_dir, post(berlin, tampered), 401, "signature_invalid")
    value = envelope["signature"]["value"]
    forged = {
        **envelope,
        "signature": {
            **envelope["signature"],
            "value": value[:-2] + ("AA" if value[-2:] != "AA" else "AQ"),
        },
    }
    assert_dp_error(reference_dir, post(berlin, forged), 401, "signature_invalid")


def test_a_replayed_message_id_is_a_duplicate_for_every_worker(
    pair: Pair, reference_dir: Path, tmp_path: Path
) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    offer = full_offer()
    envelope = signed(
        munich,
        berlin,
        "offer.publish",
        publish_body(munich, berlin, offer, conversation_id="conv_" + "b" * 32),
    )
    first = post(berlin, envelope)
    assert first.status_code == 200
    assert_dp_error(reference_dir, post(berlin, envelope), 409, "duplicate")
    # A second process on the same database knows the message too.
    from loopnode.bootstrap import build

    settings = berlin.container.settings.model_copy(update={"data_dir": tmp_path / "berlin"})
    other = build(settings, clock=pair.clock)
    try:
        second_worker = Node(other, create_app(container=other), berlin.key)
        assert_dp_error(reference_dir, post(second_worker, envelope), 409, "duplicate")
    finally:
        other.close()


def test_an_expired_envelope_is_stale(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    offer = full_offer()
    old = pair.clock.now() - timedelta(minutes=10)
    envelope = signed(
        munich, berlin, "offer.publish", publish_body(munich, berlin, offer), created=old
    )
    assert_dp_error(reference_dir, post(berlin, envelope), 409, "stale_message")


def test_a_revoked_key_is_refused(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    with berlin.container.uow(write=True) as uow:
        record = uow.federation.peer_keys.get(munich.node_id, munich.key_id)
        revoked = replace(record, status="revoked", revoked_at=pair.clock.now())
        uow.federation.peer_keys.put(revoked, "revocation", to_us(pair.clock.now()))
    envelope = signed(munich, berlin, "offer.publish", publish_body(munich, berlin, full_offer()))
    assert_dp_error(reference_dir, post(berlin, envelope), 401, "signature_invalid")


def test_an_unknown_key_and_a_pending_peer_are_refused(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    stranger = Node(
        munich.container, munich.app, Ed25519PrivateKey.from_private_bytes(b"\x33" * 32)
    )
    envelope = signed(stranger, berlin, "offer.publish", publish_body(munich, berlin, full_offer()))
    assert_dp_error(reference_dir, post(berlin, envelope), 401, "signature_invalid")
    trust(berlin, munich, MUNICH_URL, status="pending")
    envelope = signed(munich, berlin, "offer.publish", publish_body(munich, berlin, full_offer()))
    assert_dp_error(reference_dir, post(berlin, envelope), 403, "forbidden")


def test_the_same_idempotency_key_returns_the_stored_result_or_a_conflict(
    pair: Pair, reference_dir: Path
) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    offered = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload(10)))
    key = new_idempotency_key()
    offer = {**full_offer(), "id": "OFR-DE-MUC-2026-0000000B01"}
    body = publish_body(
        munich, berlin, offer, conversation_id="conv_" + "c" * 32, idempotency_key=key
    )
    first_envelope = signed(munich, berlin, "offer.publish", body)
    first = post(berlin, first_envelope, snapshot(offer))
    assert first.status_code == 200
    assert first.json()["message_type"] == "offer.reject"  # 10 kg offered already: 110 > 100
    retry_body = {**body, "attempt": 2, "duplicate_of": first_envelope["message_id"]}
    retry = post(berlin, signed(munich, berlin, "offer.publish", retry_body), snapshot(offer))
    assert retry.status_code == 200
    assert retry.json() == first.json()  # the stored answer, not a second decision
    changed = {**retry_body, "attempt": 3, "reason": "another request"}
    conflict = post(berlin, signed(munich, berlin, "offer.publish", changed))
    assert_dp_error(reference_dir, conflict, 409, "conflict")
    assert (
        conflict.json()["details"]["original_fingerprint_sha256"]
        != conflict.json()["details"]["idempotency_fingerprint_sha256"]
    )
    assert offered.state == "offer-acked"


def test_an_attempt_above_five_is_refused_by_the_schema(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    body = publish_body(munich, berlin, full_offer())
    body.update(attempt=6, duplicate_of=new_message_id())
    response = post(berlin, signed(munich, berlin, "offer.publish", body))
    assert_dp_error(reference_dir, response, 400, "schema_invalid")


def test_a_message_after_a_terminal_state_is_stale(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    offered = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    assert berlin.exchange.conversation(offered.conversation_id).state == "offer-acked"
    again = publish_body(
        munich,
        berlin,
        berlin.container.lifecycle.get("offer", offered.subject_id),
        conversation_id=offered.conversation_id,
    )
    response = post(berlin, signed(munich, berlin, "offer.publish", again))
    assert_dp_error(reference_dir, response, 409, "stale_message")
    assert response.json()["details"]["authoritative_state"] == "offer-acked"
    # A reordered answer for a conversation munich never opened is a conflict.
    body = choreography_body(
        "offer.ack",
        conversation_id="conv_" + "d" * 32,
        origin_node=munich.node_id,
        counterparty_node=berlin.node_id,
        subject_type="offer",
        subject_id="OFR-DE-MUC-2026-0000000C01",
        timeout_at=format_timestamp(pair.clock.now() + timedelta(hours=1)),
        idempotency_key=new_idempotency_key(),
    )
    response = post(munich, signed(berlin, munich, "offer.ack", body))
    assert_dp_error(reference_dir, response, 409, "conflict")


def test_bodies_that_are_not_envelopes_never_cause_a_500(pair: Pair, reference_dir: Path) -> None:
    berlin = pair.berlin
    huge = signed(
        pair.munich, berlin, "offer.publish", publish_body(pair.munich, berlin, full_offer())
    )
    huge["body"]["attempt"] = 2**60
    cases: list[tuple[bytes, str, int]] = [
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"{}", "application/json", 400),
        (b'{"profile": "core-dp", "profile_version": "9.9.9"}', "application/json", 400),
        (b"{}", "text/plain", 415),
        (httpx.Request("POST", "/", json=huge).content, "application/json", 400),
        (b'{"sender": {"node_id": 5}, "body": "\\ud800"}', "application/json", 400),
    ]
    with TestClient(berlin.app, raise_server_exceptions=False) as client:
        for raw, media, status in cases:
            response = client.post(MESSAGES, content=raw, headers={"Content-Type": media})
            assert response.status_code == status, (raw, response.text)
            assert official.errors(reference_dir, "error.schema.json", response.json()) == []


def test_a_bad_subject_snapshot_is_refused(pair: Pair, reference_dir: Path) -> None:
    munich, berlin = pair.munich, pair.berlin
    offer = full_offer()
    envelope = signed(munich, berlin, "offer.publish", publish_body(munich, berlin, offer))
    other = snapshot({**offer, "terms": "changed in transit"})
    assert_dp_error(reference_dir, post(berlin, envelope, other), 400, "invalid_request")


# -- retries, timeouts, partitions -----------------------------------------------------------------
class FlakyTransport(httpx.AsyncBaseTransport):
    """Delivers every request, but loses the first answer to each of `lose` (a read timeout)."""

    def __init__(self, app: Any, lose: set[str]) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self.lose = set(lose)
        self.requests: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        envelope = orjson.loads(await request.aread())
        self.requests.append(envelope)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if envelope["message_type"] in self.lose:
            self.lose.discard(envelope["message_type"])
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


class DownTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


def test_a_lost_answer_is_retried_as_attempt_two_and_gets_the_stored_result(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    flaky = FlakyTransport(berlin.app, lose={"offer.publish"})
    munich.container.coredp.transport.mount(BERLIN_URL, flaky)
    first = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    assert first.state == "offer-published"
    assert berlin.exchange.conversation(first.conversation_id).state == "offer-acked"
    pair.clock.advance(seconds=31)
    pair.drive(lambda: munich.exchange.deliver(berlin.node_id))
    acked = munich.exchange.conversation(first.conversation_id)
    assert acked.state == "offer-acked"
    offers = [r for r in flaky.requests if r["message_type"] == "offer.publish"]
    assert [r["body"]["attempt"] for r in offers] == [1, 2]
    assert offers[1]["body"]["duplicate_of"] == offers[0]["message_id"]
    assert offers[0]["idempotency_key"] == offers[1]["idempotency_key"]
    with berlin.container.uow() as uow:
        stored = uow.coredp.results.get(munich.node_id, offers[0]["idempotency_key"])
        assert stored is not None and stored.message_id == offers[0]["message_id"]
        assert len(uow.exchange.page("offer", p_list_query())) == 1


def p_list_query() -> Any:
    from loopnode.services.ports import ListQuery

    return ListQuery(limit=10)


def test_an_unreachable_peer_is_recorded_as_a_partition(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    munich.container.coredp.transport.mount(BERLIN_URL, DownTransport())
    conv = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    assert conv.state == "offer-published"
    assert conv.partitions == 1 and conv.partitioned_us is not None
    pending = munich.exchange.outbox("pending")
    assert [row.message_type for row in pending] == ["material.register", "offer.publish"]
    assert pending[0].attempt == 0 and pending[0].unreached == 1  # nothing reached berlin
    # The peer comes back before the timeout: everything is delivered, in order.
    connect(pair)
    pair.clock.advance(seconds=5)
    pair.drive(lambda: munich.exchange.deliver())
    assert munich.exchange.conversation(conv.conversation_id).state == "offer-acked"


def test_a_conversation_past_its_timeout_becomes_partitioned_or_timed_out(
    manual_receipt_pair: Pair,
) -> None:
    pair = manual_receipt_pair
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    run = pair.drive(lambda: munich.exchange.run(berlin.node_id, offer_payload()))
    assert run.transfer.state == "transfer-dispatched"
    pair.clock.advance(hours=2)
    assert munich.exchange.expire() == 1
    assert berlin.exchange.expire() == 1
    ours = munich.exchange.conversation(run.transfer.conversation_id)
    theirs = berlin.exchange.conversation(run.transfer.conversation_id)
    assert (ours.state, ours.previous_state) == ("timed-out", "transfer-dispatched")
    assert (theirs.state, theirs.previous_state) == ("timed-out", "transfer-dispatched")
    assert munich.exchange.expire() == 0  # terminal now


def test_a_peer_unreachable_until_the_timeout_leaves_a_partitioned_conversation(
    pair: Pair,
) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    munich.container.coredp.transport.mount(BERLIN_URL, DownTransport())
    conv = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    pair.clock.advance(hours=2)
    assert munich.exchange.expire() == 1
    observed = munich.exchange.conversation(conv.conversation_id)
    assert (observed.state, observed.previous_state) == ("partitioned", "offer-published")
    assert observed.partitions >= 1
    assert [r.status for r in munich.exchange.outbox()] == ["failed", "failed"]


# -- DNA operations and error envelopes -------------------------------------------------------
def test_dna_read_and_error_envelopes(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    read = {
        "message_type": "material.read",
        "operation": "read_request",
        "entity_type": "material",
        "request_id": "req_" + "e" * 32,
        "record_id": MAT,
    }
    response = post(berlin, signed(munich, berlin, "material.read", read))
    assert response.status_code == 200
    result = response.json()["body"]
    assert result["result"]["status"] == "found"
    assert result["record"] == munich.container.registry.get("material", MAT).document
    missing = {
        **read,
        "request_id": "req_" + "f" * 32,
        "record_id": "MAT-DE-MUC-2026-PLASTIC-FFFFFF",
    }
    result = post(berlin, signed(munich, berlin, "material.read", missing)).json()["body"]
    assert result["result"]["status"] == "not_found" and "record" not in result
    error = {
        "code": "timeout",
        "message": "no answer",
        "retryable": True,
        "correlation_id": "conv_" + "a" * 32,
    }
    response = post(berlin, signed(munich, berlin, "error", error))
    assert response.status_code == 202
    entries = berlin.container.evidence.page(0, 500, "core-dp")["entries"]
    assert entries[-1]["event_type"] == "error-recorded"


class BlockingTransport(httpx.AsyncBaseTransport):
    """Refuses the connection for the message types in `blocked`; delivers the others."""

    def __init__(self, app: Any, blocked: set[str]) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self.blocked = blocked

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        envelope = orjson.loads(await request.aread())
        if envelope["message_type"] in self.blocked:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)


def _accepted_match(pair: Pair) -> Any:
    munich, berlin = pair.munich, pair.berlin
    register_material(munich)
    offered = pair.drive(lambda: munich.exchange.publish_offer(berlin.node_id, offer_payload()))
    return pair.drive(lambda: munich.exchange.propose_match(berlin.node_id, offered.subject_id))


def test_a_retry_after_the_answer_expired_gets_it_signed_again(pair: Pair) -> None:
    munich, berlin = pair.munich, pair.berlin
    matched = _accepted_match(pair)
    flaky = FlakyTransport(berlin.app, lose={"transfer.dispatch"})
    munich.container.coredp.transport.mount(BERLIN_URL, flaky)
    moved = pair.drive(
        lambda: munich.exchange.dispatch_transfer(berlin.node_id, matched.subject_id)
    )
    assert moved.state == "transfer-dispatched"
    first_reply = berlin.exchange.conversation(moved.conversation_id).last_message_id
    pair.clock.advance(minutes=10)  # the stored transfer.receive has expired meanwhile
    pair.drive(lambda: munich.exchange.deliver(berlin.node_id))
    ours = munich.exchange.conversation(moved.conversation_id)
    theirs = berlin.exchange.conversation(moved.conversation_id)
    assert ours.state == theirs.state == "transfer-acked"
    assert theirs.convergence_hash == ours.convergence_hash
    dispatches = [r for r in flaky.requests if r["message_type"] == "transfer.dispatch"]
    assert [r["body"]["attempt"] for r in dispatches] == [1, 2]
    assert ours.previous_state == "transfer-received"
    with munich.container.uow() as uow:
        rows = [
            OutboundMessage.of(r)
            for r in uow.messaging.outbox.of_correlation(moved.conversation_id)
        ]
    assert [(r.message_type, r.status) for r in rows] == [
        ("transfer.dispatch", "delivered"),
        ("transfer.ack", "delivered"),
    ]
    assert rows[1].body["acknowledges_message_id"] != first_reply  # re-signed: a new id


def test_a_final_ack_created_before_the_timeout_still_completes_the_transfer(
    pair: Pair,
) -> None:
    munich, berlin = pair.munich, pair.berlin
    matched = _accepted_match(pair)
    munich.container.coredp.transport.mount(
        BERLIN_URL, BlockingTransport(berlin.app, {"transfer.ack"})
    )
    moved = pair.drive(
        lambda: munich.exchange.dispatch_transfer(berlin.node_id, matched.subject_id)
    )
    assert moved.state == "transfer-acked"  # authored; its delivery waits
    theirs = berlin.exchange.conversation(moved.conversation_id)
    assert theirs.state == "transfer-received"
    [ack] = [r for r in munich.exchange.outbox("pending") if r.message_type == "transfer.ack"]
    timeout = theirs.timeout_at_us / 1_000_000
    pair.clock.current = pair.clock.current.fromtimestamp(timeout - 60, pair.clock.current.tzinfo)
    late = signed(munich, berlin, "transfer.ack", ack.body, idempotency_key=ack.idempotency_key)
    pair.clock.advance(seconds=70)
    assert berlin.exchange.expire() == 1
    assert berlin.exchange.conversation(moved.conversation_id).state == "timed-out"
    response = post(berlin, late)
    assert response.status_code == 202, response.text
    done = berlin.exchange.conversation(moved.conversation_id)
    assert (done.state, done.previous_state) == ("transfer-acked", "timed-out")
    assert done.convergence_hash == moved.convergence_hash
