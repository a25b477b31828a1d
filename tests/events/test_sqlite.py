"""What only the SQLite log does: group commit, files on disk, damage, two writers.

The behaviour every store shares is in ``test_log.py``; a real crash is in
``test_crash.py``.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import anyio
import pytest

from memvisor._exceptions import (
    ConflictError,
    CorruptLogError,
    ForeignFileError,
    LogError,
    UsageError,
)
from memvisor.events import (
    Durability,
    Event,
    ExternalEvent,
    RecallQuery,
    SqliteEventLog,
    TimerSet,
    UserMessage,
    encode_event,
    event_type,
    open_sqlite_log,
)

pytestmark = pytest.mark.anyio


def ev(agent: str, seq: int, text: str | None = None) -> Event:
    if text is None and seq % 3 == 0:
        return ExternalEvent(
            agent=agent, seq=seq, at=1000.0 + seq, source="test", payload={"n": seq}
        )
    return UserMessage(agent=agent, seq=seq, at=1000.0 + seq, text=text or f"{agent}#{seq}")


def evs(agent: str, first: int, last: int) -> list[Event]:
    return [ev(agent, seq) for seq in range(first, last + 1)]


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """The database opened with plain sqlite3, behind memvisor's back."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# --- group commit -------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["full", "normal"])
async def test_concurrent_appends_share_commits_and_are_all_durable(
    tmp_path: Path, durability: Durability
) -> None:
    path = tmp_path / "events.sqlite3"
    agents = [f"agent-{i:03}" for i in range(100)]
    async with open_sqlite_log(path, durability=durability) as log:
        # The first append of an agent reads its last seq from disk; after it,
        # an append goes straight into the pending batch.
        for agent in agents:
            await log.append([ev(agent, 1)])
        before = log.statistics()

        async with anyio.create_task_group() as tg:
            for agent in agents:
                tg.start_soon(log.append, [ev(agent, 2)])

        after = log.statistics()
        assert after.appends - before.appends == 100
        assert after.events - before.events == 100
        commits = after.commits - before.commits
        assert 1 <= commits <= 10, f"100 concurrent appends took {commits} commits"

    async with open_sqlite_log(path, durability=durability) as log:
        assert await log.agents() == agents
        for agent in agents:
            assert await log.read(agent) == evs(agent, 1, 2)


# --- the file ---------------------------------------------------------------------


@pytest.mark.parametrize(("first", "then"), [("full", "normal"), ("normal", "full")])
async def test_reopening_the_file_shows_every_event_and_continues_the_sequence(
    tmp_path: Path, first: Durability, then: Durability
) -> None:
    path = tmp_path / "home" / "deeper" / "events.sqlite3"  # directories are created
    async with open_sqlite_log(path, durability=first) as log:
        assert log.path == path
        await log.append(evs("ada", 1, 5))
        await log.append(evs("bob", 1, 2))
        await log.append(evs("ada", 6, 7))
    async with open_sqlite_log(path, durability=then) as log:
        assert await log.agents() == ["ada", "bob"]
        assert await log.read("ada") == evs("ada", 1, 7)
        assert await log.read("bob") == evs("bob", 1, 2)
        assert await log.last_seq("ada") == 7
        assert log.statistics().appends == 0  # counters are per opening
        with pytest.raises(ConflictError):
            await log.append([ev("ada", 7, "again")])
        await log.append([ev("ada", 8)])
        await log.append([ev("carl", 1)])
    async with open_sqlite_log(path) as log:
        assert await log.read("ada") == evs("ada", 1, 8)
        assert await log.agents() == ["ada", "bob", "carl"]


@pytest.mark.parametrize("durability", ["off", "FULL", "extra", ""])
async def test_bad_durability_is_a_usage_error_and_creates_nothing(
    tmp_path: Path, durability: str
) -> None:
    path = tmp_path / "home" / "events.sqlite3"
    with pytest.raises(UsageError):
        async with open_sqlite_log(path, durability=durability):  # type: ignore[arg-type]
            pass
    assert not path.parent.exists()


