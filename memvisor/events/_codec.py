"""Events to bytes and back.

Frame layout (what the log stores and what travels between processes):

```
+------------------------------+-----------------------+
| msgpack of the tagged event  | CRC-32 of it, 4 bytes |
+------------------------------+-----------------------+
```

The checksum makes damage loud: a flipped bit or a cut-off frame is always an
:class:`EventDecodeError`, never a different event that happens to parse.
"""

from __future__ import annotations

import typing
import zlib

import msgspec

from .._exceptions import EventDecodeError
from ._types import Event

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)
_CRC_LEN = 4


def encode_event(event: Event) -> bytes:
    """Encode one event as a checksummed msgpack frame."""
    body = _encoder.encode(event)
    return body + zlib.crc32(body).to_bytes(_CRC_LEN, "little")


def decode_event(data: bytes | bytearray | memoryview) -> Event:
    """Decode one frame made by :func:`encode_event`.

    Raises:
        EventDecodeError: the bytes are damaged, truncated, foreign or not an
            event memvisor knows. No other exception escapes.
    """
    view = memoryview(data)
    if len(view) <= _CRC_LEN:
        raise EventDecodeError(f"not an event: {len(view)} bytes is too short for a frame")
    body = view[:-_CRC_LEN]
    if zlib.crc32(body) != int.from_bytes(view[-_CRC_LEN:], "little"):
        raise EventDecodeError("not an event: checksum mismatch (damaged or truncated data)")
    try:
        event: Event = _decoder.decode(body)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise EventDecodeError(f"not a valid event: {exc}") from None
    return event


EVENT_TYPES: frozenset[str] = frozenset(
    cls.__struct_config__.tag for cls in typing.get_args(Event)
)
"""Every event type tag, e.g. ``"user_message"``."""


def event_type(event: Event) -> str:
    """The stable snake_case tag of an event, e.g. ``"user_message"``."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]
