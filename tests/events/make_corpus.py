"""Add the example of every new event type to the compatibility corpus.

Run it from the project root after adding an event type::

    .venv/bin/python tests/events/make_corpus.py

It writes ``tests/events/corpus/v1.msgpack.jsonl``, one JSON line per event type:
``{"tag": ..., "hex": <encode_event(e).hex()>, "repr": <msgspec.json.encode(e)>}``.

Lines already in the file are kept byte for byte and never regenerated: they pin
the format events were written in, forever (see ``test_compat.py``). Only tags
missing from the file get a line. Each example sets every field, optional ones
included, to a value other than its default, so every field is on the wire.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import msgspec

from memvisor.events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    BlockSpec,
    ContextCompacted,
    ContextRewound,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    ExternalEvent,
    HeartbeatsPaused,
    LLMResponded,
    MemoryPressure,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    TokenUsage,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
    encode_event,
    event_type,
)

CORPUS = Path(__file__).parent / "corpus" / "v1.msgpack.jsonl"

_AT = 1_735_689_600.25  # 2025-01-01T00:00:00.25Z

EXAMPLES: list[Event] = [
    AgentCreated(
        agent="ada",
        seq=1,
        at=_AT,
        model="gpt-4o-mini",
        system="You are Ada, a helpful assistant with a long memory.",
        blocks=(
            BlockSpec(label="persona", value="I am Ada.", limit=1000, read_only=True),
            BlockSpec(label="team", value="We ship on Fridays.", limit=500, shared="team-notes"),
        ),
        context_window=32768,
        forked_from="grace@41",
    ),
    UserMessage(agent="ada", seq=2, at=_AT + 1, cause=1, text="Hi Ada, I'm Bob 👋", name="bob"),
    ExternalEvent(
        agent="ada",
        seq=3,
        at=_AT + 2,
        cause=2,
        source="webhook",
        text="build failed",
        payload={
            "build": 1234,
            "ok": False,
            "ratio": 0.5,
            "tags": ["ci", "main"],
            "nested": {"none": None, "neg": -7},
        },
        key="gh-delivery-7f3a",
    ),
    AgentMessage(
        agent="ada",
        seq=4,
        at=_AT + 3,
        cause=3,
        sender="grace",
        text="Can you check the build?",
        request_id="req-1",
        in_reply_to="req-0",
    ),
    TimerSet(
        agent="ada",
        seq=5,
        at=_AT + 4,
        cause=4,
        timer_id="t-1",
        due=_AT + 3600,
        every=86400.0,
        text="daily stand-up",
    ),
    TimerCancelled(agent="ada", seq=6, at=_AT + 5, cause=5, timer_id="t-1"),
    TimerFired(agent="ada", seq=7, at=_AT + 6, cause=5, timer_id="t-1", text="daily stand-up"),
    LLMResponded(
        agent="ada",
        seq=8,
        at=_AT + 7,
        cause=7,
        model="gpt-4o-mini",
        content="The user wants the build checked.",
        tool_calls=(
            ToolCall(
                id="call_1",
                name="send_message",
                arguments='{"message": "On it!", "request_heartbeat": true}',
            ),
            ToolCall(id="call_2", name="archival_memory_search", arguments='{"query": "build'),
        ),
        finish_reason="tool_calls",
        usage=TokenUsage(prompt_tokens=1200, completion_tokens=34, total_tokens=1234),
        prompt_hash="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        latency=0.875,
    ),
    ToolCalled(
        agent="ada",
        seq=9,
        at=_AT + 8,
        cause=8,
        call_id="call_1",
        name="send_message",
        arguments='{"message": "On it!", "request_heartbeat": true}',
    ),
    ToolReturned(
        agent="ada",
        seq=10,
        at=_AT + 9,
        cause=9,
        call_id="call_1",
        name="send_message",
        status="error",
        content="Error: recipient unreachable",
        heartbeat=True,
    ),
    AssistantMessage(agent="ada", seq=11, at=_AT + 10, cause=10, text="On it!", to="grace"),
    StepLimited(agent="ada", seq=12, at=_AT + 11, cause=2, steps=10),
    ErrorEvent(
        agent="ada",
        seq=13,
        at=_AT + 12,
        cause=12,
        kind="llm_unreachable",
        message="connection refused after 5 retries",
    ),
    CoreMemoryEdited(
        agent="ada",
        seq=14,
        at=_AT + 13,
        cause=10,
        block="team",
        op="append",
        value="We ship on Fridays.\nBob is on call.",
        origin="grace",
    ),
    MemoryPressure(
        agent="ada", seq=15, at=_AT + 14, cause=8, prompt_tokens=25000, context_window=32768
    ),
    ContextCompacted(
        agent="ada",
        seq=16,
        at=_AT + 15,
        cause=15,
        through_seq=9,
        evicted=6,
        summary="Bob asked Ada to check a failed build.",
        tokens_before=25000,
        tokens_after=9000,
    ),
    SourceAttached(agent="ada", seq=17, at=_AT + 16, cause=1, source="handbook-pdf"),
    HeartbeatsPaused(agent="ada", seq=18, at=_AT + 17, cause=12, until=_AT + 617),
    ContextRewound(agent="ada", seq=19, at=_AT + 18, cause=2, from_seq=12),
]


def _assert_fully_populated(event: Event) -> None:
    wire = msgspec.to_builtins(event)
    assert isinstance(wire, dict)
    missing = [name for name in type(event).__struct_fields__ if name not in wire]
    assert not missing, f"{event_type(event)}: set these fields to non-defaults: {missing}"


def main() -> None:
    """Append a line for every tag of the union that the corpus lacks."""
    lines = CORPUS.read_text().splitlines() if CORPUS.exists() else []
    have = {json.loads(line)["tag"] for line in lines}
    by_tag = {event_type(e): e for e in EXAMPLES}
    union_tags = [cls.__struct_config__.tag for cls in typing.get_args(Event)]
    missing_examples = [tag for tag in union_tags if tag not in by_tag]
    if missing_examples:
        raise SystemExit(f"add an example to EXAMPLES for: {missing_examples}")
    added = []
    for tag in union_tags:
        assert isinstance(tag, str)
        if tag in have:
            continue
        event = by_tag[tag]
        _assert_fully_populated(event)
        record = {
            "tag": tag,
            "hex": encode_event(event).hex(),
            "repr": msgspec.json.encode(event).decode(),
        }
        lines.append(json.dumps(record, ensure_ascii=False))
        added.append(tag)
    if added:
        CORPUS.parent.mkdir(parents=True, exist_ok=True)
        CORPUS.write_text("".join(line + "\n" for line in lines))
    print(f"{CORPUS}: added {added or 'nothing'}")


if __name__ == "__main__":
    main()
