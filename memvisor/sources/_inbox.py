"""The inbox: where events from outside wait, durable, until their agent takes them.

```
source ── deliver(agent, event) ──► Inbox: dedupe by key, bound the backlog,
                                    append to the inbox log (group commit) ──► Accepted(id)
                                      │  (HOME/inbox.sqlite3: one stream per agent)
                 Pump (one task per agent) ── reads what the agent has not logged yet
                                      └──► agent mailbox: Deliver(ExternalEvent(inbox=id))
                                           the agent logs it in its own log (its only writer)
```

Why a second log: a webhook must be answered once its event is durable, but
the agent may be in the middle of a long turn, and only the agent writes its
own log. The inbox log is written by the inbox alone, and acknowledges at
once; the agent logs each event again, with its inbox id, when it takes it.

Invariants:

* An accepted event reaches the agent's log exactly once: on start the pump
  reads the highest inbox id the agent has logged and forwards only what
  follows; an id already logged is never forwarded again.
* The same idempotency key is accepted once per agent (the keys are read back
  from the inbox log on start, so this holds across restarts).
* The backlog (accepted, not yet handed to the agent) is bounded: past
  ``capacity`` an event is answered :class:`Busy`, never queued without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeGuard

import anyio
import msgspec

from ..actors import ActorRef
from ..agent import AgentRequest, Deliver, TurnReport
from ..events import AssistantMessage, Event, EventLog, ExternalEvent
from ._delivery import Accepted, Busy, Delivery, Duplicate, UnknownAgent

__all__ = ["Inbox", "LogOutbox"]


class _Box:
    """One agent's inbox: its next id, its keys, its backlog."""

    def __init__(self, last_id: int, keys: dict[str, int]) -> None:
        self.next_id = last_id + 1
        self.keys = keys
        self.forwarded = 0  # ids up to this one are in the agent's mailbox or log
        self.news = anyio.Event()
        self.stale = False  # an append failed: next_id may be past the log's end
        self.resync = anyio.Lock()


class Inbox:
    """A :class:`~memvisor.sources.Deliverer` backed by a log of its own.

    Create it with :meth:`open` (it reads what is already in the inbox log),
    then run :meth:`pump` for each agent in a task group.
    """

    def __init__(
        self,
        log: EventLog,
        boxes: dict[str, _Box],
        *,
        now: Callable[[], float],
        capacity: int,
        batch: int,
    ) -> None:
        self._log = log
        self._boxes = boxes
        self._now = now
        self._capacity = capacity
        self._batch = batch

    @classmethod
    async def open(
        cls,
        log: EventLog,
        agents: Iterable[str],
        *,
        now: Callable[[], float],
        capacity: int = 1000,
        batch: int = 64,
    ) -> Inbox:
        """The inbox of ``agents`` kept in ``log``.

        Args:
            log: The inbox log (not the agents' own log).
            agents: The agents that take events.
            now: The runtime clock (epoch seconds).
            capacity: Events accepted but not yet taken by an agent, at most.
            batch: Events handed to the agent at once, at most, when several wait
                (it logs them all and takes them in one turn).
        """
        boxes = {}
        for agent in agents:
            keys = {}
            last = 0
            for event in await log.read(agent):
                last = event.seq
                if isinstance(event, ExternalEvent) and event.key is not None:
                    keys[event.key] = event.seq
            boxes[agent] = _Box(last, keys)
        return cls(log, boxes, now=now, capacity=capacity, batch=batch)

    async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
        """See :meth:`~memvisor.sources.Deliverer.deliver`."""
        box = self._boxes.get(agent)
        if box is None:
            return UnknownAgent()
        if box.stale:
            async with box.resync:
                if box.stale:
                    box.next_id = await self._log.last_seq(agent) + 1
                    box.stale = False
        if event.key is not None and event.key in box.keys:
            return Duplicate(id=box.keys[event.key])
        if box.next_id - 1 - box.forwarded >= self._capacity:
            return Busy(retry_after=1.0)
        # Claimed before the first await: concurrent deliveries get consecutive ids,
        # and their appends share a commit.
        seq = box.next_id
        box.next_id += 1
        if event.key is not None:
            box.keys[event.key] = seq
        stamped = msgspec.structs.replace(event, agent=agent, seq=seq, at=self._now(), inbox=seq)
        try:
            await self._log.append([stamped])
        except BaseException as exc:
            # A failed append frees its key; a cancelled one may still commit (a log
            # does not withdraw a queued append), so its key stays taken.
            if event.key is not None and isinstance(exc, Exception):
                box.keys.pop(event.key, None)
            box.stale = True
            raise
        box.news.set()
        return Accepted(id=seq)

    async def pump(
        self,
        agent: str,
        ref: ActorRef[AgentRequest, TurnReport],
        agent_log: EventLog,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Hand ``agent`` its inbox events, in order, forever (cancel to stop)."""
        box = self._boxes[agent]
        box.forwarded = _last_inbox_id(await agent_log.read(agent))
        task_status.started()
        while True:
            news = box.news
            waiting = await self._log.read(agent, start=box.forwarded + 1)
            for start in range(0, len(waiting), self._batch):
                # What piled up while the agent was busy goes in one turn.
                batch = [e for e in waiting[start : start + self._batch] if _external(e)]
                if batch:
                    await ref.tell(Deliver(event=batch[0], more=tuple(batch[1:])))
                box.forwarded = waiting[min(start + self._batch, len(waiting)) - 1].seq
            if not waiting:
                await news.wait()
                box.news = anyio.Event() if box.news is news else box.news

    def backlog(self, agent: str) -> int:
        """Events accepted for ``agent`` and not yet handed to it."""
        box = self._boxes[agent]
        return box.next_id - 1 - box.forwarded


def _external(event: Event) -> TypeGuard[ExternalEvent]:
    return isinstance(event, ExternalEvent)


def _last_inbox_id(events: list[Event]) -> int:
    ids = [e.inbox for e in events if isinstance(e, ExternalEvent) and e.inbox is not None]
    return max(ids, default=0)


class LogOutbox:
    """A :class:`~memvisor.sources.Outbox` over the agents' log: their replies to people
    (``assistant_message`` without a recipient), woken by :meth:`said`."""

    def __init__(self, log: EventLog, agents: Iterable[str]) -> None:
        self._log = log
        self._news = {agent: anyio.Event() for agent in agents}

    def said(self, event: Event) -> None:
        """Observe an agent's logged event (pass it to ``spawn_agent(observe=...)``)."""
        if isinstance(event, AssistantMessage) and event.to is None and event.agent in self._news:
            self._news[event.agent].set()
            self._news[event.agent] = anyio.Event()

    async def replies(
        self, agent: str, *, after: int, wait: float
    ) -> tuple[AssistantMessage, ...] | None:
        """See :meth:`~memvisor.sources.Outbox.replies`."""
        if agent not in self._news:
            return None
        with anyio.move_on_after(wait):
            while True:
                news = self._news[agent]
                events = await self._log.read(agent, start=after + 1)
                found = tuple(
                    e for e in events if isinstance(e, AssistantMessage) and e.to is None
                )
                if found:
                    return found
                await news.wait()
        return ()
