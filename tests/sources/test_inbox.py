"""The inbox: durable at once, in the agent's log exactly once, bounded, across restarts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import pytest

from memvisor import LogError
from memvisor.actors import open_runtime
from memvisor.agent import spawn_agent
from memvisor.events import (
    AgentCreated,
    AssistantMessage,
    Event,
    EventLog,
    ExternalEvent,
    MemoryEventLog,
)
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM, reply_with_call
from memvisor.sources import Accepted, Duplicate, UnknownAgent
from memvisor.sources._inbox import Inbox, LogOutbox

pytestmark = pytest.mark.anyio

T0 = 1_735_689_600.0


def event(text: str, key: str | None = None) -> ExternalEvent:
    return ExternalEvent(agent="", seq=0, at=0.0, source="webhook", text=text, key=key)


def echo(request: LLMRequest) -> LLMResponse:
    last = request.messages[-1].content or ""
    text = json.loads(last).get("message", "?") if last.startswith("{") else "?"
    return reply_with_call("send_message", json.dumps({"message": f"got {text}"}))


@asynccontextmanager
async def hosted(
    inbox_log: EventLog, agent_log: EventLog
) -> AsyncIterator[tuple[Inbox, LogOutbox]]:
    if not await agent_log.last_seq("desk"):
        await agent_log.append([AgentCreated(agent="desk", seq=1, at=T0, model="m")])
    outbox = LogOutbox(agent_log, ["desk"])
    async with open_runtime() as runtime, anyio.create_task_group() as tg:
        ref = spawn_agent(
            runtime, "desk", log=agent_log, llm=ScriptedLLM(echo), observe=outbox.said
        )
        inbox = await Inbox.open(inbox_log, ["desk"], now=runtime.clock.now)
        await tg.start(inbox.pump, "desk", ref, agent_log)
        yield inbox, outbox
        tg.cancel_scope.cancel()


async def settled(agent_log: EventLog, count: int) -> list[ExternalEvent]:
    with anyio.fail_after(10):
        while True:
            logged = [e for e in await agent_log.read("desk") if isinstance(e, ExternalEvent)]
            if len(logged) >= count:
                return logged
            await anyio.sleep(0.01)


async def test_each_accepted_event_is_logged_by_the_agent_exactly_once() -> None:
    inbox_log, agent_log = MemoryEventLog(), MemoryEventLog()
    async with hosted(inbox_log, agent_log) as (inbox, outbox):
        answers = [await inbox.deliver("desk", event(f"e{i}", key=f"k{i % 7}")) for i in range(20)]
        assert sum(isinstance(a, Accepted) for a in answers) == 7
        assert all(isinstance(a, Duplicate) for a in answers[7:])
        assert answers[7] == Duplicate(id=1)
        logged = await settled(agent_log, 7)
        replies = await outbox.replies("desk", after=0, wait=5)
    assert [e.inbox for e in logged] == list(range(1, 8))
    assert [e.text for e in logged] == [f"e{i}" for i in range(7)]
    assert replies is not None
    assert replies[0].text.startswith("got e")  # events that waited share a turn


async def test_a_restart_forwards_only_what_the_agent_has_not_logged() -> None:
    inbox_log, agent_log = MemoryEventLog(), MemoryEventLog()
    async with hosted(inbox_log, agent_log) as (inbox, _):
        for i in range(3):
            await inbox.deliver("desk", event(f"before {i}", key=f"b{i}"))
        await settled(agent_log, 3)
    # Accepted while no pump runs (the host is down between accept and forward):
    await inbox_log.append(
        [ExternalEvent(agent="desk", seq=4, at=T0, source="webhook", text="late", inbox=4)]
    )
    async with hosted(inbox_log, agent_log) as (inbox, _):
        again = await inbox.deliver("desk", event("before 0 again", key="b0"))
        assert again == Duplicate(id=1)  # keys survive the restart
        logged = await settled(agent_log, 4)
    assert [e.inbox for e in logged] == [1, 2, 3, 4]


async def test_a_full_inbox_answers_busy_and_an_unknown_agent_is_named() -> None:
    inbox_log = MemoryEventLog()
    async with open_runtime() as runtime:
        inbox = await Inbox.open(inbox_log, ["desk"], now=runtime.clock.now, capacity=3)
        answers = [await inbox.deliver("desk", event(str(i))) for i in range(5)]
        unknown = await inbox.deliver("nobody", event("x"))
    assert [type(a).__name__ for a in answers] == ["Accepted"] * 3 + ["Busy"] * 2
    assert inbox.backlog("desk") == 3
    assert isinstance(unknown, UnknownAgent)
    assert len(await inbox_log.read("desk")) == 3


async def test_the_outbox_waits_for_a_reply_and_ignores_messages_to_agents() -> None:
    log = MemoryEventLog()
    await log.append([AgentCreated(agent="desk", seq=1, at=T0)])
    outbox = LogOutbox(log, ["desk"])
    assert await outbox.replies("nobody", after=0, wait=0) is None
    assert await outbox.replies("desk", after=0, wait=0) == ()
    async with anyio.create_task_group() as tg:

        async def speak() -> None:
            await anyio.sleep(0.05)
            to_agent = AssistantMessage(agent="desk", seq=2, at=T0, text="psst", to="bob")
            said = AssistantMessage(agent="desk", seq=3, at=T0, text="hello")
            await log.append([to_agent, said])
            outbox.said(to_agent)
            outbox.said(said)

        tg.start_soon(speak)
        found = await outbox.replies("desk", after=0, wait=5)
    assert found is not None
    assert [m.text for m in found] == ["hello"]


async def test_events_that_waited_are_taken_in_one_turn() -> None:
    inbox_log, agent_log = MemoryEventLog(), MemoryEventLog()
    await inbox_log.append(
        [
            ExternalEvent(agent="desk", seq=i, at=T0, source="webhook", text=f"w{i}", inbox=i)
            for i in range(1, 11)
        ]
    )
    async with hosted(inbox_log, agent_log):
        logged = await settled(agent_log, 10)
        with anyio.fail_after(10):
            while True:
                if any(isinstance(e, AssistantMessage) for e in await agent_log.read("desk")):
                    break
                await anyio.sleep(0.01)
    assert [e.inbox for e in logged] == list(range(1, 11))
    steps = [e for e in await agent_log.read("desk") if type(e).__name__ == "LLMResponded"]
    assert len(steps) == 1  # the ten events share one turn


class _Hanging(MemoryEventLog):
    """A log whose appends are written, then wait (a commit whose caller went away)."""

    hang = True

    async def append(self, events: Sequence[Event]) -> None:
        await super().append(events)
        if self.hang:
            await anyio.sleep_forever()


class _Failing(MemoryEventLog):
    """A log that refuses the next append."""

    fail = True

    async def append(self, events: Sequence[Event]) -> None:
        if self.fail:
            self.fail = False
            raise LogError("disk full")
        await super().append(events)


async def test_a_cancelled_delivery_keeps_its_key_and_a_failed_one_frees_it() -> None:
    hanging = _Hanging()
    inbox = await Inbox.open(hanging, ["desk"], now=lambda: 0.0)
    with anyio.move_on_after(0.1):
        await inbox.deliver("desk", event("ticket", key="k1"))  # cancelled after the write
    hanging.hang = False
    assert isinstance(await inbox.deliver("desk", event("ticket", key="k1")), Duplicate)
    assert len(await hanging.read("desk")) == 1

    failing = _Failing()
    inbox = await Inbox.open(failing, ["desk"], now=lambda: 0.0)
    with pytest.raises(LogError):
        await inbox.deliver("desk", event("ticket", key="k1"))
    assert isinstance(await inbox.deliver("desk", event("ticket", key="k1")), Accepted)
    assert len(await failing.read("desk")) == 1
