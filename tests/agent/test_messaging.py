"""Agents talking to each other: tell, ask (answer, timeout, late answer), broadcast,
refusals, an ask cycle through full mailboxes, and a rumour through 100 agents."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import anyio
import pytest
import trio
import trio.testing

from memvisor.actors import ActorRef, Runtime, open_runtime
from memvisor.agent import (
    AgentConfig,
    AgentDirectory,
    AgentRequest,
    Deliver,
    ToolContext,
    ToolResult,
    Turn,
    TurnReport,
    advance,
    answered_ask,
    builtin_registry,
    no_archival,
    outgoing,
    run_call,
    spawn_agent,
)
from memvisor.agent._builtins import MAX_LISTED_AGENTS
from memvisor.agent._tools import ToolLimits
from memvisor.events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    Event,
    EventLog,
    MemoryEventLog,
    TimerCancelled,
    TimerFired,
    TimerSet,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
    event_type,
)
from memvisor.llm import LLMClient, LLMRequest, LLMResponse, ScriptedLLM, reply_with_text
from memvisor.llm._functions import CallRejected, ParsedCall
from memvisor.memory import AgentState, fold, fold_all

from ..actors._support import wait_until

pytestmark = pytest.mark.anyio

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
GUARD = 60.0
"""Seconds a test may wait for its agents before it fails: a guard against a hang
(in virtual time: a deadlock), never a speed assertion."""

Policy = Callable[[str, LLMRequest], LLMResponse]
"""Plays the model of the named agent."""


# --- the model's side ---------------------------------------------------------------------


def heard(request: LLMRequest) -> dict[str, object]:
    """What woke the agent: the JSON of the last input, or ``{}`` after a tool result."""
    message = request.messages[-1]
    if message.role != "user" or not message.content:
        return {}
    body: dict[str, object] = json.loads(message.content)
    return body


def calls(*made: tuple[str, Mapping[str, object]]) -> LLMResponse:
    """A response making each call in turn."""
    return LLMResponse(
        tool_calls=tuple(
            ToolCall(id=f"c{i}", name=name, arguments=json.dumps(arguments))
            for i, (name, arguments) in enumerate(made)
        )
    )


def tell(agent: str, message: str) -> tuple[str, Mapping[str, object]]:
    return (
        "send_message_to_agent",
        {"agent": agent, "message": message, "request_heartbeat": False},
    )


def ask(agent: str, message: str, timeout: float) -> tuple[str, Mapping[str, object]]:
    return ("ask_agent", {"agent": agent, "message": message, "timeout_seconds": timeout})


def say(message: str) -> tuple[str, Mapping[str, object]]:
    return ("send_message", {"message": message})


class SlowLLM:
    """A model that takes ``delay`` seconds (runtime clock) to answer."""

    def __init__(self, inner: LLMClient, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def complete(self, request: LLMRequest) -> LLMResponse:
        await anyio.sleep(self.delay)
        return await self.inner.complete(request)


# --- a population -------------------------------------------------------------------------


class Watch:
    """The observer of every agent: collects what they log, wakes waiting tests."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.runtime: Runtime | None = None
        self.peak_overflow = 0
        """The most messages seen waiting for room in a mailbox (``deliver_soon``)."""
        self._changed = anyio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if self.runtime is not None:
            overflow = self.runtime.statistics().overflow
            self.peak_overflow = max(self.peak_overflow, overflow)
        self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()
            self._changed = anyio.Event()


@dataclass
class World:
    runtime: Runtime
    log: EventLog
    directory: AgentDirectory
    watch: Watch
    agents: dict[str, ActorRef[AgentRequest, TurnReport]]

    async def events(self, name: str) -> list[Event]:
        return await self.log.read(name)

    async def of(self, name: str, kind: type[Event]) -> list[Event]:
        return [e for e in await self.log.read(name) if isinstance(e, kind)]


