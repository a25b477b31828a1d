"""Logs for the report's tests: one with every event type, and the demo's."""

from __future__ import annotations

import json
from pathlib import Path

import trio
from click.testing import CliRunner

from memvisor._home import log_path
from memvisor.cli import cli
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
    open_sqlite_log,
)

AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
XSS = "</script><img src=x onerror=alert(1)><!--<script>"
"""Log text that would become markup if the report pasted it into the page."""


def _call(call_id: str, name: str, arguments: object) -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=call_id, name=name, arguments=text)


def every_event_log(agent: str = "ada", *, user_text: str = "Hi, I'm Priya.") -> list[Event]:
    """A well-ordered log holding every event type at least once (31 events)."""
    save = _call("c1", "core_memory_append", {"name": "human", "content": "Name: Priya."})
    reply = _call("c2", "send_message", {"message": "Hi Priya!"})
    timer = _call("c3", "set_timer", {"seconds": 60, "reason": "check the build"})
    pause = _call("c4", "pause_heartbeats", {"minutes": 5})
    broken = _call("c5", "no_such_function", "{not json")
    blocks = (BlockSpec(label="persona", value="I am Ada."), BlockSpec(label="human", limit=500))
    events: list[Event] = [
        AgentCreated(agent=agent, seq=1, at=AT, model="m", system="You are Ada.", blocks=blocks),
        SourceAttached(agent=agent, seq=2, at=AT, source="docs", passages=3),
        UserMessage(agent=agent, seq=3, at=AT + 1, text=user_text, name="priya"),
        LLMResponded(
            agent=agent,
            seq=4,
            at=AT + 2,
            cause=3,
            model="m",
            content="A new person: save her name.",
            tool_calls=(save,),
            usage=TokenUsage(prompt_tokens=900, completion_tokens=20),
            latency=0.5,
        ),
        ToolCalled(
            agent=agent,
            seq=5,
            at=AT + 2,
            cause=4,
            call_id="c1",
            name=save.name,
            arguments=save.arguments,
        ),
        CoreMemoryEdited(
            agent=agent,
            seq=6,
            at=AT + 2,
            cause=5,
            block="human",
            op="append",
            value="Name: Priya.",
        ),
        ToolReturned(
            agent=agent,
            seq=7,
            at=AT + 2,
            cause=5,
            call_id="c1",
            name=save.name,
            status="ok",
            content="Appended.",
            heartbeat=True,
        ),
        # No usage reported: the estimate stands in.
        LLMResponded(agent=agent, seq=8, at=AT + 3, cause=3, model="m", tool_calls=(reply,)),
        ToolCalled(
            agent=agent,
            seq=9,
            at=AT + 3,
            cause=8,
            call_id="c2",
            name=reply.name,
            arguments=reply.arguments,
        ),
        AssistantMessage(agent=agent, seq=10, at=AT + 3, cause=9, text="Hi Priya!"),
        ToolReturned(
            agent=agent,
            seq=11,
            at=AT + 3,
            cause=9,
            call_id="c2",
            name=reply.name,
            status="ok",
            content="Sent.",
        ),
        MemoryPressure(
            agent=agent, seq=12, at=AT + 3, cause=3, prompt_tokens=3100, context_window=8192
        ),
        ContextCompacted(
            agent=agent,
            seq=13,
            at=AT + 4,
            cause=3,
            through_seq=7,
            evicted=4,
            summary="Priya said hello.",
            tokens_before=7000,
            tokens_after=1200,
        ),
        ExternalEvent(
            agent=agent,
            seq=14,
            at=AT + 60,
            source="webhook",
            text="build failed",
            payload={"run": 42, "ok": False},
            key="k1",
        ),
        LLMResponded(
            agent=agent,
            seq=15,
            at=AT + 61,
            cause=14,
            model="m",
            tool_calls=(timer,),
            usage=TokenUsage(prompt_tokens=1500),
        ),
        ToolCalled(
            agent=agent,
            seq=16,
            at=AT + 61,
            cause=15,
            call_id="c3",
            name=timer.name,
            arguments=timer.arguments,
        ),
        TimerSet(
            agent=agent,
            seq=17,
            at=AT + 61,
            cause=16,
            timer_id="t1",
            due=AT + 121,
            text="check the build",
        ),
        ToolReturned(
            agent=agent,
            seq=18,
            at=AT + 61,
            cause=16,
            call_id="c3",
            name=timer.name,
            status="ok",
            content="Timer t1 set.",
        ),
        TimerFired(
            agent=agent, seq=19, at=AT + 121, cause=17, timer_id="t1", text="check the build"
        ),
        LLMResponded(
            agent=agent,
            seq=20,
            at=AT + 122,
            cause=19,
            model="m",
            tool_calls=(pause,),
            usage=TokenUsage(prompt_tokens=1600),
        ),
        ToolCalled(
            agent=agent,
            seq=21,
            at=AT + 122,
            cause=20,
            call_id="c4",
            name=pause.name,
            arguments=pause.arguments,
        ),
        HeartbeatsPaused(agent=agent, seq=22, at=AT + 122, cause=21, until=AT + 422),
        ToolReturned(
            agent=agent,
            seq=23,
            at=AT + 122,
            cause=21,
            call_id="c4",
            name=pause.name,
            status="ok",
            content="Paused.",
        ),
        TimerCancelled(agent=agent, seq=24, at=AT + 123, timer_id="t1"),
        AgentMessage(agent=agent, seq=25, at=AT + 200, sender="bob", text="ping", request_id="r1"),
        LLMResponded(
            agent=agent,
            seq=26,
            at=AT + 201,
            cause=25,
            model="m",
            tool_calls=(broken,),
            usage=TokenUsage(prompt_tokens=1700),
        ),
        ToolCalled(
            agent=agent,
            seq=27,
            at=AT + 201,
            cause=26,
            call_id="c5",
            name=broken.name,
            arguments=broken.arguments,
        ),
        ToolReturned(
            agent=agent,
            seq=28,
            at=AT + 201,
            cause=27,
            call_id="c5",
            name=broken.name,
            status="error",
            content="Unknown function.",
        ),
        StepLimited(agent=agent, seq=29, at=AT + 202, cause=25, steps=10),
        ErrorEvent(
            agent=agent,
            seq=30,
            at=AT + 203,
            cause=25,
            kind="llm_unreachable",
            message="connection refused",
        ),
        ContextRewound(agent=agent, seq=31, at=AT + 300, from_seq=25),
    ]
    return events


def write_log(home: Path, events: list[Event]) -> None:
    """Append ``events`` to the SQLite log of ``home`` (as ``memvisor`` lays it out)."""

    async def append() -> None:
        async with open_sqlite_log(log_path(home)) as log:
            await log.append(events)

    trio.run(append)


def demo_events(home: Path) -> list[Event]:
    """Run ``memvisor demo`` in ``home`` and return the demo agent's log."""
    result = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert result.exit_code == 0, result.output
    return read_log(home, "demo")


def read_log(home: Path, agent: str) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(log_path(home)) as log:
            return await log.read(agent)

    return trio.run(read)
