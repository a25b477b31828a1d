"""The runtime on trio and asyncio: delivery, asks, supervision, back-pressure,
the registry, stopping, graceful shutdown and statistics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
import trio
import trio.testing

from memvisor._exceptions import (
    ActorBrokenError,
    ActorClosedError,
    ActorError,
    AskTimeoutError,
    MailboxFullError,
    MemvisorError,
    UnknownActorError,
    UsageError,
)
from memvisor.actors import (
    Actor,
    ActorContext,
    ActorRef,
    ActorStatistics,
    RestartPolicy,
    Runtime,
    RuntimeStatistics,
    open_runtime,
)

from ._support import Probe, Recorder, wait_until

pytestmark = pytest.mark.anyio


class Counter(Actor[int, int]):
    """Adds what it is told and replies with the total.

    A negative number crashes it; ``0`` waits for ``gate`` (when there is one).
    """

    def __init__(self, instances: list[Counter], gate: anyio.Event | None = None) -> None:
        self.total = 0
        self.gate = gate
        self.waiting = anyio.Event()
        instances.append(self)

    async def receive(self, message: int) -> int:
        if message < 0:
            raise ValueError(f"cannot add {message}")
        if message == 0 and self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        self.total += message
        return self.total


# --- delivery and asks ---------------------------------------------------------------


async def test_tell_delivers_messages_in_the_order_they_were_sent() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        for i in range(200):
            await ref.tell(f"m{i}")
    assert probe.received == [f"m{i}" for i in range(200)]


async def test_tell_nowait_delivers_in_order_too() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe), mailbox_size=10)
        for i in range(10):
            ref.tell_nowait(f"m{i}")
    assert probe.received == [f"m{i}" for i in range(10)]


async def test_ask_returns_the_reply() -> None:
    instances: list[Counter] = []
    async with open_runtime() as runtime:
        ref = runtime.spawn("counter", lambda: Counter(instances))
        await ref.tell(5)
        assert await ref.ask(10) == 15
        assert await ref.ask(1, timeout=None) == 16


async def test_concurrent_asks_each_get_their_own_reply() -> None:
    probe = Probe()
    replies: dict[int, str] = {}
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))

        async def ask(i: int) -> None:
            replies[i] = await ref.ask(f"q{i}")

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(ask, i)
    assert {reply.split(":")[1] for reply in replies.values()} == {f"q{i}" for i in range(50)}
    assert all(reply.endswith(f":q{i}") for i, reply in replies.items())


async def test_ask_timeout_raises_ask_timeout_error_naming_the_actor() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("slowpoke", lambda: Recorder(probe))
        await ref.tell("block")
        await probe.blocked.wait()
        with pytest.raises(AskTimeoutError) as excinfo:
            await ref.ask("hello", timeout=0.05)
        error = excinfo.value
        assert isinstance(error, TimeoutError)
        assert isinstance(error, ActorError)
        assert error.actor_id == "slowpoke"
        assert "slowpoke" in str(error)
        probe.release.set()
    # The request may still be handled after the asker gave up.
    assert probe.received == ["block", "hello"]


async def test_ask_timeout_counts_time_spent_waiting_for_mailbox_room() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("slowpoke", lambda: Recorder(probe), mailbox_size=1)
        await ref.tell("block")
        await probe.blocked.wait()
        await ref.tell("filler")
        with pytest.raises(AskTimeoutError):
            await ref.ask("hello", timeout=0.05)
        probe.release.set()
    # The ask never made it into the mailbox.
    assert probe.received == ["block", "filler"]


# --- crashes and supervision ---------------------------------------------------------


async def test_ask_that_crashes_the_actor_raises_actor_broken_error_with_the_cause() -> None:
    instances: list[Counter] = []
    async with open_runtime() as runtime:
        ref = runtime.spawn("counter", lambda: Counter(instances))
        with pytest.raises(ActorBrokenError) as excinfo:
            await ref.ask(-1)
        error = excinfo.value
        assert error.actor_id == "counter"
        assert isinstance(error.__cause__, ValueError)
        assert str(error.__cause__) == "cannot add -1"
        # The actor itself is restarted, not given up on.
        assert await ref.ask(2) == 2
        assert ref.statistics().state == "running"


async def test_a_crash_restarts_a_fresh_instance_and_keeps_the_queued_messages() -> None:
    instances: list[Counter] = []
    outcome: list[BaseException] = []
    async with open_runtime(restart=RestartPolicy(backoff=0.001)) as runtime:
        gate = anyio.Event()
        ref = runtime.spawn("counter", lambda: Counter(instances, gate))
        await ref.tell(5)
        await ref.tell(0)  # waits on the gate, so what follows stays queued
        await wait_until(lambda: bool(instances) and instances[0].waiting.is_set())

        async def ask_crash() -> None:
            try:
                await ref.ask(-1)
            except ActorBrokenError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask_crash)
            await wait_until(lambda: ref.statistics().queued == 1)
            await ref.tell(7)
            await ref.tell(1)
            assert ref.statistics().queued == 3
            gate.set()
        assert len(outcome) == 1
        assert isinstance(outcome[0].__cause__, ValueError)
        # A fresh instance: the 5 from before the crash is gone, 7 and 1 were kept.
        assert await ref.ask(0) == 8
        assert len(instances) == 2
        stats = ref.statistics()
        assert stats.restarts == 1
        assert stats.processed == 5


async def test_a_crash_in_on_start_is_supervised_like_any_other() -> None:
    starts: list[int] = []

    class FlakyStart(Actor[str, str]):
        async def on_start(self) -> None:
            starts.append(1)
            if len(starts) < 3:
                raise RuntimeError("not ready yet")

        async def receive(self, message: str) -> str:
            return message

    async with open_runtime(restart=RestartPolicy(backoff=0.001)) as runtime:
        ref = runtime.spawn("flaky", FlakyStart)
        assert await ref.ask("hi") == "hi"
        assert len(starts) == 3
        assert ref.statistics().restarts == 2


async def test_restarts_wait_an_exponential_backoff() -> None:
    probe = Probe()
    policy = RestartPolicy(backoff=0.02, backoff_max=0.05, max_restarts=10)
    async with open_runtime(restart=policy) as runtime:
        ref = runtime.spawn("crashy", lambda: Recorder(probe))
        for _ in range(4):
            await ref.tell("crash")
        await ref.tell("done")
        await wait_until(lambda: "done" in probe.received)
        assert len(probe.starts) == 5
        gaps = [b - a for a, b in zip(probe.starts, probe.starts[1:], strict=False)]
        # Lower bounds only: 0.02, 0.04, then capped at 0.05.
        for gap, delay in zip(gaps, [0.02, 0.04, 0.05, 0.05], strict=True):
            assert gap >= delay - 1e-3
        assert ref.statistics().restarts == 4


def test_restart_backoff_is_exact_in_virtual_time() -> None:
    async def main() -> None:
        probe = Probe()
        policy = RestartPolicy(backoff=1.0, backoff_max=5.0, max_restarts=10, window=600.0)
        async with open_runtime(restart=policy) as runtime:
            ref = runtime.spawn("crashy", lambda: Recorder(probe))
            for _ in range(5):
                await ref.tell("crash")
            await ref.tell("done")
            await wait_until(lambda: "done" in probe.received, timeout=60.0)
        gaps = [b - a for a, b in zip(probe.starts, probe.starts[1:], strict=False)]
        assert gaps == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0])

    _run_virtual(main)


async def test_giving_up_with_stop_breaks_the_actor_and_the_runtime_carries_on() -> None:
    probe, other = Probe(), Probe()
    policy = RestartPolicy(max_restarts=2, backoff=0.001, on_give_up="stop")
    async with open_runtime(restart=policy) as runtime:
        ref = runtime.spawn("fragile", lambda: Recorder(probe))
        steady = runtime.spawn("steady", lambda: Recorder(other))
        for _ in range(3):
            await ref.tell("crash")
        await wait_until(lambda: ref.statistics().state == "broken")
        assert probe.received == ["crash"] * 3
        assert ref.statistics().restarts == 2

        with pytest.raises(ActorBrokenError) as excinfo:
            await ref.tell("hello")
        assert excinfo.value.actor_id == "fragile"
        with pytest.raises(ActorBrokenError):
            await ref.ask("hello")
        with pytest.raises(ActorBrokenError):
            ref.tell_nowait("hello")
        # A broken actor leaves the registry; the others carry on.
        assert runtime.names() == ["steady"]
        with pytest.raises(UnknownActorError):
            runtime.lookup("fragile")
        assert await steady.ask("ping") == "1:ping"


@pytest.mark.parametrize("how", ["tell", "ask", "tell_nowait"])
async def test_every_error_from_a_broken_actor_carries_the_crash_as_its_cause(how: str) -> None:
    probe = Probe()
    policy = RestartPolicy(max_restarts=0, on_give_up="stop")
    async with open_runtime(restart=policy) as runtime:
        ref = runtime.spawn("fragile", lambda: Recorder(probe))
        await ref.tell("crash")
        await wait_until(lambda: ref.statistics().state == "broken")

        async def send() -> None:
            if how == "tell":
                await ref.tell("hello")
            elif how == "ask":
                await ref.ask("hello")
            else:
                ref.tell_nowait("hello")

        # Twice: the first error raised must not spoil the next one.
        for _ in range(2):
            with pytest.raises(ActorBrokenError) as excinfo:
                await send()
            assert isinstance(excinfo.value.__cause__, ValueError)
            assert str(excinfo.value.__cause__) == "crash #1"


async def test_asks_queued_behind_the_fatal_crash_fail_with_actor_broken_error() -> None:
    probe = Probe()
    errors: list[BaseException] = []
    policy = RestartPolicy(max_restarts=0, on_give_up="stop")
    async with open_runtime(restart=policy) as runtime:
        ref = runtime.spawn("fragile", lambda: Recorder(probe))
        await ref.tell("block")
        await probe.blocked.wait()
        await ref.tell("crash")

        async def ask() -> None:
            try:
                await ref.ask("after")
            except ActorError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await wait_until(lambda: ref.statistics().queued == 2)
            probe.release.set()
    assert len(errors) == 1
    assert isinstance(errors[0], ActorBrokenError)
    assert isinstance(errors[0].__cause__, ValueError)
    assert probe.received == ["block", "crash"]


async def test_giving_up_with_escalate_ends_the_runtime_with_the_error() -> None:
    probe = Probe()

    async def crash_twice() -> None:
        async with open_runtime(restart=RestartPolicy(max_restarts=1, backoff=0.001)) as runtime:
            ref = runtime.spawn("doomed", lambda: Recorder(probe))
            await ref.tell("crash")
            await ref.tell("crash")
            await anyio.sleep_forever()

    with pytest.raises(ActorBrokenError) as excinfo:
        await crash_twice()
    error = excinfo.value
    assert error.actor_id == "doomed"
    assert isinstance(error.__cause__, ValueError)


# --- back-pressure -------------------------------------------------------------------


async def test_tell_waits_while_the_mailbox_is_full_and_tell_nowait_raises() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("slow", lambda: Recorder(probe), mailbox_size=2)
        await ref.tell("block")
        await probe.blocked.wait()
        await ref.tell("a")
        ref.tell_nowait("b")
        assert ref.statistics().queued == 2

        with pytest.raises(MailboxFullError) as excinfo:
            ref.tell_nowait("c")
        assert isinstance(excinfo.value, anyio.WouldBlock)
        assert excinfo.value.actor_id == "slow"

        sent = False
        with anyio.move_on_after(0.05) as scope:
            await ref.tell("c")
            sent = True
        assert scope.cancelled_caught
        assert not sent

        delivered = anyio.Event()

        async def tell_d() -> None:
            await ref.tell("d")
            delivered.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(tell_d)
            await anyio.wait_all_tasks_blocked()
            assert not delivered.is_set()
            probe.release.set()
            await delivered.wait()
    # The cancelled tell of "c" delivered nothing.
    assert probe.received == ["block", "a", "b", "d"]


# --- the registry --------------------------------------------------------------------


async def test_spawning_a_taken_name_is_a_usage_error() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        runtime.spawn("solo", lambda: Recorder(probe))
        with pytest.raises(UsageError) as excinfo:
            runtime.spawn("solo", lambda: Recorder(probe))
        assert excinfo.value.actor_id == "solo"
        assert isinstance(excinfo.value, MemvisorError)


@pytest.mark.parametrize("size", [0, -1])
async def test_a_mailbox_must_hold_at_least_one_message(size: int) -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        with pytest.raises(UsageError):
            runtime.spawn("tiny", lambda: Recorder(probe), mailbox_size=size)
        assert runtime.names() == []


async def test_lookup_of_an_unknown_name_raises_unknown_actor_error() -> None:
    async with open_runtime() as runtime:
        with pytest.raises(UnknownActorError) as excinfo:
            runtime.lookup("nobody")
        assert excinfo.value.actor_id == "nobody"
        assert isinstance(excinfo.value, LookupError)
        with pytest.raises(UnknownActorError):
            await runtime.stop("nobody")


async def test_lookup_returns_a_ref_to_the_same_actor() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        spawned = runtime.spawn("sink", lambda: Recorder(probe))
        found = runtime.lookup("sink")
        assert found.name == spawned.name == "sink"
        await found.tell("via lookup")
        await spawned.tell("via spawn")
    assert probe.received == ["via lookup", "via spawn"]


async def test_names_lists_live_actors_sorted() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        for name in ("carol", "alice", "bob"):
            runtime.spawn(name, lambda: Recorder(probe))
        assert runtime.names() == ["alice", "bob", "carol"]


async def test_a_stopped_actor_leaves_the_registry_and_its_name_can_be_reused() -> None:
    first, second = Probe(), Probe()
    async with open_runtime() as runtime:
        runtime.spawn("sink", lambda: Recorder(first))
        runtime.spawn("other", lambda: Recorder(first))
        await runtime.stop("sink")
        assert runtime.names() == ["other"]
        with pytest.raises(UnknownActorError):
            runtime.lookup("sink")
        ref = runtime.spawn("sink", lambda: Recorder(second))
        assert await ref.ask("again") == "1:again"


# --- stopping ------------------------------------------------------------------------


async def test_runtime_stop_drains_queued_messages_then_calls_on_stop() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        await ref.tell("block")
        await probe.blocked.wait()
        for i in range(5):
            await ref.tell(f"m{i}")
        stopped = anyio.Event()

        async def stop() -> None:
            await runtime.stop("sink")
            stopped.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop)
            await anyio.wait_all_tasks_blocked()
            assert not stopped.is_set()
            # Stopping: no new messages, but the queued ones will be handled.
            with pytest.raises(ActorClosedError):
                await ref.tell("too late")
            probe.release.set()
        assert probe.stopped_with == ["block", "m0", "m1", "m2", "m3", "m4"]
        assert ref.statistics().state == "stopped"
        with pytest.raises(ActorClosedError) as excinfo:
            await ref.ask("hello?")
        assert excinfo.value.actor_id == "sink"
        assert not isinstance(excinfo.value, ActorBrokenError)
        with pytest.raises(ActorClosedError):
            ref.tell_nowait("hello?")


async def test_context_stop_inside_the_actor_handles_what_is_queued_then_stops() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        await ref.tell("block")
        await probe.blocked.wait()
        await ref.tell("stop")
        await ref.tell("after")
        probe.release.set()
        await wait_until(lambda: probe.stopped_with is not None)
        assert probe.stopped_with == ["block", "stop", "after"]
        await wait_until(lambda: runtime.names() == [])
        with pytest.raises(ActorClosedError):
            await ref.tell("later")


async def test_on_stop_follows_graceful_stops_only_not_crashes() -> None:
    probe = Probe()
    async with open_runtime(restart=RestartPolicy(backoff=0.001)) as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        await ref.tell("crash")
        assert await ref.ask("ok") == "1:ok"
        assert probe.stopped_with is None
    assert probe.stopped_with == ["ok"]


# --- graceful shutdown ---------------------------------------------------------------


async def test_shutdown_handles_every_message_already_queued() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe), mailbox_size=100)
        await ref.tell("block")
        await probe.blocked.wait()
        for i in range(50):
            await ref.tell(f"m{i}")
        assert ref.statistics().queued == 50
        probe.release.set()
    assert probe.stopped_with == ["block", *(f"m{i}" for i in range(50))]
    assert ref.statistics().state == "stopped"


async def test_a_crash_while_draining_at_shutdown_does_not_drop_the_rest_of_the_queue() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe), mailbox_size=100)
        await ref.tell("block")
        await probe.blocked.wait()
        for message in ("x", "crash", "y", "z"):
            await ref.tell(message)
        probe.release.set()
    assert probe.received == ["block", "x", "crash", "y", "z"]
    assert probe.stopped_with == ["y", "z"]  # the incarnation after the crash drained the rest


async def test_timers_stop_firing_once_shutdown_begins() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        timer = runtime.call_every(0.001, ref, "tick")
        await wait_until(lambda: len(probe.received) >= 2)
    assert not timer.active
    assert runtime.statistics().timers == 0


async def test_an_actor_waiting_for_its_own_stop_is_a_usage_error() -> None:
    class SelfStopper(Actor[str, str]):
        async def receive(self, message: str) -> str:
            try:
                await self.context.runtime.stop(self.context.name)
            except UsageError as exc:
                return str(exc)
            return "stopped?"

    async with open_runtime() as runtime:
        ref = runtime.spawn("selfish", SelfStopper)
        assert "context.stop()" in await ref.ask("go", timeout=5)


async def test_an_ask_that_cannot_complete_fails_with_actor_closed_error_at_shutdown() -> None:
    probe = Probe()
    errors: dict[str, BaseException] = {}

    async def ask(ref: ActorRef[str, str], message: str) -> None:
        try:
            await ref.ask(message, timeout=None)
        except ActorError as exc:
            errors[message] = exc

    with anyio.fail_after(10):  # a hang is the failure this test guards against
        async with (
            anyio.create_task_group() as outside,
            open_runtime(drain_timeout=0.05) as runtime,
        ):
            ref = runtime.spawn("stuck", lambda: Recorder(probe))
            outside.start_soon(ask, ref, "block-forever")
            await probe.blocked.wait()
            outside.start_soon(ask, ref, "queued behind")
            await wait_until(lambda: ref.statistics().queued == 1)
    assert set(errors) == {"block-forever", "queued behind"}
    for error in errors.values():
        assert isinstance(error, ActorClosedError)
        assert error.actor_id == "stuck"
    assert probe.received == ["block-forever"]
    assert probe.stopped_with is None


async def test_spawn_after_shutdown_began_raises_actor_closed_error() -> None:
    seen: list[BaseException] = []

    class SpawnsOnStop(Actor[str, str]):
        async def receive(self, message: str) -> str:
            return message

        async def on_stop(self) -> None:
            assert self.context.runtime.closing
            try:
                self.context.runtime.spawn("late", SpawnsOnStop)
            except ActorClosedError as exc:
                seen.append(exc)

    async with open_runtime() as runtime:
        runtime.spawn("early", SpawnsOnStop)
        assert runtime.names() == ["early"]
    assert len(seen) == 1
    assert runtime.closing
    with pytest.raises(ActorClosedError):
        runtime.spawn("later still", SpawnsOnStop)


async def test_an_error_in_the_block_still_ends_every_actor_and_propagates() -> None:
    probe = Probe()
    with pytest.RaisesGroup(KeyError, flatten_subgroups=True, allow_unwrapped=True):
        async with open_runtime() as runtime:
            runtime.spawn("sink", lambda: Recorder(probe))
            raise KeyError("boom")
    assert runtime.closing


# --- statistics and constructors -----------------------------------------------------


async def test_statistics_report_the_mailbox_and_the_lifecycle() -> None:
    probe = Probe()
    async with open_runtime(mailbox_size=8) as runtime:
        assert runtime.statistics() == RuntimeStatistics(actors=0, timers=0)
        ref = runtime.spawn("sink", lambda: Recorder(probe))
        runtime.spawn("other", lambda: Recorder(Probe()), mailbox_size=3)
        assert ref.statistics().state == "starting"
        await ref.ask("hello")
        await ref.tell("block")
        await probe.blocked.wait()
        await ref.tell("a")
        await ref.tell("b")
        stats = ref.statistics()
        assert stats == ActorStatistics(
            name="sink", state="running", queued=2, capacity=8, processed=1, restarts=0
        )
        assert runtime.lookup("other").statistics().capacity == 3
        timer = runtime.call_every(60.0, ref, "tick")
        runtime.call_later(60.0, ref, "once")
        assert runtime.statistics() == RuntimeStatistics(actors=2, timers=2)
        timer.cancel()
        assert runtime.statistics().timers == 1
        probe.release.set()
        await wait_until(lambda: ref.statistics().processed == 4)
        assert ref.statistics().queued == 0
    assert runtime.statistics().actors == 0
    assert ref.statistics().state == "stopped"
    assert "sink" in repr(ref)


async def test_the_context_names_the_actor_and_reads_the_runtime_clock() -> None:
    seen: list[tuple[str, float, Runtime]] = []

    class Introspective(Actor[str, None]):
        async def receive(self, message: str) -> None:
            seen.append((self.context.name, self.context.now(), self.context.runtime))

    async with open_runtime(clock_start=1_000.0) as runtime:
        await runtime.spawn("me", Introspective).ask("who am I?")
    ((name, now, host),) = seen
    assert name == "me"
    assert host is runtime
    assert 1_000.0 <= now < 1_000.0 + 60.0


@pytest.mark.parametrize("cls", [ActorRef, ActorContext, Runtime])
def test_refs_contexts_and_runtimes_have_no_public_constructor(cls: type[object]) -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        cls()


def test_an_actor_without_receive_cannot_be_instantiated() -> None:
    class Incomplete(Actor[int, int]):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def _run_virtual(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# --- deliver_soon --------------------------------------------------------------------


async def test_deliver_soon_never_waits_and_keeps_the_order_past_a_full_mailbox() -> None:
    probe = Probe()
    async with open_runtime() as runtime:
        ref = runtime.spawn("slow", lambda: Recorder(probe), mailbox_size=2)
        await ref.tell("block")
        await probe.blocked.wait()
        for i in range(10):  # 2 fit; 8 wait in the background, none blocks this task
            runtime.deliver_soon(ref, f"m{i}")
        assert ref.statistics().queued == 2
        assert runtime.statistics().overflow == 8
        with pytest.raises(MailboxFullError):  # the mailbox itself stays bounded
            ref.tell_nowait("other")
        runtime.deliver_soon(ref, "m10")  # behind the waiting ones, even with room later
        probe.release.set()
        await wait_until(lambda: len(probe.received) == 12)
        assert runtime.statistics().overflow == 0
    assert probe.received == ["block", *(f"m{i}" for i in range(11))]


async def test_two_actors_delivering_to_each_other_through_full_mailboxes_do_not_deadlock() -> (
    None
):
    counts = {"ping": 0, "pong": 0}

    class Echo(Actor[int, None]):
        """Answers each number with the next one, to the other actor, 50 times."""

        def __init__(self, other: str) -> None:
            self.other = other

        async def receive(self, message: int) -> None:
            counts[self.context.name] += 1
            if message < 50:
                other = self.context.runtime.lookup(self.other)
                for _ in range(3):  # more than the other's mailbox holds
                    self.context.runtime.deliver_soon(other, message + 1)

    async with open_runtime(mailbox_size=1) as runtime:
        ping = runtime.spawn("ping", lambda: Echo("pong"))
        runtime.spawn("pong", lambda: Echo("ping"))
        await ping.tell(49)
        await wait_until(lambda: counts["pong"] == 3 and runtime.statistics().overflow == 0)
    assert counts == {"ping": 1, "pong": 3}


def test_deliver_soon_to_a_stopped_actor_raises_and_a_message_left_waiting_is_dropped() -> None:
    probe = Probe()

    async def main() -> None:
        async with open_runtime(drain_timeout=1.0) as runtime:
            ref = runtime.spawn("stuck", lambda: Recorder(probe), mailbox_size=1)
            await ref.tell("block-forever")
            await probe.blocked.wait()
            runtime.deliver_soon(ref, "queued")
            runtime.deliver_soon(ref, "waiting")
            assert runtime.statistics().overflow == 1
            other = runtime.spawn("other", lambda: Recorder(Probe()))
            await runtime.stop("other")
            with pytest.raises(ActorClosedError):
                runtime.deliver_soon(other, "too late")
        # Shutdown gave up on the stuck actor; what waited for room went nowhere, quietly.
        assert runtime.statistics().overflow == 0
        assert probe.received == ["block-forever"]

    _run_virtual(main)
