"""The log seam: what every event store does, and the in-memory one.

An agent's log is append-only. Appends carry the sequence numbers they claim; a
store accepts them only if they continue the agent's sequence exactly, so two
writers can never interleave (the loser gets :class:`ConflictError`). This is
optimistic concurrency: the same rule works for SQLite here and for a
distributed log whose appends carry an expected last sequence.

Every store also answers recall queries: a search of the messages among an
agent's events (``_recall``). Recall is a projection of the log, so a store
indexes a message with the append that brings it, or not at all.

The one way out of append-only is deleting an agent whole (``memvisor agents
delete``): its events and its messages in recall go together, in one
transaction, and a new agent of that name starts again at ``seq`` 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal, Protocol

import anyio
import msgspec

from .._exceptions import ConflictError, UsageError
from ._recall import RecallPage, RecallQuery
from ._recall_memory import MemoryRecall
from ._types import Event

__all__ = ["Durability", "EventLog", "LogStatistics", "MemoryEventLog", "check_append"]

Durability = Literal["full", "normal"]
"""``"full"``: an append returns once it survives power loss (fsync per commit).
``"normal"``: it survives the process dying; the last commits may be lost on power loss."""


class LogStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of a log since it was opened."""

    appends: int
    """Calls to ``append`` that succeeded."""
    events: int
    """Events written by them."""
    commits: int
    """Transactions committed (group commit makes this smaller than ``appends``)."""


class EventLog(Protocol):
    """Where events live. Implementations: SQLite (:func:`open_sqlite_log`), memory."""

    async def append(self, events: Sequence[Event]) -> None:
        """Append one agent's events atomically, once they are durable.

        ``events`` must all belong to one agent and carry ``seq`` values that
        continue its log without a gap.

        Raises:
            ConflictError: the first ``seq`` is not the agent's next one.
            UsageError: the events mix agents or their ``seq`` values have gaps.
        """
        ...

    async def read(
        self, agent: str, *, start: int = 1, stop: int | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events of ``agent`` with ``start <= seq < stop``, in order (at most ``limit``)."""
        ...

    async def tail(self, agent: str, n: int) -> list[Event]:
        """The last ``n`` events of ``agent``, in order."""
        ...

    async def last_seq(self, agent: str) -> int:
        """The highest ``seq`` of ``agent``, 0 if it has no events."""
        ...

    async def agents(self) -> list[str]:
        """Names of every agent with at least one event, sorted."""
        ...

    async def search_recall(self, agent: str, query: RecallQuery) -> RecallPage:
        """One page of ``agent``'s messages (see :func:`message_of`) matching ``query``.

        With text, hits hold at least one of its words and are ranked by BM25,
        best first, then newest first; without, the newest (highest ``seq``)
        come first. Filters by role and by time (``start <= at <= end``) apply
        either way. A page past the last one is empty but still gives the total.

        Raises:
            UsageError: the query is malformed (see :class:`RecallQuery`).
        """
        ...

    async def count_recall(self, agent: str) -> int:
        """How many of ``agent``'s events are messages in recall."""
        ...

    async def delete(self, agent: str) -> int:
        """Delete every event of ``agent`` and its messages in recall, atomically.

        Afterwards the agent has no events: it is not in :meth:`agents`, its
        ``last_seq`` is 0 and its next append starts at ``seq`` 1. Other agents'
        recall ranks as if its messages had never been there. The caller makes
        sure nothing appends to the agent meanwhile (its actor is not running).

        Returns:
            How many events were deleted (0 for an agent with none).

        Raises:
            UsageError: appends of ``agent`` are waiting to be written.
        """
        ...

    def statistics(self) -> LogStatistics:
        """Counters since the log was opened."""
        ...


def check_append(events: Sequence[Event], last_seq: int) -> None:
    """Validate an append against the agent's current last ``seq``.

    Raises:
        UsageError: mixed agents, a gap inside the batch, or a non-finite ``at``.
        ConflictError: the batch does not start at ``last_seq + 1``.
    """
    agent = events[0].agent
    for event in events:
        if not math.isfinite(event.at):
            raise UsageError(
                f"event time must be a finite number, got {event.at!r}",
                actor_id=agent,
                seq=event.seq,
            )
    for prev, event in itertools.pairwise(events):
        if event.agent != agent:
            raise UsageError(
                f"one append holds one agent's events, got {agent!r} and {event.agent!r}"
            )
        if event.seq != prev.seq + 1:
            raise UsageError(
                f"seq values in one append must be consecutive, got {prev.seq} then {event.seq}",
                actor_id=agent,
            )
    if events[0].seq != last_seq + 1:
        raise ConflictError(
            f"append starts at seq {events[0].seq} but the log's next seq is {last_seq + 1}"
            " (another writer appended, or the writer's state is stale)",
            actor_id=agent,
            seq=events[0].seq,
        )


class MemoryEventLog:
    """An :class:`EventLog` held in memory: for tests and simulations.

    It checks appends exactly like the durable stores, so code that passes its
    tests against this log keeps its sequence discipline on disk, and it answers
    recall searches with the same hits, order and scores as the SQLite log.
    """

    def __init__(self) -> None:
        self._logs: dict[str, list[Event]] = {}
        self._recall = MemoryRecall()
        self._appends = 0
        self._events = 0

    async def append(self, events: Sequence[Event]) -> None:
        """Append one agent's events (see :meth:`EventLog.append`)."""
        await anyio.lowlevel.checkpoint()
        if not events:
            return
        log = self._logs.setdefault(events[0].agent, [])
        check_append(events, len(log))
        log.extend(events)
        self._recall.add(events)
        self._appends += 1
        self._events += len(events)

    async def read(
        self, agent: str, *, start: int = 1, stop: int | None = None, limit: int | None = None
    ) -> list[Event]:
        await anyio.lowlevel.checkpoint()
        log = self._logs.get(agent, [])
        first = max(start, 1) - 1
        last = len(log) if stop is None else max(first, min(stop - 1, len(log)))
        if limit is not None:
            last = min(last, first + max(limit, 0))
        return log[first:last]

    async def tail(self, agent: str, n: int) -> list[Event]:
        await anyio.lowlevel.checkpoint()
        return self._logs.get(agent, [])[-n:] if n > 0 else []

    async def last_seq(self, agent: str) -> int:
        await anyio.lowlevel.checkpoint()
        return len(self._logs.get(agent, ()))

    async def agents(self) -> list[str]:
        await anyio.lowlevel.checkpoint()
        return sorted(name for name, log in self._logs.items() if log)

    async def search_recall(self, agent: str, query: RecallQuery) -> RecallPage:
        """See :meth:`EventLog.search_recall`."""
        await anyio.lowlevel.checkpoint()
        return self._recall.search(agent, query)

    async def count_recall(self, agent: str) -> int:
        """See :meth:`EventLog.count_recall`."""
        await anyio.lowlevel.checkpoint()
        return self._recall.count(agent)

    async def delete(self, agent: str) -> int:
        """See :meth:`EventLog.delete`."""
        await anyio.lowlevel.checkpoint()
        events = self._logs.pop(agent, [])
        self._recall.remove(agent)
        return len(events)

    def statistics(self) -> LogStatistics:
        return LogStatistics(appends=self._appends, events=self._events, commits=self._appends)
