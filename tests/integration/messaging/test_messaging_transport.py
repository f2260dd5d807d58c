"""The one transport against real misbehaving servers on loopback (issue 15 regressions).

A slow peer (one byte a second) must not hold a call past its deadline; a huge answer stops
at the size cap, with or without `Content-Length`; an endpoint cannot choose our path; outside
development loopback and plain http are refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.adapters.messaging.http import HttpTransport
from loopnode.protocol import keys
from loopnode.services.messaging.ports import PeerAddress, TransportError
from tests.fakes import FakeClock

KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
KEY_ID = keys.key_id(keys.public_raw(KEY), "munich.loop")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A raw HTTP/1.1 server on 127.0.0.1; yields its base URL and the request heads seen."""
    heads: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", heads
    finally:
        server.close()


def transport(*, development: bool = True, max_bytes: int = 1024 * 1024) -> HttpTransport:
    return HttpTransport(
        node_id="munich.loop",
        signing_key=lambda: (KEY, KEY_ID),
        clock=FakeClock(),
        development=development,
        max_response_bytes=max_bytes,
    )


async def _ok(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()


async def _dribble(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    await writer.drain()
    for _ in range(1000):  # one byte every 0.2 s: each read is quick, the whole is not
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.2)


def _huge(chunked: bool) -> Handler:
    async def handler(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunk = b"y" * 65536
        if chunked:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(64):  # 4 MiB in chunks, no Content-Length
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 * len(chunk)))
            for _ in range(64):
                writer.write(chunk)
                await writer.drain()
        await writer.drain()

    return handler


async def _send(base: str, http: HttpTransport, *, timeout: float = 5.0) -> bytes:
    peer = PeerAddress("berlin.loop", base + "/api/v1")
    try:
        answer = await http.send(peer, "POST", "/federate/announce", b"{}", timeout=timeout)
    finally:
        await http.aclose()
    return answer.body


def test_a_peer_sending_one_byte_at_a_time_is_cut_off_at_the_deadline() -> None:
    async def scenario() -> tuple[str, float]:
        async with serving(_dribble) as (base, _):
            started = time.monotonic()
            with pytest.raises(TransportError) as caught:
                await _send(base, transport(), timeout=1.0)
            return caught.value.reason, time.monotonic() - started

    reason, elapsed = asyncio.run(scenario())
    assert reason == "timeout"
    assert elapsed < 2.5  # per-read timeouts alone would wait 200 s


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_past_the_size_cap_is_a_clean_error(chunked: bool) -> None:
    async def scenario() -> str:
        async with serving(_huge(chunked)) as (base, _):
            with pytest.raises(TransportError) as caught:
                await _send(base, transport(max_bytes=1024 * 1024))
            return caught.value.reason

    assert asyncio.run(scenario()) == "too_large"


async def _gzip_bomb(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    packed = gzip.compress(b"\0" * (4 * 1024 * 1024))  # 4 MiB inflated, a few KiB on the wire
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
    )
    writer.write(packed)
    await writer.drain()


def test_the_cap_counts_the_inflated_answer() -> None:
    async def scenario() -> str:
        async with serving(_gzip_bomb) as (base, _):
            with pytest.raises(TransportError) as caught:
                await _send(base, transport(max_bytes=1024 * 1024))
            return caught.value.reason

    assert asyncio.run(scenario()) == "too_large"


def test_an_answer_under_the_cap_arrives_whole() -> None:
    async def scenario() -> bytes:
        async with serving(_huge(chunked=True)) as (base, _):
            return await _send(base, transport(max_bytes=8 * 1024 * 1024))

    assert len(asyncio.run(scenario())) == 64 * 65536


def test_the_request_goes_to_the_endpoint_plus_our_path_signed() -> None:
    async def scenario() -> list[bytes]:
        async with serving(_ok) as (base, heads):
            await _send(base, transport())
            return heads

    (head,) = asyncio.run(scenario())
    assert head.startswith(b"POST /api/v1/federate/announce HTTP/1.1\r\n")
    assert b"x-node-signature:" in head.lower()


@pytest.mark.parametrize("suffix", ["/api/v1?", "/admin?", "/api/v1#", "/steal"])
def test_an_endpoint_with_a_query_or_another_path_sends_nothing(suffix: str) -> None:
    async def scenario() -> tuple[str, list[bytes]]:
        async with serving(_ok) as (base, heads):
            peer = PeerAddress("berlin.loop", base + suffix)
            http = transport()
            with pytest.raises(TransportError) as caught:
                await http.send(peer, "POST", "/federate/announce", b"{}", timeout=2)
            await http.aclose()
            return caught.value.reason, heads

    reason, heads = asyncio.run(scenario())
    assert reason == "insecure"
    assert heads == []


def test_outside_development_a_loopback_peer_is_never_called() -> None:
    async def scenario() -> tuple[list[str], list[bytes]]:
        async with serving(_ok) as (base, heads):
            http = transport(development=False)
            reasons = []
            for url in (base, base.replace("http://", "https://")):
                with pytest.raises(TransportError) as caught:
                    await _send(url, http)
                reasons.append(caught.value.reason)
            with pytest.raises(TransportError) as got:
                await http.get(base + "/api/v1/node/info", pin=None, timeout=2)
            reasons.append(got.value.reason)
            with pytest.raises(TransportError) as probed:
                await http.certificate(base.replace("http://", "https://"), timeout=2)
            reasons.append(probed.value.reason)
            return reasons, heads

    reasons, heads = asyncio.run(scenario())
    assert reasons == ["insecure"] * 4
    assert heads == []
