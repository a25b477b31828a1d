"""Compiling the context window: the system message, the queue, the estimate and the hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings

from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    Event,
    LLMResponded,
    SourceAttached,
    ToolCall,
    ToolReturned,
    UserMessage,
)
from memvisor.memory._context import compile_context, queue_costs, system_text
from memvisor.memory._state import AgentState, fold_all
from memvisor.memory._tokens import REPLY_PRIMING, estimate_messages, message_tokens

from .strategies import AGENT, assert_api_valid, histories

T0 = 1_735_689_600.0


def _created(
    *, system: str = "You are Ada.", blocks: tuple[BlockSpec, ...] | None = None
) -> AgentCreated:
    if blocks is None:
        blocks = (
            BlockSpec(label="persona", value="I am Ada.", limit=500, read_only=True),
            BlockSpec(label="human", value="Name: Bob", shared="family"),
        )
    return AgentCreated(agent=AGENT, seq=1, at=T0, system=system, blocks=blocks)


def _call(call_id: str) -> ToolCall:
    return ToolCall(id=call_id, name="archival_memory_search", arguments='{"query": "tea"}')


def _conversation() -> list[Event]:
    """A call whose result comes after a user message, and a call never answered."""
    return [
        _created(),
        UserMessage(agent=AGENT, seq=2, at=T0 + 1, text="What tea do I like?"),
        LLMResponded(
            agent=AGENT, seq=3, at=T0 + 2, model="m", content="Search.", tool_calls=(_call("a"),)
        ),
        UserMessage(agent=AGENT, seq=4, at=T0 + 3, text="Hurry up"),
        ToolReturned(
            agent=AGENT,
            seq=5,
            at=T0 + 4,
            call_id="a",
            name="archival_memory_search",
            status="ok",
            content="Bob likes green tea.",
        ),
        LLMResponded(agent=AGENT, seq=6, at=T0 + 5, model="m", tool_calls=(_call("b"),)),
    ]


def test_system_message_has_prompt_blocks_with_sizes_statistics_and_no_summary_yet() -> None:
    state = fold_all([_created(), SourceAttached(agent=AGENT, seq=2, at=T0, source="handbook")])
    system = compile_context(state, archival_count=1).messages[0]
    assert system.role == "system"
    text = system.content or ""
    assert text.startswith("You are Ada.\n\n### Core memory\n")
    assert '<persona chars="9/500" read_only="true">\nI am Ada.\n</persona>' in text
    assert '<human chars="9/2000" shared="family">\nName: Bob\n</human>' in text
    assert "0 messages in recall memory" in text
    assert "1 passage in archival memory" in text
    assert "Data sources attached to archival memory: handbook." in text
    assert "Summary" not in text


def test_recall_count_and_summary_appear_after_a_compaction() -> None:
    events = [
        *_conversation()[:2],
        UserMessage(agent=AGENT, seq=3, at=T0, text="more"),
        ContextCompacted(
            agent=AGENT, seq=4, at=T0, through_seq=2, evicted=1, summary="Bob asked about tea."
        ),
    ]
    text = compile_context(fold_all(events), archival_count=0).messages[0].content or ""
    assert "2 messages in recall memory" in text
    assert "0 passages in archival memory" in text
    assert text.endswith(
        "### Summary of earlier conversation\n"
        "Older messages were moved out of this context; they are still in recall memory."
        " This is a summary of them:\nBob asked about tea."
    )


def test_empty_system_prompt_and_no_blocks_still_compile() -> None:
    state = fold_all([_created(system="", blocks=())])
    text = compile_context(state, archival_count=0).messages[0].content or ""
    assert text.startswith("### Core memory")
    assert "(no blocks)" in text


def test_results_follow_their_call_and_an_unanswered_call_gets_a_placeholder() -> None:
    messages = compile_context(fold_all(_conversation()), archival_count=0).messages
    assert [(m.role, m.tool_call_id) for m in messages] == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("tool", "a"),  # moved up to its call
        ("user", None),  # "Hurry up" arrived while the tool ran
        ("assistant", None),
        ("tool", "b"),  # placeholder
    ]
    assert json.loads(messages[3].content or "")["message"] == "Bob likes green tea."
    placeholder = json.loads(messages[6].content or "")
    assert placeholder == {"status": "Failed", "message": "No result was recorded for this call."}
    assert messages[6].name == "archival_memory_search"
    assert_api_valid(messages)


def test_prompt_hash_is_pinned_for_a_known_state() -> None:
    # The hash is logged with every response and compared on replay. If this
    # fails, the rendering changed: every logged prompt_hash now differs from a
    # replay's. Change it only on purpose, and say so in the commit.
    compiled = compile_context(fold_all(_conversation()), archival_count=3)
    assert compiled.prompt_hash == (
        "sha256:97fe5d2388d428ecdf0cf26c70ac0693b55e86d0520aca7a4922df4a7452eac8"
    )


def test_prompt_hash_is_the_same_in_another_process() -> None:
    here = compile_context(fold_all(_conversation()), archival_count=3).prompt_hash
    code = (
        "from tests.memory.test_context import _conversation;"
        "from memvisor.memory._context import compile_context;"
        "from memvisor.memory._state import fold_all;"
        "print(compile_context(fold_all(_conversation()), archival_count=3).prompt_hash)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TZ": "Pacific/Chatham"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == here


def test_prompt_hash_changes_with_what_the_model_sees() -> None:
    events = _conversation()
    base = compile_context(fold_all(events), archival_count=3).prompt_hash
    assert compile_context(fold_all(events), archival_count=4).prompt_hash != base
    assert compile_context(fold_all(events[:-1]), archival_count=3).prompt_hash != base


@settings(max_examples=150)
@given(histories())
def test_estimate_is_the_system_message_plus_the_queue_costs(events: list[Event]) -> None:
    state = fold_all(events)
    compiled = compile_context(state, archival_count=5)
    system = compiled.messages[0]
    assert system.content == system_text(state, archival_count=5, summary=state.summary)
    assert compiled.estimated_tokens == estimate_messages(compiled.messages)
    assert compiled.estimated_tokens == (
        REPLY_PRIMING + message_tokens(system) + sum(queue_costs(state))
    )
    assert_api_valid(compiled.messages)


def test_an_empty_state_compiles() -> None:
    compiled = compile_context(AgentState(), archival_count=0)
    assert len(compiled.messages) == 1
    assert compiled.estimated_tokens > 0
