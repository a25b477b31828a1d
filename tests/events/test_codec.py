"""The frame codec: decode(encode(e)) == e, and damage is always loud."""

from __future__ import annotations

import inspect
import typing
import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvisor._exceptions import EventDecodeError
from memvisor.events import EVENT_TYPES, Event, UserMessage, decode_event, encode_event, event_type

from .strategies import EVENT_CLASSES, any_event, event_of, json_values

EXPECTED_TAGS = frozenset(
    {
        "user_message",
        "external_event",
        "timer_fired",
        "agent_message",
        "llm_responded",
        "tool_called",
        "tool_returned",
        "assistant_message",
        "core_memory_edited",
        "context_compacted",
        "memory_pressure",
        "agent_created",
        "error",
    }
)


def _tag(cls: type[Event]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _frame(body: bytes) -> bytes:
    """A frame with a correct checksum around any body (the layout of ``_codec``)."""
    return body + zlib.crc32(body).to_bytes(4, "little")


# --- the vocabulary ---------------------------------------------------------------


def test_union_has_one_class_per_tag_and_every_expected_tag() -> None:
    tags = [_tag(cls) for cls in EVENT_CLASSES]
    assert len(set(tags)) == len(tags), "two event classes share a tag"
    assert set(tags) >= EXPECTED_TAGS, f"missing tags: {sorted(EXPECTED_TAGS - set(tags))}"
    assert set(tags) == EVENT_TYPES


def test_event_types_can_be_introspected() -> None:
    # Signatures (help(), IDEs, hypothesis' st.builds), type hints and
    # ``msgspec.structs.fields`` must work on the public classes, not only the
    # decoders that ``_codec`` builds at import time.
    for cls in EVENT_CLASSES:
        assert list(inspect.signature(cls).parameters) == list(cls.__struct_fields__)
        assert [f.name for f in msgspec.structs.fields(cls)] == list(cls.__struct_fields__)
        assert set(typing.get_type_hints(cls)) >= set(cls.__struct_fields__)


@given(any_event())
def test_event_type_is_the_tag_written_on_the_wire(event: Event) -> None:
    tag = event_type(event)
    assert tag == _tag(type(event))
    body = encode_event(event)[:-4]
    wire = msgspec.msgpack.decode(body)
    assert isinstance(wire, dict)
    assert wire["type"] == tag


# --- round trip -------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_tag)
@settings(max_examples=60)
@given(data=st.data())
def test_decode_of_encode_is_the_same_event_for_every_event_type(
    cls: type[Event], data: st.DataObject
) -> None:
    event = data.draw(event_of(cls))
    decoded = decode_event(encode_event(event))
    assert type(decoded) is cls
    assert decoded == event


@given(any_event())
def test_decode_accepts_bytes_bytearray_and_memoryview(event: Event) -> None:
    frame = encode_event(event)
    assert decode_event(bytearray(frame)) == event
    assert decode_event(memoryview(frame)) == event


# --- damage is always an EventDecodeError -------------------------------------------


@given(st.binary(max_size=300))
def test_garbage_bytes_raise_event_decode_error_only(data: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(data)


@given(st.binary(max_size=300))
def test_garbage_body_with_valid_checksum_raises_event_decode_error_only(body: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(_frame(body))


@given(json_values)
def test_msgpack_of_non_event_with_valid_checksum_raises_event_decode_error(
    value: object,
) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(_frame(msgspec.msgpack.encode(value)))


@pytest.mark.parametrize(
    "body",
    [
        msgspec.msgpack.encode({"type": "no_such_tag"}),
        msgspec.msgpack.encode({"type": "no_such_tag", "agent": "a", "seq": 1, "at": 0.0}),
        msgspec.msgpack.encode({"agent": "a", "seq": 1, "at": 0.0, "text": "untagged"}),
        # a known tag with a required field missing, or of the wrong type
        msgspec.msgpack.encode({"type": "user_message", "agent": "a", "seq": 1, "at": 0.0}),
        msgspec.msgpack.encode(
            {"type": "user_message", "agent": "a", "seq": "1", "at": 0.0, "text": "hi"}
        ),
        msgspec.msgpack.encode(
            {
                "type": "tool_returned",
                "agent": "a",
                "seq": 1,
                "at": 0.0,
                "call_id": "c",
                "name": "n",
                "status": "maybe",
                "content": "",
            }
        ),
        msgspec.msgpack.encode([1, 2, 3]),
        msgspec.msgpack.encode(None),
        # a valid event followed by trailing bytes inside the checksummed body
        encode_event(UserMessage(agent="a", seq=1, at=0.0, text="hi"))[:-4] + b"\x00",
        # nesting deep enough to exhaust a naive recursive decoder
        b"\x91" * 100_000 + b"\xc0",
        b"\x81\xa1k" * 100_000 + b"\xc0",
    ],
    ids=[
        "unknown-tag",
        "unknown-tag-with-base-fields",
        "untagged",
        "missing-field",
        "wrong-field-type",
        "literal-out-of-range",
        "array",
        "nil",
        "trailing-bytes",
        "deep-array",
        "deep-map",
    ],
)
def test_valid_checksum_around_a_non_event_raises_event_decode_error(body: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(_frame(body))


@settings(max_examples=50)
@given(any_event())
def test_every_strict_prefix_of_a_frame_raises_event_decode_error(event: Event) -> None:
    frame = encode_event(event)
    for n in range(len(frame)):
        with pytest.raises(EventDecodeError):
            decode_event(frame[:n])


@settings(max_examples=50)
@given(any_event())
def test_every_single_bit_flip_in_a_frame_raises_event_decode_error(event: Event) -> None:
    frame = encode_event(event)
    damaged = bytearray(frame)
    for i in range(len(frame)):
        for bit in range(8):
            damaged[i] ^= 1 << bit
            with pytest.raises(EventDecodeError):
                decode_event(damaged)
            damaged[i] ^= 1 << bit
    assert damaged == frame
