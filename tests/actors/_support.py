"""Small actors and helpers shared by the actor tests."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from memvisor.actors import Actor


async def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail the test (TimeoutError) if it never does.

    The timeout is a guard against hanging, not a speed assertion.
    """
    with anyio.fail_after(timeout):
        # Polling keeps the actors under test free of test-only signalling.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.002)


class Probe:
    """What the test sees of a :class:`Recorder`: shared across its incarnations."""

    def __init__(self) -> None:
        self.received: list[str] = []
        """Every message handled (by any incarnation), in order."""
        self.clock_at: list[float] = []
        """``context.now()`` at each receipt."""
        self.loop_at: list[float] = []
        """Event-loop time at each receipt."""
        self.starts: list[float] = []
        """Event-loop time of each ``on_start``."""
        self.stopped_with: list[str] | None = None
        """What the last incarnation had seen when ``on_stop`` ran."""
        self.blocked = anyio.Event()
        """Set when a ``"block"`` message is being handled."""
        self.release = anyio.Event()
        """Set by the test to let a ``"block"`` message finish."""


class Recorder(Actor[str, str]):
    """Records what it receives; ``"block"`` waits, ``"crash"`` raises, ``"stop"`` stops.

    Replies with the message, prefixed by how many messages this incarnation saw.
    """

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.seen: list[str] = []

    async def on_start(self) -> None:
        self.probe.starts.append(anyio.current_time())

    async def receive(self, message: str) -> str:
        self.seen.append(message)
        self.probe.received.append(message)
        self.probe.clock_at.append(self.context.now())
        self.probe.loop_at.append(anyio.current_time())
        if message == "block":
            self.probe.blocked.set()
            await self.probe.release.wait()
        elif message == "block-forever":
            self.probe.blocked.set()
            await anyio.sleep_forever()
        elif message == "crash":
            raise ValueError(f"crash #{self.probe.received.count('crash')}")
        elif message == "stop":
            self.context.stop()
        return f"{len(self.seen)}:{message}"

    async def on_stop(self) -> None:
        self.probe.stopped_with = list(self.seen)
