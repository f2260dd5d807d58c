"""Demo CA, node certificates, fingerprints and TLS 1.3-only contexts (adapters/federation/tls)."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509

from loopnode.adapters.federation import tls


def test_a_demo_ca_issues_node_certificates_for_loopback(tmp_path: Path) -> None:
    ca = tls.create_ca(tmp_path / "ca")
    node = tls.issue_certificate(ca, tmp_path / "node", "munich.loop")
    cert = x509.load_pem_x509_certificate(node.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for key in (ca.key, node.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_fingerprints_are_sha256_of_the_der_and_normalise() -> None:
    pem_fp = "AB:" * 31 + "AB"
    assert tls.normalise_fingerprint(pem_fp) == "ab" * 32
    assert tls.normalise_fingerprint("sha256:" + "0" * 64) == "0" * 64
    with pytest.raises(ValueError):
        tls.normalise_fingerprint("abc")


def _serve_once(context: ssl.SSLContext) -> tuple[int, threading.Thread]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def accept() -> None:
        connection, _ = server.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as wrapped:
                wrapped.recv(1)
        except (ssl.SSLError, OSError):
            pass
        finally:
            server.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def _connect(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped,
    ):
        return str(wrapped.version())


def test_the_server_speaks_tls13_only(tmp_path: Path) -> None:
    files = tls.self_signed(tmp_path, "munich.loop")
    port, thread = _serve_once(tls.server_context(files.cert, files.key))
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _connect(port, old)
    thread.join(5)


@pytest.mark.parametrize("trust", ["pin", "ca"])
def test_clients_trust_a_pinned_certificate_or_the_ca_and_nothing_else(
    tmp_path: Path, trust: str
) -> None:
    ca = tls.create_ca(tmp_path / "ca")
    good = tls.issue_certificate(ca, tmp_path / "good", "munich.loop")
    rogue = tls.self_signed(tmp_path / "rogue", "munich.loop")
    if trust == "pin":
        context = tls.client_context(pinned_pem=good.cert.read_text())
    else:
        context = tls.client_context(ca_bundle=str(ca.cert))
    port, thread = _serve_once(tls.server_context(good.cert, good.key))
    assert _connect(port, context) == "TLSv1.3"
    thread.join(5)
    port, thread = _serve_once(tls.server_context(rogue.cert, rogue.key))
    with pytest.raises(ssl.SSLCertVerificationError):
        _connect(port, context)
    thread.join(5)
