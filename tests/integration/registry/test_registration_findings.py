"""Registration answers with regulatory-profile findings and still registers (both databases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def battery(reference_dir: Path) -> dict[str, Any]:
    path = reference_dir / "examples" / "17-battery-passport-material.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_a_profile_warning_is_reported_not_refused(client, auth, reference_dir):
    doc = battery(reference_dir)
    doc["category"] = "metal-mixed"
    response = client.post("/api/v1/material", json=doc, headers=auth)
    assert response.status_code == 201
    findings = response.json()["profile_findings"]
    assert [(f["severity"], f["requirement"]) for f in findings] == [
        ("warning", "BATTERY-REQ-CATEGORY-MAPPING")
    ]
    assert "ewaste-batteries" in findings[0]["message"]
    stored = client.get(f"/api/v1/material/{doc['id']}").json()
    assert stored == doc  # findings are an answer, not part of the record


def test_a_clean_record_has_no_findings_key(client, auth, reference_dir):
    response = client.post("/api/v1/material", json=battery(reference_dir), headers=auth)
    assert response.status_code == 201
    assert "profile_findings" not in response.json()
