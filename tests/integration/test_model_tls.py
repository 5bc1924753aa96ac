"""Engine connections check TLS certificates: the system's CAs, or the engine's own ``ca_bundle``.

Environment variables are not used for engine connections, so a proxy setting cannot route images
elsewhere and an internal CA is named in the engine's settings, where it is reviewed.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sealroom.analysis.model.openai_transport import OpenAITransport
from sealroom.analysis.model.transport import Message, ModelCallError, Prompt, TextPart
from sealroom.config import EngineSettings
from sealroom.errors import ConfigError
from tests.model_server import ModelServer, reply

PROMPT = Prompt("system", (Message("user", (TextPart("hello"),)),), 16)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1, as an internal endpoint might have."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vlm.internal.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "endpoint.pem", folder / "endpoint.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class TlsModelServer(ModelServer):
    """The fake model server behind TLS with a self-signed certificate."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)

    def start(self) -> ModelServer:
        super().start()
        assert self._server is not None
        self._server.socket = self._context.wrap_socket(self._server.socket, server_side=True)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[TlsModelServer, Path]]:
    cert, key = _self_signed(tmp_path)
    server = TlsModelServer(cert, key)
    with server:
        yield server, cert


def _transport(root: Path, server: ModelServer, **settings: object) -> OpenAITransport:
    config = EngineSettings.model_validate(
        {"kind": "openai-compatible", "model": "vlm", "base_url": server.base_url("openai"),
         "timeout_seconds": 5, "max_retries": 0, **settings}
    )
    return OpenAITransport("vlm", config, root)


def test_an_unknown_certificate_is_refused_and_nothing_is_answered(
    tls_server: tuple[TlsModelServer, Path], tmp_path: Path
) -> None:
    server, _cert = tls_server
    with pytest.raises(ModelCallError) as caught:
        _transport(tmp_path, server).complete(PROMPT)
    assert caught.value.reason == "connection_failed"
    assert server.requests == []


def test_the_engines_ca_bundle_is_trusted(tls_server: tuple[TlsModelServer, Path], tmp_path: Path) -> None:
    server, cert = tls_server
    server.queue(reply("hi"))
    completion = _transport(tmp_path, server, ca_bundle=cert.name).complete(PROMPT)
    assert completion.text == "hi" and len(server.requests) == 1


def test_ssl_cert_file_from_the_environment_is_not_used(
    tls_server: tuple[TlsModelServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with pytest.raises(ModelCallError):
        _transport(tmp_path, server).complete(PROMPT)


def test_a_missing_ca_bundle_is_a_config_error(
    tls_server: tuple[TlsModelServer, Path], tmp_path: Path
) -> None:
    server, _cert = tls_server
    with pytest.raises(ConfigError, match="ca_bundle"):
        _transport(tmp_path, server, ca_bundle="no-such.pem").complete(PROMPT)

