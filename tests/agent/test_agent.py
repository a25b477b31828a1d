"""The agent actor end to end, with a scripted model and the in-memory log."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvisor import ContextOverflowError, LLMAPIError
from memvisor.actors import ActorRef, open_runtime
from memvisor.agent import (
    AgentConfig,
    AgentRequest,
    Amend,
    Deliver,
    TurnConfig,
    TurnReport,
    spawn_agent,
    user_tool,
)
from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextRewound,
    Event,
    EventLog,
    LLMResponded,
    MemoryEventLog,
    MemoryPromptStore,
    TimerFired,
    TimerSet,
    TokenUsage,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
    event_type,
    prompt_digest,
)
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM, reply_with_call, reply_with_text
from memvisor.memory import fold_all
from memvisor.memory._compaction import CompactionConfig
from memvisor.replay import check_replay, decode_prompt, decode_tools

pytestmark = pytest.mark.anyio

NAME = "ada"
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


def created(context_window: int = 8192) -> AgentCreated:
    return AgentCreated(
        agent=NAME,
        seq=1,
        at=T0,
        model="scripted",
        system="You are Ada.",
        blocks=(
            BlockSpec(label="persona", value="I am Ada."),
            BlockSpec(label="human", value="Unknown."),
        ),
        context_window=context_window,
    )


def say(text: str, **usage: int) -> LLMResponse:
    return reply_with_call(
        "send_message", json.dumps({"message": text}), usage=TokenUsage(**usage)
    )


def call(function: str, /, heartbeat: bool = True, **arguments: object) -> LLMResponse:
    return reply_with_call(function, json.dumps({**arguments, "request_heartbeat": heartbeat}))


def user(text: str) -> Deliver:
    return Deliver(event=UserMessage(agent="", seq=0, at=0.0, text=text))


def types(events: Sequence[Event]) -> list[str]:
    return [event_type(e) for e in events]


@asynccontextmanager
async def running(
    llm: ScriptedLLM,
    *,
    log: EventLog | None = None,
    config: AgentConfig | None = None,
    context_window: int = 8192,
    tools: Sequence[Callable[..., object]] = (),
    start: float = T0,
    prompts: MemoryPromptStore | None = None,
) -> AsyncIterator[tuple[ActorRef[AgentRequest, TurnReport], EventLog]]:
    if log is None:
        log = MemoryEventLog()
        await log.append([created(context_window)])
    async with open_runtime(clock_start=start) as runtime:
        ref = spawn_agent(
            runtime,
            NAME,
            log=log,
            llm=llm,
            tools=[user_tool(fn) for fn in tools],
            config=config or AgentConfig(model="scripted"),
            prompts=prompts,
        )
        yield ref, log


async def check_log(log: EventLog) -> list[Event]:
    """The log has no gaps, and every started call has its result."""
    events = await log.read(NAME)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    called = {e.seq for e in events if isinstance(e, ToolCalled)}
    answered = {e.cause for e in events if isinstance(e, ToolReturned)}
    assert called == answered
    fold_all(events)  # folds without error
    return events


async def test_a_message_gets_a_reply_through_send_message() -> None:
    llm = ScriptedLLM.from_replies([say("Hello Bob!")])
    async with running(llm) as (ada, log):
        report = await ada.ask(user("Hi, I'm Bob."))
    assert report.replies == ("Hello Bob!",)
    assert types(report.events) == [
        "user_message",
        "llm_responded",
        "tool_called",
        "assistant_message",
        "tool_returned",
    ]
    events = await check_log(log)
    responded = next(e for e in events if isinstance(e, LLMResponded))
    assert responded.prompt_hash.startswith("sha256:")
    assert responded.cause == 2
    # The model saw the persona, the user's words and the functions.
    request = llm.requests[0]
    assert "I am Ada." in (request.messages[0].content or "")
    assert "Hi, I'm Bob." in (request.messages[-1].content or "")
    assert "send_message" in {t.name for t in request.tools}


async def test_inner_thoughts_are_logged_but_not_shown() -> None:
    llm = ScriptedLLM.from_replies([reply_with_text("Bob seems nice. I'll wait.")])
    async with running(llm) as (ada, log):
        report = await ada.ask(user("Hi"))
    assert report.replies == ()
    responded = [e for e in await check_log(log) if isinstance(e, LLMResponded)]
    assert responded[0].content == "Bob seems nice. I'll wait."


async def test_a_heartbeat_chains_a_memory_edit_to_a_reply() -> None:
    llm = ScriptedLLM.from_replies(
        [
            call("core_memory_replace", name="human", old_content="Unknown.", new_content="Bob"),
            say("Nice to meet you, Bob."),
        ]
    )
    async with running(llm) as (ada, log):
        report = await ada.ask(user("I'm Bob."))
    assert report.replies == ("Nice to meet you, Bob.",)
    state = fold_all(await check_log(log))
    block = state.memory.get("human")
    assert block is not None
    assert block.value == "Bob"
    # The second step saw the edited block.
    assert "Bob" in (llm.requests[1].messages[0].content or "")


async def test_a_failed_call_is_told_to_the_model_which_steps_again() -> None:
    llm = ScriptedLLM.from_replies(
        [
            reply_with_call("teleport", "{}"),
            call("conversation_search", query=7),  # wrong type
            say("Sorry, all fine now."),
        ]
    )
    async with running(llm) as (ada, log):
        report = await ada.ask(user("Hi"))
    assert report.replies == ("Sorry, all fine now.",)
    results = [e for e in await check_log(log) if isinstance(e, ToolReturned)]
    assert [r.status for r in results] == ["error", "error", "ok"]
    assert "Unknown function `teleport`" in results[0].content
    assert "send_message" in results[0].content  # it lists what exists
    assert "query" in results[1].content


async def test_a_call_written_in_the_content_runs() -> None:
    text = '```json\n{"name": "send_message", "arguments": {"message": "Hi there"}}\n```'
    llm = ScriptedLLM.from_replies([reply_with_text(text)])
    async with running(llm) as (ada, log):
        report = await ada.ask(user("Hi"))
    assert report.replies == ("Hi there",)
    await check_log(log)


async def test_the_step_cap_makes_the_agent_yield_and_it_answers_the_next_message() -> None:
    def handler(request: LLMRequest) -> LLMResponse:
        if "second" in (request.messages[-1].content or ""):
            return say("I am here.")
        return call("conversation_search", query="anything")

    llm = ScriptedLLM(handler)
    config = AgentConfig(model="scripted", turn=TurnConfig(max_steps=3))
    async with running(llm, config=config) as (ada, log):
        first = await ada.ask(user("first"))
        assert len(llm.requests) == 3
        assert types(first.events)[-1] == "step_limited"
        second = await ada.ask(user("second"))
    assert second.replies == ("I am here.",)
    await check_log(log)


async def test_an_unreachable_llm_is_an_error_event_and_the_agent_lives_on() -> None:
    calls = 0

    def handler(request: LLMRequest) -> LLMResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LLMAPIError("server unreachable after 5 tries")
        return say("Back again.")

    async with running(ScriptedLLM(handler)) as (ada, log):
        first = await ada.ask(user("one"))
        second = await ada.ask(user("two"))
    assert types(first.events) == ["user_message", "error"]
    assert "unreachable" in first.events[-1].message  # type: ignore[union-attr]
    assert second.replies == ("Back again.",)
    await check_log(log)


async def test_an_overflow_compacts_with_the_llm_summary_and_steps_again() -> None:
    state = {"overflowed": False}

    def handler(request: LLMRequest) -> LLMResponse:
        if not request.tools:  # the summarizer's call
            return reply_with_text("Bob talked about many things.")
        if request.messages[-1].content and "last" in request.messages[-1].content:
            if not state["overflowed"]:
                state["overflowed"] = True
                raise ContextOverflowError("maximum context length exceeded")
            return say("Done.")
        return say("ok")

    async with running(ScriptedLLM(handler)) as (ada, log):
        for i in range(8):
            await ada.ask(user(f"message {i} " + "words " * 20))
        report = await ada.ask(user("last one"))
    assert report.replies == ("Done.",)
    kinds = types(report.events)
    assert kinds.index("error") < kinds.index("context_compacted") < kinds.index("llm_responded")
    events = await check_log(log)
    compacted = [e for e in events if event_type(e) == "context_compacted"]
    assert compacted[0].summary == "Bob talked about many things."  # type: ignore[union-attr]


async def test_reported_usage_alerts_then_compacts_proactively() -> None:
    # The server reports what the prompt cost: 80% of the window, then 110%.
    usage = iter([300, 800, 820, 1100])

    def handler(request: LLMRequest) -> LLMResponse:
        if not request.tools:
            return reply_with_text("A summary.")
        return say("ok", prompt_tokens=next(usage, 300))

    config = AgentConfig(
        model="scripted", turn=TurnConfig(compaction=CompactionConfig(keep_last=2))
    )
    async with running(ScriptedLLM(handler), config=config, context_window=1024) as (ada, log):
        for i in range(5):
            await ada.ask(user(f"message {i}"))
    kinds = types(await check_log(log))
    assert "memory_pressure" in kinds
    assert "context_compacted" in kinds
    assert kinds.index("memory_pressure") < kinds.index("context_compacted")


SEARCH = '{"query": "Bob", "request_heartbeat": true}'


async def test_a_call_cut_short_by_a_crash_is_finished_or_reported() -> None:
    log = MemoryEventLog()
    responded = LLMResponded(
        agent=NAME,
        seq=3,
        at=T0 + 2,
        cause=2,
        model="scripted",
        tool_calls=(
            ToolCall(id="c1", name="conversation_search", arguments=SEARCH),
            ToolCall(id="c2", name="ring_bell", arguments="{}"),
        ),
    )
    await log.append(
        [
            created(),
            UserMessage(agent=NAME, seq=2, at=T0 + 1, text="Remember Bob?"),
            responded,
            ToolCalled(
                agent=NAME,
                seq=4,
                at=T0 + 3,
                cause=3,
                call_id="c1",
                name="conversation_search",
                arguments=SEARCH,
            ),
        ]
    )
    rung: list[int] = []

    def ring_bell() -> str:
        """Ring the bell."""
        rung.append(1)
        return "rang"

    llm = ScriptedLLM.from_replies([say("Yes, Bob."), say("Hello again.")])
    async with running(llm, log=log, tools=[ring_bell]) as (ada, _):
        report = await ada.ask(user("Still there?"))
    events = await check_log(log)
    results = {e.call_id: e for e in events if isinstance(e, ToolReturned)}
    assert results["c1"].status == "ok"  # a search is safe to run again
    assert results["c2"].status == "ok"  # never started: it runs now
    assert rung == [1]
    assert report.replies == ("Yes, Bob.", "Hello again.")
    # The interrupted user message was answered before the new one was logged.
    kinds = types(report.events)
    assert kinds.index("user_message") > kinds.index("assistant_message")


async def test_a_user_tool_interrupted_mid_call_is_reported_not_repeated() -> None:
    log = MemoryEventLog()
    await log.append(
        [
            created(),
            UserMessage(agent=NAME, seq=2, at=T0 + 1, text="Ring it"),
            LLMResponded(
                agent=NAME,
                seq=3,
                at=T0 + 2,
                cause=2,
                model="scripted",
                tool_calls=(ToolCall(id="c1", name="ring_bell", arguments="{}"),),
            ),
            ToolCalled(
                agent=NAME,
                seq=4,
                at=T0 + 3,
                cause=3,
                call_id="c1",
                name="ring_bell",
                arguments="{}",
            ),
        ]
    )
    rung: list[int] = []

    def ring_bell() -> str:
        """Ring the bell."""
        rung.append(1)
        return "rang"

    llm = ScriptedLLM.from_replies([say("The bell may have rung."), say("Hi.")])
    async with running(llm, log=log, tools=[ring_bell]) as (ada, _):
        await ada.ask(user("And?"))
    events = await check_log(log)
    result = next(e for e in events if isinstance(e, ToolReturned))
    assert result.status == "error"
    assert "interrupted" in result.content
    assert rung == []


def test_a_timer_the_agent_sets_wakes_it_in_virtual_time() -> None:
    async def main() -> None:
        llm = ScriptedLLM.from_replies(
            [
                reply_with_call("set_timer", '{"seconds": 3600, "reason": "check the oven"}'),
                say("The oven!"),
            ]
        )
        async with running(llm) as (ada, log):
            await ada.ask(user("Remind me in an hour."))
            await trio.sleep(3601)
            events = await log.read(NAME)
        fired = [e for e in events if isinstance(e, TimerFired)]
        assert [f.text for f in fired] == ["check the oven"]
        assert fired[0].at == pytest.approx(T0 + 3600, abs=2)
        assert "The oven!" in [getattr(e, "text", None) for e in events]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_timers_survive_a_restart() -> None:
    async def main() -> None:
        log = MemoryEventLog()
        await log.append([created()])
        first = ScriptedLLM.from_replies(
            [reply_with_call("set_timer", '{"seconds": 600, "reason": "stand up"}')]
        )
        async with running(first, log=log) as (ada, _):
            await ada.ask(user("Tell me to stand up in 10 minutes."))
        second = ScriptedLLM.from_replies([say("Stand up!")])
        async with running(second, log=log):
            await trio.sleep(601)
        events = await log.read(NAME)
        assert [e.text for e in events if isinstance(e, TimerFired)] == ["stand up"]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_paused_heartbeats_hold_back_timers() -> None:
    async def main() -> None:
        both = LLMResponse(
            tool_calls=(
                ToolCall(id="t", name="set_timer", arguments='{"seconds": 60, "reason": "ping"}'),
                ToolCall(id="p", name="pause_heartbeats", arguments='{"minutes": 5}'),
            )
        )
        llm = ScriptedLLM.from_replies([both])
        async with running(llm) as (ada, log):
            await ada.ask(user("Set a timer, then rest."))
            await trio.sleep(120)
            events = await log.read(NAME)
        assert [event_type(e) for e in events][-1] == "timer_fired"  # logged, no step after
        assert len(llm.requests) == 1

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_decisions_come_from_the_log_alone() -> None:
    """A fresh agent folded from the log decides as the live one did: the prompt it
    compiles for the next step hashes the same."""
    llm = ScriptedLLM.from_replies(
        [call("core_memory_append", name="human", content="Likes tea."), say("Tea!")]
    )
    async with running(llm) as (ada, log):
        await ada.ask(user("I like tea."))
    events = await log.read(NAME)
    hashes = [e.prompt_hash for e in events if isinstance(e, LLMResponded)]
    from memvisor.agent import Step, Turn, advance, builtin_registry, next_action
    from memvisor.memory import AgentState, fold

    state, turn = AgentState(), Turn()
    replayed = []
    for event in events:
        if isinstance(event, LLMResponded):
            action = next_action(
                state,
                turn,
                tools=builtin_registry().tool_schemas(),
                config=TurnConfig(),
                model="scripted",
            )
            assert isinstance(action, Step)
            replayed.append(action.prompt_hash)
        state = fold(state, event)
        turn = advance(turn, event, state)
    assert replayed == hashes
    assert turn.idle


async def test_every_prompt_sent_is_kept_with_its_functions() -> None:
    llm = ScriptedLLM.from_replies(
        [call("core_memory_append", name="human", content="Likes tea."), say("Tea!")]
    )
    prompts = MemoryPromptStore()
    async with running(llm, prompts=prompts) as (ada, log):
        await ada.ask(user("I like tea."))
    steps = [e for e in await log.read(NAME) if isinstance(e, LLMResponded)]
    assert len(prompts) == len(steps) == len(llm.requests) == 2
    for step, request in zip(steps, llm.requests, strict=True):
        stored = await prompts.get(step.prompt_hash)
        assert stored is not None
        assert prompt_digest(stored.parts) == step.prompt_hash
        assert decode_prompt(stored) == request.messages  # exactly what the model was sent
        assert decode_tools(stored) == request.tools


_MOVES = [
    say("Hello."),
    call("core_memory_append", name="human", content="Likes tea."),
    call("core_memory_append", heartbeat=False, name="nobody", content="x"),
    call("conversation_search", query="tea"),
    call("conversation_search_date", start_date="2025-01-01", end_date="yesterday"),
    reply_with_call("teleport", "{}"),
    reply_with_call("send_message", "{not json"),
    reply_with_text("Just thinking."),
    reply_with_call("pause_heartbeats", '{"minutes": 1}'),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves=st.lists(st.sampled_from(range(len(_MOVES))), max_size=40), turns=st.integers(1, 4))
def test_any_model_behaviour_keeps_the_turn_bounded_and_the_log_whole(
    moves: list[int], turns: int
) -> None:
    script = iter(moves)

    def handler(request: LLMRequest) -> LLMResponse:
        if not request.tools:
            return reply_with_text("summary")
        return _MOVES[next(script, 0)]

    llm = ScriptedLLM(handler)
    max_steps = 4

    async def main() -> list[Event]:
        config = AgentConfig(model="scripted", turn=TurnConfig(max_steps=max_steps))
        async with running(llm, config=config) as (ada, log):
            for i in range(turns):
                before = len(llm.requests)
                report = await ada.ask(user(f"message {i}"))
                assert len(llm.requests) - before <= max_steps
                assert types(report.events)[0] == "user_message"
        return await check_log(log)

    events = trio.run(main)
    assert sum(isinstance(e, UserMessage) for e in events) == turns
    # Every decision is replayable: the check finds the same steps, prompts and results.
    report = trio.run(
        functools.partial(check_replay, events, config=TurnConfig(max_steps=max_steps))
    )
    assert report.divergence is None, report.divergence
    assert report.steps == sum(isinstance(e, LLMResponded) for e in events)
    assert not report.unfinished


def test_an_amendment_is_logged_by_the_agent_and_arms_its_timers() -> None:
    async def main() -> None:
        llm = ScriptedLLM.from_replies([say("First."), say("The hour is up.")])
        async with running(llm) as (ada, log):
            await ada.ask(user("one"))
            before = fold_all(await log.read(NAME))
            rewound = await ada.ask(
                Amend(event=ContextRewound(agent="", seq=0, at=0.0, from_seq=2))
            )
            assert types(rewound.events) == ["context_rewound"]
            assert fold_all(await log.read(NAME)).queue == ()
            assert before.queue != ()
            timer = TimerSet(
                agent="", seq=0, at=0.0, timer_id="hourly", due=T0 + 3600, text="tick"
            )
            await ada.ask(Amend(event=timer))
            await trio.sleep(3601)
            events = await check_log(log)
        assert [e.text for e in events if isinstance(e, TimerFired)] == ["tick"]
        assert len(llm.requests) == 2  # the timer woke the agent once

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_cron_timer_fires_on_its_calendar_and_again_after_a_restart() -> None:
    async def main() -> None:
        log = MemoryEventLog()
        await log.append([created()])
        llm = ScriptedLLM(lambda request: say("Good morning."))
        # T0 is Wednesday 2025-01-01 00:00 UTC: the next 09:00 is T0 + 9 h.
        timer = TimerSet(
            agent="", seq=0, at=0.0, timer_id="t", due=T0 + 9 * 3600, cron="0 9 * * *", text="9am"
        )
        async with running(llm, log=log) as (ada, _):
            await ada.ask(Amend(event=timer))
            await trio.sleep(9 * 3600 + 60)
        restart = T0 + 9 * 3600 + 60
        async with running(llm, log=log, start=restart):  # re-armed from the log
            await trio.sleep(24 * 3600)
        fired = [e.at for e in await check_log(log) if isinstance(e, TimerFired)]
        assert [round((at - T0) / 3600) for at in fired] == [9, 33]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
