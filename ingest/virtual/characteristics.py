"""GATT characteristic shorthands shared by the virtual peripherals."""

from __future__ import annotations

from typing import Any

from bumble import gatt

from ingest.virtual.link import gatt_uuid

READ, NOTIFY = gatt.Characteristic.Properties.READ, gatt.Characteristic.Properties.NOTIFY
WRITE, INDICATE = gatt.Characteristic.Properties.WRITE, gatt.Characteristic.Properties.INDICATE
WRITE_NO_RESPONSE = gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE
READABLE, WRITEABLE = gatt.Characteristic.READABLE, gatt.Characteristic.WRITEABLE


def characteristic(
    uuid: str, properties: int, value: Any = b"", permissions: int = 0
) -> gatt.Characteristic[Any]:
    """A characteristic from a 16-bit or 128-bit UUID string and plain property bits."""
    return gatt.Characteristic(
        gatt_uuid(uuid),
        gatt.Characteristic.Properties(properties),
        gatt.Characteristic.Permissions(permissions),
        value,
    )
