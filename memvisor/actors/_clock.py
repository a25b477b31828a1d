"""The runtime's clock: epoch seconds that follow the event loop's clock.

Under trio's ``MockClock`` the loop's clock is virtual, so everything timed by
the runtime (timers, ``at`` stamps on events, backoff) runs in virtual time too:
a simulation can cover days in seconds of wall time.
"""

from __future__ import annotations

import time

import anyio

__all__ = ["Clock"]


class Clock:
    """Wall-clock time in seconds since the epoch, driven by the event loop's clock.

    Create it inside a running event loop. ``start`` pins the epoch time the
    clock reads at creation, for reproducible simulations; by default it is the
    real time.
    """

    def __init__(self, *, start: float | None = None) -> None:
        self._loop0 = anyio.current_time()
        self._epoch0 = time.time() if start is None else start

    def now(self) -> float:
        """Seconds since the epoch, as this runtime sees it."""
        return self._epoch0 + (anyio.current_time() - self._loop0)

    def to_loop_time(self, when: float) -> float:
        """The event loop's time at which this clock will read ``when``."""
        return self._loop0 + (when - self._epoch0)

    async def sleep_until(self, when: float) -> None:
        """Sleep until :meth:`now` reaches ``when`` (epoch seconds)."""
        await anyio.sleep_until(self.to_loop_time(when))
