"""Virtual BLE for tests and demos: real GATT over an in-process radio, no hardware.

Everything here needs the optional ``bumble`` dependency (the ``dev`` extra), so nothing
outside this package and the tests imports it at module level; callers import it lazily.
A :class:`~ingest.virtual.link.VirtualRadio` owns one simulated medium; its bleak backends
(``radio.scanner_backend()``, ``radio.client_backend()``) let the unmodified bleak client
talk to the peripherals in :mod:`ingest.virtual.peripherals`. In ``make bluez-check``'s guest,
:class:`~ingest.virtual.host_adapter.HostAdapterRadio` puts the host's BlueZ on the same medium.
"""
