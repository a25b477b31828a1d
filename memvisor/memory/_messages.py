"""Chat messages, and how each logged event reads to the model.

``ChatMessage`` is LLM-neutral; the LLM client converts it to the OpenAI format.
This module is a leaf (the fold, the compiler and compaction all use it).

How events read, MemGPT-style: inputs are JSON in a ``user`` message, labelled
with their type and time, so the model can tell a person from a webhook::

    user_message     {"type":"user_message","message":"hi","name":"bob",
                      "time":"2025-01-01T00:00:00Z"}
    external_event   {"type":"external_event","source":"webhook","message":…,
                      "payload":{…},"time":…}
    timer_fired      {"type":"timer_fired","timer_id":"t-1","message":…,"time":…}
    agent_message    {"type":"agent_message","from":"grace","message":…,
                      "request_id":…,"in_reply_to":…,"time":…}
    memory_pressure  {"type":"system_alert","message":"Memory pressure: …","time":…}
    step_limited     {"type":"system_alert","message":"Your last turn was stopped …",…}

An ``llm_responded`` becomes an ``assistant`` message (content: the inner
thoughts; the tool calls as the model wrote them), a ``tool_returned`` a
``tool`` message ``{"status":"OK"|"Failed","message":…,"time":…}`` with the
call's id.

A tool result whose call is no longer in the context (evicted, or never there)
reads as a ``user`` message ``{"type":"function_result","function":…,"call_id":…,…}``
instead, because a ``tool`` message without its call is invalid for the API.

Invariants: rendering is a pure function of the event. Times are UTC ISO 8601
(never the machine's time zone) and JSON keys come in a fixed order, so the same
event reads the same on every machine, which keeps prompt hashes stable.
"""

import math
from datetime import UTC, datetime
from typing import Literal, assert_never

import msgspec

from ..events import (
    AgentMessage,
    ExternalEvent,
    LLMResponded,
    MemoryPressure,
    StepLimited,
    TimerFired,
    ToolCall,
    ToolReturned,
    UserMessage,
)

__all__ = [
    "PAYLOAD_MAX_CHARS",
    "ChatMessage",
    "InputEvent",
    "Role",
    "format_time",
    "orphan_result",
    "placeholder_result",
    "render_input",
    "render_response",
    "render_tool_result",
]

Role = Literal["system", "user", "assistant", "tool"]

PAYLOAD_MAX_CHARS = 4000
"""An external event's JSON payload longer than this is cut (the log keeps it whole)."""

InputEvent = UserMessage | ExternalEvent | TimerFired | AgentMessage | MemoryPressure | StepLimited
"""Events that reach the model as a ``user`` message."""


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One message of a compiled context, independent of any LLM provider."""

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    """For ``role="assistant"``: the function calls the model made."""
    tool_call_id: str | None = None
    """For ``role="tool"``: the call this message answers."""
    name: str | None = None
    """For ``role="tool"``: the function's name."""


# --- JSON bodies, in a fixed key order (tag first) ----------------------------------


