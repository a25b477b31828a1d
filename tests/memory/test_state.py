"""The fold: what each event does to the agent's state, and that it is deterministic."""

from __future__ import annotations

import json
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvisor import UsageError
from memvisor.events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    BlockSpec,
    ContextCompacted,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    ExternalEvent,
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
)
from memvisor.memory._context import compile_context
from memvisor.memory._core import Block
from memvisor.memory._messages import PAYLOAD_MAX_CHARS, ChatMessage
from memvisor.memory._state import AgentState, fold, fold_all

from .strategies import AGENT, assert_api_valid, histories, recall_events

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
E = TypeVar("E", bound=Event)


class _Log:
    """Builds one agent's events with consecutive seqs."""

    def __init__(self) -> None:
        self.events: list[Event] = [
            AgentCreated(
                agent=AGENT,
                seq=1,
                at=T0,
                model="m",
                system="You are Ada.",
                blocks=(BlockSpec(label="human", value="Bob", limit=100),),
                context_window=4000,
            )
        ]

    @property
    def next(self) -> int:
        return len(self.events) + 1

    def user(self, text: str = "hi") -> UserMessage:
        return self.add(UserMessage(agent=AGENT, seq=self.next, at=T0 + self.next, text=text))

    def respond(self, *call_ids: str, content: str | None = "thinking", tokens: int = 0) -> int:
        calls = tuple(ToolCall(id=c, name="f", arguments="{}") for c in call_ids)
        event = LLMResponded(
            agent=AGENT,
            seq=self.next,
            at=T0,
            model="m",
            content=content,
            tool_calls=calls,
            usage=TokenUsage(prompt_tokens=tokens),
        )
        return self.add(event).seq

    def result(self, call_id: str, status: str = "ok") -> ToolReturned:
        assert status in ("ok", "error")
        event = ToolReturned(
            agent=AGENT,
            seq=self.next,
            at=T0,
            call_id=call_id,
            name="f",
            status="ok" if status == "ok" else "error",
            content="done",
        )
        return self.add(event)

    def add(self, event: E) -> E:
        self.events.append(event)
        return event

    def state(self) -> AgentState:
        return fold_all(self.events)


def _roles(state: AgentState) -> list[str]:
    return [entry.message.role for entry in state.queue]


def _body(message: ChatMessage) -> dict[str, object]:
    body = json.loads(message.content or "")
    assert isinstance(body, dict)
    return body


def test_agent_created_sets_up_prompt_model_window_and_blocks() -> None:
    state = _Log().state()
    assert (state.agent, state.last_seq, state.model) == (AGENT, 1, "m")
    assert state.system == "You are Ada."
    assert state.context_window == 4000
    assert state.memory.blocks == (Block(label="human", value="Bob", limit=100),)
    assert state.queue == ()
    assert state.recall_count == 0


def test_inbound_events_enter_the_queue_as_labelled_user_messages_with_time() -> None:
    log = _Log()
    log.add(UserMessage(agent=AGENT, seq=2, at=T0 + 61, text="hi 👋", name="bob"))
    log.add(
        ExternalEvent(
            agent=AGENT, seq=3, at=T0, source="webhook", text="build failed", payload={"n": 1}
        )
    )
    log.add(TimerFired(agent=AGENT, seq=4, at=T0, timer_id="t-1", text="stand-up"))
    log.add(AgentMessage(agent=AGENT, seq=5, at=T0, sender="grace", text="hello"))
    state = log.state()
    assert _roles(state) == ["user"] * 4
    assert [entry.seq for entry in state.queue] == [2, 3, 4, 5]
    bodies = [_body(entry.message) for entry in state.queue]
    assert bodies[0] == {
        "type": "user_message",
        "message": "hi 👋",
        "name": "bob",
        "time": "2025-01-01T00:01:01Z",
    }
    assert bodies[1]["type"] == "external_event"
    assert bodies[1]["payload"] == {"n": 1}
    assert bodies[2]["type"] == "timer_fired"
    assert bodies[3] == {
        "type": "agent_message",
        "from": "grace",
        "message": "hello",
        "time": "2025-01-01T00:00:00Z",
    }
    assert state.recall_count == 4


