"""An agent's timers on its runtime's clock: what turns a logged ``timer_set`` into a
``timer_fired`` in the agent's own mailbox.

```
timer_set (due)          ──► call_at(due)                    ─┐
timer_set (every)        ──► call_every(every, first=due-now) ├─► Deliver(TimerFired) ─► mailbox
timer_set (cron)         ──► call_at(next firing); again each ─┘
timer_cancelled          ──► cancelled
timer_fired (a one-off)  ──► forgotten (spent)
```

The log says which timers exist (the folded state's ``timers``); this class
only holds the runtime's handles for them.

Invariants: a timer id is armed at most once (arming it again replaces it);
nothing here decides whether a timer exists, only when it fires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..actors import ActorRef, Runtime, Timer
from ..events import Event, TimerCancelled, TimerFired, TimerSet
from ..memory._state import AgentState
from ..sources._schedule import next_fire, parse_cron

__all__ = ["Alarms"]

M = TypeVar("M")
R = TypeVar("R")


class Alarms(Generic[M, R]):
    """The runtime timers of one agent, which wake it with ``wake(timer_fired)``."""

    def __init__(
        self, runtime: Runtime, agent: ActorRef[M, R], wake: Callable[[TimerFired], M]
    ) -> None:
        self._runtime = runtime
        self._agent = agent
        self._wake = wake
        self._handles: dict[str, Timer] = {}

    def follow(self, event: Event) -> None:
        """Arm or disarm what a logged ``timer_set`` or ``timer_cancelled`` says."""
        if isinstance(event, TimerSet):
            self.arm(event)
        elif isinstance(event, TimerCancelled):
            self.disarm(event.timer_id)

    def fired(self, event: TimerFired, state: AgentState) -> None:
        """After ``event`` is folded into ``state``: forget a spent one-off timer, arm a
        calendar timer's next firing."""
        timer = next((t for t in state.timers if t.timer_id == event.timer_id), None)
        if timer is None:
            self._handles.pop(event.timer_id, None)
        elif timer.cron is not None:
            self.arm(timer)

    def arm(self, timer: TimerSet) -> None:
        """Schedule ``timer`` (replacing a timer of the same id)."""
        self.disarm(timer.timer_id)
        runtime, agent = self._runtime, self._agent
        fire = self._wake(
            TimerFired(
                agent=agent.name,
                seq=0,
                at=0.0,
                cause=timer.seq,
                timer_id=timer.timer_id,
                text=timer.text,
            )
        )
        now = runtime.clock.now()
        if timer.cron is not None:
            handle = runtime.call_at(next_fire(now, parse_cron(timer.cron)), agent, fire)
        elif timer.every is None:
            handle = runtime.call_at(timer.due, agent, fire)
        else:
            first = max(0.0, timer.due - now)
            handle = runtime.call_every(timer.every, agent, fire, first=first)
        self._handles[timer.timer_id] = handle

    def disarm(self, timer_id: str) -> None:
        """Cancel the timer ``timer_id``, if it is armed."""
        handle = self._handles.pop(timer_id, None)
        if handle is not None:
            handle.cancel()

    def clear(self) -> None:
        """Cancel every timer (the agent stops)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
