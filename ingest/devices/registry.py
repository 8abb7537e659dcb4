"""The one place device kinds are named: decoding, transport, scanning, recordings and the CLI
look kinds up here, by the name recordings and ``[[devices]]`` entries use.

Built-in kinds are found, not listed: every module of :mod:`ingest.devices` that defines
``DEVICE_KINDS`` contributes them, so adding a device is adding its module. A kind defined
elsewhere (a plug-in, a test) joins with :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from ingest.devices.kind import Advertisement, DeviceKind, Recognition
from ingest.errors import IngestError


class UnknownDeviceError(IngestError, LookupError):
    """No registered kind has this name."""


class _Registry:
    """Kinds by name, built-ins found on first use."""

    def __init__(self) -> None:
        self._kinds: dict[str, DeviceKind] | None = None

    def kinds(self) -> dict[str, DeviceKind]:
        if self._kinds is None:
            found: dict[str, DeviceKind] = {}
            for kind in _builtin_kinds():
                _add(found, kind)
            self._kinds = found
        return self._kinds


def _builtin_kinds() -> Iterable[DeviceKind]:
    package = importlib.import_module("ingest.devices")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"ingest.devices.{info.name}")
        yield from getattr(module, "DEVICE_KINDS", ())


def _add(kinds: dict[str, DeviceKind], kind: DeviceKind) -> None:
    if kind.name in kinds:
        raise IngestError(f"two device kinds are named {kind.name!r}")
    kinds[kind.name] = kind


_REGISTRY = _Registry()


def register(kind: DeviceKind) -> DeviceKind:
    """Make ``kind`` known by its name (for kinds outside ``ingest/devices``); returns it."""
    _add(_REGISTRY.kinds(), kind)
    return kind


def unregister(name: str) -> None:
    """Forget a kind added with :func:`register` (tests clean up with it)."""
    if _REGISTRY.kinds().pop(name, None) is None:
        raise UnknownDeviceError(f"no device kind named {name!r}")


def device_kinds() -> tuple[DeviceKind, ...]:
    """Every known kind, by name."""
    kinds = _REGISTRY.kinds()
    return tuple(kinds[name] for name in sorted(kinds))


def device_kind(name: str) -> DeviceKind:
    """The kind named ``name``; :class:`UnknownDeviceError` lists the known ones."""
    kind = _REGISTRY.kinds().get(name)
    if kind is None:
        known = ", ".join(k.name for k in device_kinds())
        raise UnknownDeviceError(f"unknown device profile {name!r} (known: {known})")
    return kind


def scan_service_uuids() -> list[str]:
    """Every service a known kind is recognised by: the scan filter."""
    return sorted({u for kind in device_kinds() for u in kind.gatt.services})


def match_advertisement(advertisement: Advertisement) -> DeviceKind | None:
    """The kind that recognises ``advertisement`` most surely (a Polar H10 also advertises the
    Heart Rate Service: the H10 kind's specific match beats the generic one), or None."""
    best, best_kind = Recognition.NO, None
    for kind in device_kinds():
        recognition = kind.recognises(advertisement)
        if recognition > best:
            best, best_kind = recognition, kind
    return best_kind
