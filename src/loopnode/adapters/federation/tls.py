"""TLS for node-to-node traffic (spec §3.4, §10.1: TLS 1.3, certificates validated).

Server: `server_context` / `uvicorn_context_factory` accept TLS 1.3 only, so a TLS 1.2 client
handshake fails (TLS 1.3 suites all have forward secrecy). Client: `client_context` trusts
either a pinned peer certificate (the SHA-256 fingerprint recorded when the peer was approved;
the certificate itself becomes the only trust anchor, hostname not checked, verified during the
handshake, so nothing is sent to an impostor) or a CA bundle (hostname checked), or the system
store when neither is configured.

Certificates for development and demos: `create_ca` + `issue_certificate` (a demo CA that
several nodes trust) and `self_signed` (`loopnode init --tls self-signed`). Keys are ECDSA
P-256, written with mode 0600; SANs cover `localhost` and `127.0.0.1` by default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost",)
DEFAULT_IPS = ("127.0.0.1",)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    cert: Path
    key: Path


# -- contexts --------------------------------------------------------------------------------------
def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert), str(key))
    return context


def uvicorn_context_factory(config: Any, default: Any) -> ssl.SSLContext:
    """For `uvicorn.run(ssl_context_factory=...)`: uvicorn's context, restricted to TLS 1.3."""
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def client_context(
    *, ca_bundle: str | None = None, pinned_pem: str | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if pinned_pem:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.load_verify_locations(cadata=pinned_pem)
    elif ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    else:
        context.load_default_certs()
    return context


def unverified_context() -> ssl.SSLContext:
    """Only for reading a certificate to show its fingerprint (trust on first use)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# -- fingerprints ----------------------------------------------------------------------------------
def fingerprint(certificate: bytes | str) -> str:
    """Lowercase hex SHA-256 of the DER certificate (PEM text or DER bytes accepted)."""
    der = ssl.PEM_cert_to_DER_cert(certificate) if isinstance(certificate, str) else certificate
    return hashlib.sha256(der).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """`AB:CD:…` or `abcd…` (optionally prefixed `sha256:`) as 64 lowercase hex digits."""
    cleaned = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(cleaned) != 64 or any(ch not in "0123456789abcdef" for ch in cleaned):
        raise ValueError("a SHA-256 fingerprint is 64 hex digits (colons allowed)")
    return cleaned


# -- certificates ----------------------------------------------------------------------------------
def create_ca(
    directory: Path, common_name: str = "loopnode demo CA", *, days: int = 3650
) -> CertificateFiles:
    """A CA certificate and key in `directory` (`ca.crt`, `ca.key`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, "ca", cert, key)


def issue_certificate(
    ca: CertificateFiles,
    directory: Path,
    common_name: str,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    ips: Sequence[str] = DEFAULT_IPS,
    days: int = 825,
    stem: str = "node",
) -> CertificateFiles:
    """A server certificate for `hosts`/`ips`, signed by the CA (`node.crt`, `node.key`)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key}: expected the EC key written by create_ca")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(common_name, key, ca_cert.subject, ca_key, hosts, ips, days)
    return _write(directory, stem, cert, key)


def self_signed(
    directory: Path,
    common_name: str,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    ips: Sequence[str] = DEFAULT_IPS,
    days: int = 825,
    stem: str = "node",
) -> CertificateFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = _leaf(common_name, key, name, key, hosts, ips, days)
    return _write(directory, stem, cert, key)


def _leaf(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    hosts: Sequence[str],
    ips: Sequence[str],
    days: int,
) -> x509.Certificate:
    now = _now()
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> CertificateFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertificateFiles(cert_path, key_path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
