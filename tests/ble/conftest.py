"""A fresh radio per test: peripherals and centrals share one simulated medium.

Tests marked ``bluez`` run twice: on the in-process radio (bleak through its ``backend=`` hook)
and on the host's real Bluetooth stack (bleak's default BlueZ backend over D-Bus, the adapter a
bumble Controller on ``/dev/vhci``). The second exists only inside the QEMU guest of
``make bluez-check``; elsewhere it skips. Its parameter carries the ``bluez_guest`` mark, so the
guest selects exactly those with ``-m bluez_guest``. ``@pytest.mark.bluez(known_defect="...")``
expects the BlueZ half to fail (strictly) for the defect named.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("bumble", reason="virtual BLE needs the optional bumble dependency")

if TYPE_CHECKING:
    from ingest.virtual.link import VirtualRadio

IN_PROCESS = "in-process"
BLUEZ = "bluez"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("bluez")
    if "radio" not in metafunc.fixturenames or marker is None:
        return
    marks = [pytest.mark.bluez_guest]
    if defect := marker.kwargs.get("known_defect"):
        # Fails on BlueZ for a reason outside the tests; strict, so the fix is noticed.
        marks.append(pytest.mark.xfail(strict=True, reason=defect))
    metafunc.parametrize("radio", [IN_PROCESS, pytest.param(BLUEZ, marks=marks)], indirect=True)


@pytest.fixture
async def radio(request: pytest.FixtureRequest) -> AsyncIterator[VirtualRadio]:
    if getattr(request, "param", IN_PROCESS) == BLUEZ:
        from ingest.virtual.host_adapter import HostAdapterRadio, host_stack_missing

        if (reason := host_stack_missing()) is not None:
            pytest.skip(reason)
        async with HostAdapterRadio() as host_radio:
            yield host_radio
        return

    from ingest.virtual.link import VirtualRadio

    medium = VirtualRadio()
    try:
        yield medium
    finally:
        await medium.close()
