"""The seam between event sources (webhooks, file watchers, schedules) and agents.

```
source ── Deliverer.deliver(agent, ExternalEvent) ──► Accepted | Duplicate | Busy | UnknownAgent
                                                      (Accepted: the event is durable; it
                                                       reaches the agent's log exactly once)
reader ── Outbox.replies(agent, after, wait) ──► the agent's visible replies after a seq
```

A source never touches an agent's log or mailbox itself: the host behind this
seam decides how an event becomes durable and when the agent takes it. Tests
use :class:`MemoryDeliverer`, the public fake.
"""

from __future__ import annotations

from typing import Protocol

import anyio
import anyio.lowlevel
import msgspec

from ..events import AssistantMessage, ExternalEvent

__all__ = [
    "Accepted",
    "Busy",
    "Deliverer",
    "Delivery",
    "Duplicate",
    "MemoryDeliverer",
    "Outbox",
    "UnknownAgent",
]


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """The event is durable and will reach the agent."""

    id: int
    """Its position among the events delivered to that agent (1, 2, 3 …)."""


class Duplicate(msgspec.Struct, frozen=True, kw_only=True):
    """An event with the same idempotency key was accepted before: nothing new."""

    id: int
    """The id the first one was accepted with."""


class Busy(msgspec.Struct, frozen=True, kw_only=True):
    """The agent has too much waiting: try again later."""

    retry_after: float
    """Seconds to wait before trying again."""


class UnknownAgent(msgspec.Struct, frozen=True, kw_only=True):
    """No agent by that name."""


Delivery = Accepted | Duplicate | Busy | UnknownAgent


class Deliverer(Protocol):
    """Takes events for agents."""

    async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
        """Deliver ``event`` (its ``agent``, ``seq`` and ``at`` are ignored; its ``key``,
        if any, makes the delivery idempotent). Returns once the outcome is final."""
        ...


class Outbox(Protocol):
    """Reads what agents said."""

    async def replies(
        self, agent: str, *, after: int, wait: float
    ) -> tuple[AssistantMessage, ...] | None:
        """The agent's visible replies with ``seq > after``, oldest first; if there
        are none yet, waits up to ``wait`` seconds for one. ``None``: no such agent."""
        ...


class MemoryDeliverer:
    """:class:`Deliverer` and :class:`Outbox` in memory, for tests of sources.

    ``capacity`` bounds the events accepted per agent and not yet taken with
    :meth:`take` (beyond it: :class:`Busy`).
    """

    def __init__(self, agents: set[str], *, capacity: int = 1000) -> None:
        self.agents = agents
        self.capacity = capacity
        self.accepted: dict[str, list[ExternalEvent]] = {a: [] for a in agents}
        self.waiting: dict[str, int] = dict.fromkeys(agents, 0)
        self.keys: dict[tuple[str, str], int] = {}
        self.said: dict[str, list[AssistantMessage]] = {a: [] for a in agents}
        self._news = anyio.Event()

    async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
        await anyio.lowlevel.checkpoint()
        if agent not in self.agents:
            return UnknownAgent()
        if event.key is not None and (agent, event.key) in self.keys:
            return Duplicate(id=self.keys[agent, event.key])
        if self.waiting[agent] >= self.capacity:
            return Busy(retry_after=1.0)
        self.accepted[agent].append(event)
        self.waiting[agent] += 1
        accepted_id = len(self.accepted[agent])
        if event.key is not None:
            self.keys[agent, event.key] = accepted_id
        return Accepted(id=accepted_id)

    def take(self, agent: str) -> None:
        """The agent took one waiting event."""
        self.waiting[agent] = max(0, self.waiting[agent] - 1)

    def say(self, message: AssistantMessage) -> None:
        """Record a reply of ``message.agent`` (wakes waiting readers)."""
        self.said[message.agent].append(message)
        self._news.set()
        self._news = anyio.Event()

    async def replies(
        self, agent: str, *, after: int, wait: float
    ) -> tuple[AssistantMessage, ...] | None:
        if agent not in self.agents:
            return None
        with anyio.move_on_after(wait):
            while True:
                found = tuple(m for m in self.said[agent] if m.seq > after)
                if found:
                    return found
                await self._news.wait()
        return ()