async def test_using_the_log_after_the_block_raises_log_error(tmp_path: Path) -> None:
    async with open_sqlite_log(tmp_path / "events.sqlite3") as log:
        await log.append([ev("ada", 1)])
    with pytest.raises(LogError):
        await log.append([ev("ada", 2)])
    with pytest.raises(LogError):
        await log.read("ada")


# --- foreign files are refused and left untouched ----------------------------------


def _random_bytes() -> bytes:
    return random.Random(1234).randbytes(4096)


@pytest.mark.parametrize(
    "content",
    [
        _random_bytes(),
        b"just some notes\nthat are not a database\n",
        b"SQLite format 3",  # the magic, cut short
        b"\x00" * 100,
    ],
    ids=["random-bytes", "text", "short-magic", "zeros"],
)
async def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_bytes(content)
    with pytest.raises(ForeignFileError):
        async with open_sqlite_log(path):
            pass
    assert files_in(tmp_path) == {"events.sqlite3": content}


async def test_directory_at_the_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.mkdir()
    with pytest.raises(ForeignFileError):
        async with open_sqlite_log(path):
            pass
    assert list(path.iterdir()) == []


async def test_damaged_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    content = b"SQLite format 3\x00" + random.Random(99).randbytes(4096)
    path.write_bytes(content)
    with pytest.raises(LogError):  # CorruptLogError, or ForeignFileError
        async with open_sqlite_log(path):
            pass
    assert files_in(tmp_path) == {"events.sqlite3": content}


def _make_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE recipes (name TEXT, minutes INTEGER)")
    conn.execute("INSERT INTO recipes VALUES ('soup', 30)")


