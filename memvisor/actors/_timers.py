"""Timers: a pure deadline queue, and the one task that fires what is due.

```
call_later / call_every ──► TimerQueue (heap of deadlines) ◄── cancel() marks, pop skips
                                   │ pop_due(now)
                          timer task: sleep until the next deadline or a new timer,
                                      then deliver each due message with tell_nowait
                                      (a full mailbox gets a helper task: back-pressure
                                      on one actor never delays the others' timers)
```

Repeating timers are fixed-rate: the n-th firing is due at ``first + n·interval``;
firings missed while the loop was busy are coalesced into one.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import anyio

from .._util import NoPublicConstructor

__all__ = ["Timer", "TimerQueue"]


class Timer(metaclass=NoPublicConstructor):
    """A scheduled delivery. Made by ``Runtime.call_later`` / ``call_every``."""

    def __init__(self, deliver: Callable[[], bool], due: float, interval: float | None) -> None:
        self._deliver = deliver
        self.due = due
        """Loop time of the next firing."""
        self.interval = interval
        """Seconds between firings of a repeating timer, else ``None``."""
        self.fired = 0
        """How many times it came due (a firing into a full mailbox is delivered late)."""
        self._cancelled = False

    @property
    def active(self) -> bool:
        """Whether it will fire again."""
        return not self._cancelled

    def cancel(self) -> None:
        """Stop the timer. Idempotent; a firing already delivered is not taken back."""
        self._cancelled = True


class TimerQueue:
    """Deadlines in order. Pure: the caller passes the current time in."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if t.active)

    def push(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.due, next(self._counter), timer))

    def next_due(self) -> float:
        """Loop time of the earliest active deadline, ``inf`` when there is none."""
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def drain(self) -> list[Timer]:
        """Remove and return every queued timer."""
        timers = [timer for _, _, timer in self._heap]
        self._heap.clear()
        return timers

    def pop_due(self, now: float) -> list[Timer]:
        """Timers due at ``now``; repeating ones are re-queued for their next firing."""
        due: list[Timer] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if not timer.active:
                continue
            due.append(timer)
            timer.fired += 1
            if timer.interval is None:
                timer.cancel()
            else:
                missed = math.floor((now - timer.due) / timer.interval)
                timer.due += (missed + 1) * timer.interval
                self.push(timer)
        return due


class _TimerService:
    """The shell: one task sleeping until the next deadline."""

    def __init__(self) -> None:
        self.queue = TimerQueue()
        self._changed = anyio.Event()

    def schedule(self, timer: Timer) -> None:
        self.queue.push(timer)
        self._changed.set()

    def close(self) -> None:
        """Cancel every timer: nothing fires once shutdown has begun."""
        for timer in self.queue.drain():
            timer.cancel()
        self._changed.set()

    async def run(self) -> None:
        while True:
            for timer in self.queue.pop_due(anyio.current_time()):
                if not timer._deliver():  # the target is gone
                    timer.cancel()
            with anyio.CancelScope(deadline=self.queue.next_due()):
                await self._changed.wait()
            self._changed = anyio.Event()
