"""vagus on a secured Apache Kafka: mTLS and SASL_SSL/SCRAM-SHA-512, with ACLs enforced.

Every client here is built from vagus's own KafkaSettings (client_kwargs), so the product's
configuration is what is tested. The ACLs are stream.acls.vagus_grants, the list docs/security.md
shows. Allowed paths must work; every forbidden one must be refused with a clear error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from closedloop import policy_store
from closedloop.policy import DEFAULT_POLICY
from stream.acls import Grant, Operation, Resource, apply_grants, vagus_grants, worker_app_id
from stream.codec import decode_event
from stream.consumer import EventConsumer
from stream.events import AnyEvent, InterventionCommand, StressEpisode
from stream.ids import new_event_id
from stream.local_kafka import LocalKafka
from stream.local_kafka.security import ADMIN, Authority, Listener
from stream.settings import KafkaSettings
from stream.spool import Spool
from stream.spooling_producer import SpoolingProducer
from stream.topics import create_topic_set
from tests.helpers import PATIENT, EnrolledGateway, stress_score

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LISTENERS: tuple[Listener, ...] = ("mtls", "scram")
NOON = int(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp() * 1e9)


@dataclass(frozen=True)
class Deployment:
    """One topic set on the secured cluster, created by the admin, with vagus's ACLs on it."""

    kafka: LocalKafka
    prefix: str

    def settings(self, principal: str, listener: Listener = "mtls") -> KafkaSettings:
        assert self.kafka.security is not None
        return self.kafka.security.client_settings(
            principal,
            listener,
            self.kafka.secure_bootstrap(listener),
            topic_prefix=self.prefix,
            session_timeout_ms=1000,
            heartbeat_interval_ms=300,
            fetch_max_wait_ms=20,
        )


@pytest.fixture
async def deployment(secure_kafka: LocalKafka) -> Deployment:
    deployed = Deployment(secure_kafka, f"s{uuid.uuid4().hex[:10]}")
    admin = deployed.settings(ADMIN)
    await create_topic_set(admin, timeout_s=30)
    await apply_grants(admin, vagus_grants(admin.topics))
    return deployed


async def _read(settings: KafkaSettings, topic: str, wanted: int, **kw: str) -> list[AnyEvent]:
    consumer = AIOKafkaConsumer(
        topic, auto_offset_reset="earliest", **kw, **settings.client_kwargs()
    )
    events: list[AnyEvent] = []
    try:
        await consumer.start()
        async with asyncio.timeout(20):
            while len(events) < wanted:
                batches = await consumer.getmany(timeout_ms=200)
                events += [decode_event(r.value) for rs in batches.values() for r in rs if r.value]
    finally:
        await consumer.stop()
    return events


async def _write(settings: KafkaSettings, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(request_timeout_ms=5000, **settings.client_kwargs())
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=PATIENT.encode())
    finally:
        await producer.stop()


