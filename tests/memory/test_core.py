"""Core memory edits and shared blocks, as pure functions: no event loop, no log."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import UsageError
from memvisor.events import AgentCreated, BlockSpec, CoreMemoryEdited, Event
from memvisor.memory._core import (
    Block,
    CoreMemory,
    Edited,
    EditOutcome,
    EditRejected,
    apply_edit,
    core_append,
    core_create,
    core_replace,
    core_rewrite,
)
from memvisor.memory._shared import SharedBlocks, fan_out
from memvisor.memory._state import AgentState, fold, fold_all

from .strategies import texts


def _memory() -> CoreMemory:
    return CoreMemory(
        blocks=(
            Block(label="persona", value="I am Ada.", limit=100, read_only=True),
            Block(label="human", value="Name: Bob", limit=40),
        )
    )


def _edited(outcome: EditOutcome) -> Edited:
    assert isinstance(outcome, Edited), outcome
    return outcome


def _rejected(outcome: EditOutcome) -> str:
    assert isinstance(outcome, EditRejected), outcome
    return outcome.message


# --- successful edits ----------------------------------------------------------------


def test_append_adds_content_on_a_new_line() -> None:
    edit = _edited(core_append(_memory(), "human", "Likes tea"))
    assert edit.op == "append"
    assert edit.value == "Name: Bob\nLikes tea"
    assert edit.block.limit == 40


def test_append_to_an_empty_block_adds_no_leading_newline() -> None:
    memory = CoreMemory(blocks=(Block(label="notes"),))
    assert _edited(core_append(memory, "notes", "first")).value == "first"


def test_replace_changes_the_one_exact_occurrence() -> None:
    edit = _edited(core_replace(_memory(), "human", "Bob", "Robert"))
    assert edit.value == "Name: Robert"
    assert edit.op == "replace"


def test_replace_with_empty_new_content_deletes_the_passage() -> None:
    assert _edited(core_replace(_memory(), "human", ": Bob", "")).value == "Name"


def test_rewrite_replaces_the_whole_text_and_may_empty_it() -> None:
    assert _edited(core_rewrite(_memory(), "human", "Bob, 42")).value == "Bob, 42"
    assert _edited(core_rewrite(_memory(), "human", "")).value == ""


def test_an_edit_exactly_at_the_limit_is_accepted() -> None:
    assert len(_edited(core_rewrite(_memory(), "human", "x" * 40)).value) == 40


def test_limits_count_characters_not_bytes() -> None:
    memory = CoreMemory(blocks=(Block(label="b", limit=5),))
    assert _edited(core_rewrite(memory, "b", "ééééé")).value == "ééééé"
    assert _edited(core_rewrite(memory, "b", "👋👋👋👋👋")).value == "👋👋👋👋👋"
    assert "6 characters, 1 over" in _rejected(core_rewrite(memory, "b", "👋" * 6))


def test_edit_event_carries_the_whole_new_value() -> None:
    event = _edited(core_append(_memory(), "human", "Likes tea")).event(
        agent="ada", seq=7, at=1.5, cause=6
    )
    assert event == CoreMemoryEdited(
        agent="ada",
        seq=7,
        at=1.5,
        cause=6,
        block="human",
        op="append",
        value="Name: Bob\nLikes tea",
    )
    assert apply_edit(_memory(), event).get("human") == Block(
        label="human", value="Name: Bob\nLikes tea", limit=40
    )


def test_create_adds_a_block_with_its_rules_at_the_end() -> None:
    edit = _edited(core_create(_memory(), "project", "memvisor", limit=300, shared="team"))
    event = edit.event(agent="ada", seq=3, at=0.0)
    assert event.op == "create"
    assert event.spec == BlockSpec(label="project", limit=300, shared="team")
    memory = apply_edit(_memory(), event)
    assert memory.labels() == ("persona", "human", "project")
    assert memory.get("project") == Block(
        label="project", value="memvisor", limit=300, shared="team"
    )


def test_a_logged_edit_is_applied_as_written_even_over_the_limit() -> None:
    # The log is the truth: the fold never re-checks, so it never fails.
    event = CoreMemoryEdited(
        agent="a", seq=2, at=0, block="persona", op="rewrite", value="x" * 500
    )
    block = apply_edit(_memory(), event).get("persona")
    assert block is not None
    assert block.value == "x" * 500
    assert block.read_only
    assert block.free == -400


def test_a_logged_edit_of_a_missing_block_creates_it_with_the_defaults() -> None:
    event = CoreMemoryEdited(agent="a", seq=2, at=0, block="new", op="append", value="v")
    assert apply_edit(CoreMemory(), event).get("new") == Block(label="new", value="v")


# --- rejections: nothing changes and the message says what to do ---------------------


def test_append_over_the_limit_says_how_much_is_free_and_suggests_archival() -> None:
    memory = _memory()
    message = _rejected(core_append(memory, "human", "x" * 40))
    assert "Block 'human' was not changed" in message
    assert "50 characters, 10 over its limit of 40 (31 characters are free)" in message
    assert "archival_memory_insert" in message
    assert "core_memory_rewrite" in message
    assert memory == _memory()


def test_replace_over_the_limit_is_rejected() -> None:
    message = _rejected(core_replace(_memory(), "human", "Bob", "B" * 40))
    assert "over its limit of 40" in message
    assert "archival_memory_insert" in message


def test_rewrite_over_the_limit_says_by_how_much() -> None:
    message = _rejected(core_rewrite(_memory(), "human", "x" * 45))
    assert "45 characters, 5 over the block's limit of 40" in message
    assert "at most 40 characters" in message


def test_read_only_block_rejects_every_edit_and_names_the_editable_ones() -> None:
    memory = _memory()
    for outcome in (
        core_append(memory, "persona", "x"),
        core_replace(memory, "persona", "Ada", "Eve"),
        core_rewrite(memory, "persona", ""),
    ):
        message = _rejected(outcome)
        assert "Block 'persona' is read-only and was not changed" in message
        assert "'human'" in message
        assert "archival_memory_insert" in message


def test_unknown_label_lists_the_labels() -> None:
    message = _rejected(core_append(_memory(), "humans", "x"))
    assert "no core memory block labelled 'humans'" in message
    assert "'persona', 'human'" in message
    assert "There are no core memory blocks" in _rejected(core_append(CoreMemory(), "x", "y"))


def test_replace_of_text_that_does_not_occur_points_to_the_shown_text() -> None:
    message = _rejected(core_replace(_memory(), "human", "name: bob", "x"))
    assert "old_content does not occur in it" in message
    assert "system message" in message
    assert "core_memory_append" in message


def test_replace_of_an_ambiguous_passage_is_rejected_with_the_count() -> None:
    memory = CoreMemory(blocks=(Block(label="h", value="Bob and Bob and Bob"),))
    message = _rejected(core_replace(memory, "h", "Bob", "Rob"))
    assert "occurs 3 times" in message
    assert "surrounding text" in message
    assert _edited(core_replace(memory, "h", "Bob and Bob and", "Rob and Rob and")).value == (
        "Rob and Rob and Bob"
    )


def test_replace_with_empty_old_content_is_rejected() -> None:
    assert "old_content is empty" in _rejected(core_replace(_memory(), "human", "", "x"))


def test_append_of_nothing_is_rejected() -> None:
    assert "content is empty" in _rejected(core_append(_memory(), "human", ""))


@pytest.mark.parametrize(
    ("label", "value", "limit", "expected"),
    [
        ("human", "", 100, "already exists"),
        ("", "", 100, "not a valid label"),
        ("has space", "", 100, "not a valid label"),
        ("1st", "", 100, "not a valid label"),
        ("x" * 65, "", 100, "not a valid label"),
        ("notes", "", 0, "must be positive"),
        ("notes", "x" * 11, 10, "11 characters, over the limit of 10"),
    ],
)
def test_create_rejections(label: str, value: str, limit: int, expected: str) -> None:
    assert expected in _rejected(core_create(_memory(), label, value, limit=limit))


_ops = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(["persona", "human", "notes", "nope"]), texts),
    st.tuples(
        st.just("replace"),
        st.sampled_from(["persona", "human", "notes"]),
        st.tuples(st.text(max_size=3), texts),
    ),
    st.tuples(st.just("rewrite"), st.sampled_from(["persona", "human", "notes"]), texts),
    st.tuples(st.just("create"), st.sampled_from(["notes", "human", "x y"]), texts),
)


@given(st.lists(_ops, max_size=40))
def test_random_edits_keep_blocks_within_limits_and_read_only_blocks_unchanged(
    ops: list[tuple[str, str, object]],
) -> None:
    memory = _memory()
    persona = memory.get("persona")
    for seq, (op, label, argument) in enumerate(ops, start=2):
        before = memory
        if op == "append":
            assert isinstance(argument, str)
            outcome = core_append(memory, label, argument)
        elif op == "replace":
            assert isinstance(argument, tuple)
            outcome = core_replace(memory, label, argument[0], argument[1])
        elif op == "rewrite":
            assert isinstance(argument, str)
            outcome = core_rewrite(memory, label, argument)
        else:
            assert isinstance(argument, str)
            outcome = core_create(memory, label, argument, limit=30)
        if isinstance(outcome, Edited):
            memory = apply_edit(memory, outcome.event(agent="ada", seq=seq, at=0.0))
            assert memory.get(label) == outcome.block
        else:
            assert memory == before
            assert outcome.message
        assert all(len(block.value) <= block.limit for block in memory.blocks)
        assert memory.get("persona") == persona
        assert memory.labels()[:2] == ("persona", "human")


# --- shared blocks ---------------------------------------------------------------------


def _created(agent: str, label: str, *, limit: int = 200) -> AgentCreated:
    return AgentCreated(
        agent=agent,
        seq=1,
        at=0.0,
        blocks=(
            BlockSpec(label="persona", value=f"I am {agent}."),
            BlockSpec(label=label, value="We ship on Fridays.", limit=limit, shared="team-notes"),
        ),
    )


def test_fan_out_sends_the_edit_to_every_other_sharer_under_their_labels() -> None:
    states = {
        "ada": fold(AgentState(), _created("ada", "team")),
        "bob": fold(AgentState(), _created("bob", "notes")),
        "cy": fold(AgentState(), _created("cy", "team")),
    }
    registry = SharedBlocks()
    for agent, state in states.items():
        registry = registry.join(agent, state.memory)
    edit = _edited(core_append(states["ada"].memory, "team", "Bob is on call.")).event(
        agent="ada", seq=2, at=5.0
    )
    events = fan_out(registry, edit, next_seqs={"bob": 2, "cy": 2}, at=6.0)
    assert [(e.agent, e.seq, e.block, e.origin, e.at) for e in events] == [
        ("bob", 2, "notes", "ada", 6.0),
        ("cy", 2, "team", "ada", 6.0),
    ]
    assert all(e.value == "We ship on Fridays.\nBob is on call." for e in events)
    # An edit received from another agent is never sent on again: no echo.
    assert fan_out(registry, events[0], next_seqs={"ada": 3, "cy": 3}, at=7.0) == ()


def test_fan_out_of_an_unshared_block_is_empty() -> None:
    state = fold(AgentState(), _created("ada", "team"))
    registry = SharedBlocks().join("ada", state.memory)
    edit = CoreMemoryEdited(agent="ada", seq=2, at=0, block="persona", op="rewrite", value="x")
    assert fan_out(registry, edit, next_seqs={}, at=0.0) == ()


def test_fan_out_needs_the_next_seq_of_every_sharer() -> None:
    registry = SharedBlocks()
    for agent in ("ada", "bob"):
        registry = registry.join(agent, fold(AgentState(), _created(agent, "team")).memory)
    edit = CoreMemoryEdited(agent="ada", seq=2, at=0, block="team", op="rewrite", value="x")
    with pytest.raises(UsageError, match="no next seq given for 'bob'"):
        fan_out(registry, edit, next_seqs={}, at=0.0)


def test_sharers_must_agree_on_the_rules() -> None:
    registry = SharedBlocks().join("ada", fold(AgentState(), _created("ada", "team")).memory)
    other = fold(AgentState(), _created("bob", "team", limit=100)).memory
    with pytest.raises(UsageError, match="make them agree"):
        registry.join("bob", other)


def test_one_agent_cannot_mirror_a_share_twice() -> None:
    memory = CoreMemory(
        blocks=(Block(label="a", shared="s"), Block(label="b", shared="s")),
    )
    with pytest.raises(UsageError, match="two blocks mirroring 's'"):
        SharedBlocks().join("ada", memory)


def test_registry_join_is_idempotent_and_leave_drops_empty_shares() -> None:
    memory = fold(AgentState(), _created("ada", "team")).memory
    registry = SharedBlocks().join("ada", memory)
    assert registry.join("ada", memory) == registry
    share = registry.get("team-notes")
    assert share is not None
    assert (share.limit, share.read_only) == (200, False)
    assert registry.share_of("ada", "team") == share
    assert registry.share_of("ada", "persona") is None
    assert registry.leave("ada") == SharedBlocks()
    assert registry.leave("ada").get("team-notes") is None


_AGENTS = ("ada", "bob", "cy")
_LABELS = {"ada": "team", "bob": "notes", "cy": "team"}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_AGENTS),
            st.sampled_from(["append", "replace", "rewrite"]),
            texts,
        ),
        max_size=30,
    )
)
def test_shared_block_converges_when_every_edit_reaches_every_sharer(
    edits: list[tuple[str, str, str]],
) -> None:
    logs: dict[str, list[Event]] = {
        agent: [_created(agent, _LABELS[agent], limit=120)] for agent in _AGENTS
    }
    registry = SharedBlocks()
    for agent in _AGENTS:
        registry = registry.join(agent, fold_all(logs[agent]).memory)
    for agent, op, text in edits:
        state = fold_all(logs[agent])
        label = _LABELS[agent]
        if op == "append":
            outcome = core_append(state.memory, label, text)
        elif op == "replace":
            block = state.memory.get(label)
            assert block is not None
            outcome = core_replace(state.memory, label, block.value[:3], text)
        else:
            outcome = core_rewrite(state.memory, label, text)
        if isinstance(outcome, EditRejected):
            continue
        edit = outcome.event(agent=agent, seq=len(logs[agent]) + 1, at=0.0)
        logs[agent].append(edit)
        next_seqs = {other: len(logs[other]) + 1 for other in _AGENTS}
        for event in fan_out(registry, edit, next_seqs=next_seqs, at=1.0):
            logs[event.agent].append(event)
        values = set()
        for other in _AGENTS:
            block = fold_all(logs[other]).memory.get(_LABELS[other])
            assert block is not None
            assert len(block.value) <= block.limit
            values.add(block.value)
        assert len(values) == 1
