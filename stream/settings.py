"""Kafka connection settings: any Kafka by bootstrap address, with TLS and SASL.

Secrets never live in configuration files: the SASL password is read at connect time from the
environment variable the settings name, or from the credential systemd passes to the service.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from aiokafka.helpers import create_ssl_context

from stream.errors import ConfigurationError
from stream.topics import TopicSet

#: The file name systemd's ``LoadCredential=`` gives the SASL password (deploy/systemd).
SASL_CREDENTIAL = "kafka-sasl-password"
#: The embedded broker holds each fetch for the full wait even when data arrives (measured).
EMBEDDED_FETCH_MAX_WAIT_MS = 20

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
#: auto: ask the broker (stream.idempotence); on: require it; off: never ask.
Idempotence = Literal["auto", "on", "off"]

# Bounds are msgspec constraints, checked whenever a file is decoded or converted (which also
# refuses NaN and infinity); __post_init__ keeps only the checks that relate two keys.
#: Kafka caps a group's session at 30 min (group.max.session.timeout.ms default).
_MAX_TIMEOUT_MS = 1_800_000


class KafkaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach the broker. ``bootstrap=None`` means: start the embedded local broker."""

    bootstrap: str | None = None
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password_env: str = "VAGUS_KAFKA_SASL_PASSWORD"  # noqa: S105 - a variable name
    topic_prefix: str = "vagus"
    partitions: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 4
    replication_factor: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    #: Replicas that must hold a record before acks=all succeeds (at most replication_factor);
    #: a cluster of three with two here survives the loss of one broker without losing data.
    min_insync_replicas: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    #: Idempotent producers (no duplicates from producer retries) where the broker offers them.
    idempotence: Idempotence = "auto"
    #: Short group timeouts make joins fast on a laptop; production may raise them.
    session_timeout_ms: Annotated[int, msgspec.Meta(ge=300, le=_MAX_TIMEOUT_MS)] = 6000
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=100, le=_MAX_TIMEOUT_MS // 3)] = 1000
    #: How long a fetch may wait for data. Real Kafka answers as soon as data arrives; the
    #: embedded broker always waits this long, so the demo and tests lower it (docs/broker.md).
    fetch_max_wait_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 500

    def __post_init__(self) -> None:
        uses_sasl = self.security_protocol.startswith("SASL")
        if uses_sasl and (self.sasl_mechanism is None or not self.sasl_username):
            raise ConfigurationError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism and sasl_username"
            )
        if not uses_sasl and self.sasl_mechanism is not None:
            raise ConfigurationError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}"
            )
        if not (self.partitions >= 1 and self.replication_factor >= 1):  # settings built in code
            raise ConfigurationError("partitions and replication_factor must be at least 1")
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise ConfigurationError(
                f"min_insync_replicas ({self.min_insync_replicas}) must be between 1 and "
                f"replication_factor ({self.replication_factor}): more could never be in sync"
            )
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ConfigurationError(
                "heartbeat_interval_ms must be at most a third of session_timeout_ms"
            )

    @property
    def topics(self) -> TopicSet:
        return TopicSet(self.topic_prefix)

    def with_bootstrap(self, bootstrap: str) -> KafkaSettings:
        return msgspec.structs.replace(self, bootstrap=bootstrap)

    def for_embedded_broker(self, bootstrap: str) -> KafkaSettings:
        """Settings for the embedded broker: its address, and the timings it needs (broker.md)."""
        return msgspec.structs.replace(
            self,
            bootstrap=bootstrap,
            fetch_max_wait_ms=min(self.fetch_max_wait_ms, EMBEDDED_FETCH_MAX_WAIT_MS),
            session_timeout_ms=min(self.session_timeout_ms, 1000),
            heartbeat_interval_ms=min(self.heartbeat_interval_ms, 300),
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        if "SSL" not in self.security_protocol:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
        )
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments shared by aiokafka producers, consumers and admins."""
        if self.bootstrap is None:
            raise ConfigurationError("no bootstrap address: start the embedded broker first")
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.sasl_mechanism is not None:
            password = os.environ.get(self.sasl_password_env) or _credential(SASL_CREDENTIAL)
            if not password:
                raise ConfigurationError(
                    f"SASL is configured but ${self.sasl_password_env} is not set and no"
                    f" {SASL_CREDENTIAL} credential was passed (systemd's LoadCredential=)"
                )
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = password
        return kwargs


def _credential(name: str) -> str | None:
    """A credential systemd passed to this service (``$CREDENTIALS_DIRECTORY/name``), without
    its trailing newline; None outside a unit or when it was not passed."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    try:
        text = (Path(folder) / name).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text.rstrip("\r\n") or None
