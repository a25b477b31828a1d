"""The agent's runtime timers: one-off, interval and calendar timers fire into a mailbox;
cancelled and replaced ones do not."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from memvisor import ConfigError
from memvisor.actors import Actor, open_runtime
from memvisor.agent._alarms import Alarms, check_timer
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


def test_an_interval_timer_keeps_its_grid_across_a_restart() -> None:
    fired: list[tuple[float, str]] = []
    hourly = timer("hourly", due=T0 + 3600, every=3600.0)

    async def life(start: float, until: float) -> None:
        async with open_runtime(clock_start=start) as runtime:
            inbox = runtime.spawn("ada", lambda: Inbox(fired))
            Alarms(runtime, inbox, lambda t: t).arm(hourly)
            await trio.sleep(until - start)

    async def main() -> None:
        await life(T0, T0 + 4000)  # fires at +1h
        await life(T0 + 7300, T0 + 15000)  # down at +2h: that one is missed, not late

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [at for at, _ in fired] == [3600, 10800, 14400]


def test_a_timer_that_cannot_be_read_is_not_armed(caplog: pytest.LogCaptureFixture) -> None:
    fired: list[tuple[float, str]] = []

    async def main() -> None:
        async with open_runtime(clock_start=T0) as runtime:
            inbox = runtime.spawn("ada", lambda: Inbox(fired))
            alarms = Alarms(runtime, inbox, lambda t: t)
            alarms.arm(timer("bad", due=T0, cron="not a cron"))  # from a hand-made log
            alarms.arm(timer("zero", due=T0, every=0.0))
            await trio.sleep(3600)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert fired == []
    assert "'bad' of ada is not armed" in caplog.text
    assert "'zero' of ada is not armed" in caplog.text


def test_check_timer_names_what_is_wrong() -> None:
    assert check_timer(timer("once", due=T0)) is None
    with pytest.raises(ConfigError, match="cron"):
        check_timer(timer("bad", due=T0, cron="61 * * * *"))
    with pytest.raises(ConfigError, match="above zero"):
        check_timer(timer("zero", due=T0, every=-1.0))


def test_an_amendment_with_an_unusable_timer_is_refused_before_it_is_sent() -> None:
    from memvisor.agent import Amend

    with pytest.raises(ConfigError, match="cron"):
        Amend(event=timer("bad", due=T0, cron="not a cron"))
    with pytest.raises(ConfigError, match="above zero"):
        Amend(event=timer("zero", due=T0, every=0.0))
    fine = timer("fine", due=T0, every=60.0)
    assert Amend(event=fine).event is fine
