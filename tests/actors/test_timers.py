"""Timers: the pure deadline queue (no event loop), then timers in a live runtime."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import anyio
import pytest
import trio
import trio.testing

from memvisor._exceptions import ActorClosedError, UsageError
from memvisor.actors import RestartPolicy, Timer, TimerQueue, open_runtime

from ._support import Probe, Recorder, wait_until

# --- TimerQueue: pure, the caller passes the time in ----------------------------------


def _timer(due: float, interval: float | None = None) -> Timer:
    return Timer._create(lambda: True, due, interval)


def test_timer_has_no_public_constructor() -> None:
    with pytest.raises(TypeError):
        Timer(lambda: True, 1.0, None)


def test_next_due_is_inf_when_the_queue_is_empty() -> None:
    queue = TimerQueue()
    assert queue.next_due() == math.inf
    assert len(queue) == 0
    assert queue.pop_due(1e9) == []


def test_timers_come_out_in_order_of_due_time() -> None:
    queue = TimerQueue()
    timers = {due: _timer(due) for due in (3.0, 1.0, 5.0, 2.0, 4.0)}
    for timer in timers.values():
        queue.push(timer)
    assert queue.next_due() == 1.0
    assert len(queue) == 5
    assert queue.pop_due(3.0) == [timers[1.0], timers[2.0], timers[3.0]]
    assert queue.next_due() == 4.0
    assert queue.pop_due(10.0) == [timers[4.0], timers[5.0]]
    assert queue.next_due() == math.inf


def test_timers_due_at_the_same_time_fire_in_the_order_they_were_queued() -> None:
    queue = TimerQueue()
    timers = [_timer(7.0) for _ in range(10)]
    for timer in timers:
        queue.push(timer)
    assert queue.pop_due(7.0) == timers


def test_nothing_fires_before_its_due_time() -> None:
    queue = TimerQueue()
    timer = _timer(10.0)
    queue.push(timer)
    assert queue.pop_due(9.999) == []
    assert timer.fired == 0
    assert timer.active
    assert queue.pop_due(10.0) == [timer]


def test_a_one_shot_timer_fires_once_then_is_inactive() -> None:
    queue = TimerQueue()
    timer = _timer(1.0)
    queue.push(timer)
    assert queue.pop_due(1.5) == [timer]
    assert timer.fired == 1
    assert not timer.active
    assert len(queue) == 0
    assert queue.pop_due(100.0) == []


def test_popping_does_not_deliver_the_queue_is_pure() -> None:
    delivered: list[int] = []
    timer = Timer._create(lambda: delivered.append(1), 1.0, None)
    queue = TimerQueue()
    queue.push(timer)
    assert queue.pop_due(2.0) == [timer]
    assert delivered == []


def test_a_cancelled_timer_never_fires_and_no_longer_counts() -> None:
    queue = TimerQueue()
    keep, drop = _timer(2.0), _timer(1.0)
    queue.push(keep)
    queue.push(drop)
    assert len(queue) == 2
    drop.cancel()
    assert not drop.active
    assert len(queue) == 1
    assert queue.next_due() == 2.0
    assert queue.pop_due(5.0) == [keep]
    assert drop.fired == 0


def test_cancel_is_idempotent() -> None:
    timer = _timer(1.0, 1.0)
    timer.cancel()
    timer.cancel()
    assert not timer.active


def test_cancelling_every_timer_empties_the_queue() -> None:
    queue = TimerQueue()
    timers = [_timer(float(i), 1.0) for i in range(5)]
    for timer in timers:
        queue.push(timer)
    for timer in timers:
        timer.cancel()
    assert len(queue) == 0
    assert queue.next_due() == math.inf
    assert queue.pop_due(1e6) == []


def test_a_repeating_timer_requeues_at_a_fixed_rate() -> None:
    queue = TimerQueue()
    timer = _timer(5.0, 10.0)
    queue.push(timer)
    dues = []
    # Popped a little late each time: the schedule stays first + n*interval.
    for n in range(6):
        now = 5.0 + 10.0 * n + 3.0
        assert queue.pop_due(now) == [timer]
        dues.append(timer.due)
    assert dues == [5.0 + 10.0 * (n + 1) for n in range(6)]
    assert timer.fired == 6
    assert timer.active
    assert len(queue) == 1


def test_a_repeating_timer_popped_exactly_on_time_is_next_due_one_interval_later() -> None:
    queue = TimerQueue()
    timer = _timer(0.0, 2.0)
    queue.push(timer)
    for n in range(5):
        assert queue.next_due() == 2.0 * n
        assert queue.pop_due(2.0 * n) == [timer]
    assert timer.fired == 5


def test_missed_firings_of_a_repeating_timer_coalesce_into_one() -> None:
    queue = TimerQueue()
    timer = _timer(10.0, 10.0)
    queue.push(timer)
    # Forty-five seconds late: firings due at 10, 20, 30, 40 and 50 all passed.
    assert queue.pop_due(55.0) == [timer]
    assert timer.fired == 1
    assert timer.due == 60.0
    assert queue.pop_due(59.0) == []
    assert queue.pop_due(60.0) == [timer]
    assert timer.fired == 2


def test_a_repeating_timer_cancelled_while_queued_stops_firing() -> None:
    queue = TimerQueue()
    timer = _timer(1.0, 1.0)
    queue.push(timer)
    assert queue.pop_due(1.0) == [timer]
    timer.cancel()
    assert queue.pop_due(10.0) == []
    assert timer.fired == 1
    assert len(queue) == 0


# --- timers in a live runtime, on trio and asyncio -----------------------------------


@pytest.mark.anyio
async def test_call_later_fires_once() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        start = anyio.current_time()
        timer = runtime.call_later(0.02, ref, "tick")
        assert runtime.statistics().timers == 1
        assert timer.interval is None
        await wait_until(lambda: probe.received == ["tick"])
        assert probe.loop_at[0] >= start + 0.02 - 1e-3
        await anyio.sleep(0.05)
        assert probe.received == ["tick"]
        assert timer.fired == 1
        assert not timer.active
        assert runtime.statistics().timers == 0


@pytest.mark.anyio
async def test_call_later_with_a_negative_delay_fires_right_away() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        runtime.call_later(-5.0, ref, "now")
        await wait_until(lambda: probe.received == ["now"])


@pytest.mark.anyio
async def test_call_every_fires_repeatedly_until_cancelled() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        timer = runtime.call_every(0.01, ref, "tick")
        assert runtime.statistics().timers == 1
        await wait_until(lambda: len(probe.received) >= 3)
        timer.cancel()
        assert not timer.active
        assert runtime.statistics().timers == 0
        fired = timer.fired
        await anyio.sleep(0.05)
        assert timer.fired == fired
        # Every firing was delivered, none after the cancel.
        assert probe.received == ["tick"] * fired


@pytest.mark.anyio
async def test_call_every_waits_first_seconds_before_the_first_firing() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        start = anyio.current_time()
        timer = runtime.call_every(10.0, ref, "tick", first=0.01)
        await wait_until(lambda: probe.received == ["tick"])
        assert probe.loop_at[0] >= start + 0.01 - 1e-3
        assert timer.due == pytest.approx(start + 0.01 + 10.0, abs=0.05)
        timer.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("interval", [0.0, -1.0])
async def test_call_every_needs_a_positive_interval(interval: float) -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        with pytest.raises(UsageError):
            runtime.call_every(interval, ref, "tick")


@pytest.mark.anyio
async def test_call_at_uses_the_runtime_clocks_epoch_time() -> None:
    probe = Probe()
    epoch = 1_700_000_000.0
    async with open_runtime(clock_start=epoch) as runtime:
        assert runtime.clock.now() == pytest.approx(epoch, abs=1.0)
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        when = runtime.clock.now() + 0.03
        runtime.call_at(when, ref, "alarm")
        await wait_until(lambda: probe.received == ["alarm"])
        assert probe.clock_at[0] >= when - 1e-3
        # The epoch is the pinned one, not the machine's wall clock.
        assert probe.clock_at[0] == pytest.approx(epoch, abs=60.0)


@pytest.mark.anyio
async def test_call_at_a_time_already_past_fires_right_away() -> None:
    probe = Probe()
    async with open_runtime(clock_start=1_000_000.0) as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        runtime.call_at(0.0, ref, "late")
        await wait_until(lambda: probe.received == ["late"])


@pytest.mark.anyio
async def test_a_repeating_timer_to_a_stopped_actor_ends_itself() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        timer = runtime.call_every(0.01, ref, "tick")
        await wait_until(lambda: len(probe.received) >= 2)
        await runtime.stop("sink")
        # Its next firing finds the actor gone, and the timer ends with it.
        await wait_until(lambda: not timer.active, timeout=2.0)
        assert runtime.statistics().timers == 0


@pytest.mark.anyio
async def test_a_one_shot_timer_to_a_stopped_actor_is_dropped_quietly() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        timer = runtime.call_later(0.02, ref, "tick")
        await runtime.stop("sink")
        await wait_until(lambda: not timer.active)
        await anyio.sleep(0.01)
    assert probe.received == []


@pytest.mark.anyio
async def test_a_timer_to_a_broken_actor_ends_without_stopping_the_runtime() -> None:
    probe = Probe()
    other = Probe()
    policy = RestartPolicy(max_restarts=0, on_give_up="stop")
    async with open_runtime(restart=policy) as runtime:
        ref = runtime.spawn("fragile", lambda: Recorder(probe))
        runtime.spawn("steady", lambda: Recorder(other))
        timer = runtime.call_every(0.01, ref, "tick")
        await ref.tell("crash")
        await wait_until(lambda: ref.statistics().state == "broken")
        await wait_until(lambda: not timer.active, timeout=2.0)
        # The runtime still runs its other actors.
        assert await runtime.lookup("steady").ask("ping") == "1:ping"


@pytest.mark.anyio
async def test_a_timer_to_a_full_mailbox_does_not_delay_other_timers() -> None:
    slow, fast = Probe(), Probe()
    async with open_runtime() as runtime:
        slow_ref = runtime.spawn("slow", lambda: Recorder(slow), mailbox_size=1)
        fast_ref = runtime.spawn("fast", lambda: Recorder(fast))
        await slow_ref.tell("block")
        await slow.blocked.wait()
        await slow_ref.tell("filler")  # the mailbox (size 1) is now full
        assert slow_ref.statistics().queued == 1
        runtime.call_later(0.01, slow_ref, "late")
        fast_timer = runtime.call_every(0.01, fast_ref, "tick", first=0.02)
        # The other actor's timer keeps firing while "late" waits for room.
        await wait_until(lambda: len(fast.received) >= 5)
        assert slow.received == ["block"]
        fast_timer.cancel()
        # Once there is room, the waiting firing is delivered, not lost.
        slow.release.set()
        await wait_until(lambda: slow.received == ["block", "filler", "late"])


@pytest.mark.anyio
async def test_timers_cannot_be_set_once_shutdown_began() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
    assert runtime.closing
    with pytest.raises(ActorClosedError):
        runtime.call_later(1.0, ref, "tick")
    with pytest.raises(ActorClosedError):
        runtime.call_every(1.0, ref, "tick")
    with pytest.raises(ActorClosedError):
        runtime.call_at(runtime.clock.now(), ref, "tick")


# --- exact times, in virtual time (trio's MockClock) ---------------------------------


def _run_virtual(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_timers_fire_at_their_exact_virtual_times() -> None:
    epoch = 1_600_000_000.0

    async def main() -> None:
        probe = Probe()
        async with open_runtime(clock_start=epoch) as runtime:
            ref = runtime.spawn("sink", lambda: Recorder(probe))
            every = runtime.call_every(3600.0, ref, "hourly", first=60.0)
            runtime.call_later(90.0, ref, "later")
            runtime.call_at(epoch + 5400.0, ref, "at")
            await anyio.sleep(3 * 3600.0 + 61.0)
            every.cancel()
        assert probe.received == ["hourly", "later", "hourly", "at", "hourly", "hourly"]
        offsets = [t - epoch for t in probe.clock_at]
        assert offsets == pytest.approx([60.0, 90.0, 3660.0, 5400.0, 7260.0, 10860.0], abs=1e-6)

    _run_virtual(main)


def test_a_busy_actor_gets_one_coalesced_tick_for_missed_firings() -> None:
    async def main() -> None:
        probe = Probe()
        async with open_runtime() as runtime:
            ref = runtime.spawn("sink", lambda: Recorder(probe), mailbox_size=1)
            timer = runtime.call_every(10.0, ref, "tick")
            await ref.tell("block")
            await probe.blocked.wait()
            # Blocked for 100 s: the first tick waits for room, later ones pile up.
            await anyio.sleep(100.0)
            probe.release.set()
            await anyio.sleep(1.0)
            timer.cancel()
        assert probe.received[0] == "block"
        assert set(probe.received[1:]) == {"tick"}
        assert len(probe.received) - 1 == timer.fired

    _run_virtual(main)
