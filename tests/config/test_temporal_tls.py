"""TLS settings producing a TLS client: temporal_client.tls_config, and a real handshake of
temporal_client.connect against a TLS server that requires a client certificate signed by our CA."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.service import TLSConfig

from config import ConfigError, Settings, load_settings
from dispatch.connection import connect, tls_config

CODEC_KEYS = "k1:" + "A" * 43 + "="


# ---------------------------------------------------------------- a CA, a server and a client certificate


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by another CA
    other_client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    cn: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(signer_cert.subject if signer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if signer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = (
            x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(signer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = _issue("makeright test CA", None, ca=True)
    ca_path, _ = _write(tmp_path / "ca", *ca)
    server_cert, server_key = _write(tmp_path / "server", *_issue("temporal.test", ca, server=True))
    client_cert, client_key = _write(tmp_path / "client", *_issue("makeright-worker", ca))
    stranger_ca = _issue("someone else's CA", None, ca=True)
    other_cert, other_key = _write(tmp_path / "other", *_issue("makeright-worker", stranger_ca))
    return Pki(ca_path, server_cert, server_key, client_cert, client_key, other_cert, other_key)


# ---------------------------------------------------------------- a TLS server that only shakes hands


@dataclass
class Handshakes:
    completed: list[str | None] = field(default_factory=list)  # the client certificate's CN, per handshake
    failed: list[str] = field(default_factory=list)
    alpn: list[str | None] = field(default_factory=list)


class TlsServer:
    """Accepts TCP on 127.0.0.1, completes a TLS handshake (requiring a client certificate signed by the
    CA when asked), records it, and hangs up: no gRPC behind it."""

    def __init__(self, pki: Pki, require_client_cert: bool) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.context.set_alpn_protocols(["h2"])
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(pki.ca)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen = Handshakes()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    der = tls.getpeercert(binary_form=True)
                    cn = None
                    if der:
                        subject = x509.load_der_x509_certificate(der).subject
                        cn = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
                    self.seen.completed.append(cn)
                    self.seen.alpn.append(tls.selected_alpn_protocol())
            except (ssl.SSLError, OSError) as exc:
                self.seen.failed.append(type(exc).__name__ + ": " + str(exc))
                conn.close()

    def __enter__(self) -> TlsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _tls_env(monkeypatch: pytest.MonkeyPatch, port: int, pki: Pki, cert: Path, key: Path) -> Settings:
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(pki.ca))
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(cert))
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(key))
    # production: no dev defaults
    monkeypatch.setenv("EVENTS_SIGNING_SECRET", "a-real-secret")
    monkeypatch.setenv("UPDATE_SIGNING_SECRET", "a-real-update-secret")
    monkeypatch.setenv("API_TOKENS", "engineer:a-real-token")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-real-twilio-token")
    monkeypatch.setenv("CODEC_KEYS", CODEC_KEYS)
    monkeypatch.setenv("GIFT_CARD_SECRET", "a-real-gift-card-secret")
    monkeypatch.setenv("METRICS_TOKEN", "a-real-metrics-token")
    return load_settings()


async def _connect_fails(settings: Settings) -> BaseException:
    """connect() against a server that speaks TLS and then hangs up: it must fail, quickly."""
    with pytest.raises(Exception) as caught:  # the SDK raises RuntimeError; not ours to pin
        await asyncio.wait_for(connect(settings), timeout=20)
    return caught.value


async def test_mtls_client_completes_a_handshake_with_its_certificate(
    monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    with TlsServer(pki, require_client_cert=True) as server:
        settings = _tls_env(monkeypatch, server.port, pki, pki.client_cert, pki.client_key)
        assert isinstance(tls_config(settings), TLSConfig)
        error = await _connect_fails(settings)
    assert "after connection" in str(error)  # the SDK got through TLS; nothing spoke gRPC behind it
    assert server.seen.completed, f"no TLS handshake completed: {server.seen.failed}"
    assert set(server.seen.completed) == {"makeright-worker"}
    assert set(server.seen.alpn) == {"h2"}  # gRPC over HTTP/2, negotiated inside TLS


async def test_a_client_certificate_from_another_ca_is_refused(
    monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    """The server side of the check above really checks: our test server is not a pushover."""
    with TlsServer(pki, require_client_cert=True) as server:
        settings = _tls_env(monkeypatch, server.port, pki, pki.other_client_cert, pki.other_client_key)
        await _connect_fails(settings)
    assert server.seen.completed == []
    assert server.seen.failed


async def test_the_client_checks_the_server_against_temporal_tls_ca(
    monkeypatch: pytest.MonkeyPatch, pki: Pki, tmp_path: Path
) -> None:
    """A CA that did not sign the server's certificate: the client refuses to finish the handshake."""
    stranger = _issue("not the server's CA", None, ca=True)
    stranger_ca, _ = _write(tmp_path / "stranger-ca", *stranger)
    with TlsServer(pki, require_client_cert=False) as server:
        _tls_env(monkeypatch, server.port, pki, pki.client_cert, pki.client_key)
        monkeypatch.setenv("TEMPORAL_TLS_CA", str(stranger_ca))
        error = await _connect_fails(load_settings())
    assert server.seen.completed == []
    assert server.seen.failed  # it did try, and the client hung up on the server's certificate
    assert "UnknownIssuer" in str(error)


# ---------------------------------------------------------------- settings → tls argument


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_no_tls_settings_mean_plain_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_config(settings(monkeypatch)) is False


def test_temporal_tls_alone_uses_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_config(settings(monkeypatch, TEMPORAL_TLS="true")) is True


def test_an_api_key_implies_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_config(settings(monkeypatch, TEMPORAL_API_KEY="cloud-key")) is True


def test_ca_file_and_client_pair_are_read(monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    tls = tls_config(
        settings(
            monkeypatch,
            TEMPORAL_TLS_CA=str(pki.ca),
            TEMPORAL_TLS_CERT=str(pki.client_cert),
            TEMPORAL_TLS_KEY=str(pki.client_key),
        )
    )
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == pki.ca.read_bytes()
    assert tls.client_cert == pki.client_cert.read_bytes()
    assert tls.client_private_key == pki.client_key.read_bytes()


@pytest.mark.parametrize(
    ("given", "named"),
    [("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"), ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT")],
)
def test_half_a_client_pair_is_one_line(
    monkeypatch: pytest.MonkeyPatch, pki: Pki, given: str, named: str
) -> None:
    monkeypatch.setenv(given, str(pki.client_cert))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"missing setting {named}")


@pytest.mark.parametrize("unreadable", ["missing", "directory"])
def test_an_unreadable_ca_file_is_one_line_naming_temporal_tls_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, unreadable: str
) -> None:
    path = tmp_path / "ca.pem"
    if unreadable == "directory":
        path.mkdir()
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("TEMPORAL_TLS_CA")
    assert str(path) in message
