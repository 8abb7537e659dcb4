"""Adding a device is one class and its tests: this module is the proof.

It defines a device kind that vagus has never heard of (a thermometer with its own frame layout,
a control characteristic it must be told to start on, and a device clock), registers it through
the public API, and runs it through everything a built-in kind goes through: scanning, the real
bleak client against a bumble peripheral speaking its GATT, its start-up handshake, the
transport's device records and gap tracking, and decoding the way replay decodes a recording.
Nothing outside this file knows the kind.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import numpy as np
import pytest
from bumble import gatt

from ingest.decoder_set import DecoderSet
from ingest.device_clock import MAX_OFFSET_STEP_DOWN_NS, ClockAligner
from ingest.devices import (
    Advertisement,
    DeviceKind,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    StartupError,
    device_kind,
    recognised_by_service,
    register,
    sample_block,
    unregister,
)
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.recording import DeviceRecord, NotificationRecord
from ingest.transport.scanner import scan
from ingest.transport.targets import DeviceTarget
from ingest.virtual.characteristics import NOTIFY, WRITE, WRITEABLE, characteristic
from ingest.virtual.link import VirtualPeripheral, VirtualRadio, gatt_uuid
from tests.ble.test_transport_support import (
    SECRET,
    Collected,
    virtual_backend,
    wait_for,
)

SERVICE = "5a1e0000-7e57-4d3e-8c1a-7468656d6f31"
FRAMES = "5a1e0001-7e57-4d3e-8c1a-7468656d6f31"
CONTROL = "5a1e0002-7e57-4d3e-8c1a-7468656d6f31"
START, STARTED = b"\x01", b"\x81\x00"
RATE_HZ = 50.0
PER_FRAME = 4
_FRAME = struct.Struct("<I4h")  # u32 device ms of the first sample, four i16 centi-degrees
FRAME_MS = 80  # four samples at 50 Hz


class ThermometerDecoder:
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)

    def decode(self, notification: Notification) -> list[SampleBlock]:
        if notification.characteristic.lower() != FRAMES:
            raise DecodeError(
                f"test-thermometer has no characteristic {notification.characteristic}"
            )
        if len(notification.payload) != _FRAME.size:
            raise DecodeError(f"frame: {len(notification.payload)} bytes, expected {_FRAME.size}")
        device_ms, *centi = _FRAME.unpack(notification.payload)
        step_ns = int(1e9 / RATE_HZ)
        device_first = device_ms * 1_000_000
        device_last = device_first + (PER_FRAME - 1) * step_ns
        offset = self._aligner.offset_ns(device_last, notification.gateway_time_ns)
        times = device_first + offset + step_ns * np.arange(PER_FRAME, dtype=np.int64)
        celsius = np.asarray(centi, dtype=np.float64) / 100
        return [sample_block(self.device_id, "temp", times, celsius, unit="degC", rate_hz=RATE_HZ)]


class ThermometerDevice:
    """Streams only after ``START`` on its control characteristic, which it answers there."""

    name: Final = "test-thermometer"
    gatt: Final = GattTargets(services=(SERVICE,), data=(FRAMES,), control=(CONTROL,))

    def recognises(self, advertisement: Advertisement) -> Recognition:
        return recognised_by_service(advertisement, self.gatt)

    async def start(self, link: GattLink, now_ns: int) -> None:
        if not link.has(CONTROL):
            raise StartupError("no control characteristic")
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        await link.subscribe(CONTROL, answers.put_nowait)
        await link.write(CONTROL, START)
        async with asyncio.timeout(5):
            answer = await answers.get()
        if answer != STARTED:
            raise StartupError(f"start refused: {answer.hex()}")

    def decoder(self, device_id: str) -> ThermometerDecoder:
        return ThermometerDecoder(device_id)


class ThermometerPeripheral(VirtualPeripheral):
    """The thermometer's GATT, on the virtual radio: frames only once told to start."""

    def __init__(self, radio: VirtualRadio, name: str = "Thermo 1") -> None:
        self.started = asyncio.Event()
        self.writes: list[bytes] = []
        self.frames = characteristic(FRAMES, NOTIFY)
        self.control = characteristic(
            CONTROL, WRITE | NOTIFY, gatt.CharacteristicValue(write=self._on_write), WRITEABLE
        )
        self._answers: set[asyncio.Task[None]] = set()
        service = gatt.Service(gatt_uuid(SERVICE), [self.frames, self.control])
        super().__init__(radio, name, [service], [SERVICE])

    def _on_write(self, _connection: Any, value: bytes) -> None:
        self.writes.append(bytes(value))
        if bytes(value) == START:
            self.started.set()
            task = asyncio.get_running_loop().create_task(self.notify_value(self.control, STARTED))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)

    async def send(self, device_ms: int, centi: list[int]) -> bytes:
        payload = _FRAME.pack(device_ms, *centi)
        await self.notify_value(self.frames, payload)
        return payload