def _make_wal_table(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    _make_table(conn)


def _make_app_id(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA application_id=42")
    conn.execute("PRAGMA user_version=3")


@pytest.mark.parametrize(
    "make", [_make_table, _make_wal_table, _make_app_id], ids=["table", "wal", "app-id"]
)
async def test_sqlite_database_of_another_program_is_refused_and_left_untouched(
    tmp_path: Path, make: Callable[[sqlite3.Connection], None]
) -> None:
    path = tmp_path / "other.db"
    with raw(path) as conn:
        make(conn)
    before = files_in(tmp_path)
    assert list(before) == ["other.db"]
    with pytest.raises(ForeignFileError):
        async with open_sqlite_log(path):
            pass
    assert files_in(tmp_path) == before
    with raw(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == (
            "wal" if make is _make_wal_table else "delete"
        )


async def test_log_of_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    async with open_sqlite_log(path) as log:
        await log.append(evs("ada", 1, 3))
    with raw(path) as conn:
        conn.execute("PRAGMA user_version=99")
    before = files_in(tmp_path)
    with pytest.raises(ForeignFileError, match="newer"):
        async with open_sqlite_log(path):
            pass
    assert files_in(tmp_path) == before


# --- damage inside the log ----------------------------------------------------------


def _row(conn: sqlite3.Connection, agent: str, seq: int) -> tuple[int, bytes]:
    row = conn.execute(
        "SELECT e.id, e.body FROM events e JOIN streams s ON s.id = e.stream"
        " WHERE s.name = ? AND e.seq = ?",
        (agent, seq),
    ).fetchone()
    assert row is not None
    return int(row[0]), bytes(row[1])


async def _write_ada_and_bob(path: Path) -> None:
    async with open_sqlite_log(path) as log:
        await log.append(evs("ada", 1, 3))
        await log.append(evs("bob", 1, 3))
        await log.append(evs("ada", 4, 6))


@pytest.mark.parametrize("where", ["first", "middle", "last", "random"])
async def test_damaged_event_body_raises_corrupt_log_error_naming_its_row(
    tmp_path: Path, where: str, rng: random.Random
) -> None:
    path = tmp_path / "events.sqlite3"
    await _write_ada_and_bob(path)
    with raw(path) as conn:
        row_id, body = _row(conn, "ada", 4)
        i = {"first": 0, "middle": len(body) // 2, "last": len(body) - 1}.get(where)
        i = rng.randrange(len(body)) if i is None else i
        damaged = bytearray(body)
        damaged[i] ^= 1 << rng.randrange(8)
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (bytes(damaged), row_id))

    async with open_sqlite_log(path) as log:
        for read in (log.read("ada"), log.read("ada", start=2, stop=5), log.tail("ada", 3)):
            with pytest.raises(CorruptLogError) as info:
                await read
            assert (info.value.actor_id, info.value.seq) == ("ada", 4)
        # What does not touch the damaged row still reads.
        assert await log.read("ada", stop=4) == evs("ada", 1, 3)
        assert await log.read("ada", start=5) == evs("ada", 5, 6)
        assert await log.tail("ada", 2) == evs("ada", 5, 6)
        assert await log.read("bob") == evs("bob", 1, 3)
        assert await log.last_seq("ada") == 6

    with raw(path) as conn:  # reported, never rewritten
        assert _row(conn, "ada", 4) == (row_id, bytes(damaged))


@pytest.mark.parametrize("source", [("bob", 4), ("ada", 5)], ids=["other-agent", "other-seq"])
async def test_whole_event_in_the_wrong_row_raises_corrupt_log_error(
    tmp_path: Path, source: tuple[str, int]
) -> None:
    path = tmp_path / "events.sqlite3"
    await _write_ada_and_bob(path)
    async with open_sqlite_log(path) as log:
        await log.append(evs("bob", 4, 4))
    with raw(path) as conn:
        row_id, _ = _row(conn, "ada", 2)
        _, foreign = _row(conn, *source)
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (foreign, row_id))

    async with open_sqlite_log(path) as log:
        with pytest.raises(CorruptLogError) as info:
            await log.read("ada")
        assert (info.value.actor_id, info.value.seq) == ("ada", 2)
        assert await log.read("ada", start=3) == evs("ada", 3, 6)


# --- two writers on one file --------------------------------------------------------


@pytest.mark.parametrize("hold_lock", [False, True], ids=["racing", "both-read-seq-0"])
async def test_two_logs_appending_the_same_seq_exactly_one_wins(
    tmp_path: Path, hold_lock: bool
) -> None:
    # Two processes would be the real case; two logs on one file are the same
    # to SQLite. Holding the write lock makes both see an empty log and both
    # reach the INSERT, so the database itself must refuse the second.
    path = tmp_path / "events.sqlite3"
    outcomes: dict[str, ConflictError | None] = {}

    async def write(log: SqliteEventLog, name: str) -> None:
        try:
            await log.append([ev("ada", 1, f"from {name}")])
        except ConflictError as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    async with open_sqlite_log(path) as one, open_sqlite_log(path) as two:
        with raw(path) as lock:
            if hold_lock:
                lock.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, one, "one")
                tg.start_soon(write, two, "two")
                if hold_lock:
                    await anyio.wait_all_tasks_blocked()
                    lock.execute("COMMIT")
        winners = [name for name, error in outcomes.items() if error is None]
        losers = [error for error in outcomes.values() if error is not None]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1, outcomes
        assert (losers[0].actor_id, losers[0].seq) == ("ada", 1)
        for log in (one, two):
            assert await log.read("ada") == [ev("ada", 1, f"from {winners[0]}")]


async def test_conflict_fails_only_its_own_append_not_its_batch_mates(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    async with open_sqlite_log(path) as stale, open_sqlite_log(path) as fresh:
        await stale.append([ev("ada", 1)])
        await stale.append([ev("bob", 1)])
        await stale.append([ev("carl", 1)])
        await fresh.append([ev("ada", 2, "fresh wrote it")])  # ``stale`` still expects ada#2
        outcomes: dict[str, BaseException | None] = {}

        async def write(event: Event) -> None:
            try:
                await stale.append([event])
            except LogError as exc:
                outcomes[event.agent] = exc
            else:
                outcomes[event.agent] = None

        # Hold the write lock so that stale's writer stalls on one batch (carl)
        # while ada's and bob's appends gather in the next one.
        commits = stale.statistics().commits
        with raw(path) as lock:
            lock.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, ev("carl", 2))
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(write, ev("ada", 2, "stale wrote it"))
                tg.start_soon(write, ev("bob", 2))
                await anyio.wait_all_tasks_blocked()
                lock.execute("COMMIT")

        assert stale.statistics().commits == commits + 2, "ada and bob were not batched"
        assert outcomes["carl"] is None
        assert outcomes["bob"] is None, "the innocent batch mate failed too"
        assert isinstance(outcomes["ada"], ConflictError)
        assert (outcomes["ada"].actor_id, outcomes["ada"].seq) == ("ada", 2)
        for log in (stale, fresh):
            assert await log.read("ada") == [ev("ada", 1), ev("ada", 2, "fresh wrote it")]
            assert await log.read("bob") == evs("bob", 1, 2)
            assert await log.read("carl") == evs("carl", 1, 2)
        # After the conflict, the stale log re-reads where ada is and goes on.
        with pytest.raises(ConflictError):
            await stale.append([ev("ada", 2, "stale again")])
        await stale.append([ev("ada", 3)])
        assert await fresh.last_seq("ada") == 3


async def test_rejected_append_also_fails_the_same_agents_later_appends_in_its_batch(
    tmp_path: Path,
) -> None:
    # A stale writer that pipelines ada#2 and ada#3 (the log reserves seqs, so
    # the second append need not wait for the first) loses ada#2 to another
    # writer. ada#3 was written on the assumption that its own ada#2 landed: it
    # must fail too, or the stale writer's events interleave with the other's.
    path = tmp_path / "events.sqlite3"
    async with open_sqlite_log(path) as stale, open_sqlite_log(path) as fresh:
        await stale.append([ev("ada", 1)])
        await stale.append([ev("carl", 1)])
        await fresh.append([ev("ada", 2, "fresh wrote it")])
        outcomes: dict[int, BaseException | None] = {}

        async def write(event: Event) -> None:
            try:
                await stale.append([event])
            except LogError as exc:
                outcomes[event.seq] = exc
            else:
                outcomes[event.seq] = None

        with raw(path) as lock:
            lock.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(stale.append, [ev("carl", 2)])  # stalls the writer
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(write, ev("ada", 2, "stale wrote it"))
                await anyio.wait_all_tasks_blocked()  # ada#2 reserved: ada#3 may follow
                tg.start_soon(write, ev("ada", 3, "stale wrote it"))
                await anyio.wait_all_tasks_blocked()
                lock.execute("COMMIT")

        assert isinstance(outcomes[2], ConflictError)
        assert await fresh.read("ada") == [ev("ada", 1), ev("ada", 2, "fresh wrote it")]
        assert isinstance(outcomes[3], LogError), "ada#3 landed after another writer's ada#2"
        await fresh.append([ev("ada", 3, "fresh wrote it")])


# --- recall in the same transaction as the events ----------------------------------


async def test_conflicting_append_leaves_no_recall_rows_and_its_batch_mates_keep_theirs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    async with open_sqlite_log(path) as stale, open_sqlite_log(path) as fresh:
        for agent in ("ada", "bob", "carl"):
            await stale.append([ev(agent, 1)])
        await fresh.append([ev("ada", 2, "fresh wrote it")])
        outcomes: dict[str, BaseException | None] = {}

        async def write(event: Event) -> None:
            try:
                await stale.append([event])
            except LogError as exc:
                outcomes[event.agent] = exc
            else:
                outcomes[event.agent] = None

        # As in the test above: ada's and bob's appends share a commit, ada's
        # fails, and bob's is written again alone, by the retry path.
        with raw(path) as lock:
            lock.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, ev("carl", 2))
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(write, ev("ada", 2, "stale wrote it"))
                tg.start_soon(write, ev("bob", 2, "bob wrote it"))
                await anyio.wait_all_tasks_blocked()
                lock.execute("COMMIT")

        assert isinstance(outcomes["ada"], ConflictError)
        assert outcomes["bob"] is None
        for log in (stale, fresh):
            assert [await log.count_recall(a) for a in ("ada", "bob", "carl")] == [2, 2, 2]
            stale_hits = await log.search_recall("ada", RecallQuery(text="stale"))
            assert stale_hits.total == 0
            fresh_hits = await log.search_recall("ada", RecallQuery(text="wrote"))
            assert [hit.text for hit in fresh_hits.hits] == ["fresh wrote it"]
            bob_hits = await log.search_recall("bob", RecallQuery(text="wrote"))
            assert [hit.seq for hit in bob_hits.hits] == [2]


