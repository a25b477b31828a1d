"""The agent's runtime timers: one-off, interval and calendar timers fire into a mailbox;
cancelled and replaced ones do not."""

from __future__ import annotations

import trio
import trio.testing

from memvisor.actors import Actor, open_runtime
from memvisor.agent._alarms import Alarms
from memvisor.events import TimerCancelled, TimerFired, TimerSet
from memvisor.memory import AgentState

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z, a Wednesday


class Inbox(Actor[TimerFired, None]):
    def __init__(self, fired: list[tuple[float, str]]) -> None:
        self.fired = fired

    async def receive(self, message: TimerFired) -> None:
        self.fired.append((self.context.now() - T0, message.timer_id))


def timer(timer_id: str, **when: object) -> TimerSet:
    return TimerSet(agent="ada", seq=1, at=T0, timer_id=timer_id, text="", **when)  # type: ignore[arg-type]


def test_timers_fire_on_the_runtime_clock_until_cancelled_or_spent() -> None:
    fired: list[tuple[float, str]] = []

    async def main() -> None:
        async with open_runtime(clock_start=T0) as runtime:
            inbox = runtime.spawn("ada", lambda: Inbox(fired))
            alarms = Alarms(runtime, inbox, lambda t: t)
            alarms.follow(timer("once", due=T0 + 60))
            alarms.follow(timer("often", due=T0 + 10, every=100.0))
            daily = timer("daily", due=T0, cron="0 9 * * *")
            alarms.follow(daily)
            alarms.follow(timer("replaced", due=T0 + 30))
            alarms.arm(timer("replaced", due=T0 + 90))  # the same id: only the new one
            await trio.sleep(250)
            alarms.follow(TimerCancelled(agent="ada", seq=2, at=T0, timer_id="often"))
            fired_daily = TimerFired(agent="ada", seq=3, at=T0, timer_id="daily")
            alarms.fired(
                fired_daily, AgentState(timers=(timer("daily", due=T0, cron="0 9 * * *"),))
            )
            await trio.sleep(86_400)
            alarms.clear()
            await trio.sleep(86_400)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert fired[:4] == [(10, "often"), (60, "once"), (90, "replaced"), (110, "often")]
    assert fired[4] == (210, "often")
    assert [t for t in fired if t[1] == "daily"] == [(9 * 3600, "daily")]
    assert len(fired) == 6
