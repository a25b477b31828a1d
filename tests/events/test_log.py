"""The :class:`~memvisor.events.EventLog` contract, written once, run against every store.

Each test gets ``open_log``: a factory of async context managers, each opening
a fresh, empty log of one backend (memory, SQLite with ``durability="full"``,
SQLite with ``durability="normal"``, SQLite run on the event loop's thread as
simulations do). A store that passes here keeps the
sequence discipline the rest of memvisor relies on: ``seq`` 1, 2, 3 … per agent,
no gaps, a rejected append changes nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvisor._exceptions import ConflictError, UsageError
from memvisor.events import (
    MAX_PAGE_SIZE,
    Durability,
    Event,
    EventLog,
    MemoryEventLog,
    RecallQuery,
    UserMessage,
    encode_event,
    message_of,
    open_sqlite_log,
)

from .strategies import any_event

pytestmark = pytest.mark.anyio

LogFactory = Callable[[], AbstractAsyncContextManager[EventLog]]


@pytest.fixture(params=["memory", "sqlite-full", "sqlite-normal", "sqlite-no-threads"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> LogFactory:
    """Opens a fresh, empty log of one backend per call."""
    if request.param == "memory":

        @asynccontextmanager
        async def open_memory() -> AsyncIterator[EventLog]:
            yield MemoryEventLog()

        return open_memory

    durability: Durability = "full" if request.param == "sqlite-full" else "normal"
    threads = request.param != "sqlite-no-threads"
    counter = itertools.count()

    def open_sqlite() -> AbstractAsyncContextManager[EventLog]:
        path = tmp_path / f"events-{next(counter)}.sqlite3"
        return open_sqlite_log(path, durability=durability, threads=threads)

    return open_sqlite


def ev(agent: str, seq: int, text: str | None = None) -> UserMessage:
    return UserMessage(agent=agent, seq=seq, at=1000.0 + seq, text=text or f"{agent}#{seq}")


def evs(agent: str, first: int, last: int) -> list[Event]:
    return [ev(agent, seq) for seq in range(first, last + 1)]


async def snapshot(log: EventLog, agents: Sequence[str]) -> object:
    """Everything observable about ``agents`` in ``log``, to compare before and after."""
    return (
        await log.agents(),
        [(await log.last_seq(a), await log.read(a)) for a in agents],
        (log.statistics().appends, log.statistics().events),
    )


# --- an empty log -------------------------------------------------------------------


async def test_new_log_is_empty(open_log: LogFactory) -> None:
    async with open_log() as log:
        assert await log.count_recall("ada") == 0
        assert (await log.search_recall("ada", RecallQuery(text="hi"))).total == 0
        assert await log.agents() == []
        assert await log.last_seq("ada") == 0
        assert await log.read("ada") == []
        assert await log.tail("ada", 5) == []
        assert log.statistics().appends == 0
        assert log.statistics().events == 0
        assert log.statistics().commits == 0


async def test_empty_append_is_a_no_op(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([])
        assert await log.agents() == []
        await log.append(evs("ada", 1, 2))
        before = await snapshot(log, ["ada"])
        await log.append([])
        assert await snapshot(log, ["ada"]) == before
        assert log.statistics().appends == 1


# --- appends continue the sequence ----------------------------------------------------


async def test_seq_starts_at_1_and_each_append_continues_it(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([ev("ada", 1)])
        assert await log.last_seq("ada") == 1
        await log.append(evs("ada", 2, 4))
        await log.append([ev("ada", 5)])
        assert await log.last_seq("ada") == 5
        assert await log.read("ada") == evs("ada", 1, 5)


async def test_agents_have_independent_sequences(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        await log.append(evs("bob", 1, 1))
        await log.append(evs("ada", 4, 4))
        await log.append(evs("bob", 2, 5))
        assert await log.read("ada") == evs("ada", 1, 4)
        assert await log.read("bob") == evs("bob", 1, 5)
        assert await log.last_seq("ada") == 4
        assert await log.last_seq("bob") == 5


@pytest.mark.parametrize("first_seq", [0, 2, 7, -1])
async def test_first_append_not_at_seq_1_is_a_conflict_and_changes_nothing(
    open_log: LogFactory, first_seq: int
) -> None:
    async with open_log() as log:
        with pytest.raises(ConflictError) as info:
            await log.append([ev("ada", first_seq)])
        assert info.value.actor_id == "ada"
        assert info.value.seq == first_seq
        assert await snapshot(log, ["ada"]) == ([], [(0, [])], (0, 0))
        await log.append([ev("ada", 1)])  # the right append still works
        assert await log.read("ada") == [ev("ada", 1)]


@pytest.mark.parametrize(
    ("batch", "why"),
    [
        (evs("ada", 5, 6), "gap"),
        (evs("ada", 6, 6), "bigger gap"),
        (evs("ada", 3, 4), "repeats the last seq"),
        (evs("ada", 1, 2), "repeats from the start"),
        (evs("ada", 2, 5), "overlaps the end"),
    ],
    ids=["gap", "bigger-gap", "repeats-last", "repeats-from-start", "overlaps-end"],
)
async def test_append_not_continuing_the_sequence_is_a_conflict_and_changes_nothing(
    open_log: LogFactory, batch: list[Event], why: str
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        await log.append(evs("bob", 1, 1))
        before = await snapshot(log, ["ada", "bob"])
        with pytest.raises(ConflictError) as info:
            await log.append([ev(e.agent, e.seq, "intruder") for e in batch])
        assert info.value.actor_id == "ada", why
        assert info.value.seq == batch[0].seq, why
        assert await snapshot(log, ["ada", "bob"]) == before, why
        await log.append(evs("ada", 4, 5))  # the right append still works
        assert await log.read("ada") == evs("ada", 1, 5)


@pytest.mark.parametrize(
    "batch",
    [
        [ev("ada", 4), ev("bob", 2)],
        [ev("ada", 4), ev("bob", 5)],
        [ev("ada", 4), ev("ada", 5), ev("carl", 1)],
    ],
    ids=["two-agents", "two-agents-consecutive-seqs", "new-agent-last"],
)
async def test_append_mixing_agents_is_a_usage_error_and_changes_nothing(
    open_log: LogFactory, batch: list[Event]
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        await log.append(evs("bob", 1, 1))
        before = await snapshot(log, ["ada", "bob", "carl"])
        with pytest.raises(UsageError):
            await log.append(batch)
        assert await snapshot(log, ["ada", "bob", "carl"]) == before
        await log.append(evs("ada", 4, 5))
        await log.append(evs("bob", 2, 2))
        assert await log.read("ada") == evs("ada", 1, 5)
        assert await log.read("bob") == evs("bob", 1, 2)
        assert "carl" not in await log.agents()


@pytest.mark.parametrize(
    "seqs",
    [(4, 6), (4, 4), (4, 5, 5), (4, 3), (4, 5, 7, 8)],
    ids=["gap", "repeat", "repeat-later", "backwards", "gap-later"],
)
async def test_append_with_non_consecutive_seqs_is_a_usage_error_and_changes_nothing(
    open_log: LogFactory, seqs: tuple[int, ...]
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        before = await snapshot(log, ["ada"])
        with pytest.raises(UsageError) as info:
            await log.append([ev("ada", seq, "bad") for seq in seqs])
        assert not isinstance(info.value, ConflictError)
        assert info.value.actor_id == "ada"
        assert await snapshot(log, ["ada"]) == before
        await log.append(evs("ada", 4, 5))
        assert await log.read("ada") == evs("ada", 1, 5)


async def test_append_of_non_finite_timestamp_is_stored_or_refused_as_usage_error(
    open_log: LogFactory,
) -> None:
    # Not a sequence problem, so never a ConflictError ("another writer got there first").
    async with open_log() as log:
        await log.append([ev("ada", 1)])
        for seq, at in enumerate([math.inf, -math.inf, math.nan], start=2):
            event = UserMessage(agent="ada", seq=seq, at=at, text=f"at={at}")
            try:
                await log.append([event])
            except UsageError:
                assert await log.last_seq("ada") == seq - 1
                break
            [stored] = await log.read("ada", start=seq)
            assert encode_event(stored) == encode_event(event)


# --- reading ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "stop", "limit", "expected"),
    [
        (1, None, None, range(1, 11)),
        (3, None, None, range(3, 11)),
        (None, 5, None, range(1, 5)),
        (3, 6, None, range(3, 6)),
        (3, 4, None, range(3, 4)),
        (None, None, 4, range(1, 5)),
        (3, None, 2, range(3, 5)),
        (3, 5, 10, range(3, 5)),
        (3, 9, 2, range(3, 5)),
        (None, None, 0, range(0)),
        (None, None, 10, range(1, 11)),
        (None, None, 11, range(1, 11)),
        (0, None, None, range(1, 11)),
        (-5, 3, None, range(1, 3)),
        (10, None, None, range(10, 11)),
        (11, None, None, range(0)),
        (100, 200, None, range(0)),
        (5, 5, None, range(0)),
        (6, 5, None, range(0)),
        (None, 1, None, range(0)),
        (None, 0, None, range(0)),
        (None, 11, None, range(1, 11)),
        (None, 1000, None, range(1, 11)),
    ],
)
async def test_read_returns_start_inclusive_stop_exclusive_at_most_limit(
    open_log: LogFactory, start: int | None, stop: int | None, limit: int | None, expected: range
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 4))
        await log.append(evs("bob", 1, 3))
        await log.append(evs("ada", 5, 10))
        if start is None:
            got = await log.read("ada", stop=stop, limit=limit)
        else:
            got = await log.read("ada", start=start, stop=stop, limit=limit)
        assert [e.seq for e in got] == list(expected)
        assert got == [ev("ada", seq) for seq in expected]


async def test_read_with_negative_limit_returns_nothing(open_log: LogFactory) -> None:
    # "At most ``limit`` events": at most -1 is none. Both stores must agree, or
    # code tested against the memory log behaves differently on disk.
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        assert await log.read("ada", limit=-1) == []


async def test_read_and_tail_of_unknown_agent_are_empty(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 3))
        assert await log.read("nobody") == []
        assert await log.read("ad") == []
        assert await log.tail("nobody", 3) == []
        assert await log.last_seq("nobody") == 0


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, range(10, 11)),
        (3, range(8, 11)),
        (10, range(1, 11)),
        (11, range(1, 11)),
        (1000, range(1, 11)),
        (0, range(0)),
        (-1, range(0)),
    ],
)
async def test_tail_returns_the_last_n_events_in_order(
    open_log: LogFactory, n: int, expected: range
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 6))
        await log.append(evs("bob", 1, 4))
        await log.append(evs("ada", 7, 10))
        assert await log.tail("ada", n) == [ev("ada", seq) for seq in expected]


async def test_agents_lists_only_agents_with_events_sorted(open_log: LogFactory) -> None:
    async with open_log() as log:
        names = ["zed", "ada", "Zoë", "émile", "Bob", "ada-2", "a"]
        for name in names:
            await log.append([ev(name, 1)])
        with pytest.raises(ConflictError):
            await log.append([ev("ghost", 2)])
        with pytest.raises(UsageError):
            await log.append([ev("phantom", 1), ev("phantom", 3)])
        assert await log.agents() == sorted(names)


# --- statistics -----------------------------------------------------------------------


async def test_statistics_count_successful_appends_and_their_events(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 1))
        await log.append(evs("ada", 2, 4))
        await log.append(evs("bob", 1, 2))
        with pytest.raises(ConflictError):
            await log.append(evs("bob", 1, 1))
        with pytest.raises(UsageError):
            await log.append([ev("bob", 3), ev("bob", 5)])
        await log.append([])
        stats = log.statistics()
        assert (stats.appends, stats.events) == (3, 6)
        assert 1 <= stats.commits <= 3


# --- random appends read back exactly -------------------------------------------------

_AGENT_NAMES = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True)


@st.composite
def _plans(draw: st.DrawFn) -> list[list[Event]]:
    """A list of appends, each a batch of one agent's events continuing its sequence."""
    agents = draw(_AGENT_NAMES)
    next_seq = dict.fromkeys(agents, 1)
    plan: list[list[Event]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        agent = draw(st.sampled_from(agents))
        batch = []
        for event in draw(st.lists(any_event(), min_size=1, max_size=4)):
            batch.append(msgspec.structs.replace(event, agent=agent, seq=next_seq[agent]))
            next_seq[agent] += 1
        plan.append(batch)
    return plan


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=_plans(), concurrently=st.booleans())
async def test_random_appends_read_back_exactly_in_order_without_gaps(
    open_log: LogFactory, plan: list[list[Event]], concurrently: bool
) -> None:
    expected: dict[str, list[Event]] = {}
    for batch in plan:
        expected.setdefault(batch[0].agent, []).extend(batch)

    async with open_log() as log:
        if concurrently:
            # One writer task per agent, all at once: what group commit sees.
            async def write(agent: str) -> None:
                for batch in plan:
                    if batch[0].agent == agent:
                        await log.append(batch)

            async with anyio.create_task_group() as tg:
                for agent in expected:
                    tg.start_soon(write, agent)
        else:
            for batch in plan:
                await log.append(batch)

        assert await log.agents() == sorted(expected)
        for agent, events in expected.items():
            got = await log.read(agent)
            assert [e.seq for e in got] == list(range(1, len(events) + 1))
            assert [encode_event(e) for e in got] == [encode_event(e) for e in events]
            assert got == events
            assert await log.last_seq(agent) == len(events)
            assert await log.tail(agent, 2) == events[-2:]
        stats = log.statistics()
        assert stats.appends == len(plan)
        assert stats.events == sum(map(len, plan))