def test_a_huge_external_payload_is_cut_in_the_context() -> None:
    log = _Log()
    payload = {"blob": "x" * (2 * PAYLOAD_MAX_CHARS)}
    log.add(ExternalEvent(agent=AGENT, seq=2, at=T0, source="webhook", payload=payload))
    cut = _body(log.state().queue[0].message)["payload"]
    assert isinstance(cut, str)
    assert len(cut) < PAYLOAD_MAX_CHARS + 100
    assert "payload cut" in cut


def test_response_enters_as_an_assistant_message_and_records_reported_tokens() -> None:
    log = _Log()
    log.user()
    log.respond("c1", tokens=1234)
    state = log.state()
    assistant = state.queue[-1].message
    assert assistant.role == "assistant"
    assert assistant.content == "thinking"
    assert [call.id for call in assistant.tool_calls] == ["c1"]
    assert state.last_prompt_tokens == 1234
    log.respond(content="again", tokens=0)  # a server that reports no usage
    assert log.state().last_prompt_tokens is None


def test_an_empty_response_adds_nothing() -> None:
    log = _Log()
    log.respond(content=None)
    log.respond(content="")
    assert log.state().queue == ()


def test_tool_result_pairs_with_its_call_as_a_tool_message() -> None:
    log = _Log()
    log.respond("c1")
    log.add(ToolCalled(agent=AGENT, seq=3, at=T0, call_id="c1", name="f", arguments="{}"))
    log.result("c1", status="error")
    log.add(AssistantMessage(agent=AGENT, seq=5, at=T0, text="Hi Bob!"))
    state = log.state()
    assert _roles(state) == ["assistant", "tool"]  # tool_called, assistant_message: not again
    tool = state.queue[1].message
    assert (tool.tool_call_id, tool.name) == ("c1", "f")
    assert _body(tool) == {"status": "Failed", "message": "done", "time": "2025-01-01T00:00:00Z"}


def test_a_result_whose_call_is_not_in_the_queue_becomes_a_note() -> None:
    log = _Log()
    log.result("ghost")
    log.respond("c1")
    log.result("c1")
    log.result("c1")  # a second answer to the same call
    state = log.state()
    assert _roles(state) == ["user", "assistant", "tool", "user"]
    note = _body(state.queue[0].message)
    assert note == {
        "type": "function_result",
        "function": "f",
        "call_id": "ghost",
        "status": "OK",
        "message": "done",
        "time": "2025-01-01T00:00:00Z",
    }
    assert_api_valid(compile_context(state, archival_count=0).messages)


def test_a_repeated_call_id_pairs_with_the_latest_call() -> None:
    log = _Log()
    log.respond("c1")
    log.result("c1")
    log.respond("c1")
    log.result("c1")
    state = log.state()
    assert _roles(state) == ["assistant", "tool", "assistant", "tool"]
    assert_api_valid(compile_context(state, archival_count=0).messages)


def test_memory_pressure_and_step_limit_are_system_alerts_to_the_model() -> None:
    log = _Log()
    log.add(MemoryPressure(agent=AGENT, seq=2, at=T0, prompt_tokens=3100, context_window=4000))
    log.add(StepLimited(agent=AGENT, seq=3, at=T0, steps=10))
    state = log.state()
    assert state.pressure_alerted
    alert, limited = (_body(entry.message) for entry in state.queue)
    assert alert["type"] == limited["type"] == "system_alert"
    assert "77% full (3,100 of 4,000 tokens)" in str(alert["message"])
    assert "archival_memory_insert" in str(alert["message"])
    assert "after 10 chained steps" in str(limited["message"])


def test_errors_and_tool_calls_do_not_enter_the_context() -> None:
    log = _Log()
    log.add(ErrorEvent(agent=AGENT, seq=2, at=T0, kind="llm_unreachable", message="down"))
    log.add(ToolCalled(agent=AGENT, seq=3, at=T0, call_id="c", name="f", arguments="{}"))
    log.add(AssistantMessage(agent=AGENT, seq=4, at=T0, text="hello"))
    state = log.state()
    assert state.queue == ()
    assert state.last_seq == 4


def test_core_memory_edit_sets_the_block_value() -> None:
    log = _Log()
    log.add(CoreMemoryEdited(agent=AGENT, seq=2, at=T0, block="human", op="rewrite", value="Rob"))
    assert log.state().memory.get("human") == Block(label="human", value="Rob", limit=100)


