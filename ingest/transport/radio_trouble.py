"""What a Bluetooth failure says about the gateway's own radio, in words staff can act on.

Seen from a session, an absent adapter, a powered-off one, a stopped bluetoothd and a missing
system D-Bus all look like "connect failed", with messages such as "[Errno 2] No such file or
directory". These are the gateway's faults, not the sensor's, and the person helping a patient
on the phone needs to tell them apart. The session keeps retrying with backoff either way: an
adapter that appears, is powered on, or a BlueZ that restarts is picked up without a restart.
"""

from __future__ import annotations

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

__all__ = ["radio_trouble"]

_REASONS = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: "no Bluetooth adapter found",
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: "the Bluetooth adapter cannot scan BLE",
    BleakBluetoothNotAvailableReason.POWERED_OFF: (
        "the Bluetooth adapter is powered off (`bluetoothctl power on`; check `rfkill list`)"
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM: (
        "BlueZ refused this user (is it in the `bluetooth` group?)"
    ),
}

#: Substrings of D-Bus errors, and what they mean here.
_DBUS = (
    ("org.freedesktop.DBus.Error.ServiceUnknown", "bluetoothd is not running (BlueZ)"),
    ("org.bluez.Error.NotReady", "the Bluetooth adapter is not ready (powered off?)"),
    ("org.freedesktop.DBus.Error.AccessDenied", "BlueZ refused this user (`bluetooth` group?)"),
    ("system_bus_socket", "no system D-Bus (is dbus running?)"),
)


def radio_trouble(exc: BaseException) -> str | None:
    """A sentence when ``exc`` is about the gateway's radio or BlueZ; None when it is not."""
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return _REASONS.get(exc.reason, f"Bluetooth not available: {exc.args[0]}")
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError) and not _about_a_file(exc):
        return "BlueZ unreachable: no system D-Bus (is dbus running?)"
    text = " ".join(str(arg) for arg in exc.args)
    return next((meaning for marker, meaning in _DBUS if marker in text), None)


def _about_a_file(exc: OSError) -> bool:
    """An OSError naming a path other than the bus's socket is about that file, not BlueZ."""
    return exc.filename is not None and "bus" not in str(exc.filename)