@pytest.mark.parametrize("listener", LISTENERS)
async def test_a_gateway_writes_its_events_and_the_worker_reads_them(
    deployment: Deployment, listener: Listener, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway's store-and-forward producer, as `vagus gateway` runs it (it tries to create
    the topic set first, which its ACLs refuse, and says so): its events reach the worker."""
    gateway = deployment.settings("gateway", listener)
    producer = SpoolingProducer(
        gateway, producer_id="secure-gateway", spool=Spool(tmp_path / "spool"), create_topics=True
    )
    sent = [stress_score(i, "secure-gateway") for i in range(5)]
    await producer.start()
    try:
        for event in sent:
            await producer.send_to(gateway.topics.name("stress"), event)
        async with asyncio.timeout(20):
            await producer.flush()
        assert producer.broker_reachable and not len(producer.spool)
    finally:
        await producer.stop()
    assert "cannot create the topics (TopicAuthorizationFailedError)" in caplog.text
    worker = deployment.settings("worker", listener)
    received = await _read(worker, worker.topics.name("stress"), len(sent))
    assert [e.event_id for e in received] == [e.event_id for e in sent]


async def test_a_refused_write_is_named_as_refusal_spooled_and_drained_once_granted(
    deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway whose principal may not write the stress topic (here the clinician's): the
    broker answers, so this is not an outage. The producer names the refusal once, reports it
    in its status, keeps every event in the spool, and delivers them once the ACL is granted."""
    refused = deployment.settings("clinician")
    producer = SpoolingProducer(
        refused,
        producer_id="refused-gateway",
        spool=Spool(tmp_path / "spool"),
        retry_interval_s=0.2,
        retry_cap_s=0.5,
    )
    sent = [stress_score(i, "refused-gateway") for i in range(3)]
    topic = refused.topics.name("stress")
    await producer.start()
    try:
        for event in sent:
            await producer.send_to(topic, event)
        async with asyncio.timeout(30):
            while producer.refusal is None:
                await asyncio.sleep(0.05)
        assert producer.refusal == "TopicAuthorizationFailedError"
        assert producer.status()["broker_refusal"] == "TopicAuthorizationFailedError"
        assert len(producer.spool) == len(sent)
        await asyncio.sleep(1.5)  # several retries, each refused again
        refusals = [r for r in caplog.records if "refuses this gateway's writes" in r.message]
        assert len(refusals) == 1 and refusals[0].levelname == "ERROR"
        assert "broker unreachable (" not in caplog.text
        grant = Grant("clinician", Operation.WRITE, Resource.TOPIC, topic, "this test")
        await apply_grants(deployment.settings(ADMIN), [grant])
        async with asyncio.timeout(30):  # flush() returns at each refusal: wait for the drain
            while len(producer.spool):
                await asyncio.sleep(0.1)
        assert producer.refusal is None and not len(producer.spool)
    finally:
        await producer.stop()
    worker = deployment.settings("worker")
    received = await _read(worker, topic, len(sent))
    assert [e.event_id for e in received] == [e.event_id for e in sent]