@asynccontextmanager
async def population(
    tags: Mapping[str, Sequence[str]],
    policy: Policy,
    *,
    mailbox_size: int = 64,
    slow: Mapping[str, float] | None = None,
    record: bool = True,
) -> AsyncIterator[World]:
    """Agents named by ``tags``' keys, created with those tags, played by ``policy``."""
    log = MemoryEventLog()
    for name, labels in tags.items():
        await log.append([created(name, tuple(labels))])
    watch = Watch()
    async with open_runtime(clock_start=T0, mailbox_size=mailbox_size) as runtime:
        watch.runtime = runtime
        directory = AgentDirectory(runtime)
        agents: dict[str, ActorRef[AgentRequest, TurnReport]] = {}
        for name in tags:
            llm: LLMClient = ScriptedLLM(partial(policy, name), record=record)
            if slow and name in slow:
                llm = SlowLLM(llm, slow[name])
            agents[name] = spawn_agent(
                runtime,
                name,
                log=log,
                llm=llm,
                config=AgentConfig(model="scripted"),
                observe=watch,
                directory=directory,
            )
        yield World(runtime, log, directory, watch, agents)


def created(name: str, tags: tuple[str, ...] = ()) -> AgentCreated:
    return AgentCreated(
        agent=name, seq=1, at=T0, model="scripted", system=f"You are {name}.", tags=tags
    )


def user(text: str) -> Deliver:
    return Deliver(event=UserMessage(agent="", seq=0, at=0.0, text=text))


def to_user(events: Sequence[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, AssistantMessage) and e.to is None]


def run_virtual(main: Callable[[], object]) -> None:
    async def guarded() -> None:
        with anyio.fail_after(30 * 86_400):  # virtual: only a deadlock gets this far
            await main()  # type: ignore[misc]

    trio.run(guarded, clock=trio.testing.MockClock(autojump_threshold=0))


# --- tell ---------------------------------------------------------------------------------


async def test_a_message_to_another_agent_is_in_both_logs_with_the_senders_seq_as_cause() -> None:
    def policy(name: str, request: LLMRequest) -> LLMResponse:
        if name == "ada" and heard(request).get("type") == "user_message":
            return calls(tell("bob", "The meeting moved to 3pm."))
        return reply_with_text("Noted.")

    async with population({"ada": (), "bob": ()}, policy) as world:
        report = await world.agents["ada"].ask(user("Tell Bob the meeting moved."))
        with anyio.fail_after(GUARD):
            await world.watch.until(
                lambda: any(isinstance(e, AgentMessage) for e in world.watch.events)
            )
        (sent,) = await world.of("ada", AssistantMessage)
        (received,) = await world.of("bob", AgentMessage)
    assert report.replies == ()  # nothing was said to the user
    assert isinstance(sent, AssistantMessage)
    assert (sent.to, sent.text, sent.request_id) == ("bob", "The meeting moved to 3pm.", None)
    assert isinstance(received, AgentMessage)
    assert received.sender == "ada"
    assert received.text == sent.text
    assert received.cause == sent.seq
    assert (received.request_id, received.in_reply_to) == (None, None)
    returned = next(e for e in report.events if isinstance(e, ToolReturned))
    assert (returned.status, returned.content) == ("ok", "Sent to bob.")


# --- ask ----------------------------------------------------------------------------------


def answering_policy(name: str, request: LLMRequest) -> LLMResponse:
    """ada asks bob when the user says so and tells the user the answer; bob answers."""
    got = heard(request)
    if name == "ada" and got.get("type") == "user_message":
        return calls(ask("bob", "What is 6 times 7?", timeout=60))
    if got.get("in_reply_to"):
        return calls(say(f"Bob says {got['message']}."))
    if got.get("type") == "timer_fired":
        return calls(say("Bob did not answer in time."))
    if got.get("request_id"):
        return calls(say("42"))
    return reply_with_text("Nothing to do.")


