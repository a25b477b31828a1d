"""Restart decisions, as a pure state machine (no I/O, no clock of its own).

```
crash at t ──► forget crashes older than t - window ──► record t
                 │
                 ├─ n in window <= max_restarts ──► Restart(delay = backoff·2^(n-1), capped)
                 └─ otherwise ────────────────────► GiveUp(crashes = n)
```

The actor loop in ``_actor.py`` asks for a decision after each crash and
carries it out; this module only decides, so it is tested without an event loop.
"""

from collections import deque
from typing import Literal

import msgspec

__all__ = ["GiveUp", "Restart", "RestartPolicy", "Supervision", "SupervisorDecision"]


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How an actor's supervisor reacts to its crashes."""

    max_restarts: int = 5
    """Restarts allowed within ``window`` before giving up."""
    window: float = 60.0
    """Seconds over which crashes are counted."""
    backoff: float = 0.1
    """Delay before the first restart; doubles with each crash in the window."""
    backoff_max: float = 10.0
    """Ceiling on the delay."""
    on_give_up: Literal["escalate", "stop"] = "escalate"
    """``"escalate"``: the crash propagates and stops the runtime (fail fast).
    ``"stop"``: the actor alone is marked broken; the runtime carries on."""


class Restart(msgspec.Struct, frozen=True, kw_only=True):
    """Restart the actor after ``delay`` seconds."""

    delay: float
    crashes: int
    """Crashes within the window, this one included."""


class GiveUp(msgspec.Struct, frozen=True, kw_only=True):
    """Too many crashes: stop restarting."""

    crashes: int


SupervisorDecision = Restart | GiveUp


class Supervision:
    """The crash history of one actor and the decisions it leads to."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._crashes: deque[float] = deque()
        self.restarts = 0

    def on_crash(self, now: float) -> SupervisorDecision:
        """Record a crash at time ``now`` and decide what to do about it."""
        policy = self.policy
        while self._crashes and self._crashes[0] <= now - policy.window:
            self._crashes.popleft()
        self._crashes.append(now)
        n = len(self._crashes)
        if n > policy.max_restarts:
            return GiveUp(crashes=n)
        self.restarts += 1
        return Restart(delay=min(policy.backoff * 2 ** (n - 1), policy.backoff_max), crashes=n)