# --- recall is kept with the events ------------------------------------------------


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=_plans(), concurrently=st.booleans())
async def test_recall_holds_every_message_of_random_appends(
    open_log: LogFactory, plan: list[list[Event]], concurrently: bool
) -> None:
    async with open_log() as log:
        if concurrently:  # one writer task per agent: batches share commits

            async def write(agent: str) -> None:
                for batch in plan:
                    if batch[0].agent == agent:
                        await log.append(batch)

            async with anyio.create_task_group() as tg:
                for agent in {batch[0].agent for batch in plan}:
                    tg.start_soon(write, agent)
        else:
            for batch in plan:
                await log.append(batch)
        for agent in await log.agents():
            messages = [e.seq for e in await log.read(agent) if message_of(e) is not None]
            assert await log.count_recall(agent) == len(messages)
            everything = RecallQuery(page_size=MAX_PAGE_SIZE)
            page = await log.search_recall(agent, everything)
            assert [hit.seq for hit in page.hits] == messages[::-1]


# --- deleting an agent --------------------------------------------------------------


async def test_delete_removes_every_event_and_message_of_the_agent_and_only_those(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 5))
        await log.append(evs("bob", 1, 3))
        bob_before = (await log.read("bob"), await log.search_recall("bob", RecallQuery()))
        assert await log.delete("ada") == 5
        assert await log.agents() == ["bob"]
        assert await log.last_seq("ada") == 0
        assert await log.read("ada") == []
        assert await log.tail("ada", 3) == []
        assert await log.count_recall("ada") == 0
        assert (await log.search_recall("ada", RecallQuery(text="ada"))).total == 0
        assert (await log.search_recall("ada", RecallQuery())).hits == ()
        assert (await log.read("bob"), await log.search_recall("bob", RecallQuery())) == bob_before
        assert await log.last_seq("bob") == 3
        assert await log.count_recall("bob") == 3