async def test_an_ask_ends_the_turn_and_the_answer_wakes_the_asker() -> None:
    async with population({"ada": (), "bob": ()}, answering_policy) as world:
        first = await world.agents["ada"].ask(user("Ask Bob what 6 times 7 is."))
        with anyio.fail_after(GUARD):
            await world.watch.until(
                lambda: to_user([e for e in world.watch.events if e.agent == "ada"]) != []
            )
        ada = await world.events("ada")
        bob = await world.events("bob")
    # The ask's turn yielded after the call: one step, and the call did not chain.
    assert [event_type(e) for e in first.events][-4:] == [
        "tool_called",
        "assistant_message",
        "timer_set",
        "tool_returned",
    ]
    asked = next(e for e in ada if isinstance(e, AssistantMessage))
    assert asked.to == "bob"
    request_id = asked.request_id
    assert request_id is not None
    timer = next(e for e in ada if isinstance(e, TimerSet))
    assert timer.timer_id == request_id
    assert timer.due == pytest.approx(asked.at + 60)
    # bob logged the ask with ada's seq, and answered it through send_message.
    question = next(e for e in bob if isinstance(e, AgentMessage))
    assert (question.sender, question.cause, question.request_id) == ("ada", asked.seq, request_id)
    answer = next(e for e in bob if isinstance(e, AssistantMessage))
    assert (answer.to, answer.text, answer.request_id) == ("ada", "42", None)
    assert to_user(bob) == []
    # ada was woken by the answer, cancelled the timeout, and told the user.
    reply = next(e for e in ada if isinstance(e, AgentMessage))
    assert (reply.sender, reply.cause, reply.in_reply_to) == ("bob", answer.seq, request_id)
    cancelled = ada[ada.index(reply) + 1]
    assert isinstance(cancelled, TimerCancelled)
    assert (cancelled.timer_id, cancelled.cause) == (request_id, reply.seq)
    assert to_user(ada) == ["Bob says 42."]
    assert fold_all(ada).timers == ()
    assert not any(isinstance(e, TimerFired) for e in ada)


def test_an_ask_times_out_as_a_timer_and_a_late_answer_still_arrives() -> None:
    async def main() -> None:
        # bob's model takes two minutes; ada waits one.
        slow = {"bob": 120.0}
        async with population({"ada": (), "bob": ()}, answering_policy, slow=slow) as world:
            await world.agents["ada"].ask(user("Ask Bob what 6 times 7 is."))
            await world.watch.until(
                lambda: len(to_user([e for e in world.watch.events if e.agent == "ada"])) == 2
            )
            ada = await world.events("ada")
        fired = next(e for e in ada if isinstance(e, TimerFired))
        assert fired.timer_id.startswith("ask-")
        assert "timed out" in fired.text
        assert "bob" in fired.text
        assert fired.at == pytest.approx(T0 + 60, abs=1)
        late = next(e for e in ada if isinstance(e, AgentMessage))
        assert late.in_reply_to == fired.timer_id
        assert late.at == pytest.approx(T0 + 120, abs=1)
        assert ada.index(fired) < ada.index(late)
        assert not any(isinstance(e, TimerCancelled) for e in ada)  # nothing left to cancel
        assert to_user(ada) == ["Bob did not answer in time.", "Bob says 42."]

    run_virtual(main)


# --- broadcast ----------------------------------------------------------------------------


async def test_broadcast_reaches_every_other_agent_with_the_tag() -> None:
    tags = {
        "ada": ("support",),
        "bob": ("support", "books"),
        "cyd": ("sales",),
        "dan": ("support",),
    }

    def policy(name: str, request: LLMRequest) -> LLMResponse:
        if name == "ada" and heard(request).get("type") == "user_message":
            return calls(("broadcast", {"tag": "support", "message": "Stand-up in 5 minutes."}))
        return reply_with_text("Noted.")

    async with population(tags, policy) as world:
        # Each agent registers its tags from its agent_created when it starts.
        with anyio.fail_after(GUARD):
            await wait_until(lambda: world.directory.tagged("support") == ["ada", "bob", "dan"])
        assert world.directory.tagged("books") == ["bob"]
        report = await world.agents["ada"].ask(user("Tell the support team."))
        with anyio.fail_after(GUARD):
            await world.watch.until(
                lambda: sum(isinstance(e, AgentMessage) for e in world.watch.events) == 2
            )
        sent = await world.of("ada", AssistantMessage)
        received = {name: await world.of(name, AgentMessage) for name in ("bob", "cyd", "dan")}
    assert [(e.to, e.text) for e in sent if isinstance(e, AssistantMessage)] == [
        ("bob", "Stand-up in 5 minutes."),
        ("dan", "Stand-up in 5 minutes."),
    ]
    assert received["cyd"] == []
    for recipient, sent_to in zip(("bob", "dan"), sent, strict=True):
        (message,) = received[recipient]
        assert isinstance(message, AgentMessage)
        assert (message.sender, message.cause) == ("ada", sent_to.seq)
    returned = next(e for e in report.events if isinstance(e, ToolReturned))
    assert returned.content == "Sent to 2 agents tagged 'support': bob, dan."


