"""The stream package's exceptions: one hierarchy at the package boundary."""


class StreamError(Exception):
    """Base class of everything the stream package raises on purpose."""


class SchemaError(StreamError, ValueError):
    """Bytes that are not a valid event of a supported schema version; the message says why."""


class BrokerError(StreamError):
    """The embedded broker could not be started, reached or stopped."""


class ConfigurationError(StreamError, ValueError):
    """Kafka settings that cannot work (for example SASL without a mechanism)."""


class BrokerTimeoutError(StreamError, TimeoutError):
    """A broker call did not complete within its bound (stream.timeouts); the message says
    which call and how long it waited."""