async def test_a_deleted_agent_starts_again_at_seq_1(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 4))
        await log.delete("ada")
        with pytest.raises(ConflictError):
            await log.append([ev("ada", 5)])
        await log.append([ev("ada", 1, "a fresh start")])
        await log.append([ev("ada", 2, "and more")])
        assert await log.read("ada") == [ev("ada", 1, "a fresh start"), ev("ada", 2, "and more")]
        page = await log.search_recall("ada", RecallQuery(page_size=MAX_PAGE_SIZE))
        assert [hit.text for hit in page.hits] == ["and more", "a fresh start"]
        assert await log.count_recall("ada") == 2


async def test_deleting_an_agent_with_no_events_deletes_nothing(open_log: LogFactory) -> None:
    async with open_log() as log:
        assert await log.delete("ghost") == 0
        await log.append(evs("bob", 1, 2))
        assert await log.delete("ghost") == 0
        assert await log.agents() == ["bob"]
        assert await log.delete("bob") == 2
        assert await log.delete("bob") == 0
        assert await log.agents() == []


async def test_delete_while_other_agents_append_loses_none_of_their_events(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await log.append(evs("ada", 1, 20))

        async def write(agent: str) -> None:
            for seq in range(1, 31):
                await log.append([ev(agent, seq)])

        async with anyio.create_task_group() as tg:
            for agent in ("bob", "cy", "dee"):
                tg.start_soon(write, agent)
            await anyio.lowlevel.checkpoint()
            assert await log.delete("ada") == 20
        assert await log.agents() == ["bob", "cy", "dee"]
        for agent in ("bob", "cy", "dee"):
            assert await log.read(agent) == evs(agent, 1, 30)
            assert await log.count_recall(agent) == 30


_DELETE_WORDS = ["budget", "meeting", "meetings", "coffee", "cat", "cats", "the", "zebra"]


@st.composite
def _two_agent_logs(draw: st.DrawFn) -> list[Event]:
    """Messages of ada and bob, interleaved, from a small vocabulary."""
    events: list[Event] = []
    seqs = {"ada": 0, "bob": 0}
    for _ in range(draw(st.integers(0, 16))):
        agent = draw(st.sampled_from(["ada", "bob"]))
        seqs[agent] += 1
        text = " ".join(draw(st.lists(st.sampled_from(_DELETE_WORDS), max_size=6)))
        events.append(ev(agent, seqs[agent], text or "-"))
    return events


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=_two_agent_logs(), words=st.lists(st.sampled_from(_DELETE_WORDS), max_size=3))
async def test_after_a_delete_recall_ranks_as_if_the_agent_had_never_been(
    open_log: LogFactory, events: list[Event], words: list[str]
) -> None:
    query = RecallQuery(text=" ".join(words) or None, page_size=MAX_PAGE_SIZE)
    async with open_log() as log, open_log() as never:
        for event in events:
            await log.append([event])
            if event.agent == "bob":
                await never.append([event])
        await log.delete("ada")
        ours = await log.search_recall("bob", query)
        theirs = await never.search_recall("bob", query)
        assert [(h.seq, h.text) for h in ours.hits] == [(h.seq, h.text) for h in theirs.hits]
        assert [h.score for h in ours.hits] == pytest.approx(
            [h.score for h in theirs.hits], rel=1e-12, abs=1e-15
        )
        assert ours.total == theirs.total