# --- refusals -----------------------------------------------------------------------------


async def test_an_unknown_agent_or_tag_is_a_failed_call_that_lists_the_agents() -> None:
    def policy(name: str, request: LLMRequest) -> LLMResponse:
        step = sum(m.role == "tool" for m in request.messages)
        moves = [
            calls(tell("zed", "Hello?")),
            calls(
                ("broadcast", {"tag": "nobody", "message": "Hi all", "request_heartbeat": False})
            ),
            calls(ask("ada", "Talking to myself?", timeout=10)),
        ]
        return moves[step] if step < len(moves) else reply_with_text("I see who is here.")

    async with population({"ada": (), "bob": (), "cyd": ()}, policy) as world:
        report = await world.agents["ada"].ask(user("Write to Zed."))
        ada = await world.events("ada")
    results = [e for e in report.events if isinstance(e, ToolReturned)]
    assert [r.status for r in results] == ["error", "error", "error"]
    assert "no agent named 'zed'" in results[0].content
    assert "No other agent has the tag 'nobody'" in results[1].content
    assert "'ada' is you" in results[2].content
    for result in results:
        assert "The agents you can write to: bob, cyd." in result.content
    assert not any(isinstance(e, AssistantMessage | TimerSet) for e in ada)


# --- cycles and populations ---------------------------------------------------------------

ROUNDS = 5


def test_two_agents_asking_each_other_through_full_mailboxes_do_not_deadlock() -> None:
    """ada asks bob while bob asks ada, round after round, each time with two notes
    besides, and every mailbox holds one message: the notes and asks overflow the
    mailboxes, yet delivery never waits for room, so neither loop blocks on the other."""

    def policy(name: str, request: LLMRequest) -> LLMResponse:
        other = "bob" if name == "ada" else "ada"
        got = heard(request)
        answers = sum(
            '"in_reply_to"' in (m.content or "") for m in request.messages if m.role == "user"
        )
        burst = (tell(other, "Note one."), tell(other, "Note two."))
        if got.get("type") == "user_message":
            return calls(*burst, ask(other, "Round 1?", timeout=600))
        if got.get("in_reply_to"):
            if answers < ROUNDS:
                return calls(*burst, ask(other, f"Round {answers + 1}?", timeout=600))
            return calls(say("All rounds answered."))
        if got.get("request_id"):
            return calls(say(f"Yes to {got['message']}"))
        return reply_with_text("A note.")

    async def main() -> None:
        async with population({"ada": (), "bob": ()}, policy, mailbox_size=1) as world:
            async with anyio.create_task_group() as tg:
                tg.start_soon(world.agents["ada"].tell, user("Start asking Bob."))
                tg.start_soon(world.agents["bob"].tell, user("Start asking Ada."))
            await world.watch.until(
                lambda: len(to_user(world.watch.events)) == 2  # both are done
            )
            logs = {name: await world.events(name) for name in ("ada", "bob")}
        assert world.watch.peak_overflow > 0  # the mailboxes did fill up
        for name, events in logs.items():
            asks = [e for e in events if isinstance(e, AssistantMessage) and e.request_id]
            answers = [e for e in events if isinstance(e, AgentMessage) and e.in_reply_to]
            notes = [
                e for e in events if isinstance(e, AgentMessage) and e.text.startswith("Note")
            ]
            assert len(asks) == len(answers) == ROUNDS, name
            assert len(notes) == 2 * ROUNDS, name
            assert {a.in_reply_to for a in answers} == {a.request_id for a in asks}
            assert not any(isinstance(e, TimerFired) for e in events), name  # none waited
            assert fold_all(events).timers == ()
        assert anyio.current_time() < 600  # virtual: no timeout was needed to break a cycle

    run_virtual(main)


