"""Acceptance: a thousand actors exchange timed messages over 30 simulated days.

Under trio's ``MockClock(autojump_threshold=0)`` the runtime's clock, timers and
sleeps are virtual: whenever every task is waiting, the clock jumps to the next
deadline. Thirty days of a thousand agents take seconds of wall time.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections import Counter

import anyio
import msgspec
import pytest
import trio
import trio.testing

from memvisor.actors import Actor, Timer, open_runtime

ACTORS = 1_000
EPOCH = 1_700_000_000.0
"""A fixed start (2023-11-14T22:13:20Z): the run reads the same on every machine."""
HOUR = 3_600.0
DAY = 24 * HOUR
DURATION = 30 * DAY
INTERVAL = 12 * HOUR


class Tick(msgspec.Struct, frozen=True):
    """The actor's own repeating timer went off."""


class Hello(msgspec.Struct, frozen=True):
    sender: int
    seq: int
    sent_at: float
    """The sender's ``context.now()`` when it sent the message."""


class Delivery(msgspec.Struct, frozen=True):
    sender: int
    seq: int
    receiver: int
    sent_at: float
    received_at: float


class World:
    """What the test observes; the actors only append to it."""

    def __init__(self) -> None:
        self.ticks: Counter[int] = Counter()
        self.sent: list[tuple[int, int]] = []
        self.deliveries: list[Delivery] = []


class Agent(Actor[Tick | Hello, None]):
    """On each tick, greets a peer chosen by its own seeded generator."""

    def __init__(self, index: int, seed: int, world: World) -> None:
        self.index = index
        self.rng = random.Random(seed)
        self.world = world
        self.seq = 0

    async def receive(self, message: Tick | Hello) -> None:
        match message:
            case Tick():
                self.world.ticks[self.index] += 1
                peer = self.rng.randrange(ACTORS - 1)
                peer += peer >= self.index  # anyone but itself
                self.seq += 1
                self.world.sent.append((self.index, self.seq))
                hello = Hello(sender=self.index, seq=self.seq, sent_at=self.context.now())
                await self.context.runtime.lookup(_name(peer)).tell(hello)
            case Hello(sender=sender, seq=seq, sent_at=sent_at):
                self.world.deliveries.append(
                    Delivery(
                        sender=sender,
                        seq=seq,
                        receiver=self.index,
                        sent_at=sent_at,
                        received_at=self.context.now(),
                    )
                )


def _name(index: int) -> str:
    return f"agent-{index:04d}"


def _expected_ticks(first: float) -> int:
    """Firings at ``first + n*INTERVAL`` strictly before the end of the run."""
    return math.floor((DURATION - first) / INTERVAL) + 1 if first < DURATION else 0


@pytest.mark.slow
def test_a_thousand_actors_exchange_timed_messages_over_thirty_virtual_days(
    rng: random.Random,
) -> None:
    world = World()
    # Whole seconds plus a half: no firing ever falls exactly on the end of the run.
    firsts = [rng.randrange(int(2 * INTERVAL)) + 0.5 for _ in range(ACTORS)]
    seeds = [rng.randrange(2**32) for _ in range(ACTORS)]
    timers: list[Timer] = []
    elapsed: list[float] = []

    async def main() -> None:
        async with open_runtime(clock_start=EPOCH) as runtime:
            for i in range(ACTORS):
                agent = functools.partial(Agent, i, seeds[i], world)
                ref = runtime.spawn(_name(i), agent, mailbox_size=16)
                timers.append(runtime.call_every(INTERVAL, ref, Tick(), first=firsts[i]))
            assert runtime.statistics().actors == ACTORS
            assert runtime.statistics().timers == ACTORS
            await anyio.sleep(DURATION)
            elapsed.append(runtime.clock.now() - EPOCH)
            for timer in timers:
                timer.cancel()

    started = time.perf_counter()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    wall = time.perf_counter() - started
    print(
        f"{ACTORS} actors, {DURATION / DAY:g} virtual days, {len(world.deliveries)} messages:"
        f" {wall:.2f}s of wall time"
    )

    assert elapsed == [pytest.approx(DURATION, abs=1.0)]

    expected = [_expected_ticks(first) for first in firsts]
    assert {59, 60} >= set(expected)
    assert [world.ticks[i] for i in range(ACTORS)] == expected
    assert [timer.fired for timer in timers] == expected

    total = sum(expected)
    assert len(world.sent) == total
    received = Counter((d.sender, d.seq) for d in world.deliveries)
    assert set(received) == set(world.sent)
    assert max(received.values()) == 1
    assert len(world.deliveries) == total

    late = [d for d in world.deliveries if d.received_at < d.sent_at]
    assert late == []
    assert all(d.receiver != d.sender for d in world.deliveries)
    assert all(EPOCH <= d.sent_at < EPOCH + DURATION for d in world.deliveries)
