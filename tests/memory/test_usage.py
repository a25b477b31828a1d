"""What fills the context window: parts that add up to the compiled context's estimate."""

from __future__ import annotations

from hypothesis import given, settings

from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    ContextRewound,
    Event,
    ExternalEvent,
    LLMResponded,
    MemoryPressure,
    ToolCall,
    ToolReturned,
    UserMessage,
)
from memvisor.memory._compaction import CompactionConfig, NoCompaction, plan_compaction
from memvisor.memory._context import compile_context
from memvisor.memory._state import fold_all
from memvisor.memory._tokens import estimate_text
from memvisor.memory._usage import context_usage

from .strategies import AGENT, histories

T0 = 1_735_689_600.0


def _log() -> list[Event]:
    call = ToolCall(id="c1", name="conversation_search", arguments='{"query": "cats"}')
    return [
        AgentCreated(
            agent=AGENT,
            seq=1,
            at=T0,
            model="m",
            system="You are Ada, and you remember.",
            blocks=(BlockSpec(label="persona", value="I am Ada."), BlockSpec(label="human")),
            context_window=4096,
        ),
        UserMessage(agent=AGENT, seq=2, at=T0 + 1, text="Do you remember my cats?"),
        LLMResponded(
            agent=AGENT,
            seq=3,
            at=T0 + 2,
            model="m",
            content="Let me look.",
            tool_calls=(call,),
        ),
        ToolReturned(
            agent=AGENT,
            seq=4,
            at=T0 + 3,
            call_id="c1",
            name="conversation_search",
            status="ok",
            content="No results found.",
        ),
        ExternalEvent(agent=AGENT, seq=5, at=T0 + 4, source="webhook", text="door opened"),
        UserMessage(agent=AGENT, seq=6, at=T0 + 5, text="Never mind."),
        MemoryPressure(agent=AGENT, seq=7, at=T0 + 6, prompt_tokens=3100, context_window=4096),
    ]


def test_each_part_of_the_window_is_counted_under_its_kind() -> None:
    state = fold_all(_log())
    usage = context_usage(state)
    parts = {p.label: p for p in usage.parts}
    assert list(parts) == [
        "system prompt",
        "core memory",
        "memory statistics",
        "user messages",
        "external events",
        "system alerts",
        "assistant (thoughts and calls)",
        "function results",
        "formatting",
    ]
    assert parts["system prompt"].tokens == estimate_text("You are Ada, and you remember.")
    assert parts["user messages"].messages == 2
    assert parts["external events"].messages == 1
    assert parts["assistant (thoughts and calls)"].messages == 1
    assert parts["function results"].messages == 1
    assert parts["system prompt"].messages is None
    assert usage.context_window == 4096
    assert usage.last_prompt_tokens is None
    assert usage.total == compile_context(state, archival_count=0).estimated_tokens
    assert sum(p.tokens for p in usage.parts) == usage.total
    assert 0 < usage.fraction < 1


def test_a_summary_is_a_part_and_messages_that_left_the_window_are_not() -> None:
    events = [
        *_log(),
        ContextCompacted(
            agent=AGENT, seq=8, at=T0 + 7, through_seq=4, evicted=3, summary="Bob has two cats."
        ),
    ]
    usage = context_usage(fold_all(events))
    parts = {p.label: p for p in usage.parts}
    assert parts["summary"].tokens >= estimate_text("Bob has two cats.")
    assert "assistant (thoughts and calls)" not in parts
    assert parts["user messages"].messages == 1
    rewound = context_usage(
        fold_all([*events, ContextRewound(agent=AGENT, seq=9, at=T0 + 8, from_seq=5)])
    )
    labels = [p.label for p in rewound.parts]
    assert labels == ["system prompt", "core memory", "memory statistics", "summary", "formatting"]


def test_the_archival_count_shown_is_the_states_unless_given() -> None:
    state = fold_all(_log())
    shown = context_usage(state, archival_count=123_456)
    assert shown.total == compile_context(state, archival_count=123_456).estimated_tokens
    assert shown.total > context_usage(state).total


@settings(max_examples=150, deadline=None)
@given(events=histories())
def test_the_parts_always_add_up_to_the_compiled_estimate(events: list[Event]) -> None:
    state = fold_all(events)
    usage = context_usage(state)
    assert (
        usage.total == compile_context(state, archival_count=state.archival_count).estimated_tokens
    )
    assert sum(p.tokens for p in usage.parts) == usage.total
    assert all(p.tokens > 0 for p in usage.parts if p.label != "system prompt")
    assert sum(p.messages or 0 for p in usage.parts) == len(state.queue)
    assert usage.last_prompt_tokens == state.last_prompt_tokens


def test_with_the_same_schema_tokens_the_total_is_what_compaction_plans_with() -> None:
    state = fold_all(_log())
    usage = context_usage(state, schema_tokens=1500)
    assert usage.parts[-1].label == "function schemas"
    assert usage.parts[-1].tokens == 1500
    assert usage.total == compile_context(state, archival_count=0).estimated_tokens + 1500
    # The planner, given the same fixed cost, plans with exactly that estimate.
    plan = plan_compaction(state, CompactionConfig(), archival_count=0, fixed_tokens=1500)
    assert isinstance(plan, NoCompaction)
    assert plan.prompt_tokens == usage.total
