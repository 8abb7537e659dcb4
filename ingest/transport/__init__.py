"""Live BLE transport: scan, connect, start each profile, reconnect forever, report lost links.

Built on bleak and bleak-retry-connector; the bleak backend is injectable (``backend=``) so the
same code runs against BlueZ on a Raspberry Pi and against :mod:`ingest.virtual` in tests.
Device addresses never leave this package: everything it emits carries a pseudonymous device
id (:mod:`ingest.transport.identity`).
"""
