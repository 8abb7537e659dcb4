"""Damaged EDF, ISHNE and actigraphy files: an import succeeds or raises IngestError (the CLI's
one-line exit 2), never anything else, and never leaves an output or a partial file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError
from ingest.importers.actigraphy import import_actigraphy
from ingest.importers.edf import import_edf
from ingest.importers.ishne import import_ishne
from tests.ingest.test_import_actigraphy import ACTILIFE_HEADER, ACTIWARE
from tests.ingest.test_import_ishne import _ishne


def _edf() -> bytes:
    header = bytearray(b" " * 768)

    def put(offset: int, text: str, width: int) -> None:
        header[offset : offset + width] = text.ljust(width).encode()

    for offset, text, width in (
        (0, "0", 8), (168, "10.03.26", 8), (176, "12.00.00", 8), (184, "768", 8),
        (192, "EDF+C", 44), (236, "2", 8), (244, "1", 8), (252, "2", 4),
    ):  # fmt: skip
        put(offset, text, width)
    for i, values in enumerate(
        [("ECG", "", "uV", "-100", "100", "-100", "100", "", "4", ""),
         ("EDF Annotations", "", "", "-1", "1", "-32768", "32767", "", "8", "")]
    ):  # fmt: skip
        base = 256
        for width, value in zip((16, 80, 8, 8, 8, 8, 8, 80, 8, 32), values, strict=True):
            put(base + i * width, value, width)
            base += width * 2
    body = b""
    for onset in (0, 1):
        tal = f"+{onset}\x14\x14\x00+0.5\x14hi\x14\x00".encode().ljust(16, b"\x00")
        body += np.arange(4, dtype="<i2").tobytes() + tal
    return bytes(header) + body


SOURCES: dict[str, tuple[bytes, Callable[[Path, Path], object]]] = {
    "edf": (_edf(), import_edf),
    "ishne": (
        _ishne(np.arange(30).reshape(10, 3), leads=[5, 6, 7], nv=[2500] * 3, var=b"ab"),
        import_ishne,
    ),
    "actigraph": (
        (ACTILIFE_HEADER + "10,20,30,1\n0,0,0,0\n").encode(),
        lambda p, o: import_actigraphy(p, o, vendor="actigraph"),
    ),
    "actiware": (ACTIWARE.encode(), lambda p, o: import_actigraphy(p, o, vendor="actiware")),
}


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_the_undamaged_source_imports(tmp_path: Path, fmt: str) -> None:
    data, run = SOURCES[fmt]
    (tmp_path / "in").write_bytes(data)
    run(tmp_path / "in", tmp_path / "out")
    assert (tmp_path / "out").exists()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(sorted(SOURCES)),
    at=st.integers(0, 2000),
    cut=st.integers(0, 40),
    noise=st.binary(max_size=12),
)
def test_damaged_sources_import_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, at: int, cut: int, noise: bytes
) -> None:
    data, run = SOURCES[fmt]
    at = at % (len(data) + 1)
    folder = tmp_path_factory.mktemp(fmt)
    (folder / "in").write_bytes(data[:at] + noise + data[at + cut :])
    out = folder / "out"
    try:
        run(folder / "in", out)
    except IngestError:
        assert not out.exists()
    assert not (folder / ".out.partial").exists()
