"""Wearable ingest: device profiles, BLE transport, clock alignment, recording and replay.

Live and replayed data meet at one type, :class:`ingest.notification.Notification`: whatever
produced the bytes, the same decoders turn them into timed samples.
"""

from ingest.errors import DecodeError, IngestError, RecordingError
from ingest.notification import Notification

__all__ = ["DecodeError", "IngestError", "Notification", "RecordingError"]
