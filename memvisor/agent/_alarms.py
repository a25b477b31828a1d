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
nothing here decides whether a timer exists, only when it fires. An interval
timer fires on its grid (``due + k * every``): a restart neither shifts it nor
repeats a firing it missed. A timer whose schedule cannot be read (a log
written by hand) is not armed, with a warning, rather than crashing its agent
at every start; :func:`check_timer` refuses one before it is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from .._exceptions import ConfigError
from ..actors import ActorRef, Runtime, Timer
from ..events import Event, TimerCancelled, TimerFired, TimerSet
from ..memory._state import AgentState
from ..sources._schedule import Every, Schedule, parse_cron

__all__ = ["Alarms", "check_timer"]

_log = logging.getLogger("memvisor.agent.timers")

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
        try:
            schedule = check_timer(timer)
        except ConfigError as exc:
            _log.warning("timer %r of %s is not armed: %s", timer.timer_id, agent.name, exc)
            return
        now = runtime.clock.now()
        if schedule is None:
            handle = runtime.call_at(timer.due, agent, fire)
        elif isinstance(schedule, Every):
            first = timer.due if timer.due >= now else schedule.next_fire(now)
            handle = runtime.call_every(schedule.seconds, agent, fire, first=first - now)
        else:
            handle = runtime.call_at(schedule.next_fire(now), agent, fire)
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


def check_timer(timer: TimerSet) -> Schedule | None:
    """The schedule of a repeating timer (``None`` for a one-off).

    Raises:
        ConfigError: its cron expression or interval cannot be used.
    """
    if timer.cron is not None:
        return parse_cron(timer.cron)
    if timer.every is not None:
        return Every(seconds=timer.every, anchor=timer.due)
    return None
