"""A virtual radio that the host's own Bluetooth stack takes part in, through ``/dev/vhci``.

Opening ``/dev/vhci`` makes Linux create an HCI adapter whose "chip" is whatever answers on the
file: here a bumble Controller on the same ``LocalLink`` as the virtual peripherals. The kernel
and bluetoothd drive it as they would a USB dongle, so bleak's default BlueZ backend (over
D-Bus, no ``backend=``) connects to the virtual wearables. Used only inside the QEMU guest of
``make bluez-check`` (``scripts/bluez_guest.sh``); a development machine has no such stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from typing import Any

from bumble import core, hci
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.common import Transport
from bumble.transport.vhci import open_vhci_transport
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from ingest.virtual.link import VirtualRadio

__all__ = ["VHCI_PATH", "HostAdapterRadio", "RoutingLink", "host_stack_missing"]

VHCI_PATH = "/dev/vhci"
_BLUEZ = "org.bluez"
_ADAPTER = "org.bluez.Adapter1"
_ADAPTER_ADDRESS = "00:1B:DC:0F:00:01"  # public, so the kernel treats the adapter as configured
# One address space for a whole test session: BlueZ remembers devices by address, so a
# peripheral of one test must never reuse the address of another's.
_SESSION_SERIAL = itertools.count(1)


def host_stack_missing() -> str | None:
    """Why this machine cannot run a host-adapter radio, or None when it can."""
    if not os.path.exists(VHCI_PATH):
        return f"{VHCI_PATH} is absent (no hci_vhci): run `make bluez-check`"
    if not os.path.exists("/run/dbus/system_bus_socket"):
        return "no system D-Bus (so no bluetoothd): run `make bluez-check`"
    return None


class RoutingLink(LocalLink):
    """``LocalLink`` that sends ACL data from the address the link was made with.

    bumble stamps LE data with the sender's random address; a kernel central connects with its
    public one, so the peripheral, which keys the link by the initiator's address, would drop
    every packet. The connection knows the address it was made with: use it.
    """

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        connection = sender_controller.le_connections.get(destination_address)
        destination = self.find_le_controller(destination_address)
        if connection is None or destination is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        source = connection.self_address
        asyncio.get_running_loop().call_soon(destination.on_link_acl_data, source, transport, data)


class HostAdapterRadio(VirtualRadio):
    """A :class:`VirtualRadio` plus one Controller that the host's kernel drives as an adapter.

    Its backends are None: bleak then uses its platform default (BlueZ over D-Bus). Use as
    ``async with``; entering waits until BlueZ lists the adapter as powered.
    """

    def __init__(self, *, ready_timeout_s: float = 30.0) -> None:
        super().__init__()
        self.link = RoutingLink()  # type: ignore[no-untyped-call]
        self._serial = _SESSION_SERIAL
        self._ready_timeout_s = ready_timeout_s
        self._transport: Transport | None = None
        self.adapter_path: str | None = None
        self._refusal: str | None = None  # BlueZ's last refusal to power the adapter

    async def __aenter__(self) -> HostAdapterRadio:
        try:
            await self.open()
        except BaseException:
            # An adapter half set up (the vhci file open) would outlive this radio and stand in
            # the next one's way: close what was opened, then say why it failed.
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        known = set(await _adapters())
        transport = await open_vhci_transport(VHCI_PATH)
        self._transport = transport
        Controller(
            "host-adapter",
            host_source=transport.source,
            host_sink=transport.sink,
            link=self.link,
            public_address=_ADAPTER_ADDRESS,
        )
        try:
            await self._wait_powered(known)
        except TimeoutError as exc:
            raise TimeoutError(
                f"BlueZ did not power the virtual adapter within {self._ready_timeout_s:.0f} s"
                f" (last refusal: {self._refusal or 'none'})"
            ) from exc

    async def _wait_powered(self, known: set[str]) -> None:
        async with asyncio.timeout(self._ready_timeout_s):
            while True:
                adapters = await _adapters()
                new = [path for path in adapters if path not in known]
                if new:
                    self.adapter_path = new[0]
                    if adapters[new[0]]:
                        return
                    try:
                        await _power_on(new[0])
                    except RuntimeError as exc:
                        # BlueZ refuses Powered while the new controller is still being set
                        # up; ask again until the timeout, which names the last refusal.
                        self._refusal = str(exc)
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        await super().close()
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()
            # The kernel removes the adapter when the file closes; wait until BlueZ has.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ready_timeout_s):
                    while self.adapter_path in await _adapters():  # noqa: ASYNC110 (polls D-Bus)
                        await asyncio.sleep(0.1)

    def scanner_backend(self) -> None:  # type: ignore[override]
        return None

    def client_backend(self) -> None:  # type: ignore[override]
        return None


async def _call(bus: MessageBus, message: Message) -> Any:
    reply = await bus.call(message)
    if reply is None or reply.message_type == MessageType.ERROR:
        why = "no reply" if reply is None else f"{reply.error_name} {reply.body}"
        raise RuntimeError(f"D-Bus {message.member} failed: {why}")
    return reply.body


async def _adapters() -> dict[str, bool]:
    """BlueZ's adapters by object path (from its ObjectManager), with their Powered state;
    none while bluetoothd is still starting."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        (objects,) = await _call(
            bus,
            Message(
                destination=_BLUEZ,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            ),
        )
    except RuntimeError:
        return {}
    finally:
        bus.disconnect()
    return {
        path: bool(interfaces[_ADAPTER]["Powered"].value)
        for path, interfaces in objects.items()
        if _ADAPTER in interfaces
    }


async def _power_on(path: str) -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        await _call(
            bus,
            Message(
                destination=_BLUEZ,
                path=path,
                interface="org.freedesktop.DBus.Properties",
                member="Set",
                signature="ssv",
                body=[_ADAPTER, "Powered", Variant("b", True)],
            ),
        )
    finally:
        bus.disconnect()
