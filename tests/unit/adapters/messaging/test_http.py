"""The httpx side: every request signed over exactly what is sent; failures get reasons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.adapters.messaging.http import HttpTransport, NodeSignatureAuth
from loopnode.protocol import keys
from loopnode.protocol.request_signing import verify_request
from loopnode.protocol.trust import KeyRecord
from loopnode.services.federation.ports import PeerAddress, TransportError
from tests.fakes import FakeClock

KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
KEY_ID = keys.key_id(keys.public_raw(KEY), "munich.loop")
RECORD = KeyRecord("munich.loop", KEY_ID, keys.public_raw(KEY))


def _verify(request: httpx.Request, now: datetime) -> str:
    verified = verify_request(
        request.headers,
        method=request.method,
        path_with_query=request.url.raw_path.decode(),
        body=request.content,
        receiver_node_id="berlin.loop",
        now=now,
        lookup_key=lambda n, k: RECORD if (n, k) == (RECORD.node_id, RECORD.key_id) else None,
    )
    return verified.node_id


def test_the_auth_class_signs_method_path_query_target_and_body() -> None:
    clock = FakeClock()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(_verify(request, clock.now()))
        return httpx.Response(202, json={"status": "accepted", "id": 1})

    auth = NodeSignatureAuth(lambda: (KEY, KEY_ID), "munich.loop", "berlin.loop", clock)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        response = client.post(
            "http://berlin.test/api/v1/federate/announce?x=1%202",
            content=b'{"a": 1}',
            auth=auth,
        )
    assert response.status_code == 202
    assert seen == ["munich.loop"]


def test_a_request_signed_for_one_node_does_not_verify_at_another() -> None:
    clock = FakeClock()
    auth = NodeSignatureAuth(lambda: (KEY, KEY_ID), "munich.loop", "vienna.loop", clock)
    request = httpx.Request("POST", "http://berlin.test/api/v1/federate/offer", content=b"{}")
    signed = next(auth.auth_flow(request))
    with pytest.raises(Exception, match="does not match"):
        _verify(signed, clock.now())


def test_unreachable_peers_are_a_transport_error_with_a_reason() -> None:
    transport = HttpTransport(
        node_id="munich.loop", signing_key=lambda: (KEY, KEY_ID), clock=FakeClock()
    )

    async def attempt() -> None:
        try:
            await transport.send(
                PeerAddress("berlin.loop", "http://127.0.0.1:9/api/v1"),
                "POST",
                "/x",
                b"{}",
                timeout=2,
            )
        finally:
            await transport.aclose()

    with pytest.raises(TransportError) as caught:
        asyncio.run(attempt())
    assert caught.value.reason == "unreachable"


def test_plain_http_to_a_remote_host_is_refused_in_production() -> None:
    transport = HttpTransport(
        node_id="munich.loop",
        signing_key=lambda: (KEY, KEY_ID),
        clock=FakeClock(),
        development=False,
    )
    peer = PeerAddress("berlin.loop", "http://berlin.example/api/v1")
    with pytest.raises(TransportError) as caught:
        asyncio.run(transport.send(peer, "POST", "/x", b"{}", timeout=1))
    assert caught.value.reason == "insecure"


def test_now_is_taken_from_the_injected_clock() -> None:
    clock = FakeClock(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    auth = NodeSignatureAuth(lambda: (KEY, KEY_ID), "munich.loop", "berlin.loop", clock)
    request = httpx.Request("POST", "http://berlin.test/p", content=b"")
    assert next(auth.auth_flow(request)).headers["X-Timestamp"] == "2030-01-02T03:04:05Z"
