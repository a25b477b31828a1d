"""One root for every error, the tree as documented, and context attached at the boundary."""

from __future__ import annotations

import anyio
import pytest

import memvisor
from memvisor import (
    ActorBrokenError,
    ActorClosedError,
    ActorError,
    AskTimeoutError,
    ConfigError,
    ConflictError,
    ContextOverflowError,
    CorruptLogError,
    EmbeddingError,
    EventDecodeError,
    ForeignFileError,
    LLMAPIError,
    LogError,
    MailboxFullError,
    MemvisorError,
    ModelBehaviorError,
    ToolError,
    UnknownActorError,
    UsageError,
    error_context,
)

TREE: dict[type[MemvisorError], type[Exception]] = {
    UsageError: MemvisorError,
    ConfigError: MemvisorError,
    EventDecodeError: MemvisorError,
    EmbeddingError: MemvisorError,
    LLMAPIError: MemvisorError,
    ContextOverflowError: LLMAPIError,
    ModelBehaviorError: MemvisorError,
    ToolError: MemvisorError,
    LogError: MemvisorError,
    ConflictError: LogError,
    CorruptLogError: LogError,
    ForeignFileError: LogError,
    ActorError: MemvisorError,
    UnknownActorError: ActorError,
    MailboxFullError: ActorError,
    AskTimeoutError: ActorError,
    ActorClosedError: ActorError,
    ActorBrokenError: ActorError,
}


def test_every_exported_error_is_in_the_tree_under_the_one_root() -> None:
    exported = {
        value
        for value in vars(memvisor).values()
        if isinstance(value, type) and issubclass(value, MemvisorError)
    }
    assert exported == {MemvisorError, *TREE}
    for error, parent in TREE.items():
        assert issubclass(error, parent)


def test_errors_also_are_the_standard_errors_callers_already_catch() -> None:
    assert issubclass(MailboxFullError, anyio.WouldBlock)
    assert issubclass(AskTimeoutError, TimeoutError)
    assert issubclass(UnknownActorError, LookupError)


def test_the_message_names_the_actor_and_seq_when_known() -> None:
    assert str(ConflictError("taken")) == "taken"
    assert str(ConflictError("taken", actor_id="alice", seq=7)) == "taken (actor 'alice', seq 7)"


def test_error_context_attaches_what_the_boundary_knows_and_keeps_what_is_more_precise() -> None:
    with pytest.raises(LogError) as excinfo, error_context(actor_id="alice", seq=3):
        raise LogError("disk full")
    assert (excinfo.value.actor_id, excinfo.value.seq) == ("alice", 3)

    with pytest.raises(LogError) as excinfo, error_context(actor_id="alice", seq=3):
        raise LogError("damaged", seq=9)
    assert (excinfo.value.actor_id, excinfo.value.seq) == ("alice", 9)


def test_error_context_leaves_other_exceptions_alone() -> None:
    with pytest.raises(ValueError, match="not ours"), error_context(actor_id="alice"):
        raise ValueError("not ours")
