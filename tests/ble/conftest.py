"""A fresh virtual radio per test: peripherals and bleak backends share one in-process medium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("bumble", reason="virtual BLE needs the optional bumble dependency")

if TYPE_CHECKING:
    from ingest.virtual.link import VirtualRadio


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    from ingest.virtual.link import VirtualRadio

    medium = VirtualRadio()
    try:
        yield medium
    finally:
        await medium.close()
