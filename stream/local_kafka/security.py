"""A secured local Kafka: a throwaway CA, certificates, SCRAM users and the broker's settings.

Made afresh for each run in the cluster's private directory (Python ``cryptography``). Clients
reach the broker on two listeners: ``MTLS`` (TLS, client certificate required) and ``SCRAM``
(SASL_SSL with SCRAM-SHA-512, server certificate only). Both name a client by the same user
name: the certificate's CN is mapped to it (``ssl.principal.mapping.rules``), so one ACL set
covers both. StandardAuthorizer refuses whatever no ACL allows.

The inter-broker and controller listeners stay PLAINTEXT on loopback, for simplicity: their
connections are ``User:ANONYMOUS``, which is therefore a super user (the nodes must be, before
any ACL is loaded). Anything that can reach those loopback ports can do anything; a deployment
puts inter-broker and controller traffic on SSL or SASL_SSL too (docs/security.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stream.settings import KafkaSettings

__all__ = [
    "ADMIN",
    "PRINCIPALS",
    "Authority",
    "ClusterSecurity",
    "Listener",
    "password_variable",
]

ADMIN = "admin"
#: The users a secured local Kafka knows: the admin (a super user) and vagus's three roles.
PRINCIPALS = (ADMIN, "gateway", "worker", "clinician")
Listener = Literal["mtls", "scram"]
_VALIDITY = datetime.timedelta(days=2)
_STORE_TYPE = "PEM"  # Kafka reads PEM key stores and trust stores directly (KIP-651)


def _write_private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


@dataclass
class Authority:
    """A certificate authority made for one run; :meth:`issue` writes a key and a certificate."""

    name: str
    directory: Path
    _key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)
    _cert: x509.Certificate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self._cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_file(self) -> Path:
        return self.directory / f"{self.name}.pem"

    def issue(self, common_name: str, *, server: bool = False) -> tuple[Path, Path]:
        """A certificate for ``common_name`` (a server one names 127.0.0.1 and localhost);
        returns the certificate file (leaf, then this CA) and the key file (PKCS#8)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            _builder(subject, self._cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, self._cert))
        stem = self.directory / f"{self.name}-{common_name}"
        cert_file = _write_private(stem.with_suffix(".crt"), chain)
        key_bytes = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert_file, _write_private(stem.with_suffix(".key"), key_bytes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class ClusterSecurity:
    """The CA, the broker's key store, every principal's certificate and SCRAM password."""

    directory: Path
    authority: Authority = field(init=False)
    server_store: Path = field(init=False)
    client_files: dict[str, tuple[Path, Path]] = field(init=False, default_factory=dict)
    passwords: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.authority = Authority("vagus-test-ca", self.directory)
        cert_file, key_file = self.authority.issue("kafka-broker", server=True)
        # a PEM key store is the private key followed by the certificate chain, in one file
        store = key_file.read_bytes() + cert_file.read_bytes()
        self.server_store = _write_private(self.directory / "broker-keystore.pem", store)
        for principal in PRINCIPALS:
            self.client_files[principal] = self.authority.issue(principal)
            self.passwords[principal] = secrets.token_hex(16)

    def secured(
        self, settings: dict[str, object], mtls_port: int, scram_port: int
    ) -> dict[str, object]:
        """A node's server.properties ``settings`` with the two client listeners on loopback
        ``mtls_port`` and ``scram_port``, their TLS and SASL settings, and the authorizer."""
        mtls, scram = f"MTLS://127.0.0.1:{mtls_port}", f"SCRAM://127.0.0.1:{scram_port}"
        protocols = f"{settings['listener.security.protocol.map']},MTLS:SSL,SCRAM:SASL_SSL"
        return settings | {
            "listeners": f"{settings['listeners']},{mtls},{scram}",
            "advertised.listeners": f"{settings['advertised.listeners']},{mtls},{scram}",
            "listener.security.protocol.map": protocols,
            **self._listener_settings(),
        }

    def _listener_settings(self) -> dict[str, object]:
        scram = "listener.name.scram."
        return {
            "ssl.keystore.type": _STORE_TYPE,
            "ssl.keystore.location": self.server_store,
            "ssl.truststore.type": _STORE_TYPE,
            "ssl.truststore.location": self.authority.cert_file,
            "listener.name.mtls.ssl.client.auth": "required",
            scram + "ssl.client.auth": "none",
            scram + "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            scram + "scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            # CN=gateway -> gateway: one user name whichever way a client authenticates
            "ssl.principal.mapping.rules": "RULE:^CN=([a-zA-Z0-9._-]+)$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN};User:ANONYMOUS",
            # a producer must not create a topic by writing to it
            "auto.create.topics.enable": "false",
        }

    def scram_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create every SCRAM user at format time."""
        arguments: list[str] = []
        for principal, password in self.passwords.items():
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={principal},password={password}]"]
        return arguments

    def client_settings(
        self, principal: str, listener: Listener, bootstrap: str, **overrides: object
    ) -> KafkaSettings:
        """vagus's own settings for ``principal`` on ``listener``. For SCRAM the password is
        read from the variable ``VAGUS_TEST_SCRAM_<PRINCIPAL>``, which the caller sets from
        :attr:`passwords` (settings never hold a secret)."""
        if listener == "mtls":
            cert_file, key_file = self.client_files[principal]
            return KafkaSettings(
                bootstrap=bootstrap,
                security_protocol="SSL",
                ssl_cafile=str(self.authority.cert_file),
                ssl_certfile=str(cert_file),
                ssl_keyfile=str(key_file),
                **overrides,  # type: ignore[arg-type]
            )
        return KafkaSettings(
            bootstrap=bootstrap,
            security_protocol="SASL_SSL",
            ssl_cafile=str(self.authority.cert_file),
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=principal,
            sasl_password_env=password_variable(principal),
            **overrides,  # type: ignore[arg-type]
        )


def password_variable(principal: str) -> str:
    """The environment variable :meth:`ClusterSecurity.client_settings` names for SCRAM."""
    return f"VAGUS_TEST_SCRAM_{principal.upper()}"
