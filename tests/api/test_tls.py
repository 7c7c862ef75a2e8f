"""TLS and mutual TLS: `iamd serve --tls-*` with the SDK's tls, ca_file and client certificate."""

from __future__ import annotations

import configparser
import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from iamd_client import Client, Unavailable

from tests.harness import ServerProcess, start_server


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca_cert = _certificate("iamd test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    return Pki(
        ca=_write_cert(directory / "ca.pem", ca_cert),
        server_cert=_write_cert(
            directory / "server.pem",
            _certificate("localhost", server_key, ca_cert.subject, ca_key, server=True),
        ),
        server_key=_write_key(directory / "server.key", server_key),
        client_cert=_write_cert(
            directory / "client.pem",
            _certificate("orders-service", client_key, ca_cert.subject, ca_key),
        ),
        client_key=_write_key(directory / "client.key", client_key),
    )


@pytest.fixture(scope="module")
def tls_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, pki: Pki
) -> Iterator[ServerProcess]:
    process = start_server(
        module_database_url,
        tmp_path_factory.mktemp("iamd-tls"),
        extra_args=[
            "--tls-cert-file", str(pki.server_cert),
            "--tls-key-file", str(pki.server_key),
            "--tls-client-ca-file", str(pki.ca),
        ],
    )  # fmt: skip
    try:
        yield process
    finally:
        process.stop()


def _client(server: ServerProcess, pki: Pki, *, client_cert: bool, tls: bool = True) -> Client:
    root = server.root
    return Client(
        endpoint=server.endpoint,
        access_key_id=root.access_key_id,
        secret_access_key=root.secret_access_key,
        tls=tls,
        ca_file=str(pki.ca) if tls else None,
        client_cert_file=str(pki.client_cert) if client_cert else None,
        client_key_file=str(pki.client_key) if client_cert else None,
        timeout=5,
        max_attempts=1,
    )


def test_mutual_tls_calls_succeed(tls_server: ServerProcess, pki: Pki) -> None:
    with _client(tls_server, pki, client_cert=True) as client:
        identity = client.get_caller_identity()
        assert identity.arn.endswith(":root")
        client.create_user(user_name="over-tls")
        assert client.get_user(user_name="over-tls").user.user_name == "over-tls"


def test_bootstrap_profile_says_tls(tls_server: ServerProcess) -> None:
    parser = configparser.ConfigParser()
    parser.read(tls_server.credentials_file)
    assert parser["default"]["tls"] == "true"


def test_client_without_certificate_is_refused(tls_server: ServerProcess, pki: Pki) -> None:
    with (
        _client(tls_server, pki, client_cert=False) as client,
        pytest.raises(Unavailable),
    ):
        client.get_caller_identity()


def test_plaintext_client_is_refused(tls_server: ServerProcess, pki: Pki) -> None:
    with (
        _client(tls_server, pki, client_cert=False, tls=False) as client,
        pytest.raises(Unavailable),
    ):
        client.get_caller_identity()