FACT = "The library opens a new wing on Friday."
AGENTS = 100
FANOUT = 3


async def test_a_rumour_told_to_one_agent_reaches_all_hundred(rng: random.Random) -> None:
    """Each agent that hears the fact tells 3 others, drawn at random (seeded) so that
    no one is told twice: a random tree through the population."""
    names = [f"agent-{i:03d}" for i in range(AGENTS)]
    order = [names[0], *rng.sample(names[1:], AGENTS - 1)]
    position = {name: i for i, name in enumerate(order)}

    def targets(name: str) -> list[str]:
        p = position[name]
        return order[FANOUT * p + 1 : FANOUT * p + 1 + FANOUT]

    told: set[str] = set()

    def policy(name: str, request: LLMRequest) -> LLMResponse:
        got = heard(request)
        if FACT in str(got.get("message", "")) and name not in told:
            told.add(name)
            others = targets(name)
            if others:
                return calls(*(tell(other, f"Did you hear? {FACT}") for other in others))
        return reply_with_text("Interesting.")

    async with population(dict.fromkeys(names, ()), policy, record=False) as world:
        await world.agents[names[0]].tell(user(FACT))
        with anyio.fail_after(GUARD):
            await world.watch.until(
                lambda: sum(isinstance(e, AgentMessage) for e in world.watch.events) == AGENTS - 1
            )
        logs = {name: await world.events(name) for name in names}
    assert told == set(names)
    sent = {
        (e.agent, e.seq): e
        for events in logs.values()
        for e in events
        if isinstance(e, AssistantMessage)
    }
    depth = {names[0]: 0}
    for name in order[1:]:
        (heard_it,) = [e for e in logs[name] if isinstance(e, AgentMessage)]
        assert heard_it.cause is not None
        source = sent[(heard_it.sender, heard_it.cause)]
        assert (source.to, source.text) == (name, heard_it.text)
        depth[name] = depth[heard_it.sender] + 1
    assert max(depth.values()) == 4  # levels of 1, 3, 9, 27 and 60 agents


# --- the pure parts -----------------------------------------------------------------------


def ask_received(request_id: str | None = "ask-4") -> AgentMessage:
    return AgentMessage(
        agent="bob", seq=2, at=T0, cause=4, sender="ada", text="6 x 7?", request_id=request_id
    )


def test_a_message_to_the_asker_in_the_asks_turn_is_its_answer() -> None:
    state = fold(fold(AgentState(), created("bob")), ask_received())
    turn = advance(Turn(), ask_received(), state)
    assert turn.reply_to == ask_received()
    answer = AssistantMessage(agent="bob", seq=5, at=T0, cause=4, text="42", to="ada")
    assert outgoing(answer, turn) == AgentMessage(
        agent="ada", seq=0, at=0.0, cause=5, sender="bob", text="42", in_reply_to="ask-4"
    )
    # To someone else, or an ask of its own: not the answer.
    aside = AssistantMessage(agent="bob", seq=6, at=T0, text="FYI", to="cyd")
    assert outgoing(aside, turn) is not None
    assert outgoing(aside, turn).in_reply_to is None  # type: ignore[union-attr]
    counter = AssistantMessage(
        agent="bob", seq=7, at=T0, text="Why?", to="ada", request_id="ask-7"
    )
    forwarded = outgoing(counter, turn)
    assert forwarded is not None
    assert (forwarded.request_id, forwarded.in_reply_to) == ("ask-7", None)
    # A message to the user, or a turn started by a plain message: nothing to route.
    assert outgoing(AssistantMessage(agent="bob", seq=8, at=T0, text="hi"), turn) is None
    plain = advance(Turn(), ask_received(request_id=None), state)
    assert plain.reply_to is None
    assert outgoing(answer, plain) == AgentMessage(
        agent="ada", seq=0, at=0.0, cause=5, sender="bob", text="42"
    )


