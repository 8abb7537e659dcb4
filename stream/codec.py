"""Wire format: UTF-8 JSON, one event per Kafka message, validated in both directions.

JSON keeps messages readable with any Kafka tool; msgspec keeps validation cheap enough to run on
every produce and every consume. Validation on produce is a round trip through the same decoder
consumers use, so a message that leaves a producer is one every consumer accepts.
"""

from __future__ import annotations

import msgspec

from stream.errors import SchemaError
from stream.events import EVENT_TYPES, AnyEvent, Event, event_type_name

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)

#: Schema versions each event type's consumers accept, by wire tag.
SUPPORTED_VERSIONS: dict[str, frozenset[int]] = {
    event_type_name(t): frozenset({t.SCHEMA_VERSION}) for t in EVENT_TYPES
}


def decode_event(data: bytes) -> AnyEvent:
    """Parse and validate one message; raise :class:`SchemaError` saying what is wrong."""
    try:
        event = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise SchemaError(f"invalid event: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise SchemaError(f"not a JSON event: {exc}") from exc
    type_name = event_type_name(type(event))
    if event.schema_version not in SUPPORTED_VERSIONS[type_name]:
        supported = sorted(SUPPORTED_VERSIONS[type_name])
        raise SchemaError(
            f"unsupported schema_version {event.schema_version} for {type_name}"
            f" (supported: {supported})"
        )
    return event


def encode_event(event: Event) -> bytes:
    """Serialise an event, refusing one that its consumers would reject."""
    if event.schema_version != type(event).SCHEMA_VERSION:
        raise SchemaError(
            f"{event_type_name(type(event))} must be produced at schema_version"
            f" {type(event).SCHEMA_VERSION}, not {event.schema_version}"
        )
    data = _encoder.encode(event)
    decode_event(data)
    return data


def to_builtins(event: Event) -> dict[str, object]:
    """The event as plain JSON-compatible values (for docs, logs and summaries)."""
    value = msgspec.to_builtins(event)
    assert isinstance(value, dict)
    return value
