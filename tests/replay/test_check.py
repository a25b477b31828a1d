"""``check_replay``: a recorded run replays clean; a change of prompt, threshold or
function is reported at the seq where the code parts ways with the log."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import TypeVar

import msgspec
import pytest
import trio
import trio.testing

from memvisor.actors import open_runtime
from memvisor.agent import Amend, Deliver, TurnConfig, new_agent, spawn_agent
from memvisor.events import (
    AgentCreated,
    ContextCompacted,
    ContextRewound,
    CoreMemoryEdited,
    Event,
    LLMResponded,
    MemoryEventLog,
    MemoryPressure,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM, reply_with_call
from memvisor.memory import CompactionConfig
from memvisor.replay import CheckReport, check_replay

from .report_logs import demo_events, every_event_log

E = TypeVar("E", bound=Event)
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


def check(events: Sequence[Event], **options: object) -> CheckReport:
    return trio.run(functools.partial(check_replay, events, **options))  # type: ignore[arg-type]


def renumber(events: Sequence[Event]) -> list[Event]:
    return [msgspec.structs.replace(e, seq=i) for i, e in enumerate(events, 1)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The log `memvisor demo` records: steps, built-ins, recall search, an alert, a
    compaction and a second alert, in a 3,072-token window."""
    return demo_events(tmp_path_factory.mktemp("demo"))


def first(events: Sequence[Event], kind: type[E]) -> E:
    return next(e for e in events if isinstance(e, kind))


def with_threshold(**fractions: float) -> TurnConfig:
    return TurnConfig(compaction=CompactionConfig(**fractions))  # type: ignore[arg-type]


def test_a_recorded_run_replays_clean(demo: list[Event]) -> None:
    report = check(demo)
    assert report.divergence is None
    assert report.events == len(demo)
    assert report.steps == sum(isinstance(e, LLMResponded) for e in demo)
    reran = [e for e in demo if isinstance(e, ToolReturned) and e.name != "conversation_search"]
    assert report.reran == len(reran)  # every built-in but the recall search ran again
    assert report.compactions == 1
    assert not report.unfinished


def test_a_changed_system_prompt_is_reported_at_the_first_step(demo: list[Event]) -> None:
    created = demo[0]
    assert isinstance(created, AgentCreated)
    changed = [msgspec.structs.replace(created, system="Be terse."), *demo[1:]]
    report = check(changed)
    step = first(demo, LLMResponded)
    assert report.divergence is not None
    assert report.divergence.seq == step.seq
    assert report.divergence.logged_hash == step.prompt_hash
    assert report.divergence.prompt[0].content.startswith("Be terse.")  # type: ignore[union-attr]
    assert report.events == step.seq


def test_a_higher_warning_threshold_misses_the_logged_alert(demo: list[Event]) -> None:
    report = check(demo, config=with_threshold(warning_fraction=0.9))
    alert = first(demo, MemoryPressure)
    assert report.divergence is not None
    assert report.divergence.seq == alert.seq
    assert report.divergence.expected.startswith("memory_pressure")
    assert report.divergence.produced.startswith("nothing")


def test_a_lower_warning_threshold_alerts_where_the_agent_stepped(demo: list[Event]) -> None:
    report = check(demo, config=with_threshold(warning_fraction=0.6))
    assert report.divergence is not None
    assert report.divergence.produced.startswith("memory_pressure")
    assert report.divergence.seq < first(demo, MemoryPressure).seq
    # Everything before it replays the same under the new threshold.
    before = check(demo[: report.divergence.seq - 1], config=with_threshold(warning_fraction=0.6))
    assert before.divergence is None or before.divergence.seq == report.divergence.seq


def test_a_lower_flush_threshold_compacts_sooner(demo: list[Event]) -> None:
    config = with_threshold(flush_fraction=0.8, target_fraction=0.5)
    report = check(demo, config=config)
    assert report.divergence is not None
    assert report.divergence.produced.startswith("context_compacted")
    assert report.divergence.seq < first(demo, ContextCompacted).seq


