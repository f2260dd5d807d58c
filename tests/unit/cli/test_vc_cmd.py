"""`loopnode vc sign|verify` through Typer's CliRunner, `--node` against a loopback server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loopnode.cli.main import app
from loopnode.protocol import vc_did

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vc"
SIGNED_TEXT = (FIXTURES / "w3c-eddsa-jcs-2022-signed.json").read_text("utf-8")
SIGNED = json.loads(SIGNED_TEXT)
KEYPAIR = json.loads((FIXTURES / "w3c-keypair.json").read_text("utf-8"))
PUBLIC = KEYPAIR["publicKeyMultibase"]


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, ["vc", *map(str, args)])


@pytest.fixture
def unsigned_file(tmp_path: Path) -> Path:
    path = tmp_path / "unsigned.json"
    path.write_text(json.dumps({k: v for k, v in SIGNED.items() if k != "proof"}))
    return path


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document))
    return path


def test_sign_reproduces_the_specification_example_byte_for_byte(unsigned_file: Path) -> None:
    result = run(
        "sign",
        unsigned_file,
        "--key-multibase",
        KEYPAIR["privateKeyMultibase"],
        "--verification-method",
        SIGNED["proof"]["verificationMethod"],
        "--created",
        SIGNED["proof"]["created"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == SIGNED_TEXT + "\n"


def test_verify_exits_0_for_the_example_and_1_when_tampered(tmp_path: Path) -> None:
    good = run(
        "verify", FIXTURES / "w3c-eddsa-jcs-2022-signed.json", "--public-key-multibase", PUBLIC
    )
    assert good.exit_code == 0, good.output
    assert good.stdout.startswith("VALID ")
    forged = json.loads(SIGNED_TEXT)
    forged["credentialSubject"]["alumniOf"] = "Another School"
    bad = run("verify", write(tmp_path, forged), "--public-key-multibase", PUBLIC)
    assert bad.exit_code == 1
    assert bad.stdout.startswith("INVALID: ")


@pytest.mark.parametrize(
    "args",
    [
        ["--public-key-multibase", "z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"],
        ["--public-key-multibase", "not-a-key"],
        [],
        ["--public-key-multibase", PUBLIC, "--node", "http://127.0.0.1:9"],
        ["--node", "http://127.0.0.1:9"],
    ],
)
def test_verify_exits_1_for_wrong_or_missing_keys(args: list[str]) -> None:
    result = run("verify", FIXTURES / "w3c-eddsa-jcs-2022-signed.json", *args)
    assert result.exit_code == 1


def test_verify_exits_1_for_unreadable_or_non_json_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert run("verify", tmp_path / "bad.json", "--public-key-multibase", PUBLIC).exit_code == 1
    assert run("verify", tmp_path / "none.json", "--public-key-multibase", PUBLIC).exit_code == 1


@pytest.fixture
def did_server() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(state["document"]).encode()
            status = 200 if self.path == vc_did.WELL_KNOWN_PATH else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/did+ld+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()
        server.server_close()


def issuer_document(public: str) -> dict[str, Any]:
    # The example's issuer is an https URL, not a DID; its "controller document" has the same shape.
    issuer = SIGNED["issuer"]
    document = vc_did.did_document(issuer, [])
    method = {
        "id": f"{issuer}#{public}",
        "type": "Multikey",
        "controller": issuer,
        "publicKeyMultibase": public,
    }
    document["verificationMethod"] = [method]
    document["assertionMethod"] = [method["id"]]
    return document


def test_verify_with_node_resolves_the_key_from_its_did_document(did_server: Any) -> None:
    url, state = did_server
    state["document"] = issuer_document(PUBLIC)
    result = run("verify", FIXTURES / "w3c-eddsa-jcs-2022-signed.json", "--node", url)
    assert result.exit_code == 0, result.output


def test_verify_with_node_fails_when_the_document_lists_another_key(did_server: Any) -> None:
    url, state = did_server
    state["document"] = issuer_document("z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH")
    result = run("verify", FIXTURES / "w3c-eddsa-jcs-2022-signed.json", "--node", url)
    assert result.exit_code == 1
    assert "resolve" in result.stdout