class _Body(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    pass


class _UserBody(_Body, frozen=True, kw_only=True, tag="user_message"):
    message: str
    name: str | None = None
    time: str


class _ExternalBody(_Body, frozen=True, kw_only=True, tag="external_event"):
    source: str
    message: str = ""
    payload: object = None
    time: str


class _TimerBody(_Body, frozen=True, kw_only=True, tag="timer_fired"):
    timer_id: str
    message: str = ""
    time: str


class _AgentBody(_Body, frozen=True, kw_only=True, tag="agent_message", rename={"sender": "from"}):
    sender: str
    message: str
    request_id: str | None = None
    in_reply_to: str | None = None
    time: str


class _AlertBody(_Body, frozen=True, kw_only=True, tag="system_alert"):
    message: str
    time: str


class _ResultBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: Literal["OK", "Failed"]
    message: str
    time: str | None = None


class _OrphanBody(_Body, frozen=True, kw_only=True, tag="function_result"):
    function: str
    call_id: str
    status: Literal["OK", "Failed"]
    message: str
    time: str | None = None


_encoder = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(_ResultBody)


def _json(body: msgspec.Struct) -> str:
    return _encoder.encode(body).decode("utf-8")


def format_time(at: float) -> str:
    """``at`` (seconds since the epoch) in UTC ISO 8601, e.g. ``2025-01-01T00:00:00Z``.

    A time no calendar can show (far past or future) is written as the number.
    """
    try:
        return datetime.fromtimestamp(math.floor(at), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return repr(at)


def render_input(event: InputEvent) -> ChatMessage:
    """The ``user`` message an inbound event or a system alert becomes."""
    return ChatMessage(role="user", content=_json(_input_body(event)))


def _input_body(event: InputEvent) -> _Body:
    time = format_time(event.at)
    match event:
        case UserMessage():
            return _UserBody(message=event.text, name=event.name, time=time)
        case ExternalEvent():
            payload = _cut_payload(event.payload)
            return _ExternalBody(
                source=event.source, message=event.text, payload=payload, time=time
            )
        case TimerFired():
            return _TimerBody(timer_id=event.timer_id, message=event.text, time=time)
        case AgentMessage():
            return _AgentBody(
                sender=event.sender,
                message=event.text,
                request_id=event.request_id,
                in_reply_to=event.in_reply_to,
                time=time,
            )
        case MemoryPressure():
            return _AlertBody(message=_pressure_text(event), time=time)
        case StepLimited():
            return _AlertBody(message=_step_limit_text(event), time=time)
        case _:
            assert_never(event)


def _cut_payload(payload: object) -> object:
    text = _encoder.encode(payload).decode("utf-8")
    if len(text) <= PAYLOAD_MAX_CHARS:
        return payload
    return f"{text[:PAYLOAD_MAX_CHARS]}… [payload cut: {len(text):,} characters in all]"


def _pressure_text(event: MemoryPressure) -> str:
    percent = 100 * event.prompt_tokens // max(event.context_window, 1)
    return (
        f"Memory pressure: your context window is {percent}% full ({event.prompt_tokens:,}"
        f" of {event.context_window:,} tokens). The oldest messages will soon be moved out"
        " of it into recall memory and replaced by a summary. Save what matters now: key"
        " facts about the user or yourself with core_memory_append or core_memory_replace,"
        " anything else worth keeping with archival_memory_insert."
    )


def _step_limit_text(event: StepLimited) -> str:
    return (
        f"Your last turn was stopped after {event.steps} chained steps, the limit for one"
        " turn. If you were repeating yourself, take a different approach next time."
    )


def render_response(event: LLMResponded) -> ChatMessage | None:
    """The ``assistant`` message of a response, or ``None`` if it said and called nothing."""
    if not event.content and not event.tool_calls:
        return None
    return ChatMessage(role="assistant", content=event.content, tool_calls=event.tool_calls)


def render_tool_result(event: ToolReturned) -> ChatMessage:
    """The ``tool`` message answering ``event.call_id``."""
    body = _ResultBody(
        status="OK" if event.status == "ok" else "Failed",
        message=event.content,
        time=format_time(event.at),
    )
    return ChatMessage(
        role="tool", content=_json(body), tool_call_id=event.call_id, name=event.name
    )


def orphan_result(tool_message: ChatMessage) -> ChatMessage:
    """A ``tool`` message whose call is gone, re-read as a ``user`` message."""
    body = _result_decoder.decode(tool_message.content or "")
    orphan = _OrphanBody(
        function=tool_message.name or "",
        call_id=tool_message.tool_call_id or "",
        status=body.status,
        message=body.message,
        time=body.time,
    )
    return ChatMessage(role="user", content=_json(orphan))


def placeholder_result(call: ToolCall) -> ChatMessage:
    """The ``tool`` message standing in for a call whose result was never logged."""
    body = _ResultBody(status="Failed", message="No result was recorded for this call.")
    return ChatMessage(role="tool", content=_json(body), tool_call_id=call.id, name=call.name)
