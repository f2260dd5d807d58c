"""An upload the client aborts is logged in one line, not as an unexpected error (issue 15)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest


def test_an_aborted_upload_logs_one_line_without_a_traceback(
    container: Any, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    from loopnode.web.app import create_app

    app = create_app(container=container)
    messages = [
        {"type": "http.request", "body": b'{"@type": "MaterialDNA", "cat', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/material",
        "raw_path": b"/api/v1/material",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"5000"),
            (b"authorization", f"Bearer {api_key}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.DEBUG, logger="loopnode"):
        asyncio.run(app(scope, receive, send))
    ours = [r for r in caplog.records if r.name.startswith("loopnode")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert ours[0].exc_info is None
    assert ours[0].levelno < logging.ERROR
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] < 500