def test_a_function_that_now_answers_otherwise_is_reported(demo: list[Event]) -> None:
    edited = first(demo, CoreMemoryEdited)
    assert isinstance(edited, CoreMemoryEdited)
    tampered = [
        msgspec.structs.replace(e, value=e.value + " (old)") if e is edited else e for e in demo
    ]
    report = check(tampered)
    assert report.divergence is not None
    assert report.divergence.seq == edited.seq
    assert "(old)" in report.divergence.expected
    assert "(old)" not in report.divergence.produced


def test_a_call_the_response_did_not_make_is_reported(demo: list[Event]) -> None:
    called = first(demo, ToolCalled)
    tampered = [
        msgspec.structs.replace(e, arguments='{"name": "human", "content": "x"}')
        if e is called
        else e
        for e in demo
    ]
    report = check(tampered)
    assert report.divergence is not None
    assert report.divergence.seq == called.seq
    assert report.divergence.produced.startswith("tool_called: core_memory_append")


def test_a_log_cut_mid_turn_checks_clean_and_says_so(demo: list[Event]) -> None:
    called = first(demo, ToolCalled)
    report = check(demo[: called.seq])
    assert report.divergence is None
    assert report.unfinished


def test_an_alert_logged_after_a_restart_s_first_message_is_the_same_alert(
    demo: list[Event],
) -> None:
    alert = first(demo, MemoryPressure)
    # The process died after the turn's last event, before its alert: the next run
    # logged the new message, then the alert.
    head = demo[: alert.seq - 1]
    message = UserMessage(agent="demo", seq=0, at=alert.at, text="Back again.")
    assert check(renumber([*head, message, alert])).divergence is None
    # No alert at all: the agent waited where the code alerts.
    report = check(renumber([*head, message]))
    assert report.divergence is not None
    assert report.divergence.seq == alert.seq
    assert report.divergence.expected.startswith("user_message")
    assert report.divergence.produced.startswith("memory_pressure")


def test_a_log_must_begin_with_its_agent(demo: list[Event]) -> None:
    from memvisor import UsageError

    with pytest.raises(UsageError, match="agent_created"):
        check(demo[1:])


def test_a_hand_made_log_is_checked_to_its_first_divergence() -> None:
    # Written by hand, not recorded: its core_memory_append result is not what the
    # built-in answers, and the check says so there rather than failing later.
    events = every_event_log()
    report = check(events)
    assert report.divergence is not None
    returned = events[report.divergence.seq - 1]
    assert isinstance(returned, ToolReturned)
    assert returned.name == "core_memory_append"
    assert report.divergence.expected == ("tool_returned: content='Appended.' heartbeat=True")
    assert "Appended to block 'human'" in report.divergence.produced


def test_amendments_between_turns_and_a_timer_replay_clean() -> None:
    """A rewound context (chat's /retry), an attached source and a timer the agent
    set: all logged between turns or by built-ins, all decided again the same."""

    def policy(request: LLMRequest) -> LLMResponse:
        said = request.messages[-1].content or ""
        if "remind me" in said:
            arguments = {"seconds": 60, "reason": "the tea"}
            return reply_with_call("set_timer", json.dumps(arguments))
        return reply_with_call("send_message", json.dumps({"message": "Done."}))

    async def record() -> list[Event]:
        log = MemoryEventLog()
        await log.append([new_agent("ada", at=T0, model="scripted", system="You are Ada.")])
        async with open_runtime(clock_start=T0) as runtime:
            ada = spawn_agent(runtime, "ada", log=log, llm=ScriptedLLM(policy))
            await ada.ask(Deliver(event=UserMessage(agent="", seq=0, at=0.0, text="hello")))
            rewind = ContextRewound(agent="", seq=0, at=0.0, from_seq=2)
            await ada.ask(Amend(event=rewind))
            text = "remind me about the tea"
            await ada.ask(Deliver(event=UserMessage(agent="", seq=0, at=0.0, text=text)))
            await trio.sleep(120)  # the timer fires: a turn of its own
        return await log.read("ada")

    events = trio.run(record, clock=trio.testing.MockClock(autojump_threshold=0))
    kinds = [type(e).__name__ for e in events]
    assert {"ContextRewound", "TimerSet", "TimerFired"} <= set(kinds)
    report = check(events)
    assert report.divergence is None, report.divergence
    assert report.steps == kinds.count("LLMResponded") == 3
