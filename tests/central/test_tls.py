"""gRPC ingest over TLS with a certificate made in the test; a plaintext or unverified client gets nowhere."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_fixtures import auth, push, running_ingest, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb

from central.config import TlsConfig
from central.db.engine import make_engine
from central.stores import create_store


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "central.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "central.pem", tmp_path / "central.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tls_ingest_needs_the_right_certificate(database_url: str, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed(tmp_path / "other")  # a certificate the client trusts instead: wrong server
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url, tls=TlsConfig(cert=cert, key=key)) as central:
        trusted = stub(central.port, grpc.ssl_channel_credentials(root_certificates=cert.read_bytes()))
        ack = trusted.Push(push("s1", [summary("s1")]), metadata=auth(token), timeout=10)
        assert ack.results[0].status == pb.ITEM_STATUS_STORED
        for client in (stub(central.port), stub(central.port, grpc.ssl_channel_credentials(other_cert.read_bytes()))):
            with pytest.raises(grpc.RpcError) as err:
                client.Push(push("s1", [summary("s1")]), metadata=auth(token), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    engine.dispose()
