"""`POST /api/v1/route/batch` and `loopnode route batch FILE` (issue 11 item 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from loopnode.cli.main import app

BATCH: dict[str, Any] = {
    "nodes": [
        {
            "id": "munich.loop",
            "lat": 48.137,
            "lon": 11.575,
            "signals": {"organic-food": 0.4, "default": 0.05},
        },
        {"id": "vienna.loop", "lat": 48.208, "lon": 16.373, "signals": {"organic-food": 0.2}},
    ],
    "distances": [{"from": "munich.loop", "to": "vienna.loop", "km": 400}],
    "supplies": [
        {
            "id": "grain",
            "node": "munich.loop",
            "category": "organic-food",
            "quantity": 500,
            "base_price": 60,
        },
        {
            "id": "pet",
            "node": "vienna.loop",
            "category": "plastic-pet",
            "quantity": 10,
            "base_price": "12.50",
        },
    ],
    "demands": [
        {"id": "mill", "node": "vienna.loop", "category": "organic-food", "quantity": 500},
        {"id": "farm", "node": "munich.loop", "category": "organic-food", "quantity": 300},
    ],
}


def test_the_api_answers_the_issue_fields(client: Any, auth: dict[str, str]) -> None:
    answer = client.post("/api/v1/route/batch", json=BATCH, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(body["allocations"], key=lambda a: a["demand"]) == [
        {"supply": "grain", "demand": "farm", "quantity": 300, "loop_cost": "36.00"},
        {"supply": "grain", "demand": "mill", "quantity": 200, "loop_cost": "41.60"},
    ]
    assert (body["total_loop_cost"], body["moved_quantity"], body["local_share"]) == (
        "77.60",
        500,
        "0.6000",
    )
    assert body["km_moved"] == "400"
    assert set(body["greedy"]) >= {"total_loop_cost", "moved_quantity", "local_share", "km_moved"}


def test_the_api_needs_a_key_and_refuses_bad_input(client: Any, auth: dict[str, str]) -> None:
    assert client.post("/api/v1/route/batch", json=BATCH).status_code == 401
    bad = client.post("/api/v1/route/batch", json={**BATCH, "supplies": [{"id": 1}]}, headers=auth)
    assert bad.status_code == 400
    empty = client.post(
        "/api/v1/route/batch", json={**BATCH, "supplies": [], "demands": []}, headers=auth
    )
    assert empty.status_code == 200 and empty.json()["allocations"] == []


def test_the_cli_prints_json_and_a_table(tmp_path: Path) -> None:
    source = tmp_path / "batch.json"
    source.write_text(json.dumps(BATCH))
    runner = CliRunner()
    as_json = runner.invoke(app, ["route", "batch", str(source), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["total_loop_cost"] == "77.60"
    table = runner.invoke(app, ["route", "batch", str(source)])
    assert "total_loop_cost" in table.output and "77.60" in table.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert runner.invoke(app, ["route", "batch", str(broken)]).exit_code == 2


def test_huge_or_strange_numbers_are_400_not_500(client: Any, auth: dict[str, str]) -> None:
    bodies = [
        (
            "/api/v1/loopcost",
            b'{"category": "x", "base_price": 99999999999999999999999999999, "origin_node": "a",'
            b' "destination_node": "b", "distance_km": 1, "origin_signal": 0.1,'
            b' "destination_signal": 0.1}',
        ),
        (
            "/api/v1/loopcost",
            b'{"category": "x", "base_price": "1e999999999", "origin_node": "a",'
            b' "destination_node": "a"}',
        ),
        (
            "/api/v1/loopcost",
            b'{"category": "x", "base_price": 1, "origin_node": "a", "destination_node": "b",'
            b' "distance_km": 1e300, "origin_signal": 0, "destination_signal": 0}',
        ),
        (
            "/api/v1/route/batch",
            b'{"nodes": [{"id": "a.loop"}], "supplies": [{"id": "s", "node": "a.loop",'
            b' "category": "c", "quantity": 1, "base_price": 1e30}], "demands": []}',
        ),
        (
            "/api/v1/demand",
            b'{"category": "organic-food", "quantity": {"value": 1, "unit": "kg"},'
            b' "valid_until": "2099-01-01T00:00:00Z", "requester": "user:a@munich.loop",'
            b' "max_price": "1e999999999"}',
        ),
    ]
    headers = {**auth, "Content-Type": "application/json"}
    for path, body in bodies:
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code == 400, (path, answer.text)


def test_route_step_runs_against_a_node_directory(tmp_path: Path) -> None:
    runner = CliRunner()
    node = tmp_path / "munich"
    created = runner.invoke(
        app,
        [
            "init",
            "--data-dir",
            str(node),
            "--node-id",
            "munich.loop",
            "--name",
            "Munich",
            "--country",
            "DE",
            "--city-code",
            "MUC",
            "--city",
            "Munich",
            "--lat",
            "48.137",
            "--lon",
            "11.575",
        ],
    )
    assert created.exit_code == 0, created.output
    stepped = runner.invoke(app, ["route", "step", "--data-dir", str(node)])
    assert stepped.exit_code == 0, stepped.output
    assert json.loads(stepped.output) == {"enrolled": 0, "decisions": [], "bids": []}
