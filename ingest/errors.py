"""The ingest package's exceptions: callers catch :class:`IngestError` and nothing broader."""


class IngestError(Exception):
    """Base class of everything the ingest package raises on purpose."""


class DecodeError(IngestError, ValueError):
    """A notification's bytes do not match its profile; the message says which field and why."""


class RecordingError(IngestError):
    """A recording file cannot be read or written as format v1 describes."""
