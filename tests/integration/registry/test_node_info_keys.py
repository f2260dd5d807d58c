"""NodeInfo advertises the node's current key, also right after a rotation in another process."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from loopnode.bootstrap import build
from loopnode.protocol import keys
from loopnode.web.app import create_app
from tests.fakes import CountingHex


def test_node_info_shows_the_rotated_key_without_a_restart(node_settings: Any, clock: Any) -> None:
    keys.save_private_key(keys.generate_private_key(), node_settings.private_key_path)
    container = build(node_settings, clock=clock, random_hex=CountingHex())
    with TestClient(create_app(container=container)) as client:
        before = client.get("/api/v1/node/info").json()["public_key"]
        assert before == keys.public_pem(
            keys.load_private_key(node_settings.private_key_path).public_key()
        )
        # `loopnode keys rotate` runs in its own process with its own container.
        other = build(node_settings, clock=clock, random_hex=CountingHex(), migrate=False)
        other.federation.keys.rotate()
        other.close()
        after = client.get("/api/v1/node/info").json()["public_key"]
    assert after != before
    assert after == keys.public_pem(
        keys.load_private_key(node_settings.private_key_path).public_key()
    )
