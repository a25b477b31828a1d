"""Recall: every message the agent ever saw or sent, searchable, read from the log.

Which events are messages, and how each reads in recall (:func:`message_of`)::

    event                          role        text
    user_message                   user        its text
    assistant_message              assistant   its text
    llm_responded (with content)   thought     the model's inner monologue
    agent_message                  agent       "sender: text"
    external_event                 event       its text, else its payload as compact JSON,
                                               else "(from <source>)"
    timer_fired                    event       its text, else "timer <id> fired"
    tool_returned                  tool        its content
    anything else                  (not a message)

Invariants:

* Recall is a projection of the log: ``message_of`` is pure, so a store can
  index a message when its event is appended, rebuild the index from the log,
  or compute the text of a hit again from the stored event, and always agree.
* Both stores answer a :class:`RecallQuery` the same way: the same hits in the
  same order (text search ranked by BM25, best first; otherwise the newest
  first, by ``seq``), the same totals. ``tests/events/test_recall.py`` runs the
  contract against both.
"""

# No ``from __future__ import annotations``: the Structs are re-exported under
# ``memvisor.events``, where string annotations could not be resolved (see _types.py).

import math
from collections.abc import Iterable
from typing import Literal, assert_never

import msgspec

from .._exceptions import UsageError
from ._types import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
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
    ToolCalled,
    ToolReturned,
    UserMessage,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "RECALL_ROLES",
    "RecallEntry",
    "RecallHit",
    "RecallPage",
    "RecallQuery",
    "RecallRole",
    "check_query",
    "event_types_of",
    "message_of",
]

RecallRole = Literal["user", "assistant", "thought", "agent", "event", "tool"]
"""Who a message in recall came from (see :func:`message_of`)."""

RECALL_ROLES: tuple[RecallRole, ...] = ("user", "assistant", "thought", "agent", "event", "tool")
"""Every :data:`RecallRole`."""

MAX_PAGE_SIZE = 1000
"""The largest ``page_size`` a :class:`RecallQuery` may ask for."""

_json = msgspec.json.Encoder()

_ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "user": ("user_message",),
    "assistant": ("assistant_message",),
    "thought": ("llm_responded",),
    "agent": ("agent_message",),
    "event": ("external_event", "timer_fired"),
    "tool": ("tool_returned",),
}
"""The event types whose messages have each role: what :func:`message_of` does, by tag."""


class RecallEntry(msgspec.Struct, frozen=True, kw_only=True):
    """How one event reads in recall."""

    role: RecallRole
    text: str


class RecallQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A search of one agent's recall. Every condition given must hold."""

    text: str | None = None
    """Words to search for, as anyone would type them (no query syntax: quotes,
    ``NEAR``, ``*`` and the like are plain separators). Hits contain at least one
    of the words that are not English stop words, ranked by BM25, best first.
    A text of nothing but stop words searches for them all. ``None``, or a text
    with no letters or digits, sets no text condition: the newest messages come
    first."""
    roles: tuple[str, ...] = ()
    """Only messages of these roles (see :data:`RECALL_ROLES`); empty: all."""
    start: float | None = None
    """Only messages with ``at >= start`` (seconds since the epoch)."""
    end: float | None = None
    """Only messages with ``at <= end``."""
    page: int = 0
    """Which page of results, 0 for the first."""
    page_size: int = 5
    """Hits per page, 1 to :data:`MAX_PAGE_SIZE`."""


class RecallHit(msgspec.Struct, frozen=True, kw_only=True):
    """One message found in recall."""

    seq: int
    """The ``seq`` of its event in the agent's log."""
    at: float
    role: RecallRole
    text: str
    score: float
    """BM25 relevance to the query's text, higher is better; 0.0 without text."""


class RecallPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the results of a :class:`RecallQuery`."""

    hits: tuple[RecallHit, ...]
    total: int
    """Messages matching the query, over all pages."""
    page: int
    """This page's number, 0 for the first."""
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages the results fill (0 when nothing matched)."""
        return -(-self.total // self.page_size)


def check_query(query: RecallQuery) -> None:
    """Validate a query as both stores do.

    Raises:
        UsageError: a negative page, a page size out of range, an unknown role,
            a NaN bound, or ``start`` after ``end``.
    """
    if query.page < 0:
        raise UsageError(f"page numbers start at 0, got {query.page}")
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise UsageError(f"page_size must be 1 to {MAX_PAGE_SIZE}, got {query.page_size}")
    unknown = sorted(set(query.roles) - set(RECALL_ROLES))
    if unknown:
        raise UsageError(f"unknown recall roles {unknown}; the roles are {list(RECALL_ROLES)}")
    for bound in (query.start, query.end):
        if bound is not None and math.isnan(bound):
            raise UsageError("a date bound must be a number of seconds, not NaN")
    if query.start is not None and query.end is not None and query.start > query.end:
        raise UsageError(f"start ({query.start}) is after end ({query.end})")


def event_types_of(roles: Iterable[str]) -> tuple[str, ...]:
    """The tags of the event types whose messages have one of ``roles`` (known ones)."""
    return tuple(sorted({t for role in roles for t in _ROLE_TYPES[role]}))


def message_of(event: Event) -> RecallEntry | None:
    """How ``event`` reads in recall, or ``None`` if it is not a message.

    Pure: the same event always gives the same entry (see the module docstring
    for the table).
    """
    entry: RecallEntry | None = None
    match event:
        case UserMessage(text=text):
            entry = RecallEntry(role="user", text=text)
        case AssistantMessage(text=text):
            entry = RecallEntry(role="assistant", text=text)
        case LLMResponded(content=content):
            if content:
                entry = RecallEntry(role="thought", text=content)
        case AgentMessage(sender=sender, text=text):
            entry = RecallEntry(role="agent", text=f"{sender}: {text}")
        case ExternalEvent():
            entry = RecallEntry(role="event", text=_external_text(event))
        case TimerFired(timer_id=timer_id, text=text):
            entry = RecallEntry(role="event", text=text or f"timer {timer_id} fired")
        case ToolReturned(content=content):
            entry = RecallEntry(role="tool", text=content)
        case (
            AgentCreated()
            | TimerSet()
            | TimerCancelled()
            | ToolCalled()
            | StepLimited()
            | ErrorEvent()
            | CoreMemoryEdited()
            | MemoryPressure()
            | ContextCompacted()
            | SourceAttached()
            | HeartbeatsPaused()
            | ContextRewound()
        ):
            pass  # not messages: setup, bookkeeping, and the runtime's own alerts
        case _:
            assert_never(event)
    return entry


def _external_text(event: ExternalEvent) -> str:
    if event.text:
        return event.text
    if event.payload is not None:
        try:
            return _json.encode(event.payload).decode()
        except (msgspec.MsgspecError, TypeError, ValueError):
            # msgpack can carry what JSON cannot (binary extension types, keys
            # that are not strings): show it as Python would.
            return repr(event.payload)
    return f"(from {event.source})"
