"""DecoderSet: decoders by device id, declared up front or mid-recording."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError
from ingest.importers.inline import device_entry, frame_records, inline_profile_toml
from ingest.recording import RecordingHeader

ENTRY = device_entry(
    device_id="d-00000000",
    label="test",
    profile_toml=inline_profile_toml(
        name="test-eda", signal="eda", description="test", sample_type="i16", units="uS",
        scale=0.01, rate_hz=4.0,
    ),
)  # fmt: skip
(RECORD,) = frame_records(ENTRY, np.array([100, 101, 102, 103]), start_ns=10**18)


def test_a_declared_device_decodes_and_an_undeclared_one_is_a_decode_error() -> None:
    header = RecordingHeader(patient_id="p-000000000000", start_time_ns=0, devices=[])
    empty = DecoderSet.of_recording(header)
    with pytest.raises(DecodeError, match="undeclared device"):
        empty.decode(RECORD)
    empty.declare(ENTRY)  # a DeviceRecord met mid-recording
    (block,) = empty.decode(RECORD)
    assert block.stream == "eda"
    np.testing.assert_allclose(block.values.reshape(-1), [1.0, 1.01, 1.02, 1.03])
