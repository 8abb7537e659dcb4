"""`vagus import ishne`: an ISHNE 1.0 Holter ECG file (Badilini 1998, the ISHNE standard output
format for Holter ECG).

Layout: the magic ``ISHNE1.0``, a CRC-CCITT (polynomial 0x1021, start 0xFFFF) of everything from
byte 10 up to the ECG block, a 512-byte fixed header (little-endian: variable-block size, samples
per lead, the offsets of the variable block and of the ECG, version, names, dates, start time,
lead count, lead codes, qualities, resolution in nV per unit, pacemaker, recorder, rate,
proprietary, copyright, reserved), the variable block, then int16 samples interleaved by lead.
The CRC is checked before anything is read; names and birth date are never copied.
"""

from __future__ import annotations

import binascii
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.errors import RecordingError
from ingest.importers.channels import Channel, write_channels

MAGIC = b"ISHNE1.0"
FIXED_HEADER = struct.Struct("<iiiih40s40s20shh3h3h3h3hh12h12h12hh40sh80s80s88s")
assert FIXED_HEADER.size == 512
#: Lead codes of the standard's table (0 unknown, 1 generic bipolar, ...).
LEAD_NAMES = (
    "unknown", "generic", "X", "Y", "Z", "I", "II", "III", "aVR", "aVL", "aVF",
    "V1", "V2", "V3", "V4", "V5", "V6", "ES", "AS", "AI",
)  # fmt: skip


def crc_ccitt(data: bytes) -> int:
    """The ISHNE header checksum: CRC-CCITT, polynomial 0x1021, initial value 0xFFFF."""
    return binascii.crc_hqx(data, 0xFFFF)


def import_ishne(path: Path, out: Path, *, patient_id: str | None = None) -> dict[str, object]:
    """Write ``out`` from the ISHNE file at ``path``; returns a summary."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if data[:8] != MAGIC:
        raise RecordingError(f"{path}: not an ISHNE 1.0 file (no 'ISHNE1.0' magic)")
    if len(data) < 10 + FIXED_HEADER.size:
        raise RecordingError(f"{path}: {len(data)} bytes, shorter than the ISHNE header")
    fields = FIXED_HEADER.unpack_from(data, 10)
    var_size, n_samples, var_offset, ecg_offset = fields[0:4]
    record_day, record_month, record_year = fields[13:16]
    start_h, start_m, start_s = fields[19:22]
    n_leads = fields[22]
    lead_codes, resolution_nv = fields[23:35], fields[47:59]
    rate_hz = fields[61]
    if not (10 + FIXED_HEADER.size <= ecg_offset <= len(data)) or var_offset != 522:
        raise RecordingError(
            f"{path}: ECG offset {ecg_offset} or variable block offset "
            f"{var_offset} does not fit the file"
        )
    if ecg_offset != var_offset + var_size:
        raise RecordingError(
            f"{path}: the variable block ({var_size} bytes) does not end at the ECG"
        )
    stored = struct.unpack_from("<H", data, 8)[0]
    if crc_ccitt(data[10:ecg_offset]) != stored:
        raise RecordingError(f"{path}: header CRC mismatch (damaged header)")
    if not 1 <= n_leads <= 12 or rate_hz <= 0 or n_samples < 0:
        raise RecordingError(f"{path}: {n_leads} leads at {rate_hz} Hz is not a valid header")
    needed = n_samples * n_leads * 2
    have = len(data) - ecg_offset
    if have < needed:
        raise RecordingError(f"{path}: {have} ECG bytes, the header needs {needed} (truncated?)")
    if have > needed:
        raise RecordingError(f"{path}: {have - needed} bytes after the last sample")
    try:
        start = datetime(
            record_year, record_month, record_day, start_h, start_m, start_s, tzinfo=UTC
        )
    except ValueError as exc:
        raise RecordingError(f"{path}: record date or start time is not a date: {exc}") from exc
    samples = np.frombuffer(data, dtype="<i2", offset=ecg_offset, count=n_samples * n_leads)
    samples = samples.reshape(n_samples, n_leads).astype(np.int64)
    channels = []
    for lead in range(n_leads):
        code = lead_codes[lead]
        name = LEAD_NAMES[code] if 0 <= code < len(LEAD_NAMES) else f"code {code}"
        if resolution_nv[lead] <= 0:
            raise RecordingError(f"{path}: lead {lead} has resolution {resolution_nv[lead]} nV")
        channels.append(
            Channel(
                label=f"ECG {name}"
                + ("" if lead_codes[:n_leads].count(code) == 1 else f" #{lead}"),
                units="nV",
                rate_hz=float(rate_hz),
                raw=samples[:, lead],
                scale=float(resolution_nv[lead]),
            )
        )
    return write_channels(
        out,
        fmt="ishne",
        source=f"ishne:{path.name}",
        channels=channels,
        markers=[],
        start_ns=int(start.timestamp()) * 10**9,
        patient_id=patient_id,
        notes=f"imported from an ISHNE 1.0 Holter file, {n_leads} leads at {rate_hz} Hz "
        "(-32768 is the format's missing sample and is kept)",
    )