def test_compaction_drops_messages_through_seq_and_sets_the_summary() -> None:
    log = _Log()
    for text in ("one", "two", "three"):
        log.user(text)
    log.respond("c1", tokens=3900)
    log.add(MemoryPressure(agent=AGENT, seq=6, at=T0, prompt_tokens=3900, context_window=4000))
    before = log.state()
    log.add(
        ContextCompacted(agent=AGENT, seq=7, at=T0, through_seq=3, evicted=2, summary="Bob said")
    )
    state = log.state()
    assert [entry.seq for entry in state.queue] == [4, 5, 6]
    assert state.summary == "Bob said"
    assert state.recall_count == before.recall_count == 4  # the alert is not a recall message
    assert state.last_prompt_tokens is None
    assert not state.pressure_alerted
    assert state.compactions == 1


def test_a_compaction_that_cuts_a_call_from_its_result_leaves_a_valid_queue() -> None:
    # Plans never do this; a hand-written event must still fold to a usable state.
    log = _Log()
    call = log.respond("c1")
    log.user()
    log.result("c1")
    log.add(
        ContextCompacted(agent=AGENT, seq=log.next, at=T0, through_seq=call, evicted=1, summary="")
    )
    state = log.state()
    assert _roles(state) == ["user", "user"]
    assert _body(state.queue[1].message)["type"] == "function_result"
    assert_api_valid(compile_context(state, archival_count=0).messages)


def test_timers_are_tracked_until_cancelled_or_fired_once() -> None:
    log = _Log()
    once = log.add(TimerSet(agent=AGENT, seq=2, at=T0, timer_id="once", due=T0 + 60))
    daily = log.add(TimerSet(agent=AGENT, seq=3, at=T0, timer_id="daily", due=T0, every=86400))
    gone = log.add(TimerSet(agent=AGENT, seq=4, at=T0, timer_id="gone", due=T0))
    assert log.state().timers == (once, daily, gone)
    log.add(TimerCancelled(agent=AGENT, seq=5, at=T0, timer_id="gone"))
    log.add(TimerFired(agent=AGENT, seq=6, at=T0, timer_id="daily"))
    log.add(TimerFired(agent=AGENT, seq=7, at=T0, timer_id="once"))
    assert log.state().timers == (daily,)


def test_sources_are_listed_once_in_attach_order() -> None:
    log = _Log()
    for seq, source in enumerate(("wiki", "handbook", "wiki"), start=2):
        log.add(SourceAttached(agent=AGENT, seq=seq, at=T0, source=source))
    assert log.state().sources == ("wiki", "handbook")


def test_fold_refuses_an_event_out_of_order_or_of_another_agent() -> None:
    state = _Log().state()
    with pytest.raises(UsageError, match="cannot fold seq 3 after seq 1"):
        fold(state, UserMessage(agent=AGENT, seq=3, at=T0, text="x"))
    with pytest.raises(UsageError, match="of 'bob' into the state of 'ada'"):
        fold(state, UserMessage(agent="bob", seq=2, at=T0, text="x"))
    with pytest.raises(UsageError, match="cannot fold seq 2 after seq 0"):
        fold(AgentState(), UserMessage(agent=AGENT, seq=2, at=T0, text="x"))


# --- properties over generated histories -----------------------------------------------


@settings(max_examples=150)
@given(histories())
def test_fold_is_deterministic_and_the_prompt_hash_with_it(events: list[Event]) -> None:
    one, two = fold_all(events), fold_all(list(events))
    assert one == two
    a = compile_context(one, archival_count=7)
    b = compile_context(two, archival_count=7)
    assert a == b
    assert a.prompt_hash == b.prompt_hash


@settings(max_examples=150)
@given(histories(), st.data())
def test_folding_in_two_halves_equals_folding_at_once(
    events: list[Event], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(events)))
    assert fold_all(events[cut:], state=fold_all(events[:cut])) == fold_all(events)


@settings(max_examples=150)
@given(histories())
def test_every_folded_history_compiles_to_a_valid_conversation(events: list[Event]) -> None:
    state = fold_all(events)
    assert [entry.seq for entry in state.queue] == sorted(entry.seq for entry in state.queue)
    assert state.recall_count == len(recall_events(events))
    assert_api_valid(compile_context(state, archival_count=0).messages)