def test_only_an_answer_to_a_waiting_ask_settles_its_timer() -> None:
    def timer(timer_id: str, seq: int) -> TimerSet:
        return TimerSet(agent="ada", seq=seq, at=T0, timer_id=timer_id, due=T0 + 60)

    state = fold_all([created("ada"), timer("ask-2", 2), timer("timer-3", 3)])

    def reply(in_reply_to: str | None) -> AgentMessage:
        return AgentMessage(
            agent="ada", seq=4, at=T0, sender="bob", text="42", in_reply_to=in_reply_to
        )

    assert answered_ask(state, reply("ask-2")) == "ask-2"
    assert answered_ask(state, reply("ask-9")) is None  # timed out already (or never asked)
    assert answered_ask(state, reply("timer-3")) is None  # not an ask's timer
    assert answered_ask(state, reply(None)) is None


class FixedDirectory:
    def __init__(self, tags: Mapping[str, Sequence[str]]) -> None:
        self.tags = tags

    def __contains__(self, name: object) -> bool:
        return name in self.tags

    def names(self) -> list[str]:
        return sorted(self.tags)

    def tagged(self, tag: str) -> list[str]:
        return sorted(name for name, tags in self.tags.items() if tag in tags)


async def call(
    function: str,
    directory: FixedDirectory | None,
    reply_to: AgentMessage | None = None,
    **arguments: object,
) -> ToolResult:
    called = ToolCalled(
        agent="ada",
        seq=7,
        at=T0,
        call_id="c",
        name=function,
        arguments=json.dumps(arguments),
    )
    registry = builtin_registry(messaging=True)
    parsed = registry.parse(ToolCall(id="c", name=function, arguments=called.arguments))
    assert isinstance(parsed, ParsedCall), parsed
    spec = registry.lookup(function)
    assert not isinstance(spec, CallRejected)
    context = ToolContext(
        state=fold_all([created("ada")]),
        call=called,
        log=MemoryEventLog(),
        archival=no_archival,
        directory=directory,
        reply_to=reply_to,
    )
    return await run_call(spec, parsed, context, ToolLimits())


async def test_ask_agent_drafts_the_ask_and_its_timeout_and_checks_the_timeout() -> None:
    directory = FixedDirectory({"ada": (), "bob": ()})
    result = await call("ask_agent", directory, agent="bob", message="6 x 7?", timeout_seconds=90)
    assert result.status == "ok"
    message, timer = result.effects
    assert message == AssistantMessage(
        agent="ada", seq=0, at=0.0, text="6 x 7?", to="bob", request_id="ask-7"
    )
    assert isinstance(timer, TimerSet)
    assert (timer.timer_id, timer.due, timer.every) == ("ask-7", T0 + 90, None)
    assert "ask-7" in result.content
    for bad in (0, -5, 1e12):
        refused = await call(
            "ask_agent", directory, agent="bob", message="6 x 7?", timeout_seconds=bad
        )
        assert refused.status == "error"
        assert "timeout_seconds" in refused.content


async def test_an_agent_without_a_directory_is_not_offered_the_messaging_functions() -> None:
    offered: list[set[str]] = []

    def policy(request: LLMRequest) -> LLMResponse:
        offered.append({tool.name for tool in request.tools})
        return reply_with_text("Alone.")

    log = MemoryEventLog()
    await log.append([created("ada")])
    await log.append([created("bob")])
    async with open_runtime(clock_start=T0) as runtime:
        alone = spawn_agent(runtime, "ada", log=log, llm=ScriptedLLM(policy))
        directory = AgentDirectory(runtime)
        social = spawn_agent(runtime, "bob", log=log, llm=ScriptedLLM(policy), directory=directory)
        await alone.ask(user("Hi"))
        await social.ask(user("Hi"))
    messaging = {"send_message_to_agent", "ask_agent", "broadcast"}
    assert not offered[0] & messaging
    assert offered[1] >= messaging


async def test_messaging_without_a_directory_or_with_an_empty_text_is_refused() -> None:
    alone = await call("send_message_to_agent", None, agent="bob", message="hi")
    assert alone.status == "error"
    assert "run alone" in alone.content
    directory = FixedDirectory({"ada": (), "bob": ()})
    empty = await call("send_message_to_agent", directory, agent="bob", message="  ")
    assert empty.status == "error"
    assert "empty" in empty.content