async def test_recall_survives_reopening_and_is_not_built_twice(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    async with open_sqlite_log(path) as log:
        await log.append(evs("ada", 1, 6))
    for _ in range(2):
        async with open_sqlite_log(path) as log:
            assert await log.count_recall("ada") == 6
            page = await log.search_recall("ada", RecallQuery(page_size=10))
            assert [hit.seq for hit in page.hits] == [6, 5, 4, 3, 2, 1]
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "recall_fts" in names
        assert "incoming" not in names  # the writer's view is temporary: never in the file


async def test_damaged_event_found_by_a_search_raises_corrupt_log_error(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    await _write_ada_and_bob(path)
    with raw(path) as conn:
        row_id, body = _row(conn, "ada", 4)
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (body[:-1], row_id))
    async with open_sqlite_log(path) as log:
        with pytest.raises(CorruptLogError) as info:
            await log.search_recall("ada", RecallQuery(text="4"))
        assert (info.value.actor_id, info.value.seq) == ("ada", 4)
        page = await log.search_recall("ada", RecallQuery(text="5"))
        assert [hit.seq for hit in page.hits] == [5]  # what does not touch it still reads
        assert await log.count_recall("ada") == 6


# --- deleting an agent -----------------------------------------------------------


async def test_delete_leaves_no_row_of_the_agent_in_any_table(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    await _write_ada_and_bob(path)
    async with open_sqlite_log(path) as log:
        assert await log.delete("ada") == 6
    with raw(path) as conn:
        assert [n for (n,) in conn.execute("SELECT name FROM streams")] == ["bob"]
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM recall_fts").fetchone()[0] == 3


async def test_deleting_an_agent_with_a_damaged_event_hides_its_recall_rows_from_a_successor(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    await _write_ada_and_bob(path)
    with raw(path) as conn:
        row_id, body = _row(conn, "ada", 4)
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (body[:-1], row_id))
    async with open_sqlite_log(path) as log:
        assert await log.delete("ada") == 6
        assert await log.agents() == ["bob"]
        await log.append([ev("ada", 1, "ada#4 once more")])
        page = await log.search_recall("ada", RecallQuery(text="ada 4"))
        assert [(hit.seq, hit.text) for hit in page.hits] == [(1, "ada#4 once more")]
        assert await log.count_recall("ada") == 1
        assert await log.read("bob") == evs("bob", 1, 3)
    with raw(path) as conn:  # the damaged row's recall entry stays, under a retired stream
        names = [n for (n,) in conn.execute("SELECT name FROM streams ORDER BY id")]
        assert names[1:] == ["bob", "ada"]
        assert names[0].startswith("\x00deleted:")


async def test_delete_refuses_while_appends_of_the_agent_wait_to_be_written(
    tmp_path: Path,
) -> None:
    async with open_sqlite_log(tmp_path / "events.sqlite3") as log:
        await log.append(evs("ada", 1, 2))
        failures: list[Exception] = []

        async def delete() -> None:
            try:
                await log.delete("ada")
            except UsageError as exc:
                failures.append(exc)

        # Hold the writer: the delete queues for it first, then the append's commit.
        async with anyio.create_task_group() as tg, log._writer:
            tg.start_soon(delete)
            await anyio.sleep(0.05)
            tg.start_soon(log.append, [ev("ada", 3)])
            await anyio.sleep(0.05)
        assert len(failures) == 1
        assert "wait to be written" in str(failures[0])
        assert await log.read("ada") == evs("ada", 1, 3)


async def test_delete_on_a_closed_log_raises_log_error(tmp_path: Path) -> None:
    async with open_sqlite_log(tmp_path / "events.sqlite3") as log:
        await log.append(evs("ada", 1, 2))
    with pytest.raises(LogError, match="closed"):
        await log.delete("ada")


# --- schema 1 → 2 ---------------------------------------------------------------

# The schema of logs written before recall existed, exactly as memvisor wrote it.
_SCHEMA_V1 = """
CREATE TABLE streams (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    stream  INTEGER NOT NULL REFERENCES streams(id),
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    at      REAL NOT NULL,
    body    BLOB NOT NULL,
    UNIQUE (stream, seq)
);
"""


def _write_v1_log(path: Path, events: list[Event]) -> None:
    with raw(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA_V1} PRAGMA application_id={0x6D766C67};"
            " PRAGMA user_version=1; COMMIT;"
        )
        for e in events:
            conn.execute("INSERT OR IGNORE INTO streams(name) VALUES (?)", (e.agent,))
            conn.execute(
                "INSERT INTO events(stream, seq, type, at, body)"
                " VALUES ((SELECT id FROM streams WHERE name = ?), ?, ?, ?, ?)",
                (e.agent, e.seq, event_type(e), e.at, encode_event(e)),
            )


def _v1_events() -> list[Event]:
    events: list[Event] = []
    for seq in range(1, 31):
        if seq % 5 == 0:  # not messages
            events.append(
                TimerSet(agent="ada", seq=seq, at=1000.0 + seq, timer_id=f"t{seq}", due=0)
            )
        else:
            events.append(
                ev("ada", seq, f"note {seq} about the {'budget' if seq % 2 else 'trip'}")
            )
    events += evs("bob", 1, 4)
    return events


async def test_log_of_schema_1_is_upgraded_with_recall_built_from_its_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    events = _v1_events()
    _write_v1_log(path, events)
    with raw(path) as conn:  # one damaged event: left out of recall, still reported on read
        row_id, body = _row(conn, "ada", 7)
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (body[:-1], row_id))

    async with open_sqlite_log(path) as log:
        assert await log.count_recall("ada") == 24 - 1
        assert await log.count_recall("bob") == 4
        page = await log.search_recall("ada", RecallQuery(text="budget", page_size=100))
        assert sorted(hit.seq for hit in page.hits) == [1, 3, 9, 11, 13, 17, 19, 21, 23, 27, 29]
        with pytest.raises(CorruptLogError):
            await log.read("ada")
        await log.append([ev("ada", 31, "a budget after the upgrade")])
        page = await log.search_recall("ada", RecallQuery(text="upgrade"))
        assert [hit.seq for hit in page.hits] == [31]
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    async with open_sqlite_log(path) as log:
        assert await log.count_recall("ada") == 24