@pytest.mark.parametrize("worker_listener", LISTENERS)
async def test_clinician_gateway_and_worker_close_the_loop(
    deployment: Deployment, tmp_path: Path, enrolled: EnrolledGateway, worker_listener: Listener
) -> None:
    """A clinician's policy, a gateway's signed episode, the faust worker as a process deciding
    on it (faust's own credentials path), and the command back at the gateway's consumer group;
    the worker on one listener, the others on the other."""
    others: Listener = "scram" if worker_listener == "mtls" else "mtls"
    clinician = deployment.settings("clinician", others)
    published = await policy_store.change(
        clinician,
        patient_id=PATIENT,
        assignments=["score_threshold=0.9"],
        actor="clinician:c-1",
        reason="secured test",
        default=DEFAULT_POLICY,
    )
    assert published[0].version == 1
    worker = deployment.settings("worker", worker_listener)
    config_path = tmp_path / "config.json"
    config_path.write_bytes(msgspec.json.encode(enrolled.config(worker)))
    log_path = tmp_path / "worker.log"
    gateway = deployment.settings("gateway", others)
    producer = SpoolingProducer(
        gateway,
        producer_id="secure-gateway",
        spool=Spool(tmp_path / "spool"),
        signing_key=enrolled.key,
    )
    commands: list[AnyEvent] = []

    async def handler(event: AnyEvent) -> None:
        commands.append(event)

    consumer = EventConsumer(
        gateway,
        group_id=f"vagus-gateway-{PATIENT}",
        topics=[gateway.topics.name("commands"), gateway.topics.name("decisions")],
        handler=handler,
        dead_letters=producer,
        consumer_id="secure-gateway-commands",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vagus", "--config", str(config_path), "closedloop"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stop = asyncio.Event()
    start = _episode_start()
    try:
        await producer.start()
        await consumer.start()
        task = asyncio.create_task(consumer.run(stop))
        await producer.send_to(gateway.topics.name("stress"), start)
        async with asyncio.timeout(90):
            while not any(isinstance(e, InterventionCommand) for e in commands):
                assert process.poll() is None, log_path.read_text()[-2000:]
                await asyncio.sleep(0.1)
        stop.set()
        await task
    finally:
        stop.set()
        await consumer.stop()
        await producer.stop()
        process.terminate()
        process.wait(timeout=30)
    (command,) = [e for e in commands if isinstance(e, InterventionCommand)]
    assert command.reason.trigger_event_id == start.event_id
    assert command.policy_version == 1  # the clinician's version, read by the worker at start


def _episode_start() -> StressEpisode:
    return StressEpisode(
        patient_id=PATIENT,
        producer_id="secure-gateway",
        gateway_time_ns=NOON,
        episode_id=new_event_id(),
        phase="start",
        started_at_ns=NOON,
        score=0.95,
        trigger_window_id=new_event_id(),
        components={"z_hr": 5.0},
    )


@pytest.mark.parametrize(
    ("principal", "suffix"),
    [
        ("gateway", "policy"),  # only clinicians change a policy
        ("gateway", "commands"),  # only the loop commands a device
        ("clinician", "commands"),
        ("worker", "policy"),
    ],
)
async def test_a_principal_cannot_write_another_roles_topic(
    deployment: Deployment, principal: str, suffix: str
) -> None:
    settings = deployment.settings(principal, "scram")
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(settings, settings.topics.name(suffix), b"{}")


@pytest.mark.parametrize("suffix", ["policy", "evaluations", "loopstate"])
async def test_a_gateway_cannot_read_another_topic(deployment: Deployment, suffix: str) -> None:
    gateway = deployment.settings("gateway", "mtls")
    with pytest.raises(TopicAuthorizationFailedError):
        await _read(gateway, gateway.topics.name(suffix), 1, group_id=f"vagus-gateway-{PATIENT}")


async def test_the_policy_log_reader_says_a_gateway_may_not_read_it(
    deployment: Deployment,
) -> None:
    """The policy store's own reader: refused, not an empty log (which would read as "no
    policy yet" and let the default stand)."""
    gateway = deployment.settings("gateway", "scram")
    with pytest.raises(TopicAuthorizationFailedError):
        await policy_store.read_records(gateway, gateway.topics.name("policy"))


async def test_a_gateway_cannot_join_the_workers_group(deployment: Deployment) -> None:
    gateway = deployment.settings("gateway", "mtls")
    group = worker_app_id(gateway.topics)
    with pytest.raises(GroupAuthorizationFailedError):
        await _read(gateway, gateway.topics.name("commands"), 1, group_id=group)


async def test_a_wrong_password_is_refused(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka raises "Unable to bootstrap"; the broker's reason is in its log line."""
    gateway = deployment.settings("gateway", "scram")
    monkeypatch.setenv(gateway.sasl_password_env, "not-the-password")
    with pytest.raises(KafkaConnectionError):
        await _write(gateway, gateway.topics.name("stress"), b"{}")
    assert "SaslAuthenticationFailed" in caplog.text
    assert "invalid credentials" in caplog.text


async def test_a_client_that_trusts_another_ca_is_refused(
    deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's certificate is not from the CA this client trusts: the handshake fails."""
    stranger = Authority("stranger-ca", tmp_path)
    for listener in LISTENERS:
        settings = msgspec.structs.replace(
            deployment.settings("gateway", listener), ssl_cafile=str(stranger.cert_file)
        )
        with pytest.raises(KafkaConnectionError):
            await _write(settings, settings.topics.name("stress"), b"{}")
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
        caplog.clear()


@pytest.mark.parametrize("certificate", ["unknown-ca", "none"])
async def test_the_mtls_listener_refuses_a_client_without_a_trusted_certificate(
    deployment: Deployment, tmp_path: Path, certificate: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The client sees only a closed connection: under TLS 1.3 the broker checks the client's
    certificate after the client's side of the handshake is done. The same settings with the
    principal's own certificate connect (the first test), so the certificate is what differs."""
    settings = deployment.settings("gateway", "mtls")
    if certificate == "none":
        settings = msgspec.structs.replace(settings, ssl_certfile=None, ssl_keyfile=None)
    else:  # a certificate named "gateway", from a CA the broker does not trust
        cert_file, key_file = Authority("stranger-ca", tmp_path).issue("gateway")
        settings = msgspec.structs.replace(
            settings, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
        )
    with pytest.raises(KafkaConnectionError):
        await _write(settings, settings.topics.name("stress"), b"{}")
    assert "closed" in caplog.text
