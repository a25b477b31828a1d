"""``memvisor simulate``: a population of actors living through simulated days.

Each agent is an actor that owns its own log (one writer per agent). A repeating
timer wakes it; it logs the ``timer_fired`` event, then writes to a random peer,
whose actor logs the ``agent_message`` on arrival. Write-ahead throughout: an
event is appended before the actor acts on it. Runs under trio's ``MockClock``,
with the log on the loop's thread so that no virtual time passes while the disk
works, so the simulated days take seconds, and the logs land in the home's event log
where ``memvisor log`` shows them. Running it again continues every log.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import msgspec
import trio
import trio.testing

from .actors import Actor, ActorRef, open_runtime
from .events import AgentMessage, Event, EventLog, TimerFired, open_sqlite_log
from .events._log import Durability

__all__ = ["SimulationReport", "run_simulation"]

_DAY = 86_400.0


class _Tick(msgspec.Struct, frozen=True):
    pass


class _Note(msgspec.Struct, frozen=True):
    sender: str
    text: str


class SimulationReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a demo run did."""

    agents: int
    simulated_days: float
    events_appended: int
    commits: int
    wall_seconds: float
    log: str


class _DemoAgent(Actor[_Tick | _Note, None]):
    def __init__(self, log: EventLog, peers: list[str], rng: random.Random) -> None:
        self._log = log
        self._peers = peers
        self._rng = rng
        self._seq = 0
        self._refs: dict[str, ActorRef[_Tick | _Note, None]] = {}

    async def on_start(self) -> None:
        self._seq = await self._log.last_seq(self.context.name)

    async def _append(self, make: Callable[[int, float], Event]) -> None:
        event = make(self._seq + 1, self.context.now())
        await self._log.append([event])
        self._seq = event.seq

    async def receive(self, message: _Tick | _Note) -> None:
        name = self.context.name
        if isinstance(message, _Note):
            await self._append(
                lambda seq, at: AgentMessage(
                    agent=name, seq=seq, at=at, sender=message.sender, text=message.text
                )
            )
            return
        await self._append(
            lambda seq, at: TimerFired(agent=name, seq=seq, at=at, timer_id="wake", text="tick")
        )
        peer = self._rng.choice([p for p in self._peers if p != name])
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.context.now()))
        ref = self.context.runtime.lookup(peer)
        await ref.tell(_Note(sender=name, text=f"hello from {name} at {when}"))


async def _simulate(
    path: str, *, agents: int, days: float, seed: int, durability: Durability
) -> SimulationReport:
    started = time.perf_counter()
    rng = random.Random(seed)
    names = [f"sim-{i}" for i in range(agents)]
    async with (
        open_sqlite_log(path, durability=durability, threads=False) as log,
        open_runtime(clock_start=1_767_225_600.0) as runtime,  # 2026-01-01T00:00Z
    ):
        for name in names:
            ref = runtime.spawn(name, lambda: _DemoAgent(log, names, rng))
            runtime.call_every(3600 * 6, ref, _Tick(), first=rng.uniform(0, 3600 * 6))
        await trio.sleep(days * _DAY)
    stats = log.statistics()
    return SimulationReport(
        agents=agents,
        simulated_days=days,
        events_appended=stats.events,
        commits=stats.commits,
        wall_seconds=round(time.perf_counter() - started, 2),
        log=str(path),
    )


def run_simulation(
    path: str,
    *,
    agents: int = 20,
    days: float = 7.0,
    seed: int = 0,
    durability: Durability = "full",
) -> SimulationReport:
    """Run the demo simulation against the log at ``path`` (trio, virtual time)."""
    return trio.run(
        lambda: _simulate(path, agents=agents, days=days, seed=seed, durability=durability),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