async def test_two_processes_upgrading_one_log_at_once_build_recall_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    _write_v1_log(path, _v1_events())
    counts: list[int] = []

    async def open_and_count() -> None:
        async with open_sqlite_log(path) as log:
            counts.append(await log.count_recall("ada"))

    async with anyio.create_task_group() as tg:  # each opening upgrades in a worker thread
        for _ in range(4):
            tg.start_soon(open_and_count)
    assert counts == [24] * 4


async def test_upgrade_of_a_log_bigger_than_one_chunk(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    _write_v1_log(path, [ev("ada", seq, f"line {seq}") for seq in range(1, 2501)])
    async with open_sqlite_log(path) as log:
        assert await log.count_recall("ada") == 2500
        page = await log.search_recall("ada", RecallQuery(text="2345"))
        assert [hit.seq for hit in page.hits] == [2345]


async def test_append_bigger_than_one_insert_statement_indexes_every_message(
    tmp_path: Path,
) -> None:
    # More rows than one INSERT takes (2,000): the commit runs several statements
    # in one explicit transaction, and the recall rows ride along with each.
    async with open_sqlite_log(tmp_path / "events.sqlite3") as log:
        await log.append(evs("ada", 1, 3))
        await log.append(evs("ada", 4, 4503))
        assert await log.count_recall("ada") == 4503
        page = await log.search_recall("ada", RecallQuery(text="4321", roles=("user",)))
        assert [hit.seq for hit in page.hits] == [4321]
        assert len(await log.read("ada")) == 4503