async def test_a_long_roster_is_cut_in_a_refusal() -> None:
    directory = FixedDirectory({f"a{i:04d}": () for i in range(1000)})
    result = await call("send_message_to_agent", directory, agent="zed", message="hi")
    assert result.status == "error"
    assert f"a{MAX_LISTED_AGENTS - 1:04d}" in result.content
    assert f"a{MAX_LISTED_AGENTS:04d}" not in result.content
    assert f"and {1000 - MAX_LISTED_AGENTS} more" in result.content


async def test_send_message_in_an_asks_turn_answers_the_asker() -> None:
    question = ask_received()
    result = await call("send_message", FixedDirectory({}), reply_to=question, message="42")
    assert result.effects == (AssistantMessage(agent="ada", seq=0, at=0.0, text="42", to="ada"),)
    assert "answer to their request ask-4" in result.content


async def test_the_directory_lists_live_agents_by_name_and_tag() -> None:
    async with open_runtime() as runtime:
        directory = AgentDirectory(runtime)
        log = MemoryEventLog()
        for name, tags in {"ada": ("x",), "bob": ("x", "y")}.items():
            await log.append([created(name, tags)])
            spawn_agent(
                runtime,
                name,
                log=log,
                llm=ScriptedLLM(lambda r: reply_with_text("")),
                directory=directory,
            )
        directory.register("ghost", ["x"])  # registered, but no actor runs
        assert "ada" in directory
        assert "ghost" not in directory
        assert directory.names() == ["ada", "bob"]
        with anyio.fail_after(GUARD):
            await wait_until(lambda: directory.tagged("x") == ["ada", "bob"])
        assert directory.tags_of("bob") == ("x", "y")
        await runtime.stop("bob")
        assert directory.names() == ["ada"]
        assert directory.tagged("y") == []
        directory.forget("ada")
        assert directory.names() == []
        assert directory.tagged("x") == []


# --- crashes --------------------------------------------------------------------------------


def test_messages_lost_with_a_mailbox_in_a_crash_are_delivered_again_exactly_once() -> None:
    """A mailbox is memory: what waited in bob's when the process died is in ada's log
    only. The next start delivers it again, and bob logs each message once."""

    def policy(name: str, request: LLMRequest) -> LLMResponse:
        got = heard(request)
        if name == "ada" and got.get("type") == "user_message":
            return calls(tell("bob", str(got["message"])))
        return reply_with_text("Noted.")

    log = MemoryEventLog()

    async def life(bob_delay: float, notes: Sequence[str], *, crash: bool) -> None:
        with trio.CancelScope() as process:
            async with open_runtime(clock_start=T0) as runtime:
                directory = AgentDirectory(runtime)
                agents = {}
                for name in ("ada", "bob"):
                    llm: LLMClient = ScriptedLLM(partial(policy, name))
                    if name == "bob":
                        llm = SlowLLM(llm, bob_delay)
                    agents[name] = spawn_agent(
                        runtime, name, log=log, llm=llm, directory=directory
                    )
                for note in notes:
                    await agents["ada"].ask(user(note))
                if crash:
                    process.cancel()  # bob is in its first step; the rest waits in its mailbox
                await anyio.sleep(3600)  # virtual: everything delivered settles

    async def main() -> None:
        for name in ("ada", "bob"):
            await log.append([created(name)])
        await life(86_400.0, [f"note {i}" for i in range(5)], crash=True)
        assert len([e for e in await log.read("bob") if isinstance(e, AgentMessage)]) == 1
        await life(0.0, [], crash=False)  # ada delivers all five again; bob logs four
        sent = [e.seq for e in await log.read("ada") if isinstance(e, AssistantMessage)]
        got = [e.cause for e in await log.read("bob") if isinstance(e, AgentMessage)]
        assert got == sent
        assert len(sent) == 5
        before = await log.read("bob")
        await life(0.0, [], crash=False)  # and again: nothing new
        assert await log.read("bob") == before

    run_virtual(main)