@pytest.fixture
def thermometer() -> Iterator[DeviceKind]:
    kind = register(ThermometerDevice())
    try:
        yield kind
    finally:
        unregister(kind.name)


@pytest.fixture
async def peripheral(radio: VirtualRadio) -> AsyncIterator[ThermometerPeripheral]:
    async with ThermometerPeripheral(radio) as device:
        yield device


def test_a_kind_is_known_only_while_registered(thermometer: DeviceKind) -> None:
    assert device_kind("test-thermometer") is thermometer
    unregister(thermometer.name)
    with pytest.raises(LookupError, match="unknown device profile 'test-thermometer'"):
        DeviceTarget("test-thermometer", name_prefix="Thermo")
    register(thermometer)  # for the fixture's clean-up


async def test_scan_recognises_the_new_kind(
    radio: VirtualRadio, thermometer: DeviceKind, peripheral: ThermometerPeripheral
) -> None:
    sightings = await scan(0.5, secret=SECRET, backend=virtual_backend(radio))
    assert [s.profile for s in sightings if s.address == peripheral.address] == [thermometer.name]


async def test_a_new_kind_streams_end_to_end(
    radio: VirtualRadio, thermometer: DeviceKind, peripheral: ThermometerPeripheral
) -> None:
    got = Collected()
    targets = [DeviceTarget(thermometer.name, address=peripheral.address, label="skin")]
    transport = got.transport(radio, targets, scan_timeout_s=0.3)
    sent: list[bytes] = []
    async with transport:
        await asyncio.wait_for(peripheral.started.wait(), 10)
        await wait_for(lambda: peripheral.subscriber_count(peripheral.frames) == 1)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for k in range(6):  # in real time; the device clock starts at 12 s since power-on
            await asyncio.sleep(begin + k * FRAME_MS / 1000 - loop.time())
            sent.append(await peripheral.send(12_000 + FRAME_MS * k, [3650 + k, 3651, -5, 0]))
        await wait_for(lambda: len(got.notifications(FRAMES)) == len(sent))
        (session,) = transport.sessions
        assert session.status.connected and not session.status.last_error

    assert peripheral.writes == [START], "the start-up ran once, on the control characteristic"
    assert got.notifications(CONTROL) == [], "control is not data"
    records = got.notifications(FRAMES)
    assert [r.payload for r in records] == sent
    assert got.gaps == []
    declared = [i.device for i in got.items if isinstance(i, DeviceRecord)]
    assert [d.profile for d in declared] == [thermometer.name]

    decoders = DecoderSet({})  # as replay decodes a recording: devices declared by name
    blocks: list[SampleBlock] = []
    for item in got.items:
        if isinstance(item, DeviceRecord):
            decoders.declare(item.device)
        elif isinstance(item, NotificationRecord):
            blocks.extend(decoders.decode(item))
    assert [b.stream for b in blocks] == ["temp"] * len(sent)
    values = np.concatenate([b.values for b in blocks])
    expected = [[36.5 + k / 100, 36.51, -0.05, 0.0] for k in range(len(sent))]
    np.testing.assert_allclose(values, np.ravel(expected), rtol=0, atol=1e-12)
    _check_times(blocks, records)


def _check_times(blocks: list[SampleBlock], records: list[NotificationRecord]) -> None:
    """Device time mapped onto the gateway's: 20 ms apart within a frame, shifted by
    an offset no smaller than the smallest arrival delay so far (transport delay only adds), and
    falling only when a smaller delay is seen (the aligner slews it down, 2 ms per frame)."""
    best_delay, previous = 2**63, 2**63
    for k, (block, record) in enumerate(zip(blocks, records, strict=True)):
        assert np.all(np.diff(block.times_ns) == 20_000_000)
        device_last_ns = (12_000 + FRAME_MS * k) * 1_000_000 + 60_000_000
        delay = record.gateway_time_ns - device_last_ns
        best_delay = min(best_delay, delay)
        offset = int(block.times_ns[-1]) - device_last_ns
        assert best_delay <= offset <= max(delay, previous)
        assert offset <= previous
        assert abs(record.gateway_time_ns - int(block.times_ns[-1])) < 500_000_000
        previous = offset
    starts = [int(b.times_ns[0]) for b in blocks]
    assert all(b > a for a, b in itertools.pairwise(starts))


def test_the_decoder_refuses_bytes_that_do_not_fit(thermometer: DeviceKind) -> None:
    decoder = thermometer.decoder("d-00000000")
    with pytest.raises(DecodeError, match="expected 12"):
        decoder.decode(Notification("d-00000000", FRAMES, 0, b"\x00" * 5))


_: Callable[[], DeviceKind] = ThermometerDevice  # the class satisfies the protocol (mypy)
