"""PMD delta compression: a reference sample, then blocks of LSB-first packed signed deltas.

Specification: Polar BLE SDK ``Polar_Measurement_Data_Specification.pdf`` and the SDK's
``BlePMDClient.parseDeltaFramesAll``. Kept apart from the frame codec because compressed ACC,
PPG and gyro frames all share it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.errors import DecodeError

INT32 = np.iinfo(np.int32)


def signed_le(content: bytes, width: int, field: str) -> npt.NDArray[np.int32]:
    """Little-endian signed integers of ``width`` bytes, whole buffer, at least one."""
    if not content or len(content) % width:
        raise DecodeError(
            f"PMD {field}: sample data is {len(content)} bytes, "
            f"expected a positive multiple of {width}"
        )
    raw = np.frombuffer(content, dtype=np.uint8).reshape(-1, width).astype(np.int64)
    value = np.zeros(raw.shape[0], dtype=np.int64)
    for i in range(width):
        value |= raw[:, i] << (8 * i)
    sign = np.int64(1) << (8 * width - 1)
    return ((value ^ sign) - sign).astype(np.int32)


def decode_delta_samples(
    content: bytes, channels: int, resolution_bits: int
) -> npt.NDArray[np.int32]:
    """Undo PMD delta compression: reference sample, then [width, count, packed deltas] blocks.

    Returns raw values, shape (n, channels). Deltas are packed LSB-first across the block,
    sample by sample and channel by channel, each sign-extended from its bit width.
    """
    ref_width = (resolution_bits + 7) // 8
    ref_size = channels * ref_width
    if len(content) < ref_size:
        raise DecodeError(
            f"PMD delta frame: reference sample needs {ref_size} bytes, got {len(content)}"
        )
    reference = signed_le(content[:ref_size], ref_width, "reference sample").astype(np.int64)
    blocks: list[npt.NDArray[np.int64]] = [reference.reshape(1, channels)]
    offset = ref_size
    while offset < len(content):
        if offset + 2 > len(content):
            raise DecodeError(
                f"PMD delta frame: block header at offset {offset} needs 2 bytes, got 1"
            )
        width, count = content[offset], content[offset + 1]
        offset += 2
        if not 1 <= width <= 32:
            raise DecodeError(f"PMD delta frame: delta bit width {width}, expected 1..32")
        n_bits = width * count * channels
        n_bytes = (n_bits + 7) // 8
        if offset + n_bytes > len(content):
            raise DecodeError(
                f"PMD delta frame: block of {count} samples x {width} bits needs {n_bytes} "
                f"bytes at offset {offset}, got {len(content) - offset}"
            )
        block = np.frombuffer(content[offset : offset + n_bytes], dtype=np.uint8)
        offset += n_bytes
        bits = np.unpackbits(block, bitorder="little")[:n_bits].astype(np.int64)
        weights = np.int64(1) << np.arange(width, dtype=np.int64)
        deltas = bits.reshape(-1, width) @ weights
        sign = np.int64(1) << (width - 1)
        blocks.append(((deltas ^ sign) - sign).reshape(count, channels))
    values = np.cumsum(np.concatenate(blocks), axis=0)
    if values.min() < INT32.min or values.max() > INT32.max:
        raise DecodeError("PMD delta frame: accumulated samples overflow 32 bits")
    return values.astype(np.int32)


def encode_delta_samples(samples: npt.ArrayLike, resolution_bits: int) -> bytes:
    """Delta-compress (n, channels) samples as a PMD device would (one block per 255 samples).

    Raises ValueError if the reference sample does not fit ``resolution_bits``.
    """
    values = np.asarray(samples, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] < 1:
        raise ValueError(f"samples must have shape (n >= 1, channels), got {values.shape}")
    ref_width = (resolution_bits + 7) // 8
    limit = 1 << (8 * ref_width - 1)
    if values[0].min() < -limit or values[0].max() >= limit:
        raise ValueError(f"reference sample does not fit {ref_width} bytes: {values[0]}")
    out = bytearray()
    for v in values[0]:
        out += int(v).to_bytes(ref_width, "little", signed=True)
    deltas = np.diff(values, axis=0)
    for start in range(0, deltas.shape[0], 255):
        chunk = deltas[start : start + 255]
        peak = int(max(chunk.max(), -chunk.min() - 1))
        width = max(peak.bit_length() + 1, 1)
        if width > 32:
            raise ValueError("a delta does not fit 32 bits")
        mask = (np.int64(1) << width) - 1
        bits = ((chunk.reshape(-1, 1) & mask) >> np.arange(width, dtype=np.int64)) & 1
        out += bytes([width, chunk.shape[0]])
        out += np.packbits(bits.astype(np.uint8).reshape(-1), bitorder="little").tobytes()
    return bytes(out)
